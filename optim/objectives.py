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

__all__ = ["Objectives", "Target"]

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

    def __post_init__(self) -> None:
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
    def known(self) -> tuple[Target, ...]:
        """Targets computed by a formula."""
        return tuple(t for t in self.targets if t.is_known)

    def __getitem__(self, name: str) -> Target:
        return next(t for t in self.targets if t.name == name)
