"""Shared test helpers (no test imports another test module or conftest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optim import Campaign
from optim.config.compose import CONFIG_DIR as _CONFIG_DIR
from optim.labs import OxychlorideTruth
from optim.ledger import Ledger
from optim.rounds import record_results
from optim.settings import CampaignSettings

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = str(_CONFIG_DIR)
# small optimizer budgets (debug=smoke shrinks batch and initial design too)
SMOKE = ["acquisition.mc_samples=16", "acq_optimizer.num_restarts=2",
         "acq_optimizer.raw_samples=32", "acq_optimizer.maxiter=50"]


def make_campaign(campaign: str, runs: Path, overrides: list[str] | None = None,
                  ) -> Campaign:
    """A campaign exactly as the entry point builds it; no tracking, ledger under runs."""
    return Campaign.from_config(campaign, [f"paths.runs={runs}", "tracking=none",
                                           *(overrides or [])])


def make_settings(campaign: str, runs: Path, overrides: list[str] | None = None,
                  ) -> CampaignSettings:
    """Campaign settings exactly as the entry point builds them."""
    return make_campaign(campaign, runs, overrides).settings


def cli(runs: Path, *args: str, ok: bool = True, campaign: str = "oxychloride",
        ) -> subprocess.CompletedProcess:
    """``python -m optim campaign=<campaign> paths.runs=<runs> ...`` in the project."""
    proc = subprocess.run(
        [sys.executable, "-m", "optim", f"campaign={campaign}", f"paths.runs={runs}", *args],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
    )
    if ok and proc.returncode != 0:
        pytest.fail(f"CLI failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def measure(settings: CampaignSettings, tmp_path: Path, ids=None, drop_retention=()):
    """Record noise-free simulated oxychloride results for ``ids`` (default: every
    pending row), with retention left empty for ``drop_retention``."""
    frame = Ledger.load(settings.ledger_path, settings.schema).frame
    rows = frame if ids is None else frame[frame["id"].isin(ids)]
    rows = rows[rows["status"].isin(["proposed", "approved"])]
    values = OxychlorideTruth()(rows)
    values.loc[values.index.isin(rows.index[rows["id"].isin(drop_retention)]),
               "retention_pct"] = np.nan
    values.insert(0, "id", rows["id"])
    path = tmp_path / "results.csv"
    values.to_csv(path, index=False)
    return record_results(settings, path)


def read_ledger(runs: Path, campaign: str = "oxychloride") -> pd.DataFrame:
    """The ledger CSV as pandas reads it."""
    return pd.read_csv(runs / campaign / "ledger.csv")


def cli_inprocess(runs: Path, *args: str, campaign: str = "oxychloride",
                  ) -> tuple[int, str, str]:
    """The CLI's ``main`` in this process (no interpreter start): exit code, stdout,
    stderr. For many quick bad-input cases; the warning display is restored after."""
    import contextlib
    import io
    import warnings

    from optim.__main__ import run

    argv, show = sys.argv, warnings.showwarning
    out, err = io.StringIO(), io.StringIO()
    code = 0
    sys.argv = ["optim", f"campaign={campaign}", f"paths.runs={runs}", *args]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            run()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv, warnings.showwarning = argv, show
    return code, out.getvalue(), err.getvalue()
