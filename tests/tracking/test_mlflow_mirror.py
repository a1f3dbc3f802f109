"""The mlflow mirror tells the truth: the experiment's kind and review view, values as a
person reads them, predictions as the terminal shows them, measured values that follow
the ledger both ways, and decision tags marked applied only when they are decisions.

One small campaign (initial design, simulated results, a model-based round) through the
Python API with the real mlflow tracker on a temporary sqlite store; the tests that
change the ledger run after the ones that only read it.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from optim import Campaign
from optim.exceptions import LedgerWarning
from optim.labs import OxychlorideTruth
from optim.ledger import Decision
from optim.report import format_batch
from optim.tracking import MlflowTracker
from optim.tracking.mlflow import EXPERIMENT_KIND, KIND_TAG, significant
from optim.ui import VIEW_TAG
from tests.helpers import SMOKE

pytestmark = pytest.mark.slow

COND, RET = "conductivity_mS_cm", "retention_pct"


def _campaign(runs: Path, *extra: str) -> Campaign:
    return Campaign.from_config("oxychloride", [f"paths.runs={runs}", "debug=smoke",
                                                "tracking=mlflow", *SMOKE, *extra])


def _children(client: MlflowClient, exp_id: str) -> dict:
    runs = client.search_runs([exp_id], "tags.kind = 'proposal'")
    return {r.data.tags["ledger_id"]: r for r in runs}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Round 1 (initial design), its results recorded, round 2 (model-based)."""
    runs = tmp_path_factory.mktemp("mirror") / "runs"
    campaign = _campaign(runs)
    first = campaign.propose()
    rows = first.batch
    results = OxychlorideTruth()(rows).round(4)
    results.insert(0, "id", rows["id"].to_numpy())
    campaign.record(results)
    second = campaign.propose()
    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp_id = client.get_experiment_by_name("oxychloride").experiment_id
    return {"runs": runs, "campaign": campaign, "results": results, "second": second,
            "client": client, "exp_id": exp_id}


def test_experiments_are_tagged_model_training_new_and_existing(store, tmp_path):
    client = store["client"]
    assert client.get_experiment(store["exp_id"]).tags[KIND_TAG] == EXPERIMENT_KIND
    assert EXPERIMENT_KIND == "custom_model_development"
    # an experiment made before (no kind tag) gets it when the tracker next touches it
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    old = MlflowClient(uri)
    exp_id = old.create_experiment("oxychloride",
                                   artifact_location=(tmp_path / "art").as_uri())
    assert KIND_TAG not in old.get_experiment(exp_id).tags
    MlflowTracker(uri, tmp_path / "art").decisions("oxychloride")
    assert old.get_experiment(exp_id).tags[KIND_TAG] == EXPERIMENT_KIND


def test_review_view_selects_the_columns_and_the_link_opens_it(store):
    tags = store["client"].get_experiment(store["exp_id"]).tags
    envelope = json.loads(tags[VIEW_TAG])
    state = json.loads(envelope["state"])
    columns = state["selectedColumns"]
    for metric in (f"best_{COND}", f"best_{RET}", "hypervolume_measured", "n_measured",
                   f"pred_{COND}_median", f"pred_{COND}_lo68", f"pred_{COND}_hi68",
                   f"pred_{RET}_mean", f"pred_{RET}_sd", f"measured_{COND}",
                   f"measured_{RET}"):
        assert f"metrics.`{metric}`" in columns
    assert f"metrics.`pred_{COND}_mean`" not in columns
    assert "tags.`decision`" in columns and state["columnOrder"] == columns
    # every selected metric exists on some run of the store: no empty column
    metrics = set()
    for run in store["client"].search_runs([store["exp_id"]]):
        metrics |= set(run.data.metrics)
    assert {c.split("`")[1] for c in columns if c.startswith("metrics.")} <= metrics
    hint = store["campaign"].review_hint()
    assert hint.endswith(f"/#/experiments/{store['exp_id']}/runs?viewStateShareKey="
                         "optim-review&workflowType=machine_learning")


