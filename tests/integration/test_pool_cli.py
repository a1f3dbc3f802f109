"""A pool campaign on real data through the real CLI: crossed barrel with the replay lab."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

from optim.benchmarks.liang import DATA
from tests.helpers import ROOT


@pytest.mark.slow
@pytest.mark.integration
def test_crossed_barrel_pool_campaign_closed_loop(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "optim", "campaign=crossed_barrel", "lab=replay", "rounds=5",
         f"paths.runs={runs}", "tracking=none"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[1/5] round 1: 2 by initial design (random)" in proc.stdout
    assert "[5/5] round 5: 1 by qLogNEI over toughness (pool of 595 candidates)" in proc.stdout
    ledger = pd.read_csv(runs / "crossed_barrel" / "ledger.csv")
    assert len(ledger) == 6 and (ledger["status"] == "measured").all()
    data = pd.read_csv(DATA / "liang2021_crossed_barrel" / "crossed_barrel_dataset.csv")
    designs = data.groupby(["n", "theta", "r", "t"])["toughness"].agg(
        lambda s: s.drop_duplicates().mean())
    for row in ledger.itertuples():
        # every proposal is a printed design, measured with its recorded toughness
        assert row.toughness == pytest.approx(designs[(row.n, row.theta, row.r, row.t)],
                                              rel=1e-12)
    assert not ledger.duplicated(["n", "theta", "r", "t"]).any()
