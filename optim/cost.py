"""Raw-material cost of a composition, from precursor prices (docs/DOMAIN.md section 1.5).

With precursor mole fractions ``x_i``, molar masses ``M_i`` (g/mol, pymatgen), prices
``p_i`` ($/kg), densities ``rho_i`` (g/cm3) and synthesis yield ``Y``:

- mass fractions ``w_i = x_i M_i / sum_j x_j M_j``;
- cost per kg ``C_kg = sum_i w_i p_i / Y``;
- density by ideal mixing of molar volumes ``rho = sum_i x_i M_i / sum_i (x_i M_i / rho_i)``;
- cost per litre ``C_L = C_kg * rho = sum_i x_i M_i p_i / (Y sum_i x_i M_i / rho_i)``
  (g/cm3 equals kg/L).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from optim.exceptions import ConfigError
from optim.search_space.composition import CompositionParameter
from optim.search_space.constraints import LinearConstraint
from optim.search_space.parameters import is_finite_number

__all__ = ["PrecursorCost", "PrecursorPrice"]


@dataclass(frozen=True)
class PrecursorPrice:
    """A bulk price with its provenance.

    Args:
        usd_per_kg: Price in US dollars per kilogram.
        source: Where the figure comes from (paper, quote, or how it was estimated).
        estimate: The figure is an estimate, not a sourced price.
    """

    usd_per_kg: float
    source: str
    estimate: bool = False


@dataclass(frozen=True)
class PrecursorCost:
    """Cost per litre of a composition; a known target (torch, differentiable).

    Args:
        composition: The mixture whose fractions are priced.
        prices: Precursor formula to price.
        densities_g_cm3: Precursor formula to density (g/cm3).
        columns: Indices of the composition's fractions in the encoded input tensor.
        yield_fraction: Synthesis yield ``Y`` in (0, 1].
        price_set: Name of the price table, for provenance.

    Raises:
        ConfigError: A missing or non-positive price or density, or a bad yield.
    """

    composition: CompositionParameter
    prices: Mapping[str, PrecursorPrice] = field(hash=False)
    densities_g_cm3: Mapping[str, float] = field(hash=False)
    columns: Sequence[int] = field(hash=False)
    yield_fraction: float = 1.0
    price_set: str = ""

    def __post_init__(self) -> None:
        names = self.composition.names
        for label, table, unit in (
            ("prices", {k: v.usd_per_kg for k, v in self.prices.items()}, "$/kg"),
            ("densities_g_cm3", dict(self.densities_g_cm3), "g/cm3"),
        ):
            missing = [n for n in names if n not in table]
            if missing:
                raise ConfigError(
                    f"no {label} entry for precursor(s) {missing} "
                    f"(price set {self.price_set!r}); have {sorted(table)}. Fix: add "
                    f"{missing[0]} with its value in {unit} and its source.",
                    value=missing)
            for n in names:
                value = table[n]
                if not is_finite_number(value) or value <= 0:
                    raise ConfigError(
                        f"{label}.{n}: value={value!r}; expected a positive "
                        f"number in {unit}.", value=value)
        if not is_finite_number(self.yield_fraction) or not 0.0 < self.yield_fraction <= 1.0:
            raise ConfigError(
                f"yield_fraction={self.yield_fraction!r}; expected 0 < Y <= 1.",
                key="yield_fraction", value=self.yield_fraction)
        object.__setattr__(self, "yield_fraction", float(self.yield_fraction))

    def _terms(self, like: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        names = self.composition.names
        tk = {"dtype": like.dtype, "device": like.device}
        molar = torch.tensor([p.molar_mass for p in self.composition.precursors], **tk)
        price = torch.tensor([self.prices[n].usd_per_kg for n in names], **tk)
        rho = torch.tensor([self.densities_g_cm3[n] for n in names], **tk)
        return molar, price, rho

    def __call__(self, X: Tensor) -> Tensor:
        """Cost in $/L for ``batch_shape x n x d`` encoded inputs; ``... x n x 1``."""
        x = X[..., list(self.columns)]
        molar, price, rho = self._terms(X)
        mass = x * molar
        value = (mass * price).sum(-1) / ((mass / rho).sum(-1) * self.yield_fraction)
        return value.unsqueeze(-1)

    def linear_constraints(self, lo: float | None, hi: float | None,
                           name: str = "cost") -> list[LinearConstraint]:
        """``lo <= C_L <= hi`` as linear constraints on the fractions (exact): the
        denominator ``Y sum_i x_i M_i / rho_i`` is positive, so ``C_L <= c`` holds
        exactly when ``sum_i x_i M_i (c Y / rho_i - p_i) >= 0`` (and ``>=`` alike)."""
        names = self.composition.names
        molar = [p.molar_mass for p in self.composition.precursors]
        out = []
        for sign, bound, text in ((1.0, lo, ">="), (-1.0, hi, "<=")):
            if bound is None:
                continue
            coef = {n: sign * m * (self.prices[n].usd_per_kg
                                   - bound * self.yield_fraction / self.densities_g_cm3[n])
                    for n, m in zip(names, molar, strict=True)}
            out.append(LinearConstraint(coef, 0.0, description=f"{name} {text} {bound:g}"))
        return out

    def per_kg(self, X: Tensor) -> Tensor:
        """Cost in $/kg for ``... x n x d`` encoded inputs; ``... x n``."""
        x = X[..., list(self.columns)]
        molar, price, _ = self._terms(X)
        mass = x * molar
        return (mass * price).sum(-1) / (mass.sum(-1) * self.yield_fraction)

    def density(self, X: Tensor) -> Tensor:
        """Ideal-mixing density in g/cm3 for ``... x n x d`` encoded inputs; ``... x n``."""
        x = X[..., list(self.columns)]
        molar, _, rho = self._terms(X)
        mass = x * molar
        return mass.sum(-1) / (mass / rho).sum(-1)