def test_params_and_metrics_are_rounded_as_a_person_reads_them(store):
    client, second = store["client"], store["second"]
    child = _children(client, store["exp_id"])[second.batch["id"].iloc[0]]
    rec = second.batch.iloc[0]
    for name in ("Li2O", "ZrCl4", "AlCl3", "anneal_temperature_C", "milling_time_h"):
        assert child.data.params[name] == f"{rec[name]:.4g}"
        assert len(child.data.params[name].replace("-", "").replace(".", "")
                   .split("e")[0].lstrip("0")) <= 4
    parent = client.get_run(child.data.tags["mlflow.parentRunId"])
    assert parent.data.params["campaign_name"] == "oxychloride"
    assert parent.data.params["accept_changes"] == "null"  # as written in YAML
    assert parent.data.params[f"targets.{RET}.valid_range"] == "[0, 100]"
    for key in ("fit_s", "propose_s", "round_s", "hypervolume_measured"):
        value = parent.data.metrics[key]
        assert value == significant(second.metrics[key])
        assert value == float(f"{value:.4g}")
    # measured values exactly as recorded
    assert parent.data.metrics[f"best_{COND}"] == store["results"][COND].max()


def test_child_predictions_are_the_terminals_median_and_interval(store):
    campaign, second = store["campaign"], store["second"]
    children = _children(store["client"], store["exp_id"])
    terminal = format_batch(second, campaign.settings)
    target = campaign.settings.objectives[COND]
    for rec in second.batch.to_dict("records"):
        metrics = children[rec["id"]].data.metrics
        assert f"pred_{COND}_mean" not in metrics and f"pred_{COND}_sd" not in metrics
        centre, lo, hi = (float(v) for v in target.interval(rec[f"pred_{COND}_mean"],
                                                            rec[f"pred_{COND}_sd"]))
        mirrored = (metrics[f"pred_{COND}_median"], metrics[f"pred_{COND}_lo68"],
                    metrics[f"pred_{COND}_hi68"])
        assert mirrored == pytest.approx((centre, lo, hi), rel=5e-3)
        # the same three numbers as the terminal's "median (lo–hi)"
        words = " ".join(f"{v:#.3g}".rstrip(".") for v in mirrored)
        shown = "{} ({}–{})".format(*words.split())
        assert shown in terminal
        # a log-normal mean above the median: the old representation is gone
        assert rec[f"pred_{COND}_mean"] > metrics[f"pred_{COND}_median"]
        assert metrics[f"pred_{RET}_mean"] == significant(rec[f"pred_{RET}_mean"])
        assert metrics[f"pred_{RET}_sd"] == significant(rec[f"pred_{RET}_sd"])


def test_a_cleared_cell_leaves_the_mirror_and_a_refilled_one_returns(store):
    runs, client = store["runs"], store["client"]
    ledger_path = runs / "oxychloride" / "ledger.csv"
    ident = store["results"]["id"].iloc[0]
    key = f"measured_{RET}"
    run_id = _children(client, store["exp_id"])[ident].info.run_id
    assert math.isfinite(client.get_run(run_id).data.metrics[key])
    # by hand: a wrong value typed (0.9, a fraction for a percentage) ...
    frame = pd.read_csv(ledger_path)
    frame.loc[frame["id"] == ident, RET] = 0.9
    frame.to_csv(ledger_path, index=False)
    with pytest.warns(LedgerWarning) as caught:
        _campaign(runs, f"accept_changes=[{ident}]").propose()
    said = [str(w.message) for w in caught]
    assert any("looks like a fraction" in m for m in said)
    assert any("accepted 1 change(s) to recorded values" in m for m in said)
    assert client.get_run(run_id).data.metrics[key] == 0.9
    # ... then cleared: the child run no longer shows it as its value
    frame = pd.read_csv(ledger_path)
    frame.loc[frame["id"] == ident, RET] = None
    frame.to_csv(ledger_path, index=False)
    with pytest.warns(LedgerWarning, match="accepted 1 change"):
        _campaign(runs, f"accept_changes=[{ident}]").propose()
    run = client.get_run(run_id)
    assert math.isnan(run.data.metrics[key])
    assert not client.search_runs([store["exp_id"]],
                                  f"tags.ledger_id = '{ident}' and metrics.{key} > 0")
    history = [m.value for m in client.get_metric_history(run_id, key)]
    assert history[-2] == 0.9 and math.isnan(history[-1])  # the record stays in history
    # re-filled (recorded again): it is back, as recorded
    store["campaign"].record(pd.DataFrame({"id": [ident], RET: [88.5]}))
    assert client.get_run(run_id).data.metrics[key] == 88.5
    assert client.search_runs([store["exp_id"]],
                              f"tags.ledger_id = '{ident}' and metrics.{key} > 0")


