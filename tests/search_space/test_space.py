"""Constraints in botorch form, sampling, encoding."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from optim.exceptions import ConfigError
from optim.search_space import CompositionParameter, NumericalParameter, SearchSpace
from optim.search_space.constraints import constraints_from_config

TK = {"dtype": torch.float64}


def test_element_ratio_becomes_linear_constraint(oxy):
    ratio = next(c for c in oxy.space.constraints if "O/(Zr+Al)" in c.description)
    # O/(Zr+Al) <= 2.3  <=>  2.3*(ZrCl4 + AlCl3) - 1*Li2O >= 0
    assert ratio.coefficients == {"Li2O": -1.0, "ZrCl4": 2.3, "AlCl3": 2.3}
    assert ratio.rhs == 0.0
    lzaco = {"Li2O": 1.4 / 2.4, "ZrCl4": 0.75 / 2.4, "AlCl3": 0.25 / 2.4}
    assert ratio.slack(lzaco) > 0  # u = 1.4 <= 2.3
    rich = {"Li2O": 0.75, "ZrCl4": 0.25, "AlCl3": 0.0}  # u = 3
    assert ratio.slack(rich) < 0


def test_sum_constraint_and_botorch_form(oxy):
    ineq, eq = oxy.space.botorch_constraints(**TK)
    assert len(eq) == 1
    idx, coef, rhs = eq[0]
    assert idx.tolist() == [0, 1, 2] and coef.tolist() == [1.0, 1.0, 1.0] and rhs == 1.0
    sums = [c for c in ineq if c[0].tolist() == [1, 2] and c[2] == 0.25]
    assert len(sums) == 1


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_space_filling_points_are_feasible_and_distinct(oxy, seed):
    X = oxy.space.space_filling(12, seed, **TK)
    assert X.shape == (12, 7) and X.dtype == torch.float64
    # Mixture sums to 1 within 1e-6 and every bound/constraint holds.
    assert (X[:, :3].sum(-1) - 1).abs().max() < 1e-6
    assert oxy.space.max_violation(X).max() < 1e-6
    assert torch.pdist(X).min() > 1e-3


def test_space_filling_is_reproducible(oxy):
    a = oxy.space.space_filling(6, 3, **TK)
    b = oxy.space.space_filling(6, 3, **TK)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_log_scale_encode_decode_roundtrip():
    space = SearchSpace((NumericalParameter("j_mA_cm2", 0.1, 2.0, log_scale=True),
                         NumericalParameter("p_MPa", 1, 20)))
    frame = pd.DataFrame({"j_mA_cm2": [0.1, 1.0, 2.0], "p_MPa": [1.0, 5.0, 20.0]})
    X = space.encode(frame, **TK)
    torch.testing.assert_close(X[:, 0], torch.log10(torch.tensor([0.1, 1.0, 2.0], **TK)))
    # Round trip exact to float64 rounding of log10/pow (1e-12 relative).
    pd.testing.assert_frame_equal(space.decode(X), frame, rtol=1e-12)
    assert torch.allclose(space.bounds(**TK)[:, 0],
                          torch.log10(torch.tensor([0.1, 2.0], **TK)))


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ({"sum": ["ZrCl4", "LiCl"], "min": 0.2}, "not parameters"),
        ({"ratio": "O/(Zr+Qq)", "max": 2}, "not an element symbol"),
        ({"ratio": "O over Zr", "max": 2}, "not of the form"),
        ({"ratio": "O/(Zr+Al)"}, "min' and/or 'max"),
        ({"ratio": "O/Mg", "max": 1}, "undefined"),
        ({"sum": ["ZrCl4"], "min": 0.5, "max": 0.1}, "min=0.5 > max=0.1"),
        ({"product": ["ZrCl4"]}, "min' and/or 'max"),
    ],
    ids=["sum-unknown", "ratio-element", "ratio-syntax", "no-bounds", "ratio-absent",
         "min>max", "unknown-kind"],
)
def test_bad_constraints_raise(spec, match):
    comp = CompositionParameter("xLi2O-yZrCl4-zAlCl3", {})
    with pytest.raises(ConfigError, match=match) as err:
        constraints_from_config([{"sum": ["ZrCl4"], "min": 0.1}, spec], comp, comp.names)
    assert err.value.key == "[1]"  # the entry's index; located later as a config key


def test_parameter_bounds_validated():
    with pytest.raises(ConfigError, match="expected lower < upper"):
        NumericalParameter("milling_time_h", 40, 2)
    with pytest.raises(ConfigError, match="log_scale needs lower > 0"):
        NumericalParameter("j", 0, 2, log_scale=True)
