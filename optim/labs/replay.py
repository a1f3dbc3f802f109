"""Replay lab: measurements looked up in a table of real, already-run experiments.

For benchmarks on published data (Liang et al. 2021) and for rehearsing a pool campaign:
the pool file lists each candidate with its measured target values, and the lab answers
an experiment with the mean of the distinct values recorded for those inputs (the
benchmark's convention for replicates).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from optim.exceptions import LabError
from optim.paths import resolve_path

__all__ = ["ReplayLab", "average_replicates"]

KEY_DECIMALS = 9


def average_replicates(frame: pd.DataFrame, inputs: Sequence[str],
                       targets: Sequence[str]) -> pd.DataFrame:
    """One row per distinct input combination; each target = mean of its distinct values."""
    return (frame.groupby(list(inputs), sort=False, as_index=False)[list(targets)]
            .agg(lambda s: float(np.mean(pd.unique(s.dropna())))
                 if s.notna().any() else np.nan))


@dataclass
class ReplayLab:
    """A lab that replays a table of measured experiments.

    Args:
        path: CSV with one column per input and the measured target columns (the
            pool file of a pool campaign; absolute or relative to the project folder).
        targets: Target columns to report; the others are treated as inputs when they
            match the experiments' input columns.
    """

    path: str | Path
    targets: Sequence[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = resolve_path(self.path)
        if not self.path.is_file():
            raise LabError(f"replay lab: file {self.path} not found. Fix: lab.path must "
                           "name the table of measured experiments (for a pool campaign, "
                           "its search_space.pool).")
        self._table = pd.read_csv(self.path)
        self._averaged: dict[tuple[str, ...], pd.DataFrame] = {}
        missing = [t for t in self.targets if t not in self._table.columns]
        if missing:
            raise LabError(f"replay lab: {self.path} has no column(s) {missing}; it has "
                           f"{list(self._table.columns)}. Fix: lab.targets must name "
                           "measured columns of the file.")

    def __call__(self, experiments: pd.DataFrame) -> pd.DataFrame:
        """Look up each experiment's inputs; raises ``LabError`` for one not in the table."""
        inputs = [c for c in experiments.columns if c in self._table.columns
                  and c not in self.targets]
        key_cols = tuple(inputs)
        if key_cols not in self._averaged:  # once per lab, not once per round
            self._averaged[key_cols] = average_replicates(self._table, inputs, self.targets)
        table = self._averaged[key_cols]
        key = table[inputs].round(KEY_DECIMALS).apply(tuple, axis=1)
        index = dict(zip(key, range(len(table)), strict=True))
        rows = []
        for rec in experiments.to_dict("records"):
            k = tuple(round(float(rec[c]), KEY_DECIMALS) for c in inputs)
            if k not in index:
                raise LabError(f"replay lab: experiment {rec.get('id')} with inputs "
                               f"{dict(zip(inputs, k, strict=True))} is not in {self.path}. "
                               "Fix: propose from this table (a pool campaign with it as "
                               "search_space.pool).")
            rows.append(index[k])
        out = table.iloc[rows][list(self.targets)].reset_index(drop=True)
        out.insert(0, "id", experiments["id"].to_numpy())
        return out
