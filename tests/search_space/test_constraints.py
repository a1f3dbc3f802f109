"""Sum equalities for mixtures that are not chemical formulas (``{sum: [...], equals: 1}``):
parsed, honoured by the sampler, the unit cube, the polytope path and pools, and
tolerated in files like a composition's sum."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from optim import Campaign
from optim.exceptions import ConfigError, LedgerError, LedgerWarning
from optim.pool import CandidatePool
from optim.search_space import NumericalParameter, SearchSpace
from optim.search_space.constraints import constraints_from_config

TK = {"dtype": torch.float64}
MATS = ["mat_1", "mat_2", "mat_3", "mat_4"]


def _space(extra: list[dict] | None = None) -> SearchSpace:
    params = tuple(NumericalParameter(n, 0.0, 1.0) for n in MATS) + (
        NumericalParameter("speed", 1.0, 100.0, log_scale=True),)
    cons = constraints_from_config([{"sum": MATS, "equals": 1}, *(extra or [])], None,
                                   [*MATS, "speed"])
    return SearchSpace(params, None, tuple(c for c in cons if not c.is_equality),
                       tuple(c for c in cons if c.is_equality))


BAD = [
    ({"sum": ["mat_1"], "equals": 1, "min": 0.2}, r"'equals' goes with 'sum' alone"),
    ({"ratio": "O/(Zr+Al)", "equals": 1}, r"'equals' goes with 'sum' alone"),
    ({"sum": ["mat_1", "mat_2"], "equals": "one"}, r"equals='one' is not a finite number"),
    ({"sum": ["mat_1", "mat_1"], "equals": 1}, r"names a parameter twice"),
    ({"sum": ["FA", "MA"], "equals": 1}, r"sum names \['FA', 'MA'\], not parameters"),
]


@pytest.mark.parametrize(("spec", "match"), BAD,
                         ids=["with-min", "ratio", "not-a-number", "twice", "unknown"])
def test_bad_sum_equalities_are_refused(spec, match):
    with pytest.raises(ConfigError, match=match):
        constraints_from_config([spec], None, MATS)


def test_an_equality_is_parsed_as_one_sum_of_ones():
    (c,) = constraints_from_config([{"sum": ["mat_1", "mat_2"], "equals": 1}], None, MATS)
    assert c.is_equality and c.rhs == 1.0 and c.coefficients == {"mat_1": 1.0, "mat_2": 1.0}
    assert c.description == "mat_1 + mat_2 = 1"


def test_an_infeasible_equality_is_caught_at_load():
    with pytest.raises(ConfigError, match="no feasible region"):
        _space([{"sum": ["mat_1", "mat_2"], "min": 1.5}])


def test_sampler_space_filling_and_unit_cube_honour_the_sum():
    space = _space([{"sum": ["mat_1"], "max": 0.4}])
    cube = space.unit_cube
    assert cube is not None and cube.m == space.dim - 1  # the equality is solved
    for X in (space.sample(64, 0, **TK), space.space_filling(6, 0, **TK),
              cube.decode(torch.rand(64, cube.m, **TK))):
        # sums to 1 to round-off, inside every bound and the max (exact arithmetic
        # up to float64 round-off of a handful of additions)
        torch.testing.assert_close(X[:, :4].sum(-1), torch.ones(len(X), **TK),
                                   rtol=0, atol=1e-9)
        assert float(space.max_violation(X).max()) <= 1e-9
        assert float(X[:, 0].max()) <= 0.4 + 1e-9


def test_a_rounded_row_is_normalized_for_modelling():
    space = _space()
    frame = pd.DataFrame({"mat_1": [0.25], "mat_2": [0.25], "mat_3": [0.25],
                          "mat_4": [0.24], "speed": [10.0]})
    X = space.encode(frame, **TK)
    torch.testing.assert_close(X[0, :4].sum(), torch.tensor(1.0, **TK), rtol=0, atol=1e-12)
    assert float(X[0, 4]) == 1.0  # log10(speed), untouched


def _pool(tmp_path, fa_ma: list[tuple[float, float]]):
    path = tmp_path / "pool.csv"
    pd.DataFrame({"name": [f"p{i}" for i in range(len(fa_ma))],
                  "FA": [a for a, _ in fa_ma], "MA": [b for _, b in fa_ma],
                  "t": [100.0 + 10 * i for i in range(len(fa_ma))]}).to_csv(path, index=False)
    params = (NumericalParameter("FA", 0, 1), NumericalParameter("MA", 0, 1),
              NumericalParameter("t", 80, 180))
    (eq,) = constraints_from_config([{"sum": ["FA", "MA"], "equals": 1}], None,
                                    ["FA", "MA", "t"])
    return path, SearchSpace(params, None, (), (eq,))


def test_a_published_pool_summing_to_099_is_kept_with_a_warning(tmp_path):
    path, space = _pool(tmp_path, [(0.8, 0.2), (0.5, 0.49), (0.0, 1.0)])
    with pytest.warns(LedgerWarning, match=r"row 2.*FA\+MA sum to 0.99 \(rounded values\?\)"):
        pool = CandidatePool.load(path, space, "campaign.yaml")
    assert len(pool.frame) == 3
    # normalized like a composition's fractions: the ledger holds values summing to 1
    assert abs(pool.frame.loc[1, ["FA", "MA"]].sum() - 1) < 1e-12


def test_a_pool_row_far_off_the_sum_is_refused(tmp_path):
    path, space = _pool(tmp_path, [(0.8, 0.2), (0.5, 0.4)])
    with pytest.raises(LedgerError, match=r"row 2 \(line 3\), columns FA\+MA: values sum to 0.9; "
                                          r"expected 1 within 0.01"):
        CandidatePool.load(path, space, "campaign.yaml")


CAMPAIGN = """\
# @package _global_
campaign_name: mats
id_prefix: m
batch_size: 2
initial_design: {n: 4}
search_space:
  parameters:
    mat_1: {lower: 0, upper: 1}
    mat_2: {lower: 0, upper: 1}
    mat_3: {lower: 0, upper: 0.5}
    temperature_C: {lower: 20, upper: 200, unit: degC}
  constraints:
    - {sum: [mat_1, mat_2, mat_3], equals: 1}
    - {sum: [mat_1], max: 0.6}
targets:
  y: {direction: maximize, threshold: 0}
"""


@pytest.mark.slow
@pytest.mark.parametrize("method", ["unit_cube", "polytope"])
def test_a_continuous_mixture_campaign_proposes_on_the_sum(tmp_path, method):
    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "mats.yaml").write_text(CAMPAIGN)
    campaign = Campaign.from_config("mats", [f"paths.runs={tmp_path}", "tracking=none",
                                             "debug=smoke", "batch_size=2",
                                             f"acq_optimizer.method={method}"],
                                    config_dir=tmp_path)
    assert [c.description for c in campaign.settings.space.sums] == [
        "mat_1 + mat_2 + mat_3 = 1"]

    def lab(e: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"id": e["id"], "y": e["mat_1"] - (e["mat_3"] - 0.3) ** 2})

    results = campaign.run(lab=lab, rounds=2)
    assert results[-1].batch["source"].eq("bo").all()
    ledger = campaign.ledger
    sums = ledger[["mat_1", "mat_2", "mat_3"]].sum(axis=1)
    assert (sums - 1).abs().max() < 1e-6  # the builder's feasibility tolerance
    assert ledger["mat_1"].max() <= 0.6 + 1e-6 and ledger["mat_3"].max() <= 0.5 + 1e-6
