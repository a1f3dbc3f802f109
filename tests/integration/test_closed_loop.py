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
    assert "[3/3] round 3" in proc.stdout and "by qLogNEHVI" in proc.stdout
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
