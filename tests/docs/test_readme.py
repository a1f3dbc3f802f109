"""The README's Python example runs as written, and so does a campaign of one's own
defined outside the project folder."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from optim import Campaign
from optim.config import compose
from optim.exceptions import LedgerWarning
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
    assert out.startswith("campaign | unknown campaign 'nope'")
    assert "Available campaigns (configs/campaign/): crossed_barrel, interlayer, oxychloride" in out
    assert "config_dir | config_dir missing: not a folder" in out


# ---------------------------------------------------------------- every README block
# Each ```bash command and ```yaml block of the README is extracted here and either
# run or validated; a command or block the tables below do not know fails
# `test_every_readme_block_is_covered`, so a new example cannot go untested.

README = (ROOT / "README.md").read_text()
SMOKE_ARGS = ["debug=smoke"]  # tiny budgets, tracking=none


def _blocks(lang: str) -> list[tuple[str, str]]:
    """``(section heading, block text)`` of every fenced block in ``lang``."""
    found, heading = [], ""
    for part in re.split(r"(```\w*\n.*?```)", README, flags=re.S):
        if part.startswith(f"```{lang}\n"):
            found.append((heading, part[len(lang) + 4:-3]))
        elif not part.startswith("```"):
            headings = re.findall(r"^#+ (.+)$", part, flags=re.M)
            heading = headings[-1] if headings else heading
    return found


def _commands() -> list[str]:
    """Every command line of the README's bash blocks, comments stripped."""
    lines = [line.split(" #")[0].strip() for _, block in _blocks("bash")
             for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _yaml_block(heading: str, index: int = 0) -> str:
    return [b for h, b in _blocks("yaml") if h == heading][index]


# How each command is tested. "run": run as written plus `debug=smoke` (a closed loop
# also with rounds/experiments cut to 2 rounds) in a scratch folder; "build": its
# overrides composed and validated with `Campaign.from_config` (the CLI's path) but not
# run (long: benchmarks, 10-30 rounds; or it needs data: approve/reject ids);
# "parse": checked for its flags only (install, the test suite, the UI server).
COMMANDS = {
    'python3 -m venv .venv && . .venv/bin/activate && pip install torch==2.13.0 && pip '
    'install -e ".[dev]"': "parse",
    "python -m optim campaign=oxychloride": "run",
    "python -m pytest": "parse",
    "python -m optim --config-dir ~/my_configs campaign=sulfide": "run",
    "python -m optim campaign=oxychloride lab=simulated rounds=10": "build",
    "python -m optim campaign=interlayer lab=simulated rounds=6": "build",
    "python -m optim campaign=oxychloride lab=simulated experiments=44": "run",
    "PYTHONPATH=. python -m optim campaign=oxychloride lab=my_robot rounds=5": "run",
    "python -m optim campaign=crossed_barrel lab=replay rounds=30": "build",
    "python -m optim.ui": "parse",
    "python -m optim campaign=oxychloride reject=[oxy-0010] approve=[oxy-0011,oxy-0012]":
        "build",
    "python -m optim --multirun campaign=oxychloride benchmark=simulated": "build",
    "python -m optim --multirun campaign=interlayer benchmark=simulated rounds=5": "build",
    "python -m optim.benchmarks.liang": "parse",
    "python -m optim campaign=interlayer lab=simulated +targets.ccd_mA_cm2.constraint.min=1.0 "
    "lab.interlayer.noise.shorts_fail=true": "build",
    "python -m optim.benchmarks.feasibility": "parse",
    "python -m optim.benchmarks.feasibility_calibration --labs": "parse",
    "python -m optim campaign=oxychloride recipe=round": "build",  # tests/test_weighing.py
    "python -m optim campaign=oxychloride recipe=oxy-0012": "build",
    "python -m optim campaign=oxychloride record=weighed.csv": "build",
    "python -m optim.benchmarks.liang --datasets crossed_barrel --seeds 30": "parse",
    "python -m optim.benchmarks.liang --csv results.csv --inputs a,b,c --target y "
    "--direction maximize": "parse",
    # scale-out: tests/integration/test_scale_out.py runs the server, a submitit_local
    # sweep and sign-in; here the commands' flags and the sweeps' configs
    "python -m optim.server": "parse",
    "python -m optim.server start --auth": "parse",
    "python -m optim.server status": "parse",
    "python -m optim.server stop": "parse",
    "python -m optim.server user optim-jobs": "parse",
    "python -m optim.server user alice --campaign oxychloride": "parse",
    "MLFLOW_TRACKING_USERNAME=optim-jobs MLFLOW_TRACKING_PASSWORD=... python -m optim "
    "campaign=oxychloride tracking.uri=http://127.0.0.1:5000": "parse",
    "python -m optim --multirun sweep=jobs campaign=oxychloride,interlayer "
    "strategy=random,qlognehvi_gp seed=0,1 lab=simulated rounds=4 "
    "hydra/launcher=submitit_local tracking.uri=http://127.0.0.1:5000": "parse",
    "python -m optim --multirun sweep=jobs campaign=oxychloride,interlayer "
    "strategy=random,qlognehvi_gp seed=0,1,2 lab=simulated rounds=10 hydra/launcher=slurm "
    "hydra.launcher.partition=cpu paths.runs=/shared/runs "
    "tracking.uri=http://tracking-host:5000": "parse",
    "python -m optim.benchmarks.tracking_load": "parse",
    # long-horizon targets: tests/test_checkpoints.py runs the calendar loop and the CLI
    "python -m optim campaign=interlayer record=cell_readings.csv": "build",
    "python -m optim campaign=interlayer lab=cycling weeks=26": "build",
    "python -m optim.benchmarks.checkpoint_calibration": "parse",
    "python -m optim.benchmarks.calendar": "parse",
    # the sample-efficiency study: tests/benchmarks/ runs quick variants
    "python -m optim.benchmarks.calibration": "parse",
    "python -m optim.benchmarks.study": "parse",
    "python -m optim.benchmarks.liang --datasets crossed_barrel --seeds 30 --strategies gp "
    "gp_cv": "parse",
}
# yaml blocks by section: what validates them
YAML_BLOCKS = {
    "Adding a campaign": 2,     # the sulfide campaign (run) and a campaign's own prices
    "Parameter types: integer, discrete, categorical, resolution, shared": 1,  # (run)
    "Closed loop: simulated labs and your own lab": 1,   # lab/my_robot.yaml (run)
    "Pool campaigns: a finite table of candidates": 1,   # a pool's search space (build)
    "Weighing sheet": 1,        # the oxychloride campaign's weighing block, as shipped
    "Failures and limits: outcome constraints and learned feasibility": 1,  # as shipped
    "Long-horizon targets: checkpoints, partial curves, a lab's clock": 1,  # as shipped
}


def test_every_readme_block_is_covered():
    assert sorted(_commands()) == sorted(COMMANDS)
    by_section: dict[str, int] = {}
    for heading, _ in _blocks("yaml"):
        by_section[heading] = by_section.get(heading, 0) + 1
    assert by_section == YAML_BLOCKS


def _overrides(command: str) -> tuple[str, list[str]]:
    """The campaign and the other overrides of a ``python -m optim`` command."""
    words = [w for w in shlex.split(command) if "=" in w and not w.startswith("-")
             and not w.startswith("PYTHONPATH")]
    campaign = next(w.split("=", 1)[1] for w in words if w.startswith("campaign="))
    return campaign, [w for w in words if not w.startswith("campaign=")]


@pytest.mark.parametrize("command", [c for c, how in COMMANDS.items() if how == "build"
                                     and c.startswith("python -m optim ")])
def test_readme_command_builds(tmp_path, command):
    campaign, overrides = _overrides(command)
    overrides = [*overrides, f"paths.runs={tmp_path}", "tracking=none"]
    if "--multirun" in command:
        # a sweep's job folders need Hydra's job context: composed (every override
        # and option checked), not built; tests/benchmarks runs a small sweep
        config = compose(campaign, overrides)
        assert config.campaign_name == campaign
        assert OmegaConf.to_container(config.benchmark)  # the sweep's own settings
    else:
        built = Campaign.from_config(campaign, overrides)
        assert built.name == campaign
        config = built.config
        if "lab=" in command:
            assert built.lab is not None
    for override in overrides[:-2]:  # every value reached the config as written
        key, value = override.split("=", 1)
        if key in ("lab", "benchmark"):
            continue  # a group: checked above
        got = config
        for part in key.lstrip("+").split("."):  # a dotted key: nested mappings
            got = got[part]
        assert str(got).replace("'", "").replace(" ", "").lower() == value.lower()


def test_readme_parse_only_commands():
    install = next(c for c in COMMANDS if c.startswith("python3 -m venv"))
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert "dev = [" in pyproject and 'pip install -e ".[dev]"' in install
    assert "[tool.pytest.ini_options]" in pyproject
    from optim.benchmarks import liang
    from optim.ui import main as ui_main

    with pytest.raises(SystemExit) as done:
        ui_main(["--runs", "/data/campaigns", "--port", "5001", "--help"])
    assert done.value.code == 0
    from optim.benchmarks import (
        calendar,
        calibration,
        checkpoint_calibration,
        feasibility,
        feasibility_calibration,
        study,
    )

    for command in (c for c in COMMANDS if c.startswith("python -m optim.benchmarks")
                    and "tracking_load" not in c):  # test_readme_scale_out_commands
        words = shlex.split(command)
        module = {"optim.benchmarks.liang": liang, "optim.benchmarks.feasibility": feasibility,
                  "optim.benchmarks.feasibility_calibration": feasibility_calibration,
                  "optim.benchmarks.calendar": calendar,
                  "optim.benchmarks.checkpoint_calibration": checkpoint_calibration,
                  "optim.benchmarks.calibration": calibration,
                  "optim.benchmarks.study": study,
                  }[words[2]]
        args = module.parse_args(words[3:])
        if module is calendar:
            assert (args.seeds, args.weeks) == (5, 26) and "fidelity" in args.arms
        elif module is checkpoint_calibration:
            assert (args.reps, args.train, args.test) == (10, 30, 20)
        elif module is liang:
            assert args.seeds in (10, 30)
        elif module is calibration:
            assert args.train == [30, 100] and args.reps == 10 and "cv" in args.models
        elif module is study:
            assert args.seeds == 10 and "default" in args.arms
        elif module is feasibility:
            assert (args.seeds, args.experiments) == (5, 48)
        else:
            assert args.labs and args.reps == 10


def test_readme_scale_out_commands():
    from optim.benchmarks import tracking_load
    from optim.server.__main__ import parse_args

    for command in (c for c in COMMANDS if c.startswith("python -m optim.server")):
        args = parse_args(shlex.split(command)[3:])
        assert args.command in ("start", "stop", "status", "user")
        assert args.command != "user" or args.name
    assert tracking_load.parse_args([]).jobs == [1, 4, 16]
    # every job of a sweep composes: the first value of each swept key
    for command in (c for c in COMMANDS if "sweep=jobs" in c):
        words = [w.split(",")[0] for w in shlex.split(command)[4:]]
        campaign, overrides = _overrides(" ".join(words))
        config = compose(campaign, overrides)
        assert config.tracking.uri.startswith("http://")
        paths = OmegaConf.to_container(config.paths, resolve=False)
        assert paths["campaign_dir"] == "${hydra:runtime.output_dir}"
    # the service account's credentials come from the environment, not the overrides
    signed = next(c for c in COMMANDS if c.startswith("MLFLOW_TRACKING_USERNAME"))
    env = dict(w.split("=", 1) for w in shlex.split(signed)[:2])
    assert set(env) == {"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"}
    built = Campaign.from_config("oxychloride", _overrides(signed.split(" python ", 1)[1])[1])
    assert built.tracker.uri == "http://127.0.0.1:5000"


def _cli(args: list[str], cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=300,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    return proc


def test_readme_first_command_runs(tmp_path):
    proc = _cli([*shlex.split("python -m optim campaign=oxychloride"), *SMOKE_ARGS],
                tmp_path)
    assert "4 proposal(s) by initial design" in proc.stdout
    assert (tmp_path / "runs" / "oxychloride" / "ledger.csv").is_file()


def test_readme_sulfide_campaign_runs_from_its_own_folder(tmp_path):
    """The "Adding a campaign" YAML as written, in ~/my_configs, by the command as
    written (HOME points at the scratch folder), run from another folder."""
    (tmp_path / "my_configs" / "campaign").mkdir(parents=True)
    (tmp_path / "my_configs" / "campaign" / "sulfide.yaml").write_text(
        _yaml_block("Adding a campaign"))
    (tmp_path / "work").mkdir()
    command = "python -m optim --config-dir ~/my_configs campaign=sulfide"
    proc = _cli(["bash", "-c", " ".join([command, *SMOKE_ARGS])], tmp_path / "work",
                {"HOME": str(tmp_path)})
    assert "Round 1 of campaign 'sulfide'" in proc.stdout
    ledger = pd.read_csv(tmp_path / "work" / "runs" / "sulfide" / "ledger.csv")
    assert list(ledger["id"]) == ["sul-0001", "sul-0002", "sul-0003", "sul-0004"]
    assert ledger[["Li2S", "P2S5", "LiCl"]].sum(axis=1).round(9).eq(1).all()
    # the printed next command carries the folder on, and runs
    assert f"hydra.searchpath=[file://{tmp_path}/my_configs]" in proc.stdout


def test_readme_campaign_prices_block_adds_prices(tmp_path):
    """A campaign's own `prices:` block is added to the selected price set."""
    sulfide = yaml.safe_load(_yaml_block("Adding a campaign"))
    own = yaml.safe_load(_yaml_block("Adding a campaign", 1))
    sulfide.pop("defaults")  # without the price-set selection: the block alone must do
    sulfide["prices"] = {"precursors": {
        **own["prices"]["precursors"],
        "Li2S": {"usd_per_kg": 654.18, "source": "Ma 2021"},
        "P2S5": {"usd_per_kg": 46.0, "source": "estimate", "estimate": True}}}
    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "sulfide.yaml").write_text(
        "# @package _global_\n" + yaml.safe_dump(sulfide))
    built = Campaign.from_config("sulfide", [f"paths.runs={tmp_path}", "tracking=none"],
                                 config_dir=tmp_path)
    cost = built.settings.objectives.targets[1].known
    assert cost.prices["Li3PO4"].usd_per_kg == 120.0
    assert cost.prices["P2S5"].estimate


def test_readme_own_lab_runs_with_pythonpath(tmp_path):
    """my_lab.py as in the README (its robot client stubbed) and lab/my_robot.yaml as
    written, put in a config folder of one's own, by the command as written."""
    section = README.split("## Closed loop", 1)[1].split("\n## ", 1)[0]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    stub = textwrap.dedent("""\
        import types

        def my_robot_client(host):  # the README's "your code": a fake robot
            assert host == "10.0.0.12"
            def run(experiments):
                n = len(experiments)
                return types.SimpleNamespace(sigma=[1.5] * n, retention=[85.0] * n)
            return types.SimpleNamespace(run=run)
    """)
    (tmp_path / "my_lab.py").write_text(code + "\n" + stub)
    (tmp_path / "my_configs" / "lab").mkdir(parents=True)
    (tmp_path / "my_configs" / "lab" / "my_robot.yaml").write_text(
        _yaml_block("Closed loop: simulated labs and your own lab"))
    command = next(c for c in COMMANDS if "lab=my_robot" in c)
    env_part, *args = shlex.split(command)
    proc = _cli([*args[:3], f"--config-dir={tmp_path / 'my_configs'}", *args[3:],
                 "rounds=2", *SMOKE_ARGS], tmp_path, dict([env_part.split("=", 1)]))
    assert "[2/2] round 2" in proc.stdout
    ledger = pd.read_csv(tmp_path / "runs" / "oxychloride" / "ledger.csv")
    assert len(ledger) == 4 + 3 and (ledger["conductivity_mS_cm"] == 1.5).all()


def test_readme_experiment_budget_runs(tmp_path):
    """`experiments=` stops the loop at the budget, the last batch cut to fit
    (debug=smoke: 4 initial + 3 + 2 = 9)."""
    command = next(c for c in COMMANDS if "experiments=" in c)
    proc = _cli([*shlex.split(command.replace("experiments=44", "experiments=9")),
                 *SMOKE_ARGS], tmp_path)
    ledger = pd.read_csv(tmp_path / "runs" / "oxychloride" / "ledger.csv")
    assert list(ledger.groupby("round").size()) == [4, 3, 2]
    assert "[3/3] round 3" in proc.stdout


def test_readme_pool_block_builds(tmp_path):
    """The pool campaign's search space, completed with a name and a target, and a
    pool file with fractions as published (0.99: accepted, with a warning)."""
    block = yaml.safe_load(_yaml_block("Pool campaigns: a finite table of candidates"))
    pool = tmp_path / "data" / "available_materials.csv"
    pool.parent.mkdir()
    pool.write_text("name,FA,MA,anneal_temperature_C\nA,0.8,0.2,100\nB,0.5,0.49,150\n"
                    "C,0.0,1.0,120\n")
    block["search_space"]["pool"] = str(pool)
    block |= {"campaign_name": "perovskite", "targets": {
        "efficiency_pct": {"direction": "maximize", "threshold": 10, "unit": "%"}}}
    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "perovskite.yaml").write_text(
        "# @package _global_\n" + yaml.safe_dump(block))
    with pytest.warns(LedgerWarning, match="sum to 0.99"):
        built = Campaign.from_config("perovskite", [f"paths.runs={tmp_path}",
                                                    "tracking=none"], config_dir=tmp_path)
    assert len(built.settings.pool.frame) == 3


