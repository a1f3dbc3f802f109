"""From mole fractions to grams on the balance, and back.

A composition proposal (mole fractions of precursors, ``optim.search_space``) becomes
grams of each as-supplied powder for one batch:

- mass fraction ``w_i = x_i M_i / sum_j x_j M_j`` (``M``: pymatgen molar masses, g/mol);
- grams to weigh ``w_i * batch_mass_g / purity_i`` (a 99 % powder carries 1 % of other
  mass), rounded to the balance's resolution;
- the mole fractions as weighed after that rounding,
  ``n_i = grams_i * purity_i / M_i`` normalized to the composition's total, and their
  deviation from the proposal.

The inverse, :func:`fractions_from_grams`, turns the grams actually weighed (recorded
with ``record=``) into the composition that was made, which is what the ledger keeps
and the models fit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from optim.exceptions import ConfigError, LedgerError, where
from optim.search_space import CompositionParameter

__all__ = ["GRAMS_SUFFIX", "WeighingLine", "WeighingSpec", "as_weighed", "asked_column",
           "fractions_from_grams", "grams_column", "grams_to_weigh", "mass_fractions",
           "parse_grams", "weigh"]

GRAMS_SUFFIX = "_g"
ASKED_PREFIX = "asked_"


def grams_column(precursor: str) -> str:
    """The ledger/results column of a precursor's weighed grams (``Li2O_g``)."""
    return f"{precursor}{GRAMS_SUFFIX}"


def asked_column(precursor: str) -> str:
    """The ledger column keeping the proposal's mole fraction (``asked_Li2O``) once the
    composition columns hold what was weighed."""
    return f"{ASKED_PREFIX}{precursor}"


def _positive(value: object) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value) and value > 0)


@dataclass(frozen=True)
class WeighingSpec:
    """How proposals are weighed: batch mass, balance resolution, precursor purities.

    Args:
        batch_mass_g: Mass of one batch of product (the pure precursors), in g.
        balance_resolution_g: The balance's readability, in g (0.0001: 0.1 mg); grams
            to weigh are rounded to it.
        purity: Precursor formula to mass fraction of the precursor in the powder as
            supplied, in (0, 1]; a precursor not listed is taken as pure (1.0).

    Raises:
        ConfigError: A bad value; ``key`` names the field (``batch_mass_g``,
            ``purity.Li2O``).
    """

    batch_mass_g: float
    balance_resolution_g: float = 0.0001
    purity: Mapping[str, float] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not _positive(self.batch_mass_g):
            raise ConfigError(f"batch_mass_g={self.batch_mass_g!r}; expected a positive "
                              "number of grams. Fix: the mass of one batch, e.g. 2.0.",
                              key="batch_mass_g", value=self.batch_mass_g)
        r = self.balance_resolution_g
        if not _positive(r) or r >= self.batch_mass_g:
            raise ConfigError(f"balance_resolution_g={r!r}; expected a positive number of "
                              f"grams below batch_mass_g={self.batch_mass_g}. Fix: the "
                              "balance's readability, e.g. 0.0001 (0.1 mg).",
                              key="balance_resolution_g", value=r)
        if not isinstance(self.purity, Mapping):
            raise ConfigError(f"purity={self.purity!r}; expected a mapping of precursor to "
                              "purity. Fix: e.g. purity: {Li2O: 0.995}.", key="purity",
                              value=self.purity)
        for name, value in self.purity.items():
            if not _positive(value) or value > 1:
                raise ConfigError(
                    f"value={value!r}; expected the precursor's purity as a mass fraction "
                    "in (0, 1]. Fix: e.g. 0.995 for 99.5 % (a percentage divided by 100).",
                    key=f"purity.{name}", value=value)
        object.__setattr__(self, "batch_mass_g", float(self.batch_mass_g))
        object.__setattr__(self, "balance_resolution_g", float(r))
        object.__setattr__(self, "purity", {str(k): float(v)
                                            for k, v in self.purity.items()})

    def purity_of(self, precursor: str) -> float:
        """The purity of a precursor (1.0 when not listed)."""
        return self.purity.get(precursor, 1.0)

    def check_precursors(self, names: Sequence[str]) -> None:
        """Refuse purities of precursors the composition does not have.

        Raises:
            ConfigError: ``key="purity"``, naming the unknown and the valid precursors.
        """
        unknown = sorted(set(self.purity) - set(names))
        if unknown:
            raise ConfigError(f"purity given for {unknown}, which are not precursors of "
                              f"the composition. Expected some of {list(names)}. Fix: "
                              "spell each precursor exactly as in the formula.",
                              key="purity", value=unknown)

    @property
    def decimals(self) -> int:
        """Decimal places of the balance's resolution (0.0001: 4)."""
        exponent = Decimal(repr(self.balance_resolution_g)).normalize().as_tuple().exponent
        return max(0, -int(exponent))

    def round_to_balance(self, grams: float) -> float:
        """``grams`` rounded to a multiple of the balance's resolution."""
        steps = round(grams / self.balance_resolution_g)
        return round(steps * self.balance_resolution_g, self.decimals)


