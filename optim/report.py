"""What the terminal shows after a round or a recording."""

from __future__ import annotations

import math

import pandas as pd

from optim.campaign import CampaignSettings, RoundResult

__all__ = ["format_batch", "next_steps"]


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
