"""Replay lab: measurements looked up in a table of real, already-run experiments.

For benchmarks on published data (Liang et al. 2021) and for rehearsing a pool campaign:
the pool file lists each candidate with its measured target values, and the lab answers
an experiment with the mean of the distinct values recorded for those inputs (the
benchmark's convention for replicates).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.cells import read_text
from optim.exceptions import ConfigError, LabError, LedgerError
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
            match the experiments' input columns. ``None`` (``configs/lab/replay.yaml``):
            the campaign's measured targets, set by :meth:`check_campaign` when the
            config is loaded.
    """

    path: str | Path | None
    targets: Sequence[str] | None = None

    def __post_init__(self) -> None:
        if self.path is None:
            raise LabError("replay lab: no table of measured experiments (the campaign has "
                           "no search_space.pool). Fix: use lab=replay with a pool campaign "
                           "whose pool file holds the measurements, or set lab.path.")
        self.path = resolve_path(self.path)
        if not self.path.is_file():
            raise LabError(f"replay lab: file {self.path} not found. Fix: lab.path must "
                           "name the table of measured experiments (for a pool campaign, "
                           "its search_space.pool).")
        try:  # the checks of a ledger file: a ';' export, a shifted row, ...
            text = read_text(self.path, "replay lab table")
        except LedgerError as err:
            raise LabError(str(err)) from err
        self._table = pd.read_csv(io.StringIO(text))
        self._averaged: dict[tuple[str, ...], pd.DataFrame] = {}
        missing = [t for t in self.targets or () if t not in self._table.columns]
        if missing:
            raise LabError(f"replay lab: {self.path} has no column(s) {missing}; it has "
                           f"{list(self._table.columns)}. Fix: lab.targets must name "
                           "measured columns of the file.")

    def check_campaign(self, settings: Any) -> None:
        """Check the table against a campaign when its config is loaded (not at the
        first measurement): the campaign's measured targets (the lab's ``targets``
        when not given) and inputs are columns, and every pool candidate has a row.

        Args:
            settings: The campaign's ``optim.settings.CampaignSettings`` (a layer above
                the labs, so not imported here).

        Raises:
            ConfigError: What does not match, with the file and the fix
                (``key="lab"``).
        """
        where = f"lab=replay ({self.path})"
        measured = [t.name for t in settings.objectives.measured]
        if self.targets is None:
            self.targets = measured
        columns = list(self._table.columns)
        missing = [t for t in measured if t not in self.targets]
        if missing:
            raise ConfigError(f"{where}: lab.targets={list(self.targets)} lacks the "
                              f"campaign's target(s) {missing}. Fix: drop lab.targets (it "
                              "defaults to the campaign's targets) or add them.",
                              key="lab.targets", value=list(self.targets))
        absent = [c for c in [*settings.space.names, *self.targets] if c not in columns]
        if absent:
            raise ConfigError(f"{where}: the file has no column(s) {absent} of campaign "
                              f"{settings.name!r}; it has {columns}. Fix: lab.path must name "
                              "a table with a column per input and per target (the pool "
                              "file, search_space.pool, when it holds the measurements).",
                              key="lab.path", value=absent)
        if settings.pool is None:
            raise ConfigError(f"{where}: campaign {settings.name!r} has a continuous search "
                              "space, so its proposals are not rows of the table. Fix: make "
                              "it a pool campaign (search_space.pool: the same file).",
                              key="lab", value=str(self.path))
        names = settings.space.names
        have = set(self._table[names].round(KEY_DECIMALS).apply(tuple, axis=1))
        wanted = settings.pool.frame[names].round(KEY_DECIMALS).apply(tuple, axis=1)
        unknown = [dict(zip(names, k, strict=True)) for k in wanted if k not in have]
        if unknown:
            raise ConfigError(f"{where}: {len(unknown)} of {len(wanted)} pool candidate(s) "
                              f"of {settings.pool.path} have no row in it (first: "
                              f"{unknown[0]}), so they could be proposed but never measured. "
                              "Fix: point lab.path at the pool file (the default, "
                              "${search_space.pool}) or at a table with every candidate.",
                              key="lab.path", value=len(unknown))

    def __call__(self, experiments: pd.DataFrame) -> pd.DataFrame:
        """Look up each experiment's inputs; raises ``LabError`` for one not in the table."""
        if self.targets is None:
            raise LabError("replay lab: no targets to report. Fix: ReplayLab(path, "
                           "targets=[...]), or load it with a campaign config (lab=replay).")
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
