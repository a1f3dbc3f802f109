"""What the terminal shows after a round or a recording."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from optim.metrics import best_samples, known_values, measured_hypervolume
from optim.objectives import Target
from optim.rounds import RoundResult
from optim.settings import CampaignSettings

__all__ = ["best_in_words", "describe_round", "format_batch", "loop_line", "model_check_line",
           "waiting_lines",
           "next_steps"]


def _fmt(value: float | str) -> str:
    if isinstance(value, str):  # a categorical choice
        return value or "-"
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
    return f"{_fmt(mean)} ± {sd:.2g}" if math.isfinite(sd) else _fmt(mean)


def feasibility_columns(batch: pd.DataFrame, settings: CampaignSettings,
                        ) -> list[tuple[str, str]]:
    """The batch's predicted probabilities worth a column, as ``(ledger column, label)``:
    of success when a classifier was fitted, of meeting each measured target's
    constraint, and of both (``P(feasible)``) when there is more than one factor."""
    cols = [("pred_success", "P(success)")] + [
        (f"pred_{t.name}_meets", f"P({t.constraint_text})")
        for t in settings.objectives.constrained if not t.is_known]
    present = [(c, label) for c, label in cols
               if c in batch and np.isfinite(batch[c].to_numpy(float)).any()]
    if len(present) > 1:
        present.append(("pred_feasible", "P(feasible)"))
    return present


def _percent(value: float) -> str:
    return f"{100 * value:.0f} %" if math.isfinite(value) else "-"


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
        table[name] = [settings.space.format_value(name, v) for v in batch[name]]
    for t in settings.objectives.targets:
        mean, sd = batch[f"pred_{t.name}_mean"], batch[f"pred_{t.name}_sd"]
        table[f"{t.name} ({'computed' if t.is_known else 'pred'})"] = [_prediction(t, m, s)
                                     for m, s in zip(mean, sd, strict=True)]
    for col, label in feasibility_columns(batch, settings):
        table[label] = [_percent(v) for v in batch[col]]
    header = (f"Round {result.round} of campaign '{result.campaign}': {len(batch)} "
              f"proposal(s) by {result.strategy}\n(round seed {result.seed}, "
              f"fit {result.metrics['fit_s']:.1f} s, propose {result.metrics['propose_s']:.1f} s, "
              f"round {result.metrics['round_s']:.1f} s)")
    # reviewers' decisions come first: they changed the ledger before this batch was
    # planned; one that could not apply (a typo in an id or value) is a warning
    decided = [n for n in result.notes if _is_decision(n)]
    lines = [*([result.read] if result.read else []),
             *(f"{'WARNING' if n.startswith('ignored') else 'decisions'}: {n}"
               for n in decided), header, "", table.to_string(index=False)]
    legend = _legend(batch, settings)
    if legend:
        lines.append(legend)
    check = model_check_line(result)
    if check:
        lines.append(check)
    cycling = waiting_lines(result)
    if cycling:
        lines += ["", *cycling]
    stop = stop_lines(result)
    if stop:
        lines += ["", *stop]
    rest = [n for n in result.notes if not _is_decision(n)]
    if rest:
        lines += [""] + [f"note: {n}" for n in rest]
    return "\n".join(lines)


def waiting_lines(result: RoundResult, limit: int = 12, bullet: str = "  ") -> list[str]:
    """The cells still waiting for a checkpoint: what each has read, what it waits for,
    and the round's predicted final value with its 90 % interval (reading noise in)."""
    waits = result.waiting
    if not waits:
        return []
    t = waits[0].target
    unit = f" {t.unit}" if t.unit and t.unit != "%" else t.unit
    lines = [f"Cells still {('cycling' if t.checkpoint_unit == 'cycles' else 'running')} "
             f"({len(waits)}): predicted {t.name} at {t.final_checkpoint} "
             f"{t.checkpoint_unit}, 90 % interval"]
    for w in waits[:limit]:
        read = (f"read to {w.last} ({_fmt(w.last_value)}{unit})" if w.last is not None
                else "nothing read yet")
        pred = (f"predicted {_fmt(w.mean)} [{_fmt(w.lo90)}, {_fmt(w.hi90)}]{unit}"
                if math.isfinite(w.mean) else "no prediction yet (too few cells read)")
        lines.append(f"{bullet}{w.id}: {read}, waits for {w.next}; {pred}")
    if len(waits) > limit:
        lines.append(f"{bullet}... and {len(waits) - limit} more (mlflow: the round run's "
                     "cycling.json)")
    return lines


