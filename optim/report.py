"""What the terminal shows after a round or a recording."""

from __future__ import annotations

import math

import pandas as pd

from optim.campaign import CampaignSettings, RoundResult

__all__ = ["describe_round", "format_batch", "next_steps"]


def _fmt(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:.4g}"


def format_batch(result: RoundResult, settings: CampaignSettings) -> str:
    """The proposed batch as a table: id, inputs (physical units), mean ± sd per target."""
    batch = result.batch
    table = pd.DataFrame({"id": batch["id"]})
    for name in settings.space.names:
        table[name] = batch[name].map(_fmt)
    for t in settings.objectives.targets:
        mean, sd = batch[f"pred_{t.name}_mean"], batch[f"pred_{t.name}_sd"]
        label = f"{t.name} (pred)"
        if t.is_known:
            table[label] = mean.map(_fmt)
        else:
            table[label] = [f"{_fmt(m)} ± {_fmt(s)}" if math.isfinite(m) else "-"
                            for m, s in zip(mean, sd, strict=True)]
    header = (f"Round {result.round} of campaign '{result.campaign}': {len(batch)} "
              f"proposal(s) by {result.strategy}\n(round seed {result.seed}, "
              f"fit {result.metrics['fit_s']:.1f} s, propose {result.metrics['propose_s']:.1f} s, "
              f"round {result.metrics['round_s']:.1f} s)")
    lines = [header, "", table.to_string(index=False)]
    if result.notes:
        lines += [""] + [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def next_steps(settings: CampaignSettings, review_hint: str | None) -> str:
    """How to record results and open the review screen."""
    targets = [t.name for t in settings.objectives.measured]
    lines = [
        "",
        f"Ledger: {settings.ledger_path}",
        "Record results either way:",
        f"  - fill in {', '.join(targets)} in the ledger (spreadsheet; leave unmeasured "
        "cells empty; status 'failed' for a failed synthesis), or",
        f"  - python -m optim campaign={settings.name} record=results.csv   "
        f"(columns: id,{','.join(targets)}[,status])",
        f"Then plan the next round: python -m optim campaign={settings.name}",
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
        what = ("hypervolume" if "qLogNEHVI" in result.strategy else "objective")
        lines.append(f"Expected {what} improvement of the batch: {ei:.3g} (model scale: "
                     "log10 for log-modelled targets; reference point = thresholds).")
    measured = ledger[ledger["status"] == "measured"]
    best = {}
    for t in settings.objectives.measured:
        values = measured[t.name].dropna()
        if len(values):
            best[t.name] = values.max() if t.sign > 0 else values.min()
    aims: dict[str, list[str]] = {}
    for rec in batch.to_dict("records"):
        beyond = [t.name for t in settings.objectives.measured
                  if t.name in best and math.isfinite(rec[f"pred_{t.name}_mean"])
                  and t.sign * (rec[f"pred_{t.name}_mean"] - best[t.name]) > 0]
        preds = ", ".join(
            f"{t.name} {_fmt(rec[f'pred_{t.name}_mean'])}"
            + ("" if t.is_known else f" ± {_fmt(rec[f'pred_{t.name}_sd'])}")
            for t in settings.objectives.targets
            if math.isfinite(rec[f"pred_{t.name}_mean"]))
        why = (f"predicted beyond the best measured {', '.join(beyond)}" if beyond else
               "fills the trade-off between measured points (or explores where the model "
               "is unsure)")
        lines.append(f"- `{rec['id']}`: {preds}; {why}.")
        for name in beyond:
            aims.setdefault(name, []).append(rec["id"])
    if best:
        lines.append("Best measured so far: " + ", ".join(
            f"{k} {_fmt(v)}" for k, v in best.items()) + ".")
    if len(aims) > 1:
        lines.append("The batch trades " + " against ".join(
            f"{k} ({', '.join(v)})" for k, v in aims.items()) + ".")
    lines += [f"Note: {n}" for n in result.notes]
    lines.append("Review: compare the child runs (one per proposal) and set the tag "
                 "`decision` to `approve` or `reject` on a proposal's run; the next round "
                 "reads it into the ledger.")
    return "\n\n".join(lines)
