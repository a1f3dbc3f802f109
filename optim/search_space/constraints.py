"""Linear constraints on parameters, in botorch's ``sum(coef * x) >= rhs`` form.

Config writes constraints the way a chemist thinks of them:

- ``{sum: [ZrCl4, AlCl3], min: 0.25}``: a sum of parameters with a min and/or max;
- ``{ratio: "O/(Zr+Al)", max: 2.3}``: an element ratio of a composition, linear in the
  precursor fractions because ``num/den <= r  <=>  r*den - num >= 0`` for ``den > 0``;
- ``{sum: [FA, MA], equals: 1}``: fractions of a mixture that is not a chemical formula
  (organic cations, generic materials) summing to a total: an equality, tolerated in
  the ledger and pool files like a composition's sum (rounded values, within 0.005 per
  part: kept with a warning and normalized for modelling).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from optim.exceptions import ConfigError
from optim.search_space.composition import CompositionParameter
from optim.search_space.parameters import is_finite_number

__all__ = ["LinearConstraint", "constraints_from_config", "mixture_sum_constraint"]


@dataclass(frozen=True)
class LinearConstraint:
    """``sum(coefficients[name] * x[name]) >= rhs`` (or ``== rhs``).

    Args:
        coefficients: Parameter name to coefficient (encoded values; constraints only
            ever involve linear, not log-scaled, parameters).
        rhs: Right-hand side.
        is_equality: ``==`` instead of ``>=``.
        description: The constraint as the user wrote it, for messages.
    """

    coefficients: dict[str, float] = field(hash=False)
    rhs: float
    is_equality: bool = False
    description: str = ""

    def slack(self, values: Mapping[str, float]) -> float:
        """``lhs - rhs``: >= 0 when an inequality holds, 0 when an equality holds."""
        lhs = sum(c * float(values[n]) for n, c in self.coefficients.items())
        return lhs - self.rhs


def mixture_sum_constraint(comp: CompositionParameter) -> LinearConstraint:
    """The equality ``sum(fractions) == total`` of a composition."""
    return LinearConstraint(
        dict.fromkeys(comp.names, 1.0),
        comp.total,
        is_equality=True,
        description=f"{' + '.join(comp.names)} = {comp.total}",
    )


def _parse_ratio(text: str, key: str) -> tuple[list[str], list[str]]:
    match = re.fullmatch(r"\s*\(?([A-Za-z+\s]+)\)?\s*/\s*\(?([A-Za-z+\s]+)\)?\s*", text)
    if match is None:
        raise ConfigError(
            f"ratio={text!r} is not of the form 'O/(Zr+Al)'. Fix: write "
            "element symbols joined by '+', numerator / denominator.", key=key, value=text)
    sides = [[s.strip() for s in g.split("+") if s.strip()] for g in match.groups()]
    from pymatgen.core import Element

    for symbol in sides[0] + sides[1]:
        if not Element.is_valid_symbol(symbol):
            raise ConfigError(
                f"{symbol!r} in ratio={text!r} is not an element symbol. "
                "Fix: use symbols such as O, Zr, Al (case matters).", key=key, value=text)
    return sides[0], sides[1]


def _amounts(composition: CompositionParameter, symbols: list[str]) -> list[float]:
    """Summed amounts of ``symbols`` per formula unit of each precursor."""
    per_symbol = [composition.element_amounts(s) for s in symbols]
    return [sum(x) for x in zip(*per_symbol, strict=True)]


def _bounds_of(spec: Mapping, key: str) -> tuple[float | None, float | None]:
    lo, hi = spec.get("min"), spec.get("max")
    if "equals" in spec:
        if lo is not None or hi is not None or "sum" not in spec:
            raise ConfigError(f"{dict(spec)}: 'equals' goes with 'sum' alone. Fix: write "
                              "{sum: [A, B], equals: 1}, or a sum with min/max.", key=key,
                              value=dict(spec))
        if not is_finite_number(spec["equals"]):
            raise ConfigError(f"equals={spec['equals']!r} is not a finite number.", key=key,
                              value=spec["equals"])
        return None, None
    if lo is None and hi is None:
        raise ConfigError(f"needs 'min' and/or 'max' (or, for a sum, 'equals'). Got "
                          f"{dict(spec)}.", key=key)
    for label, value in (("min", lo), ("max", hi)):
        if value is not None and not is_finite_number(value):
            raise ConfigError(f"{label}={value!r} is not a finite number.", key=key,
                              value=value)
    if lo is not None and hi is not None and lo > hi:
        raise ConfigError(f"min={lo} > max={hi}. Fix: swap them.", key=key, value=(lo, hi))
    return lo, hi


def _two_sided(
    coefficients: dict[str, float], lo: float | None, hi: float | None, text: str
) -> list[LinearConstraint]:
    out = []
    if lo is not None:
        out.append(LinearConstraint(coefficients, float(lo), description=f"{text} >= {lo}"))
    if hi is not None:
        neg = {n: -c for n, c in coefficients.items()}
        out.append(LinearConstraint(neg, -float(hi), description=f"{text} <= {hi}"))
    return out


def constraints_from_config(
    specs: Sequence[Mapping],
    composition: CompositionParameter | None,
    parameter_names: Sequence[str],
) -> list[LinearConstraint]:
    """Turn config constraint entries into linear constraints.

    Args:
        specs: Entries ``{sum: [...], min/max}``, ``{sum: [...], equals: total}`` or
            ``{ratio: "A/(B+C)", min/max}``.
        composition: The composition that element ratios refer to.
        parameter_names: Every parameter name of the space (for ``sum`` entries).

    Returns:
        Constraints ``lhs >= rhs``, and ``lhs == rhs`` for ``equals`` sums.

    Raises:
        ConfigError: An entry is malformed or names an unknown parameter or element;
            ``key`` is the entry's index (``[0]``).
    """
    out: list[LinearConstraint] = []
    for i, spec in enumerate(specs):
        key = f"[{i}]"
        if not isinstance(spec, Mapping):
            raise ConfigError(f"expected a mapping, got {spec!r}.", key=key, value=spec)
        lo, hi = _bounds_of(spec, key)
        if "sum" in spec:
            names = list(spec["sum"])
            unknown = [n for n in names if n not in parameter_names]
            if unknown:
                raise ConfigError(
                    f"sum names {unknown}, not parameters of this space. "
                    f"Expected some of {list(parameter_names)}.", key=key, value=unknown)
            if len(set(names)) != len(names) or not names:
                raise ConfigError(f"sum={names} is empty or names a parameter twice.",
                                  key=key, value=names)
            if "equals" in spec:
                total = float(spec["equals"])
                out.append(LinearConstraint(dict.fromkeys(names, 1.0), total,
                                            is_equality=True,
                                            description=f"{' + '.join(names)} = {total:g}"))
                continue
            out += _two_sided(dict.fromkeys(names, 1.0), lo, hi, " + ".join(names))
        elif "ratio" in spec:
            if composition is None:
                raise ConfigError("an element ratio needs a composition.", key=key)
            num, den = _parse_ratio(str(spec["ratio"]), key)
            num_amt = _amounts(composition, num)
            den_amt = _amounts(composition, den)
            if not any(den_amt):
                raise ConfigError(
                    f"no precursor of {composition.formula!r} contains "
                    f"{'+'.join(den)}, so the ratio {spec['ratio']!r} is undefined.",
                    key=key, value=spec["ratio"])
            text = f"{spec['ratio']}"
            names = composition.names
            # num/den >= lo  <=>  num - lo*den >= 0 ; num/den <= hi  <=>  hi*den - num >= 0
            if lo is not None:
                coef = {n: a - lo * b for n, a, b in zip(names, num_amt, den_amt, strict=True)}
                out.append(LinearConstraint(coef, 0.0, description=f"{text} >= {lo}"))
            if hi is not None:
                coef = {n: hi * b - a for n, a, b in zip(names, num_amt, den_amt, strict=True)}
                out.append(LinearConstraint(coef, 0.0, description=f"{text} <= {hi}"))
        else:
            raise ConfigError(
                f"{dict(spec)} has neither 'sum' nor 'ratio'. Fix: write "
                "{sum: [A, B], min: 0.25}, {sum: [A, B], equals: 1} or "
                "{ratio: 'O/(Zr+Al)', max: 2.3}.", key=key)
    return out