def stop_lines(result: RoundResult, bullet: str = "  ") -> list[str]:
    """The cells the round recommends stopping (``checkpoints.stop_below``): why, and
    what to record."""
    if not result.stop:
        return []
    t = result.stop[0].target
    unit = f" {t.unit}" if t.unit and t.unit != "%" else t.unit
    beat = f"{'≥' if t.direction == 'maximize' else '≤'} {_fmt(t.threshold)}{unit}"
    under = (f"under {_fmt(100 * result.stop_below)} %" if result.stop_below is not None
             else "a low")
    lines = [f"Stop {len(result.stop)} cell(s): each has {under} probability that "
             f"{t.name} at {t.final_checkpoint} {t.checkpoint_unit} beats its threshold "
             f"({beat}), so it is unlikely to add to the front; ending its test frees its "
             "channel, and its "
             "readings stay in the model. Record it in the results file with "
             "stopped_at = the last checkpoint read:"]
    for w in result.stop:
        lines.append(f"{bullet}{w.id}: stopped_at {w.last} (read {_fmt(w.last_value)}"
                     f"{unit}); predicted {_fmt(w.mean)} [{_fmt(w.lo90)}, {_fmt(w.hi90)}]"
                     f"{unit}, P(beats) = {w.p_beats:.3f}")
    return lines


def _is_decision(note: str) -> bool:
    """A note about reviewers' decisions (applied, or ignored with the reason)."""
    return note.startswith(("applied reviewers' decisions", "ignored"))


