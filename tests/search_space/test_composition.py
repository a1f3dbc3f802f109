"""Composition parsing with pymatgen."""

from __future__ import annotations

import pytest

from optim.exceptions import ConfigError
from optim.search_space import CompositionParameter
from optim.search_space.composition import parse_mixture_formula


def test_parse_oxychloride_precursors_and_molar_masses():
    precursors = parse_mixture_formula("xLi2O-yZrCl4-zAlCl3")
    assert [p.formula for p in precursors] == ["Li2O", "ZrCl4", "AlCl3"]
    # DOMAIN.md 1.5 molar masses (g/mol) to their stated 0.01 precision.
    masses = [p.molar_mass for p in precursors]
    assert masses == pytest.approx([29.88, 233.02, 133.33], abs=0.02)
    assert precursors[1].elements == {"Zr": 1.0, "Cl": 4.0}


def test_numeric_coefficients_are_accepted():
    precursors = parse_mixture_formula("1.4Li2O-0.75ZrCl4-0.25AlCl3")
    assert [p.formula for p in precursors] == ["Li2O", "ZrCl4", "AlCl3"]


@pytest.mark.parametrize(
    ("formula", "match"),
    [
        ("xli2o-yZrCl4", "not a chemical formula"),
        ("xLi2Oq-yZrCl4", "not a valid formula"),
        ("xLi2O", "at least 2"),
        ("xLi2O-yLi2O", "appears twice"),
        ("", "empty"),
    ],
    ids=["lowercase", "bad-element", "single", "repeat", "empty"],
)
def test_bad_formulas_raise(formula, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_mixture_formula(formula)
    # errors are data: the field that is wrong and its value; the config layer adds
    # the file and the full key
    assert err.value.key == "formula" and err.value.value == formula
    assert err.value.source is None


@pytest.mark.parametrize(
    ("bounds", "match"),
    [
        ({"Li2O": (0.8, 0.3)}, "lower < upper"),
        ({"Li2O": (0.0, 0.2), "ZrCl4": (0.0, 0.2), "AlCl3": (0.0, 0.2)}, "no mixture fits"),
        ({"LiCl": (0.0, 0.5)}, "not in the formula"),
        ({"Li2O": (0.0, float("nan"))}, "not a finite number"),
    ],
    ids=["lower>upper", "infeasible", "unknown-precursor", "nan"],
)
def test_bad_bounds_raise(bounds, match):
    with pytest.raises(ConfigError, match=match):
        CompositionParameter("xLi2O-yZrCl4-zAlCl3", bounds)
