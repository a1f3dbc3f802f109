"""Closed loops killed with SIGKILL at random moments (fitting, optimizing, writing the
ledger, tracking): the ledger always parses, nothing measured is lost, the next loop
resumes and runs."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from optim.exceptions import LedgerWarning
from optim.ledger import Ledger
from tests.helpers import ROOT, make_settings

KILLS = 30
ARGS = ["campaign=oxychloride", "lab=simulated", "rounds=50", "debug=smoke",
        "tracking=none", "acq_optimizer.raw_samples=16"]


def _measured(path: Path, schema) -> dict[tuple[str, str], float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWarning)
        frame = Ledger.load(path, schema).frame  # parses, and passes the history check
    done = frame[frame["status"].isin(["measured", "failed"])]
    return {(i, c): v for c in ("conductivity_mS_cm", "retention_pct")
            for i, v in zip(done["id"], done[c], strict=True) if v == v}


@pytest.mark.slow
@pytest.mark.integration
def test_kill_nine_at_random_points_loses_nothing(tmp_path):
    runs = tmp_path / "runs"
    settings = make_settings("oxychloride", runs, ["debug=smoke"])
    rng = random.Random(0)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    seen: dict[tuple[str, str], float] = {}
    for _ in range(KILLS):
        proc = subprocess.Popen([sys.executable, "-m", "optim", f"paths.runs={runs}",
                                 *ARGS], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(1.0, 7.0))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        assert "Traceback" not in err, err
        if settings.ledger_path.exists():
            now = _measured(settings.ledger_path, settings.schema)
            lost = {k: v for k, v in seen.items() if now.get(k) != v}
            assert not lost, f"measured values lost or changed: {lost}"
            seen = now
    final = subprocess.run([sys.executable, "-m", "optim", f"paths.runs={runs}",
                            *ARGS[:2], "rounds=1", *ARGS[3:]], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr
    now = _measured(settings.ledger_path, settings.schema)
    assert all(now.get(k) == v for k, v in seen.items())
    frame = Ledger.load(settings.ledger_path, settings.schema).frame
    assert frame["id"].is_unique
    assert not frame["status"].isin(["proposed", "approved"]).any()  # resumed and measured
    assert len(seen) > 0