def model_check_line(result: RoundResult) -> str | None:
    """The leave-one-out model check in words, or ``None`` without a fitted model."""
    parts = []
    for c in result.model_check:
        unit = " decades" if c.target.transform == "log10" else (
            f" {c.target.unit}" if c.target.unit else "")
        parts.append(f"{c.target.name} RMSE {c.rmse:.3g}{unit}, R² {c.r2:.2f}, 90 % "
                     f"intervals hold {100 * c.coverage(0.9):.0f} % (n={len(c.observed)})")
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
    lines = ["", f"Ledger: {settings.ledger_path}"]
    if settings.schema.weighing is not None:
        lines.append(f"Weighing sheet (grams per precursor): python -m optim "
                     f"campaign={settings.name}{overrides} recipe=round")
    lines += [
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
    p = result.metrics.get("p_beats_thresholds")
    if p is not None and math.isfinite(p):
        lines.append(f"Probability that at least one experiment of the batch (or one "
                     f"pending) beats every threshold: {p:.2f} (no measured row does yet).")
    if ei is not None and math.isfinite(ei):
        what = result.strategy.improves
        lines.append(f"Expected {what} improvement of the batch: {ei:.3g} (model scale: "
                     "log10 for log-modelled targets; reference point = thresholds).")
    lines += [f"Decisions: {n}" for n in result.notes if _is_decision(n)]
    samples = best_samples(ledger, settings.objectives)
    best = {name: value for name, (value, _) in samples.items()}
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
        lines.append(f"- `{rec['id']}`: {preds}; {_reason(rec, beyond, ledger, settings)}.")
        if beyond:
            aims[rec["id"]] = beyond
    if samples:
        lines.append("Best measured so far: " + ", ".join(
            f"{k} {_fmt(v)} (`{ident}`)" for k, (v, ident) in samples.items()) + ".")
    lines += _aims_in_words(aims)
    cycling = waiting_lines(result, bullet="- ")
    if cycling:
        lines.append(cycling[0] + ":\n\n" + "\n".join(cycling[1:]))
    stop = stop_lines(result, bullet="- ")
    if stop:
        lines.append(stop[0] + "\n\n" + "\n".join(stop[1:]))
    lines += [f"Note: {n}" for n in result.notes if not _is_decision(n)]
    lines.append("Review: compare the child runs (one per proposal) and set the tag "
                 "`decision` to `approve` or `reject` on a proposal's run; the next round "
                 "reads it into the ledger.")
    return "\n\n".join(lines)


def _spread(target: Target, mean: float, sd: float, measured: pd.Series) -> float:
    """How unsure a prediction is, on one scale for every target: the 68 % interval's
    width as a fraction of the measured values' spread (in decades for log10 targets)."""
    _, lo, hi = (float(v) for v in target.interval(mean, sd))
    values = measured.dropna().to_numpy(float)
    if target.transform == "log10":
        lo, hi = math.log10(max(lo, 1e-300)), math.log10(max(hi, 1e-300))
        values = np.log10(values[values > 0])
    span = float(np.ptp(values)) if len(values) > 1 else 0.0
    return (hi - lo) / span if span > 0 else math.nan


def _nearest(rec: dict, ledger: pd.DataFrame, settings: CampaignSettings) -> str | None:
    """The closest measured sample in scaled inputs, and the input differing most."""
    names = settings.space.names
    rows = ledger[ledger["status"] == "measured"]
    if rows.empty or any(n not in rows for n in names):
        return None
    space = settings.space
    bounds = space.bounds(dtype=torch.float64)
    width = torch.where(bounds[1] > bounds[0], bounds[1] - bounds[0], torch.ones(space.dim))
    X = space.encode(rows[names], dtype=torch.float64)
    x = space.encode(pd.DataFrame([{n: rec[n] for n in names}]), dtype=torch.float64)
    diff = ((X - x) / width).numpy()
    for j in space.cat_dims:  # another choice is as far as it gets
        diff[:, j] = (np.abs(diff[:, j]) > 1e-9).astype(float)
    k = int(np.argmax(-np.abs(diff).max(axis=1)))
    j = int(np.argmax(np.abs(diff[k])))
    near = rows.iloc[k]
    return (f"closest measured sample `{near['id']}` (differs most in {names[j]}: "
            f"{_fmt(rec[names[j]])} vs {_fmt(near[names[j]])})")


def _reason(rec: dict, beyond: tuple[str, ...], ledger: pd.DataFrame,
            settings: CampaignSettings) -> str:
    """Why this proposal, in words of its own: where it is predicted beyond the best,
    or whether it explores (wide interval) or refines (narrow) near which sample."""
    near = _nearest(rec, ledger, settings)
    spreads = {t.name: _spread(t, rec[f"pred_{t.name}_mean"], rec[f"pred_{t.name}_sd"],
                               ledger[t.name])
               for t in settings.objectives.measured if t.name in ledger
               and math.isfinite(rec[f"pred_{t.name}_mean"])}
    unsure = [name for name, v in spreads.items() if math.isfinite(v) and v > 0.5]
    if beyond:
        why = f"predicted beyond the best measured {', '.join(beyond)}"
    elif unsure:
        why = (f"explores where the model is unsure ({', '.join(unsure)}: 68 % interval "
               "wider than half the measured range)")
    else:
        why = "fills the trade-off between measured points"
    return f"{why}; {near}" if near else why


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


def best_in_words(ledger: pd.DataFrame, settings: CampaignSettings) -> str:
    """The best measured value per target with its sample id and, while no sample
    reaches a target's threshold, the threshold still to beat; the hypervolume only
    for several objectives (0 until a sample beats every threshold)."""
    objectives = settings.objectives
    best = best_samples(ledger, objectives)
    measured = ledger[ledger["status"] == "measured"]
    if objectives.known and len(measured):  # computed targets (cost) of measured samples
        values = known_values(measured, settings)
        for t in objectives.known:
            k = values[t.name].idxmax() if t.sign > 0 else values[t.name].idxmin()
            best[t.name] = (float(values.at[k, t.name]), str(measured.at[k, "id"]))
    parts = []
    limits = " and ".join(t.constraint_text for t in objectives.constrained if not t.is_known)
    for t in objectives.targets:
        if t.name not in best:
            has = not t.is_known and measured[t.name].notna().any()
            parts.append(f"{t.name}: no sample meets {limits} yet" if has and limits
                         else f"{t.name} not measured yet")
            continue
        value, ident = best[t.name]
        unit = f" {t.unit}" if t.unit else ""
        beaten = t.sign * (value - t.threshold) > 0
        parts.append(f"{t.name} {_fmt(value)}{unit} ({ident}"
                     + ("" if beaten else f"; threshold {_fmt(t.threshold)} still to beat")
                     + ")")
    text = "best " + ", ".join(parts)
    if len(objectives.targets) > 1:
        hv = measured_hypervolume(ledger, settings)
        text += (f"; measured hypervolume {hv:.4g}" if hv > 0 else
                 "; hypervolume 0 (no sample beats every threshold yet)")
    return text


def loop_line(step, label: str = "") -> str:
    """One progress line of a closed loop (``step``: an ``optim.campaign.LoopRound``)."""
    result = step.result
    return (f"{label}[{step.index}/{step.rounds}] round {result.round}: "
            f"{len(step.batch)} by {result.strategy}; {step.n_failed} failed; "
            f"{best_in_words(step.ledger, step.settings)} "
            f"({result.metrics['round_s']:.1f} s)")
