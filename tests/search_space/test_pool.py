"""Pool campaigns: candidate tables validated like ledgers; proposals only from the pool."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from optim.exceptions import ConfigError, LedgerError, LedgerWarning, ProposalError
from optim.pool import CandidatePool
from optim.rounds import plan_round, record_results
from optim.search_space.design import pick_random, pick_spread
from tests.helpers import make_settings

TK = {"dtype": torch.float64}
OXY = ["Li2O", "ZrCl4", "AlCl3", "anneal_temperature_C", "anneal_time_h", "milling_time_h",
       "milling_speed_rpm"]


def _pool_file(tmp_path, rows, name="pool.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _oxy_rows(n=12):
    rows = []
    for i in range(n):
        li = 0.40 + 0.02 * i
        zr = (1 - li) * 0.7
        rows.append({"material": f"m{i}", "Li2O": li, "ZrCl4": zr, "AlCl3": 1 - li - zr,
                     "anneal_temperature_C": 25 + 10 * i, "milling_time_h": 10,
                     "anneal_time_h": 2, "milling_speed_rpm": 500})
    return rows


def test_pool_loads_keeps_extra_columns_and_drops_repeats(tmp_path):
    space = make_settings("oxychloride", tmp_path).space
    rows = _oxy_rows(5)
    path = _pool_file(tmp_path, rows + rows[:2])
    pool = CandidatePool.load(path, space, "configs/campaign/x.yaml")
    assert len(pool.frame) == 5
    assert list(pool.frame.columns) == OXY + ["material"]


@pytest.mark.parametrize(("column", "value", "match"), [
    ("ZrCl4", "abc", r"row 3 \(line 4\), column 'ZrCl4': value='abc' is not a number"),
    ("anneal_temperature_C", "400", r"column 'anneal_temperature_C': value=400.0 is outside "
                                    r"the bounds \[25, 320\]"),
    ("milling_time_h", "nan", "column 'milling_time_h': value='nan' is not finite"),
])
def test_bad_pool_cells_name_file_row_column_value(tmp_path, column, value, match):
    space = make_settings("oxychloride", tmp_path).space
    rows = _oxy_rows(5)
    frame = pd.DataFrame(rows).astype({column: object})
    frame.loc[2, column] = value
    path = tmp_path / "pool.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(LedgerError, match=match) as err:
        CandidatePool.load(path, space, "configs/campaign/x.yaml")
    assert str(path) in str(err.value)


def test_pool_row_violating_a_constraint_or_missing_column(tmp_path):
    space = make_settings("oxychloride", tmp_path).space
    rows = _oxy_rows(3)
    rows[1].update({"Li2O": 0.75, "ZrCl4": 0.25, "AlCl3": 0.0})  # O/(Zr+Al) = 3 > 2.3
    with pytest.raises(LedgerError,
                       match=r"row 2 \(line 3\).*violates the constraint O/\(Zr\+Al\)"):
        CandidatePool.load(_pool_file(tmp_path, rows), space, "configs/campaign/x.yaml")
    frame = pd.DataFrame(_oxy_rows(3)).drop(columns="milling_time_h")
    frame.to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ConfigError, match=r"missing input column\(s\) \['milling_time_h'\]"):
        CandidatePool.load(tmp_path / "short.csv", space, "configs/campaign/x.yaml")
    with pytest.raises(ConfigError, match="file nowhere.csv not found") as err:
        CandidatePool.load("nowhere.csv", space, "configs/campaign/x.yaml")
    assert err.value.key == "pool"


def test_picks_are_distinct_members_and_seeded():
    gen = torch.Generator().manual_seed(0)
    choices = torch.rand(50, 2, generator=gen, **TK)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], **TK)
    spread = pick_spread(choices, 6, seed=1, bounds=bounds, existing=choices[:3])
    assert len({tuple(r.tolist()) for r in spread}) == 6
    assert all((choices == r).all(-1).any() for r in spread)
    torch.testing.assert_close(pick_random(choices, 4, 7), pick_random(choices, 4, 7),
                               rtol=0, atol=0)
    assert len(pick_spread(choices[:3], 5, 0, bounds)) == 3  # fewer choices than asked


@pytest.mark.slow
def test_pool_campaign_proposes_only_unused_pool_rows_until_exhausted(tmp_path):
    path = _pool_file(tmp_path, _oxy_rows(12))
    overrides = ["debug=smoke", f"+search_space.pool={path}"]
    settings = make_settings("oxychloride", tmp_path / "runs", overrides)
    pool = settings.pool.frame[OXY]
    seen = set()
    for _ in range(3):  # 4 initial, then 3 + 3 by qLogNEHVI, then 2 left
        result = plan_round(settings)
        batch = result.batch
        for _, row in batch.iterrows():
            key = tuple(round(float(row[c]), 9) for c in OXY)
            assert key in {tuple(round(float(v), 9) for v in r) for r in pool.to_numpy()}
            assert key not in seen
            seen.add(key)
        measured = pd.DataFrame({"id": batch["id"], "conductivity_mS_cm": 1.0 + batch["Li2O"],
                                 "retention_pct": 80.0 + 20 * batch["ZrCl4"]})
        record_results(settings, measured)
    assert result.strategy.acquisition == "qLogNEHVI" and result.strategy.pool_size == 5
    assert "pool of 5 candidates" in str(result.strategy)
    last = plan_round(settings)
    assert len(last.batch) == 2 and any("only 2 candidate(s) left" in n for n in last.notes)
    with pytest.raises(ProposalError, match="every candidate of the pool"):
        plan_round(settings)
    assert len(seen) + 2 == 12 and not math.isnan(last.metrics["round_s"])


def test_pool_fractions_must_sum_to_the_total(tmp_path):
    space = make_settings("oxychloride", tmp_path).space
    rows = _oxy_rows(3)
    rows[2].update({"Li2O": 0.5, "ZrCl4": 0.3, "AlCl3": 0.1})  # a component forgotten
    with pytest.raises(LedgerError, match=r"row 3 \(line 4\), columns Li2O\+ZrCl4\+AlCl3: "
                                          r"fractions sum to 0.9; expected 1.0"):
        CandidatePool.load(_pool_file(tmp_path, rows), space, "configs/campaign/x.yaml")
    rows = _oxy_rows(3)
    rows[1].update({"Li2O": 0.583, "ZrCl4": 0.313, "AlCl3": 0.103})  # rounded: kept
    with pytest.warns(LedgerWarning, match=r"row 2 \(line 3\): fractions sum to 0.999"):
        pool = CandidatePool.load(_pool_file(tmp_path, rows), space,
                                  "configs/campaign/x.yaml")
    assert pool.frame.loc[1, ["Li2O", "ZrCl4", "AlCl3"]].sum() == pytest.approx(1.0, abs=1e-12)