def test_a_typo_decision_is_not_marked_applied_and_its_correction_is(store):
    client, exp_id = store["client"], store["exp_id"]
    campaign = store["campaign"]
    ident = store["second"].batch["id"].iloc[0]
    run_id = _children(client, exp_id)[ident].info.run_id
    # the tracker never marks a value that is not a decision
    campaign.tracker.mark_decisions("oxychloride", {ident: "rejct"})
    assert "decision_applied" not in client.get_run(run_id).data.tags
    # a reviewer's typo in the UI: reported, not applied, not marked
    client.set_tag(run_id, "decision", "rejct")
    result = campaign.propose()
    assert any("'rejct'" in note for note in result.notes)
    assert "decision_applied" not in client.get_run(run_id).data.tags
    assert campaign.tracker.decisions("oxychloride") == {ident: Decision("rejct")}
    assert campaign.ledger.set_index("id").loc[ident, "status"] == "proposed"
    # corrected: applied to the ledger and marked
    client.set_tag(run_id, "decision", "reject")
    campaign.propose()
    tags = client.get_run(run_id).data.tags
    assert tags["decision_applied"] == "reject" and tags["status"] == "rejected"
    assert campaign.ledger.set_index("id").loc[ident, "status"] == "rejected"
    assert ident not in campaign.tracker.decisions("oxychloride")


def test_benchmark_experiments_are_tagged_model_training(tmp_path):
    from optim.tracking import BenchmarkArm, log_benchmark

    uri = f"sqlite:///{tmp_path / 'bench.db'}"
    client = MlflowClient(uri)
    old = client.create_experiment("benchmark-old",
                                   artifact_location=(tmp_path / "a").as_uri())
    for name in ("benchmark-new", "benchmark-old"):
        log_benchmark(uri, name, "suite", {"seeds": "1"}, {"wall_s": 1.0}, [],
                      [BenchmarkArm("random", metrics=[("hypervolume", 1.0, 4)])])
        exp = client.get_experiment_by_name(name)
        assert exp.tags[KIND_TAG] == EXPERIMENT_KIND
    assert client.get_experiment(old).tags[KIND_TAG] == EXPERIMENT_KIND


def test_two_campaigns_in_one_process_log_into_their_own_stores(tmp_path, monkeypatch):
    # a round once called mlflow.set_tracking_uri, which sets the process's
    # MLFLOW_TRACKING_URI: the next campaign composed in the process logged there
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for name in ("a", "b"):
        _campaign(tmp_path / name).propose()
    for name in ("a", "b"):
        client = MlflowClient(f"sqlite:///{tmp_path / name}/mlflow.db")
        exp = client.get_experiment_by_name("oxychloride")
        assert exp is not None
        assert len(client.search_runs([exp.experiment_id], "tags.kind = 'round'")) == 1
    assert "MLFLOW_TRACKING_URI" not in os.environ
