"""Process parameters: continuous, optionally log-scaled, each with a physical unit."""

from __future__ import annotations

import math
from dataclasses import dataclass

from optim.exceptions import ConfigError

__all__ = ["NumericalParameter", "is_finite_number"]


def is_finite_number(value: object) -> bool:
    """A real number (not a bool), finite."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


@dataclass(frozen=True)
class NumericalParameter:
    """A continuous process parameter in its physical unit.

    The ledger holds physical values. Models and the optimizer work in the *encoded*
    space: the value itself, or ``log10(value)`` when ``log_scale`` is set.

    Args:
        name: Column name, with the unit in it (``anneal_temperature_C``).
        lower: Lowest allowed value (physical unit).
        upper: Highest allowed value (physical unit).
        unit: Unit in words, for tables and plots.
        log_scale: Model and search in log10 (needs ``lower > 0``).

    Raises:
        ConfigError: Bad bounds; ``key`` names the field (``lower``, ``upper``).
    """

    name: str
    lower: float
    upper: float
    unit: str = ""
    log_scale: bool = False

    def __post_init__(self) -> None:
        for label, value in (("lower", self.lower), ("upper", self.upper)):
            if not is_finite_number(value):
                raise ConfigError(
                    f"{label}={value!r} is not a finite number. "
                    "Fix: give bounds as numbers in the parameter's unit.",
                    key=label, value=value)
        if not self.lower < self.upper:
            raise ConfigError(
                f"bounds lower={self.lower} upper={self.upper}; expected "
                "lower < upper. Fix: swap or correct the bounds.", value=self.lower)
        if self.log_scale and self.lower <= 0:
            raise ConfigError(
                f"log_scale needs lower > 0, got lower={self.lower}. "
                "Fix: raise the lower bound or set log_scale: false.",
                key="lower", value=self.lower)

    def encode(self, value: float) -> float:
        """Physical value to encoded (model) value."""
        return math.log10(value) if self.log_scale else float(value)

    def decode(self, value: float) -> float:
        """Encoded (model) value to physical value."""
        return 10.0**value if self.log_scale else float(value)

    @property
    def encoded_bounds(self) -> tuple[float, float]:
        """Bounds in the encoded space."""
        return self.encode(self.lower), self.encode(self.upper)

    @property
    def label(self) -> str:
        """Axis label with unit."""
        return f"{self.name} [{self.unit}]" if self.unit else self.name
