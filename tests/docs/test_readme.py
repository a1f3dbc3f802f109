"""The README's Python example runs as written, and so does a campaign of one's own
defined outside the project folder."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pandas as pd
import pytest

from tests.helpers import ROOT


def _python_api_example() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section has one example"
    return blocks[0]


def _run(code: str, cwd) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=cwd, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path):
    proc = _run(_python_api_example(), tmp_path)  # outside the project: runs/ lands here
    assert "initial design (space-filling)" in proc.stdout
    ledger = pd.read_csv(tmp_path / "runs" / "oxychloride" / "ledger.csv")
    # debug=smoke: 4 initial of which 1 rejected, so round 2 completes the initial
    # design with 1; round 3 is model-based with a batch of 3
    assert len(ledger) == 4 + 1 + 3
    assert list(ledger.groupby("round").size()) == [4, 1, 3]
    assert (ledger["status"] == "rejected").sum() == 1
    assert set(ledger["status"]) <= {"measured", "failed", "rejected"}
    assert (ledger.loc[ledger["round"] == 3, "source"] == "bo").all()


CAMPAIGN = """\
# @package _global_
campaign_name: zr_rich
id_prefix: zr
batch_size: 2
initial_design: {n: 4}
search_space:
  composition:
    formula: xLi2O-yZrCl4-zAlCl3
    bounds: {Li2O: [0.5, 0.7], ZrCl4: [0.2, 0.5], AlCl3: [0.0, 0.15]}
  parameters:
    anneal_temperature_C: {lower: 25, upper: 200, unit: degC}
    milling_time_h: {lower: 5, upper: 20, unit: h}
targets:
  conductivity_mS_cm: {direction: maximize, transform: log10, threshold: 0.5, unit: mS/cm}
  retention_pct: {direction: maximize, threshold: 70, unit: "%", valid_range: [0, 100]}
"""

SCRIPT = """\
from optim import Campaign

campaign = Campaign.from_config(
    "zr_rich", config_dir="my_configs",
    overrides=["lab=simulated", "lab.campaign=oxychloride", "tracking=none",
               "acq_optimizer.raw_samples=32", "acq_optimizer.num_restarts=2"])
results = campaign.run(rounds=3)
print(len(campaign.ledger), [str(r.strategy) for r in results])
"""


@pytest.mark.slow
def test_a_ten_line_script_outside_the_project_runs_its_own_campaign(tmp_path):
    (tmp_path / "my_configs" / "campaign").mkdir(parents=True)
    (tmp_path / "my_configs" / "campaign" / "zr_rich.yaml").write_text(CAMPAIGN)
    (tmp_path / "script.py").write_text(SCRIPT)
    assert len(SCRIPT.strip().splitlines()) <= 10
    proc = subprocess.run([sys.executable, "script.py"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    assert proc.stdout.startswith("8 ")  # 4 initial + 2 rounds of 2
    assert "qLogNEHVI over conductivity_mS_cm, retention_pct" in proc.stdout
    ledger = pd.read_csv(tmp_path / "runs" / "zr_rich" / "ledger.csv")
    assert ledger["id"].iloc[0] == "zr-0001"
    assert ledger["Li2O"].between(0.5 - 1e-9, 0.7 + 1e-9).all()


def test_bad_config_dir_and_unknown_campaign_are_clear(tmp_path):
    code = textwrap.dedent("""\
        from optim import Campaign
        from optim.exceptions import ConfigError
        for kwargs in ({"campaign": "nope"}, {"campaign": "oxychloride",
                                              "config_dir": "missing"}):
            try:
                Campaign.from_config(**kwargs)
            except ConfigError as err:
                print(err.key, "|", err)
    """)
    out = _run(code, tmp_path).stdout
    assert out.startswith("campaign | campaign 'nope'")
    assert "Fix: a campaign of ['crossed_barrel', 'interlayer', 'oxychloride']" in out
    assert "config_dir | config_dir missing: not a folder" in out