def mass_fractions(fractions: Mapping[str, float], composition: CompositionParameter,
                   ) -> dict[str, float]:
    """Mass fractions ``w_i = x_i M_i / sum_j x_j M_j`` of a mixture.

    Args:
        fractions: Precursor to mole fraction (any positive total).
        composition: The mixture (precursors with pymatgen molar masses, g/mol).

    Raises:
        ValueError: The fractions give no mass (all zero).
    """
    masses = {p.formula: float(fractions[p.formula]) * p.molar_mass
              for p in composition.precursors}
    total = sum(masses.values())
    if not total > 0:
        raise ValueError(f"mole fractions {dict(fractions)} give no mass.")
    return {name: m / total for name, m in masses.items()}


def grams_to_weigh(fractions: Mapping[str, float], composition: CompositionParameter,
                   spec: WeighingSpec) -> dict[str, float]:
    """Grams of each as-supplied powder for one batch, rounded to the balance.

    Args:
        fractions: Precursor to mole fraction.
        composition: The mixture.
        spec: Batch mass, balance resolution, purities.

    Returns:
        Precursor to grams (``w_i * batch_mass_g / purity_i``, rounded).
    """
    w = mass_fractions(fractions, composition)
    return {name: spec.round_to_balance(w[name] * spec.batch_mass_g / spec.purity_of(name))
            for name in composition.names}


def fractions_from_grams(grams: Mapping[str, float], composition: CompositionParameter,
                         spec: WeighingSpec) -> dict[str, float]:
    """The mole fractions a set of weighed grams makes: ``n_i = g_i purity_i / M_i``,
    normalized to the composition's total.

    Raises:
        ValueError: A negative or non-finite gram value, or nothing weighed.
    """
    moles = {}
    for p in composition.precursors:
        g = float(grams[p.formula])
        if not math.isfinite(g) or g < 0:
            raise ValueError(f"{p.formula}: {g} g is not a mass that can be weighed.")
        moles[p.formula] = g * spec.purity_of(p.formula) / p.molar_mass
    total = sum(moles.values())
    if not total > 0:
        raise ValueError("no precursor was weighed (every mass is 0).")
    return {name: composition.total * n / total for name, n in moles.items()}


def as_weighed(fractions: Mapping[str, float], composition: CompositionParameter,
               spec: WeighingSpec) -> dict[str, float]:
    """The mole fractions the rounded grams of :func:`grams_to_weigh` make."""
    return fractions_from_grams(grams_to_weigh(fractions, composition, spec), composition,
                                spec)


@dataclass(frozen=True)
class WeighingLine:
    """One precursor of a weighing sheet.

    Args:
        precursor: Its formula.
        molar_mass: g/mol (pymatgen).
        purity: Mass fraction of the precursor in the powder as supplied.
        asked: The proposal's mole fraction.
        grams: Grams of the powder to weigh (rounded to the balance).
        weighed: The mole fraction those grams make.
    """

    precursor: str
    molar_mass: float
    purity: float
    asked: float
    grams: float
    weighed: float

    @property
    def deviation(self) -> float:
        """As weighed minus asked (mole fraction)."""
        return self.weighed - self.asked


def weigh(fractions: Mapping[str, float], composition: CompositionParameter,
          spec: WeighingSpec) -> tuple[WeighingLine, ...]:
    """The weighing sheet of one proposal: a line per precursor, in formula order."""
    grams = grams_to_weigh(fractions, composition, spec)
    made = fractions_from_grams(grams, composition, spec)
    return tuple(WeighingLine(p.formula, p.molar_mass, spec.purity_of(p.formula),
                              float(fractions[p.formula]), grams[p.formula],
                              made[p.formula]) for p in composition.precursors)


def parse_grams(rec: Mapping[str, str], i: int, composition: CompositionParameter,
                source: str) -> dict[str, float] | None:
    """The grams columns of one results (or ledger) row, as text cells.

    Returns:
        Precursor to grams, or ``None`` when the row gives no grams.

    Raises:
        LedgerError: A cell that is not a number, negative or not finite; grams for
            only some precursors; or all zero. The message names file, row, column,
            value and the fix.
    """
    cells = {p: str(rec.get(grams_column(p), "") or "").strip() for p in composition.names}
    given = [p for p, text in cells.items() if text]
    if not given:
        return None
    grams: dict[str, float] = {}
    fix = ("Fix: the grams weighed on the balance, a number >= 0 (0 for a precursor "
           "not used).")
    for p in given:
        loc, text = where(source, i, grams_column(p)), cells[p]
        try:
            value = float(text)
        except ValueError:
            raise LedgerError(f"{loc}: value={text!r} is not a number. {fix}") from None
        if not math.isfinite(value) or value < 0:
            problem = "negative" if value < 0 else "not finite"
            raise LedgerError(f"{loc}: value={text!r} is {problem}. {fix}")
        grams[p] = value
    missing = [grams_column(p) for p in composition.names if p not in grams]
    if missing:
        raise LedgerError(
            f"{where(source, i)}: grams given for {', '.join(map(grams_column, given))} but "
            f"not for {', '.join(missing)}; the composition needs every precursor's "
            "grams. Fix: fill in the missing column(s) (0 for a precursor not weighed), "
            "or leave every grams cell of the row empty.")
    if not sum(grams.values()) > 0:
        raise LedgerError(f"{where(source, i)}: every grams cell is 0, so nothing was "
                          "weighed. Fix: the grams weighed, or leave the cells empty.")
    return grams
