"""Scale-out end to end: PostgreSQL and the tracking server on loopback
(``optim.server``), a sweep of 8 jobs through Hydra's submitit launcher with a server
restart in the middle, a database that refuses connections, and reviewers who sign in.

Each check compares the ledgers (what was measured) with the store (what reviewers see):
every round of every ledger in mlflow exactly once, after catch-up.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import requests

from optim.campaign import Campaign
from optim.exceptions import ConfigError, TrackingWarning
from optim.server.postgres import ServerError, find_bindir
from optim.server.server import TrackingServer
from tests.helpers import ROOT, SMOKE


def _postgres_missing() -> bool:
    try:
        find_bindir()
    except ServerError:
        return True
    return False


pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(_postgres_missing() and not os.environ.get("CI"),
                       reason="needs PostgreSQL (apt-get install postgresql); "
                              "required in CI (.ci/run installs it)"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(srv: TrackingServer):
    """Start ``srv``; afterwards (or when it fails to start) delete it, database too."""
    try:
        srv.start()
        yield srv
    finally:
        srv.destroy()


@pytest.fixture
def server(tmp_path: Path):
    yield from _serving(TrackingServer(tmp_path / "server", port=_free_port(),
                                       db_port=_free_port()))


def _client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def _store_rounds(client, experiment: str) -> tuple[list[str], list[str]]:
    """Round numbers of the round runs and ledger ids of the proposal runs."""
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment!r} in the store"
    runs = client.search_runs([exp.experiment_id], max_results=5000)
    rounds = [r.data.tags["round"] for r in runs if r.data.tags.get("kind") == "round"]
    ids = [r.data.tags["ledger_id"] for r in runs if r.data.tags.get("kind") == "proposal"]
    return rounds, ids


def _assert_mirrors(client, experiment: str, ledger: pd.DataFrame) -> None:
    """Every round and proposal of the ledger in the store exactly once."""
    rounds, ids = _store_rounds(client, experiment)
    want = sorted(str(r) for r in set(ledger["round"]) - {0})
    assert sorted(rounds) == want, f"{experiment}: rounds {sorted(rounds)} vs ledger {want}"
    assert sorted(ids) == sorted(ledger.loc[ledger["round"] > 0, "id"]), experiment


def _ledger_rounds(sweep: Path) -> int:
    """Rounds recorded so far over every job's ledger of the sweep."""
    total = 0
    for path in sweep.rglob("ledger.csv"):
        try:
            total += pd.read_csv(path)["round"].nunique()
        except (pd.errors.EmptyDataError, KeyError):
            continue
    return total


def test_sweep_of_8_jobs_survives_a_server_restart(server: TrackingServer, tmp_path: Path):
    """2 campaigns x 2 strategies x 2 seeds as separate processes (submitit_local), each
    logging to the server; the server goes down mid-sweep while jobs keep recording
    rounds in their ledgers, comes back, and ``sync`` catches the store up."""
    runs = tmp_path / "runs"
    client = _client(server.uri)
    cmd = [sys.executable, "-m", "optim", "--multirun", "sweep=jobs",
           "campaign=oxychloride,interlayer", "strategy=random,qlognehvi_gp", "seed=0,1",
           "lab=simulated", "rounds=4", "debug=smoke", "tracking=mlflow",
           f"tracking.uri={server.uri}", "tracking.http_max_retries=0",
           f"paths.runs={runs}", "hydra/launcher=submitit_local"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with open(tmp_path / "sweep.log", "w") as log:
        sweep = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 env=env)
    try:
        deadline = time.monotonic() + 400
        # wait for the first rounds in the store, then stop the server and keep it down
        # until the ledgers on disk gained rounds it never saw
        while not any(r.data.tags.get("kind") == "round" for e in client.search_experiments()
                      for r in client.search_runs([e.experiment_id], max_results=50)):
            assert sweep.poll() is None and time.monotonic() < deadline, "sweep ended early"
            time.sleep(1)
        server.stop(database=False)
        down_at = _ledger_rounds(runs)
        while _ledger_rounds(runs) < down_at + 3 and sweep.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.5)
        server.start()
        assert sweep.wait(timeout=max(deadline - time.monotonic(), 1)) == 0, \
            (tmp_path / "sweep.log").read_text()[-3000:]
    finally:
        if sweep.poll() is None:
            sweep.kill()
    ledgers = sorted(runs.rglob("ledger.csv"))
    assert len(ledgers) == 8
    job_logs = "".join(p.read_text() for p in runs.rglob("*_log.*"))
    assert "tracking skipped" in job_logs  # the jobs said what happened
    for path in ledgers:
        job = path.parent
        ledger = pd.read_csv(path)
        assert ledger["round"].nunique() == 4 and (ledger["status"] == "measured").any()
        experiment = job.relative_to(runs).as_posix()  # named by its folder
        campaign = Campaign.from_config(job.parent.name, [
            f"paths.runs={runs}", f"paths.campaign_dir='{job}'", f"tracking.uri={server.uri}",
            f"tracking.experiment='{experiment}'"])  # quoted: '=' and ',' in the names
        campaign.sync()
        campaign.sync()  # idempotent: nothing twice
        _assert_mirrors(client, experiment, ledger)


