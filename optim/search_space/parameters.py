"""Process parameters: continuous, integer, discrete or categorical, each with a unit.

A parameter reads its ledger cell (:meth:`parse`), maps physical values to the
encoded (model) space and back, and, for integer, discrete and ``resolution``
parameters, names the allowed values next to a continuous one (:meth:`neighbours`):
the optimizer works on a continuous relaxation and proposals are snapped to these
values, then re-checked against every bound and constraint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from optim.exceptions import ConfigError, LedgerError

__all__ = ["CategoricalParameter", "NumericalParameter", "Parameter", "is_finite_number"]

GRID_TOLERANCE = 1e-6  # relative to the step: 300.0000001 is 300


def is_finite_number(value: object) -> bool:
    """A real number (not a bool), finite."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _decimals(step: float) -> int:
    """Decimals that show multiples of ``step`` exactly (0.01 -> 2, 50 -> 0)."""
    text = f"{step:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True)
class NumericalParameter:
    """A numerical process parameter in its physical unit.

    The ledger holds physical values. Models and the optimizer work in the *encoded*
    space: the value itself, or ``log10(value)`` when ``log_scale`` is set.

    Args:
        name: Column name, with the unit in it (``anneal_temperature_C``).
        lower: Lowest allowed value (physical unit).
        upper: Highest allowed value (physical unit).
        unit: Unit in words, for tables and plots.
        log_scale: Model and search in log10 (needs ``lower > 0``).
        kind: ``continuous``, ``integer`` (``lower + k * step``; whole numbers when
            ``step`` is 1) or ``discrete`` (one of ``values``).
        step: Spacing of an integer parameter (must divide ``upper - lower``).
        values: The allowed values of a discrete parameter (``lower``/``upper`` are
            their extremes).
        resolution: A continuous parameter set to multiples of this (a balance, a
            furnace controller): proposals are rounded to it.
        shared: One value for every experiment of a batch (one furnace run).

    Raises:
        ConfigError: Bad bounds or settings; ``key`` names the field.
    """

    name: str
    lower: float
    upper: float
    unit: str = ""
    log_scale: bool = False
    kind: str = "continuous"
    step: float | None = None
    values: tuple[float, ...] | None = field(default=None)
    resolution: float | None = None
    shared: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("continuous", "integer", "discrete"):
            raise ConfigError(f"type={self.kind!r} is not a parameter type. Fix: continuous, "
                              "integer, discrete or categorical.", key="type", value=self.kind)
        if self.kind == "discrete":
            self._init_discrete()
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
        if self.kind == "integer":
            self._init_integer()
        elif self.step is not None:
            raise ConfigError(f"step={self.step!r} is set on a {self.kind} parameter. Fix: "
                              "type: integer (with step), or resolution: for a continuous "
                              "one.", key="step", value=self.step)
        if self.resolution is not None:
            r = self.resolution
            if self.kind != "continuous":
                raise ConfigError(f"resolution={r!r} on a {self.kind} parameter, whose "
                                  "values are already fixed. Fix: delete resolution.",
                                  key="resolution", value=r)
            if not is_finite_number(r) or not 0 < r <= self.upper - self.lower:
                raise ConfigError(
                    f"resolution={r!r}; expected a positive number no larger than the "
                    f"range {self.upper - self.lower:g}. Fix: the smallest increment the "
                    "instrument sets, in the parameter's unit.", key="resolution", value=r)

    def _init_discrete(self) -> None:
        values = self.values
        if not isinstance(values, tuple | list) or len(values) < 2 or not all(
                is_finite_number(v) for v in values):
            raise ConfigError(f"values={values!r}; a discrete parameter needs a list of at "
                              "least 2 numbers (e.g. [150, 200, 250]).", key="values",
                              value=values)
        ordered = tuple(sorted(float(v) for v in values))
        if len(set(ordered)) != len(ordered):
            raise ConfigError(f"values={list(values)} repeats a value. Fix: list each "
                              "allowed value once.", key="values", value=values)
        object.__setattr__(self, "values", ordered)
        for label, given, derived in (("lower", self.lower, ordered[0]),
                                      ("upper", self.upper, ordered[-1])):
            if given is not None and given != derived:
                raise ConfigError(f"{label}={given!r} but values run from {ordered[0]} to "
                                  f"{ordered[-1]}. Fix: delete {label} (a discrete "
                                  "parameter's bounds are its extreme values).",
                                  key=label, value=given)
        object.__setattr__(self, "lower", ordered[0])
        object.__setattr__(self, "upper", ordered[-1])

    def _init_integer(self) -> None:
        step = 1 if self.step is None else self.step
        if not is_finite_number(step) or step <= 0:
            raise ConfigError(f"step={step!r}; expected a positive number (1 for whole "
                              "numbers, 50 for a mill set in 50 rpm steps).", key="step",
                              value=step)
        count = (self.upper - self.lower) / step
        if abs(count - round(count)) > GRID_TOLERANCE:
            raise ConfigError(
                f"step={step:g} does not divide the range [{self.lower:g}, "
                f"{self.upper:g}] ({count:.4g} steps). Fix: choose bounds "
                f"{self.lower:g} + k x {step:g}, or another step.", key="step", value=step)
        if step == 1 and (self.lower != int(self.lower)):
            raise ConfigError(f"lower={self.lower!r} is not a whole number (type: integer, "
                              "step 1). Fix: a whole-number bound, or set step.",
                              key="lower", value=self.lower)
        object.__setattr__(self, "step", float(step))

    # ------------------------------------------------------------------ encoding
    @property
    def is_categorical(self) -> bool:
        """Whether values are category names (never, here)."""
        return False

    @property
    def on_grid(self) -> bool:
        """Proposals take values from a grid (integer, discrete or ``resolution``)."""
        return self.kind != "continuous" or self.resolution is not None

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

    # ----------------------------------------------------------------- the grid
    @property
    def grid(self) -> np.ndarray | None:
        """Every allowed value of an integer or discrete parameter (``None`` for a
        continuous one, with or without resolution)."""
        if self.kind == "discrete":
            return np.asarray(self.values)
        if self.kind == "integer":
            count = int(round((self.upper - self.lower) / self.step))
            return np.round(self.lower + self.step * np.arange(count + 1), _decimals(self.step))
        return None

    def neighbours(self, value: float, radius: int = 1) -> list[float]:
        """The allowed values next to a physical ``value``: the one it is on, or the
        ones below and above (``radius`` widens to that many on each side);
        ``[value]`` for a continuous parameter."""
        if not self.on_grid:
            return [float(value)]
        grid = self.grid
        if grid is None:  # resolution: multiples of it
            r, k = self.resolution, value / self.resolution
            if abs(k - round(k)) <= GRID_TOLERANCE:
                ks = range(round(k) - radius + 1, round(k) + radius)
            else:
                ks = range(math.floor(k) - radius + 1, math.ceil(k) + radius)
            return [round(j * r, _decimals(r)) for j in ks]
        j = int(np.searchsorted(grid, value))
        for e in (j - 1, j):
            if 0 <= e < len(grid) and abs(grid[e] - value) <= GRID_TOLERANCE * self._spacing:
                ks = range(e - radius + 1, e + radius)
                break
        else:
            ks = range(j - radius, j + radius)
        return [float(grid[k]) for k in ks if 0 <= k < len(grid)]

    def nearest(self, values: np.ndarray) -> np.ndarray:
        """The allowed value nearest each physical value (vectorized)."""
        values = np.asarray(values, dtype=float)
        if not self.on_grid:
            return values
        grid = self.grid
        if grid is None:
            r = self.resolution
            return np.round(np.round(values / r) * r, _decimals(r))
        j = np.clip(np.searchsorted(grid, values), 1, len(grid) - 1)
        lower, upper = grid[j - 1], grid[j]
        return np.where(np.abs(values - lower) <= np.abs(upper - values), lower, upper)

    @property
    def _spacing(self) -> float:
        if self.kind == "integer":
            return self.step
        if self.kind == "discrete":
            return float(np.min(np.diff(self.values)))
        return self.resolution or (self.upper - self.lower)

    def grid_error(self, value: float) -> float:
        """Distance from ``value`` to the nearest allowed value, relative to the grid's
        spacing (0 for a continuous parameter or a value on the grid)."""
        if self.kind == "continuous":  # resolution is for proposals; rows are as made
            return 0.0
        return min(abs(g - value) for g in self.neighbours(value)) / self._spacing

    def parse(self, text: str, loc: str) -> float:
        """The ledger cell's value: a number within the bounds, on the grid.

        Raises:
            LedgerError: Not a number, out of bounds, off the grid; with ``loc``.
        """
        lo, hi = self.lower, self.upper
        try:
            value = float(text)
        except ValueError:
            raise LedgerError(f"{loc}: value={text!r} is not a number. Fix: enter "
                              f"{self.allowed}.") from None
        if not math.isfinite(value):
            raise LedgerError(f"{loc}: value={text!r} is not finite. Fix: enter "
                              f"{self.allowed}.")
        tol = 1e-9 * (hi - lo)
        if not lo - tol <= value <= hi + tol:
            raise LedgerError(
                f"{loc}: value={value} is outside the bounds [{lo}, {hi}]. Fix: correct "
                "the value (unit?) or widen the bounds in the campaign config.")
        if self.grid_error(value) > GRID_TOLERANCE:
            near = " or ".join(f"{g:g}" for g in self.neighbours(value))
            raise LedgerError(f"{loc}: value={text!r} is not {self.allowed}. Fix: the "
                              f"value set, e.g. {near}.")
        if self.kind != "continuous":
            value = min(self.neighbours(value), key=lambda g: abs(g - value))
        return value

    def format(self, value: float) -> str:
        """A value as people read it: a grid value with the grid's decimals (``550``,
        ``2.5``), a continuous one to 4 significant digits; ``-`` when missing."""
        if not is_finite_number(value):
            return "-"
        if self.on_grid and self.grid_error(value) <= GRID_TOLERANCE and (
                self.kind != "continuous"
                or abs(value / self.resolution - round(value / self.resolution))
                <= GRID_TOLERANCE):
            return f"{value:.{_decimals(self._spacing_text)}f}"
        return f"{value:.4g}"

    @property
    def is_whole(self) -> bool:
        """Every allowed value is a whole number (the ledger writes ``550``, not
        ``550.0``)."""
        return self.on_grid and _decimals(self._spacing_text) == 0 and (
            self.kind != "discrete" or all(float(v).is_integer() for v in self.values))

    @property
    def _spacing_text(self) -> float:
        """The step whose decimals show every allowed value."""
        if self.kind == "discrete":
            return min((10.0 ** -_decimals(float(v)) for v in self.values), default=1.0)
        return self.step if self.kind == "integer" else self.resolution

    @property
    def allowed(self) -> str:
        """The allowed values in words."""
        if self.kind == "discrete":
            return f"one of {[float(v) if v != int(v) else int(v) for v in self.values]}"
        if self.kind == "integer":
            if self.step == 1:
                return f"a whole number in [{self.lower:g}, {self.upper:g}]"
            return (f"a value {self.lower:g} + k x {self.step:g} up to {self.upper:g} "
                    f"(type: integer, step {self.step:g})")
        return f"a number in [{self.lower}, {self.upper}]"


