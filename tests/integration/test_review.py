"""Review through mlflow: decisions from tags and the command line, tracking catch-up."""

from __future__ import annotations

import getpass

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import SMOKE, cli


def _children(client, exp_id):
    runs = client.search_runs([exp_id], "tags.kind = 'proposal'")
    return {r.data.tags["ledger_id"]: r for r in runs}


@pytest.mark.integration
def test_decisions_from_ui_tags_and_command_line(tmp_path):
    runs = tmp_path / "runs"
    cli(runs, *SMOKE)
    ledger = runs / "oxychloride" / "ledger.csv"
    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp_id = client.get_experiment_by_name("oxychloride").experiment_id
    children = _children(client, exp_id)
    # what a reviewer does in the UI: add the tag decision=reject on a proposal's run
    client.set_tag(children["oxy-0003"].info.run_id, "decision", "reject")
    client.set_tag(children["oxy-0004"].info.run_id, "decision", "whatever")
    # and on the command line
    out = cli(runs, "approve=[oxy-0001]", "reject=oxy-0002")
    assert "oxy-0001 approved, oxy-0002 rejected" in out.stdout
    frame = pd.read_csv(ledger)
    assert frame.loc[:2, "status"].tolist() == ["approved", "rejected", "proposed"]
    # who decided: the user running the command, and when
    assert frame.loc[:1, "decided_by"].tolist() == [getpass.getuser()] * 2
    assert frame.loc[:1, "decided_at"].str.match(r"\d{4}-\d\d-\d\dT").all()
    assert frame.loc[2:, "decided_by"].isna().all()
    children = _children(client, exp_id)
    assert children["oxy-0002"].data.tags["decision_applied"] == "reject"
    assert children["oxy-0002"].data.tags["status"] == "rejected"
    # the next round reads the UI tag into the ledger
    nxt = cli(runs, *SMOKE)
    assert "applied reviewers' decisions from mlflow to oxy-0003" in nxt.stdout
    assert "'whatever'" in nxt.stdout
    frame = pd.read_csv(ledger)
    assert frame.loc[2, "status"] == "rejected"
    # a store without sign-in cannot say who set the tag; the ledger says so
    assert frame.loc[2, "decided_by"] == "mlflow UI (no sign-in)"
    # two initial-design rows were rejected: this round tops the design up by two
    assert len(frame) == 10 and set(frame.loc[8:, "source"]) == {"initial"}
    children = _children(client, exp_id)
    assert children["oxy-0003"].data.tags["decision_applied"] == "reject"
    # a tag that is not a decision is reported, never marked applied
    assert "decision_applied" not in children["oxy-0004"].data.tags
    # the printed link opens the runs table in the classic layout with the review view
    assert (f"/#/experiments/{exp_id}/runs?viewStateShareKey=optim-review"
            "&workflowType=machine_learning") in nxt.stdout
    # a hand edit of the ledger is not overridden by the old tag afterwards
    frame.loc[2, "status"] = "approved"
    frame.to_csv(ledger, index=False)
    cli(runs, *SMOKE)
    assert pd.read_csv(ledger).loc[2, "status"] == "approved"


@pytest.mark.integration
def test_bad_command_line_decision_changes_nothing(tmp_path):
    runs = tmp_path / "runs"
    cli(runs, "tracking=none")
    ledger = runs / "oxychloride" / "ledger.csv"
    before = ledger.read_bytes()
    proc = cli(runs, "tracking=none", "reject=[oxy-0001,oxy-0042]", ok=False)
    assert proc.returncode == 2 and "'oxy-0042' is not an id in the ledger" in proc.stderr
    proc = cli(runs, "tracking=none", "reject=[oxy-0001]", "approve=[oxy-0001]", ok=False)
    assert proc.returncode == 2 and "both name ['oxy-0001']" in proc.stderr
    assert ledger.read_bytes() == before


@pytest.mark.integration
def test_tracking_catches_up_after_an_unreachable_store(tmp_path):
    runs = tmp_path / "runs"
    down = cli(runs, "tracking.uri=http://127.0.0.1:9")
    assert "warning: tracking skipped" in down.stderr
    cli(runs, *SMOKE)  # store reachable again (default sqlite under runs/)
    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp_id = client.get_experiment_by_name("oxychloride").experiment_id
    rounds = client.search_runs([exp_id], "tags.kind = 'round'")
    assert sorted(r.info.run_name for r in rounds) == ["round-001", "round-002"]
    late = next(r for r in rounds if r.info.run_name == "round-001")
    assert "logged late from the ledger" in late.data.tags["mlflow.note.content"]
    assert len(_children(client, exp_id)) == 8 + 4


@pytest.mark.slow
@pytest.mark.integration
def test_tracking_repairs_what_an_interrupted_round_left(tmp_path):
    from optim import Campaign

    runs = tmp_path / "runs"
    campaign = Campaign.from_config("oxychloride", [f"paths.runs={runs}", "debug=smoke",
                                                    "tracking=mlflow", "lab=simulated"])
    campaign.run(rounds=1)
    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp = client.get_experiment_by_name("oxychloride").experiment_id
    parent = client.search_runs([exp], "tags.kind = 'round'")[0]
    child = client.search_runs([exp], "tags.ledger_id = 'oxy-0002'")[0]
    client.update_run(parent.info.run_id, status="RUNNING")  # killed while logging
    client.delete_run(child.info.run_id)  # its child run never written
    campaign.propose()
    parent = client.get_run(parent.info.run_id)
    assert parent.info.status == "KILLED"
    again = client.search_runs([exp], "tags.ledger_id = 'oxy-0002'")
    assert len(again) == 1 and again[0].data.tags["mlflow.parentRunId"] == parent.info.run_id
