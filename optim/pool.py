"""Pool campaigns: the candidates are a finite table (a CSV of available materials).

A lab with a fixed library of precursors or samples can only run what it has. The pool
file holds one column per input of the search space (extra columns, such as a
material's name or old measurements, are kept but not used as inputs); rows that repeat
the same inputs count once. Every row is validated like a ledger row (number, finite,
within bounds, constraints), and proposals come only from rows not yet in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch import Tensor

from optim.cells import parse_inputs, read_table
from optim.exceptions import ConfigError, LedgerError, where
from optim.paths import resolve_path
from optim.search_space import SearchSpace

__all__ = ["CandidatePool"]

MATCH_TOLERANCE = 1e-6  # a ledger row matches a pool row within this, per input range
LABEL_WORDS = ("id", "name", "label", "sample", "material", "code", "batch", "lot")
LEDGER_NAMES = ("id", "round", "status", "source", "notes", "proposed_at", "decided_by",
                "decided_at", "measured_at", "replicate_of")


def _label_column(raw: pd.DataFrame, inputs: list[str], exclude: tuple[str, ...],
                  ) -> str | None:
    """The pool column that names a candidate on the shelf, carried into the ledger: the
    first extra column whose name says so (``name``, ``sample_id``, ``Material``), else
    the first extra column of text; ``None`` when there is none."""
    extra = [c for c in raw.columns if c not in inputs and c not in exclude]
    for c in extra:
        words = str(c).lower().replace("-", "_").replace(" ", "_").split("_")
        if any(w in LABEL_WORDS for w in words):
            return c
    for c in extra:
        cells = raw[c].astype(str).str.strip()
        if pd.to_numeric(cells[cells != ""], errors="coerce").isna().any():
            return c
    return None


@dataclass(frozen=True)
class CandidatePool:
    """The available candidates of a pool campaign.

    Args:
        frame: One row per distinct candidate: the input columns (physical units), then
            any extra columns of the pool file.
        path: The pool file.
    """

    frame: pd.DataFrame
    path: Path
    label: str | None = None

    @property
    def ledger_label(self) -> str:
        """The ledger column holding the label (``pool_<name>`` if it clashes)."""
        return f"pool_{self.label}" if self.label in LEDGER_NAMES else str(self.label)

    def labels_for(self, X: Tensor, space: SearchSpace) -> list[str]:
        """The label of the pool row each encoded candidate of ``X`` is (nearest row)."""
        if self.label is None:
            return [""] * len(X)
        P = self.encoded(space, dtype=X.dtype, device=X.device)
        bounds = space.bounds(dtype=X.dtype, device=X.device)
        scale = (bounds[1] - bounds[0]).clamp_min(1e-12)
        nearest = torch.cdist(X / scale, P / scale).argmin(dim=-1).cpu().numpy()
        return [str(v) for v in self.frame[self.label].to_numpy()[nearest]]

    @classmethod
    def load(cls, path: str | Path, space: SearchSpace, source: str,
             exclude: tuple[str, ...] = ()) -> CandidatePool:
        """Read and validate a pool file.

        Args:
            path: CSV file (absolute, or relative to the working or project folder).
            space: The campaign's inputs, bounds and constraints.
            source: Where the pool was named (the campaign config), for messages.
            exclude: Columns that are never a label (the targets: old measurements).

        Raises:
            ConfigError: The file is missing or lacks an input column (``key="pool"``).
            LedgerError: A cell is not a finite number or out of bounds, fractions do
                not sum to the total, or a row violates a constraint (file, row, column,
                value and fix named; the same checks and words as for ledger cells).
        """
        resolved = resolve_path(path)
        if not resolved.is_file():
            raise ConfigError(f"file {path} not found (looked at {resolved}). Fix: give an "
                              "absolute path or one relative to the project folder.",
                              key="pool", value=str(path))
        raw = read_table(resolved, "pool file")
        missing = [n for n in space.names if n not in raw.columns]
        if missing:
            raise ConfigError(
                f"pool file {resolved}: missing input column(s) {missing}; it has "
                f"{list(raw.columns)}. Fix: name one column per input of the search space "
                f"({space.names}).")
        if raw.empty:
            raise ConfigError(f"pool file {resolved}: no rows. Fix: list the candidates.")
        rows = [parse_inputs(rec, i, space, str(resolved))
                for i, rec in enumerate(raw.to_dict("records"), start=1)]
        frame = pd.DataFrame(rows, columns=space.names)
        for c in raw.columns:  # extra columns (names, old measurements) ride along
            if c not in space.names:
                frame[c] = raw[c].to_numpy()
        X = space.encode(frame, dtype=torch.float64)
        # the values the ledger will hold (rounded fractions rescaled to the total)
        frame[space.names] = space.decode(X).to_numpy()
        violation = space.max_violation(X, grid=False)  # resolution: for proposals
        bad = torch.nonzero(violation > 1e-6).flatten()
        if len(bad):
            i = int(bad[0])
            row = frame.loc[i, space.names]
            broken = [c.description for c in space.constraints
                      if c.slack(row.to_dict()) < -1e-6] or ["a bound"]
            raise LedgerError(
                f"{where(str(resolved), i + 1)}: the candidate {row.to_dict()} violates "
                f"the constraint {broken[0]} of {source}. Fix: correct or drop the row.")
        # repeats (also rows that differ only by rounding) count once
        key = frame[space.names].round(9)
        frame = frame[~key.duplicated()].reset_index(drop=True)
        return cls(frame, resolved, _label_column(raw, space.names, exclude))

    def encoded(self, space: SearchSpace, **tkwargs) -> Tensor:
        """``c x d`` encoded candidates."""
        return space.encode(self.frame, **tkwargs)

    def available(self, space: SearchSpace, used: pd.DataFrame, **tkwargs) -> Tensor:
        """Encoded candidates that match no row of ``used`` (e.g. the ledger's rows)."""
        X = self.encoded(space, **tkwargs)
        if used.empty:
            return X
        bounds = space.bounds(**tkwargs)
        scale = (bounds[1] - bounds[0]).clamp_min(1e-12)
        U = space.encode(used, **tkwargs) / scale
        taken = torch.zeros(len(X), dtype=torch.bool, device=X.device)
        for start in range(0, len(X), 4096):  # bounded memory for large pools
            block = X[start:start + 4096] / scale
            dist = torch.cdist(block, U, p=float("inf"))  # largest scaled difference
            taken[start:start + 4096] = (dist <= MATCH_TOLERANCE).any(dim=-1)
        return X[~taken]
