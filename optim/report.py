"""What the terminal shows after a round or a recording."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from optim.metrics import best_measured
from optim.objectives import Target
from optim.rounds import RoundResult
from optim.settings import CampaignSettings

__all__ = ["describe_round", "format_batch", "model_check_line", "next_steps"]


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.4g}"


def _fmt3(value: float) -> str:
    """Three significant digits, trailing zeros kept (``1.00``, ``0.540``, ``123``)."""
    return f"{value:#.3g}".rstrip(".") if math.isfinite(value) else "-"


def _prediction(target: Target, mean: float, sd: float) -> str:
    """A prediction in words: median (68 % interval) for log10-modelled targets, mean ± sd
    otherwise, the value alone for targets computed exactly."""
    if not math.isfinite(mean):
        return "-"
    if target.is_known:
        return _fmt(mean)
    if target.transform == "log10":
        centre, lo, hi = (float(v) for v in target.interval(mean, sd))
        return f"{_fmt3(centre)} ({_fmt3(lo)}–{_fmt3(hi)})"
    return f"{_fmt(mean)} ± {_fmt(sd)}"


def _legend(batch: pd.DataFrame, settings: CampaignSettings) -> str | None:
    """What the predictions show, when a log10-modelled target has predictions."""
    logged = [t.name for t in settings.objectives.measured if t.transform == "log10"
              and np.isfinite(batch[f"pred_{t.name}_mean"].to_numpy(float)).any()]
    if not logged:
        return None
    return (f"Predictions: median (68 % interval) for the log10-modelled {', '.join(logged)}; "
            "mean ± sd otherwise.")


def format_batch(result: RoundResult, settings: CampaignSettings) -> str:
    """The proposed batch as a table: id, inputs (physical units), a prediction per target."""
    batch = result.batch
    table = pd.DataFrame({"id": batch["id"]})
    for name in settings.space.names:
        table[name] = batch[name].map(_fmt)
    for t in settings.objectives.targets:
        mean, sd = batch[f"pred_{t.name}_mean"], batch[f"pred_{t.name}_sd"]
        table[f"{t.name} (pred)"] = [_prediction(t, m, s)
                                     for m, s in zip(mean, sd, strict=True)]
    header = (f"Round {result.round} of campaign '{result.campaign}': {len(batch)} "
              f"proposal(s) by {result.strategy}\n(round seed {result.seed}, "
              f"fit {result.metrics['fit_s']:.1f} s, propose {result.metrics['propose_s']:.1f} s, "
              f"round {result.metrics['round_s']:.1f} s)")
    lines = [header, "", table.to_string(index=False)]
    legend = _legend(batch, settings)
    if legend:
        lines.append(legend)
    check = model_check_line(result)
    if check:
        lines.append(check)
    if result.notes:
        # a reviewer's decision that could not apply (typo in an id or value) must be
        # seen: it is a warning, the rest are notes
        lines += [""] + [f"{'WARNING' if n.startswith('ignored') else 'note'}: {n}"
                         for n in result.notes]
    return "\n".join(lines)


def model_check_line(result: RoundResult) -> str | None:
    """The leave-one-out model check in words, or ``None`` without a fitted model."""
    parts = []
    for c in result.model_check:
        unit = " decades" if c.target.transform == "log10" else (
            f" {c.target.unit}" if c.target.unit else "")
        parts.append(f"{c.target.name} RMSE {c.rmse:.3g}{unit}, R² {c.r2:.2f} "
                     f"(n={len(c.observed)})")
    return ("Model check (leave-one-out): " + "; ".join(parts) + ".") if parts else None


def next_steps(settings: CampaignSettings, review_hint: str | None,
               overrides: str = "") -> str:
    """How to record results and open the review screen.

    Args:
        settings: The campaign.
        review_hint: How to open the UI, or ``None`` without tracking.
        overrides: This command's overrides the next commands need too (``paths.runs``),
            as text starting with a space.
    """
    targets = [t.name for t in settings.objectives.measured]
    lines = [
        "",
        f"Ledger: {settings.ledger_path}",
        "Record results either way:",
        f"  - fill in {', '.join(targets)} in the ledger (spreadsheet; leave unmeasured "
        "cells empty; status 'failed' for a failed synthesis), or",
        f"  - python -m optim campaign={settings.name}{overrides} record=results.csv   "
        f"(columns: id,{','.join(targets)}[,status])",
        f"Then plan the next round: python -m optim campaign={settings.name}{overrides}",
    ]
    if review_hint:
        lines.append(f"Review in the mlflow UI: {review_hint}")
    return "\n".join(lines)


def describe_round(result: RoundResult, settings: CampaignSettings) -> str:
    """What was proposed and why, in words (markdown, for the mlflow run description)."""
    batch, ledger = result.batch, result.ledger
    lines = [f"**Round {result.round}** of campaign *{result.campaign}*: "
             f"{len(batch)} proposal(s) by {result.strategy}."]
    ei = result.metrics.get("expected_improvement")
    if ei is not None and math.isfinite(ei):
        what = result.strategy.improves
        lines.append(f"Expected {what} improvement of the batch: {ei:.3g} (model scale: "
                     "log10 for log-modelled targets; reference point = thresholds).")
    best = best_measured(ledger, settings.objectives)
    legend = _legend(batch, settings)
    if legend:
        lines.append(legend)
    aims: dict[str, tuple[str, ...]] = {}
    for rec in batch.to_dict("records"):
        beyond = tuple(
            t.name for t in settings.objectives.measured if t.name in best
            and t.sign * (t.interval(rec[f"pred_{t.name}_mean"],
                                     rec[f"pred_{t.name}_sd"])[0] - best[t.name]) > 0)
        preds = ", ".join(
            f"{t.name} {_prediction(t, rec[f'pred_{t.name}_mean'], rec[f'pred_{t.name}_sd'])}"
            for t in settings.objectives.targets
            if math.isfinite(rec[f"pred_{t.name}_mean"]))
        why = (f"predicted beyond the best measured {', '.join(beyond)}" if beyond else
               "fills the trade-off between measured points (or explores where the model "
               "is unsure)")
        lines.append(f"- `{rec['id']}`: {preds}; {why}.")
        if beyond:
            aims[rec["id"]] = beyond
    if best:
        lines.append("Best measured so far: " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in best.items()) + ".")
    lines += _aims_in_words(aims)
    lines += [f"Note: {n}" for n in result.notes]
    lines.append("Review: compare the child runs (one per proposal) and set the tag "
                 "`decision` to `approve` or `reject` on a proposal's run; the next round "
                 "reads it into the ledger.")
    return "\n\n".join(lines)


def _and(names: tuple[str, ...] | list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _aims_in_words(aims: dict[str, tuple[str, ...]]) -> list[str]:
    """Sentences on which proposals aim at which objectives (predicted beyond the best).

    A proposal beyond the best on several objectives improves on all of them, which is no
    trade. The batch trades objectives only when different proposals aim at different
    objectives: groups of proposals by the objectives they aim at, keeping the groups no
    other group's objectives are a strict part of, so no proposal is named twice.
    """
    lines = [f"`{ident}` is predicted to improve on {'both ' if len(names) == 2 else ''}"
             f"{_and(names)}." for ident, names in aims.items() if len(names) > 1]
    groups: dict[tuple[str, ...], list[str]] = {}
    for ident, names in aims.items():
        groups.setdefault(names, []).append(ident)
    kept = [names for names in groups
            if not any(set(other) < set(names) for other in groups)]
    if len(kept) > 1:
        lines.append("The batch trades " + " against ".join(
            f"{_and(names)} ({', '.join(groups[names])})" for names in kept) + ".")
    return lines