def test_readme_semicolon_exports_get_their_own_message(tmp_path):
    """"a `;`-separated export with decimal commas ... gets its own message and fix":
    the ledger and a results file (`record=results.csv`), both read paths."""
    from optim.exceptions import LedgerError

    campaign = Campaign.from_config("oxychloride", [f"paths.runs={tmp_path}", *SMOKE_ARGS])
    campaign.propose()
    results = tmp_path / "results.csv"
    results.write_text("id;conductivity_mS_cm;retention_pct\noxy-0001;2,1;\n"
                       "oxy-0002;0,35;88,5\n")
    fix = r"separated by ';' \(a spreadsheet export with decimal commas\?\)\. Fix: export"
    with pytest.raises(LedgerError, match=rf"results file .*results.csv: the header is {fix}"):
        campaign.record(results)
    # a header name with a comma in it splits into two cells: the same message
    results.write_text("id;conductivity, mS/cm\noxy-0001;2,1\n")
    with pytest.raises(LedgerError, match=rf"results file .*: the header is {fix}"):
        campaign.record(results)
    ledger = pd.read_csv(campaign.ledger_path)
    ledger.to_csv(campaign.ledger_path, sep=";", decimal=",", index=False)
    with pytest.raises(LedgerError, match=rf"ledger .*ledger.csv: the header is {fix}"):
        campaign.propose()


