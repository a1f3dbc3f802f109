"""The real CLI end to end: two rounds, recording, mlflow, and bad input."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from optim.labs import OxychlorideTruth
from tests.helpers import SMOKE, cli


@pytest.mark.slow
@pytest.mark.integration
def test_two_round_campaign_with_mlflow(tmp_path):
    runs = tmp_path / "runs"
    first = cli(runs, *SMOKE)
    assert "Round 1 of campaign 'oxychloride': 8 proposal(s)" in first.stdout
    assert "record=results.csv" in first.stdout and "python -m optim.ui" in first.stdout
    # the printed next commands keep this command's overrides (the ledger's location)
    nxt = first.stdout.split("Then plan the next round:")[1].splitlines()[0]
    assert f"campaign=oxychloride paths.runs={runs}" in nxt
    ledger = runs / "oxychloride" / "ledger.csv"
    frame = pd.read_csv(ledger)
    results = OxychlorideTruth()(frame).round(4)
    results.insert(0, "id", frame["id"])
    results.loc[3, "retention_pct"] = None  # arrives later
    results.to_csv(tmp_path / "results.csv", index=False)
    rec = cli(runs, f"record={tmp_path / 'results.csv'}")
    assert "Recorded 8 experiment(s)" in rec.stdout
    second = cli(runs, *SMOKE)
    # no row of the initial design beats all three thresholds: the probability of beating
    assert ("Round 2 of campaign 'oxychloride': 4 proposal(s) by probability of beating "
            "every threshold (qLogPOF)") in second.stdout
    frame = pd.read_csv(ledger)
    assert len(frame) == 12 and (frame["status"] == "measured").sum() == 8
    assert (frame.loc[8:, "source"] == "bo").all()

    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp = client.get_experiment_by_name("oxychloride")
    rounds = client.search_runs([exp.experiment_id], "tags.kind = 'round'")
    assert sorted(r.info.run_name for r in rounds) == ["round-001", "round-002"]
    r2 = next(r for r in rounds if r.info.run_name == "round-002")
    assert r2.data.metrics["n_measured"] == 8 and r2.data.metrics["hypervolume_measured"] >= 0
    assert r2.data.params["campaign_name"] == "oxychloride"
    arts = {a.path for a in client.list_artifacts(r2.info.run_id)}
    assert {"batch.json", "config.yaml", "ledger.csv", "plots"} <= arts
    plots = {a.path for a in client.list_artifacts(r2.info.run_id, "plots")}
    assert plots == {"plots/pareto_front.png", "plots/composition_map.png",
                     "plots/model_check.png", "plots/progress.png", "plots/inputs.png"}
    assert "loo_rmse_conductivity_mS_cm" in r2.data.metrics
    assert 0 < r2.data.metrics["p_beats_thresholds"] <= 1
    description = r2.data.tags["mlflow.note.content"]
    assert "**Round 2**" in description and "`oxy-0009`" in description
    children = client.search_runs([exp.experiment_id], "tags.kind = 'proposal'")
    assert len(children) == 12
    child = next(c for c in children if c.data.tags["ledger_id"] == "oxy-0001")
    assert child.data.tags["status"] == "measured"
    assert child.data.metrics["measured_conductivity_mS_cm"] == pytest.approx(
        results.loc[0, "conductivity_mS_cm"])
    assert "pred_cost_usd_per_L_mean" in child.data.metrics
    assert child.data.params["Li2O"] == f"{frame.loc[0, 'Li2O']:.4g}"  # as printed
    assert child.data.tags["mlflow.parentRunId"] in {r.info.run_id for r in rounds}


@pytest.mark.integration
def test_bad_config_exits_cleanly_and_writes_nothing(tmp_path):
    runs = tmp_path / "runs"
    proc = cli(runs, "tracking=none", "search_space.parameters.milling_time_h.lower=50",
               ok=False)
    assert proc.returncode == 2
    assert "configs/campaign/oxychloride.yaml, key search_space.parameters.milling_time_h" \
        in proc.stderr
    assert "comes from the command-line override " \
        "'search_space.parameters.milling_time_h.lower=50'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (runs / "oxychloride" / "ledger.csv").exists()


@pytest.mark.integration
def test_bad_ledger_exits_cleanly_and_keeps_bytes(tmp_path):
    runs = tmp_path / "runs"
    out = cli(runs, "tracking=none").stdout
    assert "Tracking is off (tracking=none" in out  # a round without mlflow says so
    assert out.startswith(f"Read {runs / 'oxychloride' / 'ledger.csv'}: no experiments yet.")
    ledger = runs / "oxychloride" / "ledger.csv"
    frame = pd.read_csv(ledger, dtype=str, keep_default_na=False)
    frame.loc[4, "milling_time_h"] = "20h"
    frame.to_csv(ledger, index=False)
    before = ledger.read_bytes()
    proc = cli(runs, "tracking=none", ok=False)
    assert proc.returncode == 2
    assert f"{ledger}, row 5 (line 6), column 'milling_time_h': value='20h' is not a " \
           "number" in proc.stderr
    assert ledger.read_bytes() == before


@pytest.mark.integration
def test_unreachable_tracking_still_records(tmp_path):
    runs = tmp_path / "runs"
    proc = cli(runs, "tracking.uri=http://127.0.0.1:9", ok=False)
    assert proc.returncode == 0, proc.stderr
    assert "warning: tracking skipped" in proc.stderr
    assert len(pd.read_csv(runs / "oxychloride" / "ledger.csv")) == 8


@pytest.mark.integration
def test_second_concurrent_round_is_refused(tmp_path):
    from optim.ledger import Ledger

    runs = tmp_path / "runs"
    ledger = runs / "oxychloride" / "ledger.csv"
    with Ledger.lock(ledger):  # as if another round were running
        proc = cli(runs, "tracking=none", ok=False)
    assert proc.returncode == 2
    assert "another process is running a round of this campaign" in proc.stderr
    assert not ledger.exists()


@pytest.mark.integration
def test_failed_record_creates_no_tracking_store(tmp_path):
    runs = tmp_path / "runs"
    results = tmp_path / "results.csv"
    results.write_text("id,conductivity_mS_cm\noxy-0001,1.0\n")
    proc = cli(runs, f"record={results}", ok=False)
    assert proc.returncode == 2 and "does not exist yet" in proc.stderr
    assert not (runs / "mlflow.db").exists()
