"""The replay lab answers from a table of real measurements."""

from __future__ import annotations

import pandas as pd
import pytest

from optim.exceptions import ConfigError, LabError
from optim.labs import ReplayLab, average_replicates


def test_replicates_average_their_distinct_values():
    raw = pd.DataFrame({"a": [1, 1, 1, 2], "b": [0.5, 0.5, 0.5, 0.5],
                        "y": [1.0, 1.0, 4.0, 7.0]})
    out = average_replicates(raw, ["a", "b"], ["y"])
    # distinct values of (1, 0.5): {1, 4} -> 2.5 (the Liang et al. convention)
    assert out.set_index("a")["y"].to_dict() == {1: 2.5, 2: 7.0}


def test_replay_lab_answers_by_inputs_and_refuses_unknown(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"n": [6, 6, 8], "t": [0.7, 0.7, 1.4], "toughness": [1.0, 3.0, 9.5]}
                 ).to_csv(path, index=False)
    lab = ReplayLab(path, ["toughness"])
    out = lab(pd.DataFrame({"id": ["x-1", "x-2"], "round": 1, "n": [8.0, 6.0],
                            "t": [1.4, 0.7]}))
    assert out.to_dict("list") == {"id": ["x-1", "x-2"], "toughness": [9.5, 2.0]}
    with pytest.raises(LabError, match="experiment x-3 with inputs .* is not in"):
        lab(pd.DataFrame({"id": ["x-3"], "round": 1, "n": [10.0], "t": [0.7]}))
    with pytest.raises(LabError, match=r"has no column\(s\) \['strength'\]"):
        ReplayLab(path, ["strength"])


def test_missing_replay_table_is_a_lab_error(tmp_path):
    with pytest.raises(LabError, match=r"replay lab: file .*nowhere.csv not found"):
        ReplayLab(tmp_path / "nowhere.csv", ["toughness"])


# ------------------------------------------------ checked against the campaign at load
def test_replay_lab_reports_the_campaigns_targets(tmp_path):
    from tests.helpers import make_campaign

    campaign = make_campaign("crossed_barrel", tmp_path, ["lab=replay"])
    assert campaign.lab.targets == ["toughness"]  # from targets:, not a repeated list


POOL_CAMPAIGN = """\
# @package _global_
campaign_name: lattice
id_prefix: lt
batch_size: 1
initial_design: {{n: 2, method: random}}
search_space:
  pool: {pool}
  parameters:
    n: {{lower: 6, upper: 12}}
    t: {{lower: 0.5, upper: 1.5}}
targets:
  toughness: {{direction: maximize, threshold: 0.0}}
"""


def _lattice(tmp_path, table_rows: dict, pool_rows: dict | None = None):
    table = tmp_path / "measured.csv"
    pd.DataFrame(table_rows).to_csv(table, index=False)
    pool = table
    if pool_rows is not None:
        pool = tmp_path / "pool.csv"
        pd.DataFrame(pool_rows).to_csv(pool, index=False)
    (tmp_path / "campaign").mkdir(exist_ok=True)
    (tmp_path / "campaign" / "lattice.yaml").write_text(POOL_CAMPAIGN.format(pool=pool))
    return table


def _load(tmp_path, *overrides):
    from optim import Campaign

    return Campaign.from_config("lattice", [f"paths.runs={tmp_path}", "tracking=none",
                                            "lab=replay", *overrides], config_dir=tmp_path)


ROWS = {"n": [6, 8, 10, 12], "t": [0.7, 1.4, 1.0, 0.5], "toughness": [1.0, 9.5, 3.0, 2.0]}


def test_a_pool_replayed_from_its_own_file_loads_and_runs(tmp_path):
    _lattice(tmp_path, ROWS)
    campaign = _load(tmp_path)
    campaign.run(rounds=1)
    ledger = campaign.ledger
    assert len(ledger) == 2 and ledger["toughness"].notna().all()


@pytest.mark.parametrize(("case", "match"), [
    ("no-target", r"the file has no column\(s\) \['toughness'\] of campaign 'lattice'"),
    ("pool-mismatch", r"1 of 4 pool candidate\(s\) of .*pool.csv have no row in it "
                      r"\(first: \{'n': 12.0, 't': 0.6\}\).*Fix: point lab.path"),
    ("targets", r"lab.targets=\['strength'\]|has no column\(s\) \['strength'\]"),
])
def test_a_replay_that_cannot_answer_fails_at_load(tmp_path, case, match):
    if case == "no-target":
        _lattice(tmp_path, {k: v for k, v in ROWS.items() if k != "toughness"},
                 pool_rows={"n": ROWS["n"], "t": ROWS["t"]})
        extra = [f"lab.path={tmp_path / 'measured.csv'}"]
    elif case == "pool-mismatch":
        table = _lattice(tmp_path, ROWS, pool_rows={"n": ROWS["n"], "t": [0.7, 1.4, 1.0, 0.6]})
        extra = [f"lab.path={table}"]
    else:
        _lattice(tmp_path, ROWS)
        extra = ["lab.targets=[strength]"]
    with pytest.raises(ConfigError, match=match) as err:
        _load(tmp_path, *extra)
    assert err.value.key.startswith("lab")


def test_replay_on_a_continuous_campaign_fails_at_load(tmp_path):
    from tests.helpers import make_campaign

    with pytest.raises(ConfigError, match=r"no table of measured experiments .*no "
                                          r"search_space.pool"):
        make_campaign("oxychloride", tmp_path, ["lab=replay"])


def test_a_semicolon_export_of_the_table_gets_the_export_fix(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("n;t;toughness\n6;0,7;1,0\n")
    with pytest.raises(LabError, match=r"separated by ';' .*Fix: export as CSV with ','"):
        ReplayLab(path, ["toughness"])