@dataclass(frozen=True)
class CategoricalParameter:
    """A choice among named options (a seed metal, a precursor lot, a furnace).

    Encoded as the index of the choice (0, 1, ...). Unordered choices get a
    categorical kernel (botorch's ``MixedSingleTaskGP``) and are enumerated by the
    optimizer; ``ordered`` ones (low, medium, high) are modelled by their index like
    an integer.

    Args:
        name: Column name.
        choices: The options, as the ledger writes them.
        ordered: The options have an order that matters to the response.
        shared: One choice for every experiment of a batch.
        unit: Unused for categories (kept for a uniform interface).

    Raises:
        ConfigError: Fewer than two choices, or repeated ones (``key="choices"``).
    """

    name: str
    choices: tuple[str, ...]
    ordered: bool = False
    shared: bool = False
    unit: str = ""
    kind: str = field(default="categorical", init=False)
    log_scale: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.choices, tuple | list) or len(self.choices) < 2:
            raise ConfigError(f"choices={self.choices!r}; a categorical parameter needs at "
                              "least 2 choices (e.g. [Mg, Sn, Au, none]).", key="choices",
                              value=self.choices)
        choices = tuple(str(c).strip() for c in self.choices)
        if any(not c for c in choices) or len(set(choices)) != len(choices):
            raise ConfigError(f"choices={list(choices)} holds an empty or repeated choice. "
                              "Fix: list each option once, by name.", key="choices",
                              value=list(choices))
        object.__setattr__(self, "choices", choices)

    @property
    def is_categorical(self) -> bool:
        """Values are category names."""
        return True

    @property
    def on_grid(self) -> bool:
        """Encoded values are whole indices."""
        return True

    @property
    def lower(self) -> float:
        """Lowest index."""
        return 0.0

    @property
    def upper(self) -> float:
        """Highest index."""
        return float(len(self.choices) - 1)

    @property
    def encoded_bounds(self) -> tuple[float, float]:
        """Index bounds."""
        return 0.0, self.upper

    @property
    def label(self) -> str:
        """Axis label."""
        return self.name

    def encode(self, value: str) -> float:
        """A choice to its index."""
        return float(self.choices.index(str(value)))

    def decode(self, value: float) -> str:
        """An index (rounded) to its choice."""
        return self.choices[int(min(max(round(float(value)), 0), len(self.choices) - 1))]

    def neighbours(self, value: float, radius: int = 1) -> list[float]:
        """The whole indices next to an encoded (relaxed) index."""
        if abs(value - round(value)) <= GRID_TOLERANCE:
            ks = range(round(value) - radius + 1, round(value) + radius)
        else:
            ks = range(math.floor(value) - radius + 1, math.ceil(value) + radius)
        return [float(k) for k in ks if 0 <= k < len(self.choices)]

    def nearest(self, values: np.ndarray) -> np.ndarray:
        """The nearest whole index of each encoded index (vectorized)."""
        return np.clip(np.round(np.asarray(values, dtype=float)), 0, len(self.choices) - 1)

    def grid_error(self, value: float) -> float:
        """Distance of an encoded index from a whole index."""
        return abs(value - round(value))

    def parse(self, text: str, loc: str) -> str:
        """The ledger cell's choice.

        Raises:
            LedgerError: Not one of the choices; names them (and a near spelling).
        """
        if text in self.choices:
            return text
        folded = {c.casefold(): c for c in self.choices}
        hint = (f" (did you mean {folded[text.casefold()]!r}?)"
                if text.casefold() in folded else "")
        raise LedgerError(f"{loc}: value={text!r} is not one of the choices "
                          f"{list(self.choices)}{hint}. Fix: write one of them exactly, or "
                          "add the choice to the campaign config.")

    def format(self, value: object) -> str:
        """A choice as written (``-`` when missing)."""
        return str(value) if isinstance(value, str) and value else "-"

    @property
    def is_whole(self) -> bool:
        """Choices are names, not numbers."""
        return False

    @property
    def allowed(self) -> str:
        """The allowed values in words."""
        return f"one of {list(self.choices)}"


Parameter = NumericalParameter | CategoricalParameter