def test_database_refusing_connections_loses_nothing(server: TrackingServer,
                                                     tmp_path: Path):
    """PostgreSQL down under a running mlflow server: the round is in the ledger, the
    campaign warns; once the database is back, ``sync`` logs the missed round once."""
    overrides = [f"paths.runs={tmp_path / 'runs'}", f"tracking.uri={server.uri}",
                 "tracking.http_max_retries=0", "batch_size=3", "initial_design.n=4",
                 *SMOKE]
    campaign = Campaign.from_config("oxychloride", overrides)
    campaign.propose()
    server.postgres.stop()
    try:
        with pytest.warns(TrackingWarning, match="tracking skipped"):
            result = campaign.propose()
        assert not campaign.tracking_ok
        assert set(result.batch["id"]) <= set(campaign.ledger["id"])
    finally:
        server.postgres.start()
    assert campaign.sync() == 1
    assert campaign.sync() == 0
    _assert_mirrors(_client(server.uri), "oxychloride", campaign.ledger)


@pytest.fixture
def auth_server(tmp_path: Path):
    yield from _serving(TrackingServer(tmp_path / "auth-server", port=_free_port(),
                                       db_port=_free_port(), auth=True))


def _add_user(srv: TrackingServer, name: str, password: str, *campaigns: str) -> None:
    args = [sys.executable, "-m", "optim.server", "user", name, "--folder", str(srv.folder)]
    for c in campaigns:
        args += ["--campaign", c]
    done = subprocess.run(args, env={**os.environ, "OPTIM_USER_PASSWORD": password},
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr


def test_reviewers_sign_in_and_the_ledger_says_who_decided(
        auth_server: TrackingServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Only an editor of the campaign sets a decision the next round applies; the
    server signs it and the ledger records who and when."""
    srv = auth_server
    for name in ("optim-jobs", "bob-reader"):
        _add_user(srv, name, f"{name}-secret-pw")
    overrides = [f"paths.runs={tmp_path / 'runs'}", f"tracking.uri={srv.uri}",
                 "tracking.http_max_retries=0", "batch_size=3", "initial_design.n=4",
                 *SMOKE]
    # no credentials: refused (401), the round is still in the ledger
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    anonymous = Campaign.from_config("oxychloride", overrides)
    with pytest.warns(TrackingWarning, match="tracking skipped"):
        anonymous.propose()
    assert len(anonymous.ledger) == 4
    # the jobs' service account from the environment (never the config)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "optim-jobs")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "optim-jobs-secret-pw")
    campaign = Campaign.from_config("oxychloride", overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("error", TrackingWarning)
        campaign.propose()  # logs round 1 late, then round 2
    _add_user(srv, "alice-editor", "alice-editor-secret-pw", "oxychloride")
    client = _client(srv.uri)
    exp = client.get_experiment_by_name("oxychloride")
    children = {r.data.tags["ledger_id"]: r.info.run_id for r in client.search_runs(
        [exp.experiment_id], "tags.kind = 'proposal'")}

    def set_tag(user: str | None, ident: str, key: str, value: str) -> int:
        auth = (user, f"{user}-secret-pw") if user else None
        return requests.post(f"{srv.uri}/ajax-api/2.0/mlflow/runs/set-tag", auth=auth,
                             json={"run_id": children[ident], "key": key, "value": value},
                             timeout=30).status_code

    assert set_tag(None, "oxy-0001", "decision", "reject") == 401
    assert set_tag("bob-reader", "oxy-0002", "decision", "reject") == 403
    assert set_tag("alice-editor", "oxy-0003", "decision", "reject") == 200
    assert set_tag("alice-editor", "oxy-0003", "decision_by", "bob-reader") == 403  # forged
    tags = client.get_run(children["oxy-0003"]).data.tags
    assert tags["decision_by"] == "alice-editor" and tags["decision_at"]
    # a reviewer cannot move a decision to another proposal, nor make a run of their
    # own pass for a proposal, nor create one with a decision
    assert set_tag("alice-editor", "oxy-0003", "ledger_id", "oxy-0001") == 403

    def create(tags: list[dict]) -> int:
        return requests.post(f"{srv.uri}/api/2.0/mlflow/runs/create",
                             auth=("alice-editor", "alice-editor-secret-pw"),
                             json={"experiment_id": exp.experiment_id, "tags": tags},
                             timeout=30).status_code

    assert create([{"key": "kind", "value": "proposal"},
                   {"key": "ledger_id", "value": "oxy-0001"}]) == 403
    assert create([{"key": "decision", "value": "approve"}]) == 403
    assert create([{"key": "note", "value": "a reviewer's own run"}]) == 200
    result = campaign.propose()
    assert "oxy-0003 (rejected)" in " ".join(result.notes)
    ledger = campaign.ledger.set_index("id")
    assert ledger.at["oxy-0003", "status"] == "rejected"
    assert ledger.at["oxy-0003", "decided_by"] == "alice-editor"
    assert ledger.at["oxy-0003", "decided_at"] == tags["decision_at"]
    assert ledger.loc[["oxy-0001", "oxy-0002"], "status"].tolist() == ["proposed"] * 2
    assert ledger.loc[["oxy-0001", "oxy-0002"], "decided_by"].tolist() == ["", ""]
    # applying it did not re-sign the tag as the service account
    assert client.get_run(children["oxy-0003"]).data.tags["decision_by"] == "alice-editor"


def test_a_password_in_the_tracking_uri_is_refused(tmp_path: Path):
    with pytest.raises(ConfigError, match="holds a password") as err:
        Campaign.from_config("oxychloride", [
            f"paths.runs={tmp_path}", "tracking.uri=http://jobs:hunter2@127.0.0.1:5000"])
    assert "hunter2" not in str(err.value)
    assert "MLFLOW_TRACKING_PASSWORD" in str(err.value)
