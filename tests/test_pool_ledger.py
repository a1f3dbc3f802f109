"""A pool campaign's ledger: proposals carry the pool's name column; an exhausted pool
ends a closed loop with its summary."""

from __future__ import annotations

import pandas as pd
import pytest

from optim import Campaign
from optim.rounds import plan_round
from tests.helpers import make_settings

OXY = ["Li2O", "ZrCl4", "AlCl3", "anneal_temperature_C", "milling_time_h"]


def _pool_file(tmp_path, rows):
    path = tmp_path / "shelf.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _oxy_rows(n):
    """``n`` feasible oxychloride candidates, each with the name on its jar."""
    rows = []
    for i in range(n):
        li = 0.40 + 0.02 * i
        rows.append({"material": f"jar {i}", "Li2O": li, "ZrCl4": (1 - li) * 0.7,
                     "AlCl3": (1 - li) * 0.3, "anneal_temperature_C": 30 + 15 * i,
                     "milling_time_h": 12, "anneal_time_h": 2, "milling_speed_rpm": 500})
    return rows


def test_the_pools_name_column_is_carried_into_the_ledger(tmp_path):
    path = _pool_file(tmp_path, _oxy_rows(6))
    settings = make_settings("oxychloride", tmp_path / "runs",
                             ["debug=smoke", f"+search_space.pool={path}"])
    assert settings.pool.label == "material"
    result = plan_round(settings)
    pool = pd.read_csv(path)
    for _, row in result.batch.iterrows():  # each label is its own row's
        match = pool[(pool[OXY] - row[OXY].astype(float)).abs().max(axis=1) < 1e-9]
        assert row["material"] == match["material"].iloc[0]
    ledger = pd.read_csv(settings.ledger_path, keep_default_na=False)
    assert list(ledger.columns[:5]) == ["id", "round", "status", "source", "material"]
    assert set(ledger["material"]) <= set(pool["material"]) and ledger["material"].all()


def test_a_pool_column_called_id_and_old_measurements_are_no_clash(tmp_path):
    rows = [{"id": f"shelf-{i}", "conductivity_mS_cm": 1.0, **r}
            for i, r in enumerate(_oxy_rows(4))]
    for r in rows:
        r.pop("material")
    path = _pool_file(tmp_path, rows)
    settings = make_settings("oxychloride", tmp_path / "runs",
                             ["debug=smoke", f"+search_space.pool={path}"])
    assert settings.pool.label == "id" and settings.pool.ledger_label == "pool_id"
    batch = plan_round(settings).batch
    assert batch["pool_id"].str.startswith("shelf-").all()
    assert batch["id"].str.startswith("oxy-").all()


@pytest.mark.slow
def test_an_exhausted_pool_ends_a_closed_loop_with_its_summary(tmp_path):
    path = _pool_file(tmp_path, _oxy_rows(6))

    def lab(experiments):
        return pd.DataFrame({"id": experiments["id"],
                             "conductivity_mS_cm": 1.0 + experiments["Li2O"],
                             "retention_pct": 80.0 + 20 * experiments["ZrCl4"]})

    campaign = Campaign.from_config("oxychloride", ["debug=smoke", "tracking=none",
                                                    f"paths.runs={tmp_path / 'runs'}",
                                                    f"+search_space.pool={path}"])
    results = campaign.run(lab=lab, rounds=10)
    assert len(campaign.ledger) == 6 and (campaign.ledger["status"] == "measured").all()
    assert len(results) < 10
    assert campaign.stopped.startswith(f"stopped after {len(results)} of 10 round(s): "
                                       "every candidate of the pool")