def test_readme_weighing_block_is_the_shipped_one():
    """The README's `weighing:` block is the oxychloride campaign's (which
    tests/test_weighing.py checks against hand-computed grams)."""
    block = yaml.safe_load(_yaml_block("Weighing sheet"))
    shipped = yaml.safe_load((ROOT / "configs" / "campaign" / "oxychloride.yaml").read_text())
    assert block == {"weighing": shipped["weighing"]}


def test_readme_feasibility_block_is_the_shipped_one():
    """The README's `feasibility:` block is configs/config.yaml's."""
    block = yaml.safe_load(_yaml_block(
        "Failures and limits: outcome constraints and learned feasibility"))
    shipped = yaml.safe_load((ROOT / "configs" / "config.yaml").read_text())
    assert block == {"feasibility": shipped["feasibility"]}


def test_readme_checkpoints_block_is_the_shipped_one():
    """The README's retention target with checkpoints is the interlayer campaign's."""
    block = yaml.safe_load(_yaml_block(
        "Long-horizon targets: checkpoints, partial curves, a lab's clock"))
    shipped = yaml.safe_load((ROOT / "configs" / "campaign" / "interlayer.yaml").read_text())
    assert block == {"targets": {"retention_pct": shipped["targets"]["retention_pct"]}}


def test_readme_parameter_types_campaign_runs(tmp_path):
    """The "Parameter types" YAML as written: an initial design and a model round whose
    proposals are on every grid, hold the shared value and name the categories."""
    import numpy as np

    (tmp_path / "campaign").mkdir()
    (tmp_path / "campaign" / "halide_types.yaml").write_text(
        _yaml_block("Parameter types: integer, discrete, categorical, resolution, shared"))
    campaign = Campaign.from_config("halide_types", [f"paths.runs={tmp_path}", "tracking=none",
                                                     "debug=smoke"], config_dir=tmp_path)
    first = campaign.propose()
    rng = np.random.default_rng(0)
    campaign.record(first.batch[["id"]].assign(
        conductivity_mS_cm=10 ** rng.uniform(-1, 0.5, len(first.batch))))
    second = campaign.propose()
    assert second.strategy.kind != "initial"
    for batch in (first.batch, second.batch):
        assert set(batch["milling_speed_rpm"]) <= set(range(300, 651, 50))
        assert set(batch["anneal_time_h"]) <= set(range(1, 13))
        assert (batch["anneal_temperature_C"] % 5 == 0).all()
        assert set(batch["precursor_lot"]) <= {"lotA", "lotB", "lotC"}
        assert set(batch["ball_size"]) <= {"small", "medium", "large"}
        fractions = batch[["Li2O", "ZrCl4", "AlCl3"]].to_numpy()
        assert np.allclose(np.round(fractions / 0.005) * 0.005, fractions, atol=1e-12)
        assert np.allclose(fractions.sum(axis=1), 1.0, atol=1e-12)
        assert ((fractions == 0) | (fractions >= 0.02 - 1e-12)).all()
    assert second.batch["furnace_program_C"].nunique() == 1
    assert set(second.batch["furnace_program_C"]) <= {200, 250, 300}
    text = (tmp_path / "halide_types" / "ledger.csv").read_text()
    assert ",lotA," in text or ",lotB," in text or ",lotC," in text
