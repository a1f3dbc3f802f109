"""Compositions written the way chemists write them: ``xLi2O-yZrCl4-zAlCl3``.

The formula is parsed into precursors with pymatgen (formula, molar mass, element
amounts). Each precursor's mole fraction is one search dimension; fractions sum to
``total``. Element-ratio constraints such as O/(Zr+Al) <= 2.3 become linear constraints
on the fractions because element amounts are linear in the precursor amounts.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from optim.exceptions import ConfigError
from optim.search_space.parameters import is_finite_number

__all__ = ["CompositionParameter", "Precursor", "parse_mixture_formula"]

# A term is an optional coefficient (a letter such as x, or a number) then a formula.
_TERM = re.compile(r"^\s*(?:[a-z]|\d+(?:\.\d+)?|\d*\.\d+)?\s*([A-Z][A-Za-z0-9().]*)\s*$")


@dataclass(frozen=True)
class Precursor:
    """One precursor of a mixture.

    Args:
        formula: Formula as written in config and in the ledger's column name.
        molar_mass: Molar mass in g/mol (from pymatgen).
        elements: Element symbol to amount per formula unit.
    """

    formula: str
    molar_mass: float
    elements: dict[str, float] = field(hash=False)


def parse_mixture_formula(formula: str) -> tuple[Precursor, ...]:
    """Parse ``xLi2O-yZrCl4-zAlCl3`` into precursors.

    Args:
        formula: Precursors separated by ``-``, each optionally led by a coefficient
            letter or number (which is ignored: amounts are search dimensions).

    Returns:
        The precursors in the order written.

    Raises:
        ConfigError: A term is not a formula pymatgen can parse, or a precursor repeats
            (``key="formula"``).
    """
    from pymatgen.core import Composition, Element  # imported when a formula is parsed

    if not isinstance(formula, str) or not formula.strip():
        raise ConfigError(
            f"value={formula!r} is empty. Fix: write the mixture like "
            "'xLi2O-yZrCl4-zAlCl3'.", key="formula", value=formula)
    precursors: list[Precursor] = []
    for term in formula.split("-"):
        match = _TERM.match(term)
        if match is None:
            raise ConfigError(
                f"term {term!r} of value={formula!r} is not a chemical formula. "
                "Fix: write terms like 'xLi2O' (coefficient letter, then formula with "
                "capitalised element symbols), separated by '-'.", key="formula",
                value=formula)
        text = match.group(1)
        try:
            comp = Composition(text)
            elements = {str(el): float(n) for el, n in comp.get_el_amt_dict().items()}
            for symbol in elements:
                Element(symbol)
        except (ValueError, AttributeError, KeyError) as err:
            raise ConfigError(
                f"{text!r} in value={formula!r} is not a valid formula ({err}). "
                "Fix: check element symbols and capitalisation (Li2O, not li2o).",
                key="formula", value=formula) from err
        if any(p.formula == text for p in precursors):
            raise ConfigError(
                f"precursor {text!r} appears twice in value={formula!r}. "
                "Fix: list each precursor once.", key="formula", value=formula)
        precursors.append(Precursor(text, float(comp.weight), elements))
    if len(precursors) < 2:
        raise ConfigError(
            f"value={formula!r} has {len(precursors)} precursor; a mixture needs "
            "at least 2. Fix: separate precursors with '-'.", key="formula", value=formula)
    return tuple(precursors)


@dataclass(frozen=True)
class CompositionParameter:
    """A mixture of precursors whose mole fractions sum to ``total``.

    Args:
        formula: The mixture as chemists write it, e.g. ``xLi2O-yZrCl4-zAlCl3``.
        bounds: Precursor formula to ``(lower, upper)`` mole-fraction bounds; missing
            precursors get ``(0, total)``.
        total: What the fractions sum to.
        resolution: Proposals give fractions as multiples of this (0.01: two decimals),
            still summing exactly to ``total`` (must divide it).
        max_components: At most this many precursors present (fraction > 0) in one
            experiment: a cardinality constraint.
        min_fraction: A present precursor is at least this much (a trace below it
            cannot be weighed or does nothing): each fraction is 0 or in
            ``[min_fraction, upper]``.

    Raises:
        ConfigError: A bad formula or bounds; ``key`` names the field
            (``formula``, ``bounds``, ``bounds.Li2O``).
    """

    formula: str
    bounds: dict[str, tuple[float, float]] = field(hash=False)
    total: float = 1.0
    resolution: float | None = None
    max_components: int | None = None
    min_fraction: float | None = None
    precursors: tuple[Precursor, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "precursors", parse_mixture_formula(self.formula))
        names = self.names
        if not is_finite_number(self.total) or self.total <= 0:
            raise ConfigError(f"total={self.total!r}; expected a positive number (1 for "
                              "mole fractions).", key="total", value=self.total)
        object.__setattr__(self, "total", float(self.total))
        unknown = sorted(set(self.bounds) - set(names))
        if unknown:
            raise ConfigError(
                f"bounds given for {unknown}, which are not in the formula "
                f"{self.formula!r}. Expected some of {names}. Fix: spell the precursor "
                "exactly as in the formula.", key="bounds", value=unknown)
        full: dict[str, tuple[float, float]] = {}
        for name in names:
            lo, hi = self.bounds.get(name, (0.0, self.total))
            for label, value in (("lower", lo), ("upper", hi)):
                if not is_finite_number(value):
                    raise ConfigError(
                        f"{label}={value!r} is not a finite number. "
                        "Fix: give mole-fraction bounds as numbers in [0, total].",
                        key=f"bounds.{name}", value=value)
            if not 0.0 <= lo < hi <= self.total:
                raise ConfigError(
                    f"bounds ({lo}, {hi}); expected "
                    f"0 <= lower < upper <= total={self.total}. Fix: correct the bounds.",
                    key=f"bounds.{name}", value=(lo, hi))
            full[name] = (float(lo), float(hi))
        lows = sum(lo for lo, _ in full.values())
        highs = sum(hi for _, hi in full.values())
        if lows > self.total or highs < self.total:
            raise ConfigError(
                f"no mixture fits the bounds: lower bounds sum to {lows}, upper "
                f"bounds to {highs}, but fractions must sum to {self.total}. Fix: widen "
                "the bounds.", key="bounds")
        object.__setattr__(self, "bounds", full)
        self._check_discrete_settings()

    def _check_discrete_settings(self) -> None:
        r, k, m = self.resolution, self.max_components, self.min_fraction
        if r is not None:
            units = self.total / r if is_finite_number(r) and r > 0 else math.nan
            if not math.isfinite(units) or abs(units - round(units)) > 1e-6:
                raise ConfigError(
                    f"resolution={r!r}; expected a positive number that divides the total "
                    f"{self.total:g} (0.01, 0.005, 0.001). Fix: the smallest fraction step "
                    "the recipe is written in.", key="resolution", value=r)
        n = len(self.precursors)
        if k is not None:
            if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
                raise ConfigError(
                    f"max_components={k!r}; expected a whole number from 1 to the {n} "
                    f"precursors of {self.formula!r}. Fix: at most how many precursors one "
                    "experiment may contain.", key="max_components", value=k)
            must = [p for p, (lo, _) in self.bounds.items() if lo > 0]
            if len(must) > k:
                raise ConfigError(
                    f"max_components={k} but {len(must)} precursors have a lower bound "
                    f"above 0 ({must}), so every experiment holds them all. Fix: raise "
                    "max_components or set those lower bounds to 0.",
                    key="max_components", value=k)
        if m is not None:
            if not is_finite_number(m) or not 0 < m < self.total:
                raise ConfigError(
                    f"min_fraction={m!r}; expected a number between 0 and the total "
                    f"{self.total:g}. Fix: the smallest fraction worth weighing (0.02).",
                    key="min_fraction", value=m)
            object.__setattr__(self, "min_fraction", float(m))
        if r is not None:
            object.__setattr__(self, "resolution", float(r))

    @property
    def has_cardinality(self) -> bool:
        """``max_components`` or ``min_fraction`` is set: which precursors are present
        is itself a choice."""
        return self.max_components is not None or self.min_fraction is not None

    def cardinality_problem(self, fractions: dict[str, float], tol: float = 1e-9) -> str:
        """What breaks ``max_components``/``min_fraction`` in one row, or ``""``."""
        present = [p for p in self.names if fractions[p] > tol]
        if self.max_components is not None and len(present) > self.max_components:
            return (f"{len(present)} precursors present ({', '.join(present)}), more than "
                    f"max_components={self.max_components}")
        if self.min_fraction is not None:
            small = [p for p in present if fractions[p] < self.min_fraction - 1e-6]
            if small:
                return (f"{', '.join(f'{p}={fractions[p]:g}' for p in small)} below "
                        f"min_fraction={self.min_fraction:g} (a present precursor is at "
                        "least that much)")
        return ""

    @property
    def names(self) -> list[str]:
        """Precursor formulas, in the order written (the ledger's column names)."""
        return [p.formula for p in self.precursors]

    def element_amounts(self, symbol: str) -> list[float]:
        """Amount of an element per formula unit of each precursor."""
        return [p.elements.get(symbol, 0.0) for p in self.precursors]
