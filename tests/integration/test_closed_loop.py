"""Closed loops through the real CLI: simulated labs and a user's own lab."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.helpers import cli

SMOKE = ["debug=smoke"]


@pytest.mark.slow
@pytest.mark.integration
def test_simulated_oxychloride_closed_loop(tmp_path):
    runs = tmp_path / "runs"
    proc = cli(runs, "lab=simulated", "rounds=3", *SMOKE)
    assert "illustrative ground truth" in proc.stdout
    last = proc.stdout.split("[3/3] round 3")[1].splitlines()[0]
    assert "by qLogNEHVI" in last or "by probability of beating every threshold" in last
    frame = pd.read_csv(runs / "oxychloride" / "ledger.csv")
    assert len(frame) == 4 + 3 + 3
    assert set(frame["status"]) <= {"measured", "failed"}
    assert frame["measured_at"].notna().all()
    # same config, seed and simulator: the same campaign
    again = tmp_path / "again"
    cli(again, "lab=simulated", "rounds=3", *SMOKE)
    cols = ["Li2O", "ZrCl4", "AlCl3", "conductivity_mS_cm", "retention_pct", "status"]
    pd.testing.assert_frame_equal(frame[cols],
                                  pd.read_csv(again / "oxychloride" / "ledger.csv")[cols])


@pytest.mark.integration
def test_plugin_lab_by_target(tmp_path):
    runs = tmp_path / "runs"
    cli(runs, "+lab._target_=tests.plugin_lab.measure", "+lab._partial_=true",
        "+lab.offset=0.5", *SMOKE)
    frame = pd.read_csv(runs / "oxychloride" / "ledger.csv")
    assert (frame["status"] == "measured").all()
    expected = 0.1 + 3 * frame["Li2O"] + 0.5
    pd.testing.assert_series_equal(frame["conductivity_mS_cm"], expected, check_names=False,
                                   rtol=1e-12)


@pytest.mark.integration
def test_lab_errors_are_clear(tmp_path):
    runs = tmp_path / "runs"
    proc = cli(runs, "+lab._target_=tests.plugin_lab.broken", "+lab._partial_=true", *SMOKE,
               ok=False)
    assert proc.returncode == 2 and "returned list; expected a DataFrame" in proc.stderr
    frame = pd.read_csv(runs / "oxychloride" / "ledger.csv")
    assert (frame["status"] == "proposed").all()  # proposals kept, nothing measured
    proc = cli(runs, "rounds=3", "tracking=none", ok=False)
    assert proc.returncode == 2 and "rounds=3 needs a lab that measures" in proc.stderr


@pytest.mark.slow
@pytest.mark.integration
def test_closed_loop_with_tracking_down_finishes_and_says_so(tmp_path):
    runs = tmp_path / "runs"
    proc = cli(runs, "lab=simulated", "rounds=2", "debug=smoke", "tracking=mlflow",
               "tracking.uri=http://127.0.0.1:9", "tracking.http_max_retries=0",
               "tracking.http_timeout_s=2")
    assert proc.returncode == 0
    assert "[2/2] round 2" in proc.stdout and "warning: tracking skipped" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(pd.read_csv(runs / "oxychloride" / "ledger.csv")) == 4 + 3


@pytest.mark.integration
def test_damaged_tracking_store_warns_with_the_fix(tmp_path):
    runs = tmp_path / "runs"
    (runs).mkdir()
    (runs / "mlflow.db").write_bytes(b"")
    proc = cli(runs, "debug=smoke", "tracking=mlflow")
    assert "is empty (0 bytes)" in proc.stderr and "move it aside" in proc.stderr
    assert (runs / "mlflow.db").stat().st_size == 0  # not silently re-created
    (runs / "mlflow.db").write_bytes(b"not a database at all" * 100)
    proc = cli(runs, "debug=smoke", "tracking=mlflow")
    assert "cannot be used" in proc.stderr and "move it aside" in proc.stderr
