"""Targets (measured or computed properties) and how they combine into objectives."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from optim.exceptions import ConfigError
from optim.search_space.parameters import is_finite_number

__all__ = ["Objectives", "Target", "checkpoint_column", "split_checkpoint"]


def checkpoint_column(name: str, checkpoint: int) -> str:
    """The ledger column of a target's value at an intermediate checkpoint."""
    return f"{name}@{checkpoint}"


def split_checkpoint(column: str) -> tuple[str, str] | None:
    """``('retention_pct', '50')`` for ``retention_pct@50``; ``None`` without ``@``."""
    if "@" not in column:
        return None
    name, _, cp = column.rpartition("@")
    return name, cp

TRANSFORMS = (None, "log10")


@dataclass(frozen=True)
class Target:
    """One property of an experiment, and what we want of it.

    Args:
        name: Ledger column, with its unit (``conductivity_mS_cm``).
        direction: ``"maximize"`` or ``"minimize"``.
        threshold: The worst value still worth having (physical unit); sets the
            hypervolume reference point.
        unit: Unit in words.
        transform: ``"log10"`` to model the target in log10 (needs positive values).
        valid_range: ``(lower, upper)`` of physically possible values; ``None`` is open.
        known: A formula computes this target (never fitted, never measured).
        description: What the target is, in words.
        constraint: ``(min, max)`` the target must meet (physical unit; ``None`` for an
            open side), or ``None``: an outcome constraint. Proposals are weighted by
            the probability that it holds; the measured front counts only rows that
            meet it. A known target's constraint is exact (a constraint of the space).
        objective: The target is optimized (``False``: a constraint only; then
            ``direction`` and ``threshold`` default to the constraint's side and bound).
        checkpoints: Ascending points along the measurement (cycle numbers of a
            cycling cell) where a value is read as it goes; the last is the one
            optimized (the target's own column), earlier ones are ledger columns
            ``<name>@<checkpoint>`` (:meth:`checkpoint_columns`). Empty: one value.
        checkpoint_unit: What a checkpoint counts, in words (``cycles``).

    Raises:
        ConfigError: A bad direction, transform, threshold or range; ``key`` names
            the field.
    """

    name: str
    direction: str
    threshold: float
    unit: str = ""
    transform: str | None = None
    valid_range: tuple[float | None, float | None] = (None, None)
    known: Callable[[Tensor], Tensor] | None = field(default=None, compare=False)
    description: str = ""
    constraint: tuple[float | None, float | None] | None = None
    objective: bool = True
    checkpoints: tuple[int, ...] = ()
    checkpoint_unit: str = "cycles"

    def __post_init__(self) -> None:
        self._check_constraint()
        self._check_checkpoints()
        if self.direction not in ("maximize", "minimize"):
            raise ConfigError(
                f"value={self.direction!r}; expected 'maximize' or 'minimize'.",
                key="direction", value=self.direction)
        if self.transform not in TRANSFORMS:
            raise ConfigError(
                f"value={self.transform!r}; expected one of {list(TRANSFORMS)}.",
                key="transform", value=self.transform)
        if not is_finite_number(self.threshold):
            raise ConfigError(
                f"value={self.threshold!r} is not a finite number. "
                "Fix: give the worst value still worth having, in the target's unit.",
                key="threshold", value=self.threshold)
        lo, hi = self.valid_range
        for bound in (lo, hi):
            if bound is not None and not is_finite_number(bound):
                raise ConfigError(f"({lo}, {hi}): {bound!r} is not a finite number (null "
                                  "for an open end).", key="valid_range", value=bound)
        if self.transform == "log10" and (lo is None or lo < 0):
            object.__setattr__(self, "valid_range", (0.0, hi))
            lo = 0.0
        if self.transform == "log10" and self.threshold <= 0:
            raise ConfigError(
                f"value={self.threshold} has the wrong sign: the target "
                "is modelled in log10, so the threshold must be > 0. Fix: give a positive "
                f"threshold in {self.unit or 'the target unit'}.", key="threshold",
                value=self.threshold)
        if lo is not None and hi is not None and lo >= hi:
            raise ConfigError(f"({lo}, {hi}); expected lower < upper.", key="valid_range",
                              value=(lo, hi))
        if (lo is not None and self.threshold < lo) or (
            hi is not None and self.threshold > hi
        ):
            raise ConfigError(
                f"value={self.threshold} lies outside the target's "
                f"valid range [{lo}, {hi}] (wrong sign or unit?). Fix: give a threshold "
                "inside the valid range.", key="threshold", value=self.threshold)

    def _check_checkpoints(self) -> None:
        cps = self.checkpoints
        if not cps:
            return
        fix = ("Fix: list whole numbers in ascending order, at least two, the last the "
               "one optimized (checkpoints: [25, 50, 100, 200, 350]).")
        if isinstance(cps, str | bytes) or not all(
                isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in cps):
            raise ConfigError(f"value={list(cps) if not isinstance(cps, str) else cps!r}: "
                              f"not a list of positive whole numbers. {fix}",
                              key="checkpoints", value=cps)
        if len(cps) < 2 or any(b <= a for a, b in zip(cps, cps[1:], strict=False)):
            raise ConfigError(f"value={list(cps)}: expected two or more strictly "
                              f"ascending checkpoints. {fix}", key="checkpoints",
                              value=list(cps))
        if self.is_known:
            raise ConfigError("a known (computed) target has no checkpoints. Fix: remove "
                              "checkpoints.", key="checkpoints", value=list(cps))
        object.__setattr__(self, "checkpoints", tuple(cps))

    @property
    def final_checkpoint(self) -> int | None:
        """The checkpoint the target's own column holds (``None`` without checkpoints)."""
        return self.checkpoints[-1] if self.checkpoints else None

    @property
    def checkpoint_columns(self) -> dict[str, int]:
        """Ledger column to checkpoint, earliest first, the final one (the target's own
        column) last: ``{'retention_pct@25': 25, ..., 'retention_pct': 350}``; empty
        for a target without checkpoints."""
        if not self.checkpoints:
            return {}
        return {**{checkpoint_column(self.name, c): c for c in self.checkpoints[:-1]},
                self.name: self.checkpoints[-1]}

    def _check_constraint(self) -> None:
        """Validate ``constraint``/``objective``; a constraint-only target takes its
        direction and threshold from the constraint."""
        if not isinstance(self.objective, bool):
            raise ConfigError(f"value={self.objective!r}; expected true or false.",
                              key="objective", value=self.objective)
        c = self.constraint
        if c is None:
            if not self.objective:
                raise ConfigError(
                    "objective: false needs a constraint (the target would do nothing). "
                    "Fix: add constraint: {min: ...} or {max: ...}, or drop objective: "
                    "false.", key="objective", value=False)
            return
        lo, hi = c
        for label, bound in (("min", lo), ("max", hi)):
            if bound is not None and not is_finite_number(bound):
                raise ConfigError(f"{label}={bound!r} is not a finite number. Fix: a bound "
                                  "in the target's unit.", key=f"constraint.{label}",
                                  value=bound)
        if lo is None and hi is None:
            raise ConfigError("needs min and/or max. Fix: e.g. constraint: {min: 1.0}.",
                              key="constraint", value=c)
        if lo is not None and hi is not None and lo >= hi:
            raise ConfigError(f"min={lo} is not below max={hi}: no value can meet it. "
                              "Fix: swap them, or widen the interval.", key="constraint",
                              value=(lo, hi))
        vlo, vhi = self.valid_range
        if self.transform == "log10":
            vlo = 0.0 if vlo is None or vlo < 0 else vlo
        if (lo is not None and vhi is not None and lo >= vhi) or (
                hi is not None and vlo is not None and hi <= vlo):
            bad = ("min", lo) if lo is not None and vhi is not None and lo >= vhi \
                else ("max", hi)
            raise ConfigError(
                f"{bad[0]}={bad[1]} leaves no possible value: the target's valid range is "
                f"[{vlo}, {vhi}], so no experiment could meet it (wrong unit?). Fix: a bound "
                "inside the valid range.", key=f"constraint.{bad[0]}", value=bad[1])
        if not self.objective:
            if self.direction is None:
                object.__setattr__(self, "direction",
                                   "maximize" if lo is not None else "minimize")
            if self.threshold is None:
                object.__setattr__(self, "threshold", lo if lo is not None else hi)

    def meets(self, values: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Whether physical values meet the constraint (all true without one; NaN
        never meets one)."""
        if self.constraint is None:
            return values == values if isinstance(values, Tensor) else np.ones(
                np.shape(values), dtype=bool)
        lo, hi = self.constraint
        ok = values == values  # False for NaN
        if lo is not None:
            ok = ok & (values >= lo)
        if hi is not None:
            ok = ok & (values <= hi)
        return ok

    def model_constraints(self) -> list[tuple[float, float]]:
        """The constraint as ``(sign, bound)`` pairs on model scale, each meaning
        ``sign * (y - bound) >= 0`` (``+1`` for a min, ``-1`` for a max)."""
        if self.constraint is None:
            return []
        out = []
        for sign, bound in zip((1.0, -1.0), self.constraint, strict=True):
            if bound is not None:
                if self.transform == "log10" and bound <= 0:
                    if sign > 0:  # y >= 0 always holds for a positive target
                        continue
                value = float(self.to_model(np.float64(bound)))
                out.append((sign, value))
        return out

    @property
    def constraint_text(self) -> str:
        """The constraint in words (``ccd_mA_cm2 >= 1``), or ``""``."""
        if self.constraint is None:
            return ""
        lo, hi = self.constraint
        parts = ([f">= {lo:g}"] if lo is not None else []) + (
            [f"<= {hi:g}"] if hi is not None else [])
        return f"{self.name} {' and '.join(parts)}" + (f" {self.unit}" if self.unit else "")

    @property
    def sign(self) -> float:
        """+1 to maximize, -1 to minimize."""
        return 1.0 if self.direction == "maximize" else -1.0

    @property
    def is_known(self) -> bool:
        """Computed by a formula instead of measured."""
        return self.known is not None

    @property
    def label(self) -> str:
        """Axis label with unit."""
        return f"{self.name} [{self.unit}]" if self.unit else self.name

    def to_model(self, values: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Physical values to model scale (log10 where configured)."""
        if self.transform == "log10":
            return torch.log10(values) if isinstance(values, Tensor) else np.log10(values)
        return values

    def from_model(self, values: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Model scale to physical values."""
        if self.transform == "log10":
            return 10.0**values
        return values

    def physical_moments(self, mean: np.ndarray, var: np.ndarray,
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Mean and sd in physical units from a model-scale mean and variance.

        For log10-modelled targets these are the mean and sd of the implied log-normal
        (what the ledger's ``pred_`` columns hold); :meth:`interval` inverts them.
        """
        var = np.clip(var, 0, None)
        if self.transform != "log10":
            return mean, np.sqrt(var)
        ln10 = math.log(10.0)
        mu = np.exp(mean * ln10 + 0.5 * var * ln10**2)
        return mu, mu * np.sqrt(np.expm1(var * ln10**2))

    def interval(self, mean: object, sd: object,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Centre, low and high of predictions (68 %), from the stored mean and sd.

        Log10-modelled targets are stored as the mean ``m`` and sd ``s`` of a log-normal,
        whose sd exceeds its mean when the model is unsure; their centre is the median
        ``m / sqrt(1 + s²/m²)`` and the interval ``median * exp(±σ)`` with
        ``σ² = ln(1 + s²/m²)`` (±1 sd in log space). Other targets: mean ± sd.
        """
        mean, sd = np.asarray(mean, dtype=float), np.asarray(sd, dtype=float)
        if self.transform != "log10":
            return mean, mean - sd, mean + sd
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = 1 + (sd / mean) ** 2
            median = mean / np.sqrt(ratio)
            factor = np.exp(np.sqrt(np.log(ratio)))
        return median, median / factor, median * factor

    def check_value(self, value: float) -> str | None:
        """Why a measured value is impossible, or ``None`` if it is fine."""
        lo, hi = self.valid_range
        span = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        if self.transform == "log10" and value <= 0:
            return "not positive (the target is modelled in log10, so it must be > 0)"
        if lo is not None and value < lo:
            return f"below the valid range {span}"
        if hi is not None and value > hi:
            return f"above the valid range {span}"
        return None

    def suspicious(self, value: float) -> str | None:
        """Why a possible value looks like a unit slip, or ``None``."""
        if self.unit == "%" and 0 < value <= 1:
            return (f"{self.name}={value} looks like a fraction, but the unit is %: "
                    f"did you mean {value * 100:g}?")
        return None


@dataclass(frozen=True)
class Objectives:
    """The campaign's targets, in ledger-column order.

    Botorch maximizes, so objective ``k`` is ``sign_k * to_model(target_k)``, and the
    reference point is the thresholds mapped the same way.
    """

    targets: tuple[Target, ...]

    def __post_init__(self) -> None:
        names = [t.name for t in self.targets]
        if not names:
            raise ConfigError("none given. Fix: add at least one target.")
        if not any(t.objective for t in self.targets):
            raise ConfigError("every target is a constraint only (objective: false): "
                              "nothing to optimize. Fix: make at least one an objective.")
        if len(set(names)) != len(names):
            raise ConfigError(f"duplicate names in {names}.", value=names)

    @property
    def names(self) -> list[str]:
        """Every target name."""
        return [t.name for t in self.targets]

    @property
    def measured(self) -> tuple[Target, ...]:
        """Targets measured in the lab (ledger columns)."""
        return tuple(t for t in self.targets if not t.is_known)

    @property
    def measured_columns(self) -> list[tuple[str, Target]]:
        """Ledger columns of measured values and their target, in file order: a
        checkpointed target's intermediate checkpoints, earliest first, then its own
        column (the final checkpoint)."""
        out: list[tuple[str, Target]] = []
        for t in self.measured:
            out += [(c, t) for c in t.checkpoint_columns if c != t.name] + [(t.name, t)]
        return out

    @property
    def checkpointed(self) -> tuple[Target, ...]:
        """Measured targets read at checkpoints (a cell's retention as it cycles)."""
        return tuple(t for t in self.measured if t.checkpoints)

    @property
    def known(self) -> tuple[Target, ...]:
        """Targets computed by a formula."""
        return tuple(t for t in self.targets if t.is_known)

    @property
    def optimized(self) -> tuple[Target, ...]:
        """Targets that are objectives (not constraints only)."""
        return tuple(t for t in self.targets if t.objective)

    @property
    def constrained(self) -> tuple[Target, ...]:
        """Targets with an outcome constraint."""
        return tuple(t for t in self.targets if t.constraint is not None)

    def feasible_rows(self, values) -> np.ndarray:
        """Rows of a table of physical values (a DataFrame with a column per target)
        that meet every constraint."""
        ok = np.ones(len(values), dtype=bool)
        for t in self.constrained:
            ok &= np.asarray(t.meets(np.asarray(values[t.name], dtype=float)))
        return ok

    def __getitem__(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)
