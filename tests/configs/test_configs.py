"""Every config option composes and builds; bad config values name file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from optim import Campaign
from optim.acquisition import (
    QuasiRandom,
    qLogNoisyExpectedHypervolumeImprovement,
    qLogNParEGO,
)
from optim.exceptions import ConfigError
from tests.helpers import CONFIG_DIR, make_campaign, make_settings

CAMPAIGNS = sorted(p.stem for p in (Path(CONFIG_DIR) / "campaign").glob("*.yaml"))


@pytest.mark.parametrize("campaign", CAMPAIGNS)
@pytest.mark.parametrize(
    "option",
    ["acquisition=qlognehvi", "acquisition=qlognparego", "acquisition=random",
     "prices=high_lab", "prices=ma2021_backcalc", "debug=smoke", "surrogate=gp",
     "acq_optimizer=default", "lab=manual", "surrogate=forest",
     "strategy=qlognehvi_gp", "strategy=qlognparego_gp", "strategy=qlognehvi_forest",
     "strategy=random"],
)
def test_every_option_builds(tmp_path, campaign, option):
    settings = make_settings(campaign, tmp_path, [option])
    assert settings.name == campaign
    assert settings.ledger_path == tmp_path / campaign / "ledger.csv"
    assert isinstance(settings.acquisition, qLogNoisyExpectedHypervolumeImprovement
                      | qLogNParEGO | QuasiRandom)


def test_campaign_interfaces(tmp_path):
    oxy = make_settings("oxychloride", tmp_path)
    assert oxy.space.names == ["Li2O", "ZrCl4", "AlCl3", "anneal_temperature_C",
                               "anneal_time_h", "milling_time_h", "milling_speed_rpm"]
    assert oxy.objectives.names == ["conductivity_mS_cm", "retention_pct", "cost_usd_per_L"]
    assert (oxy.batch_size, oxy.n_initial) == (4, 8)
    inter = make_settings("interlayer", tmp_path)
    assert inter.space.names == ["seed_metal", "seed_thickness_nm", "naf_thickness_nm",
                                 "current_density_mA_cm2", "stack_pressure_MPa"]
    assert inter.objectives.names == ["retention_pct", "ccd_mA_cm2", "energy_density_Wh_kg"]
    assert inter.batch_size == 8
    assert inter.space.parameters[3].log_scale


def test_smoke_shrinks_budgets(tmp_path):
    s = make_settings("interlayer", tmp_path, ["debug=smoke"])
    assert (s.batch_size, s.n_initial, s.optimizer.num_restarts) == (3, 4, 2)


OXY = "configs/campaign/oxychloride.yaml"
BAD = [
    (["search_space.parameters.milling_time_h.lower=50"],
     rf"{OXY}, key search_space.parameters.milling_time_h: bounds lower=50 upper=40"),
    (["search_space.composition.bounds.Li2O=[0.8,0.3]"],
     rf"{OXY}, key search_space.composition.bounds.Li2O: bounds \(0.8, 0.3\)"),
    (["search_space.composition.formula=xLi2O-yZrCl4-zAlQ3"],
     rf"{OXY}, key search_space.composition.formula: 'AlQ3'"),
    (["~prices.precursors.ZrCl4"], r"configs/prices/ma2021_backcalc.yaml: no prices entry.*"
     r"Fix: select a price set that has them"),
    (["targets.conductivity_mS_cm.threshold=-1"], r"threshold: value=-1 has the wrong sign"),
    (["targets.cost_usd_per_L.threshold=-60"], r"outside the target's valid range"),
    (["targets.retention_pct.direction=max"], r"targets.retention_pct.direction"),
    (["batch_size=0"], r"batch_size: value=0"),
    (["+search_space.parameters.milling_time_h.units=h"], r"unknown field\(s\) \['units'\]"),
]


@pytest.mark.parametrize(("overrides", "match"), BAD,
                         ids=["lower>upper", "fraction-bounds", "formula", "price",
                              "log-threshold", "cost-threshold", "direction", "batch",
                              "typo-field"])
def test_bad_config_values(tmp_path, overrides, match):
    with pytest.raises(ConfigError, match=match):
        make_settings("oxychloride", tmp_path, overrides)


# errors are data: the full config key the user typed, the file, the value
KEYED = [
    ("search_space.parameters.milling_time_h.lower=50",
     "search_space.parameters.milling_time_h", 50),
    ("search_space.parameters.milling_time_h.lower=abc",
     "search_space.parameters.milling_time_h.lower", "abc"),
    ("search_space.composition.bounds.Li2O=[0.8,0.3]", "search_space.composition.bounds.Li2O",
     (0.8, 0.3)),
    ("targets.retention_pct.direction=max", "targets.retention_pct.direction", "max"),
    ("search_space.constraints.0.min=abc", "search_space.constraints[0]", "abc"),
    ("batch_size=0", "batch_size", 0),
    ("batch_size=100000", "batch_size", 100000),
    ("initial_design.n=0", "initial_design.n", 0),
    ("+initial_design.method=lhs", "initial_design.method", "lhs"),
    ("seed=abc", "seed", "abc"),
    ("threads=abc", "threads", "abc"),
    ("device=tpu9", "device", "tpu9"),
    ("acquisition.mc_samples=0", "acquisition.mc_samples", 0),
    ("acq_optimizer.raw_samples=-1", "acq_optimizer.raw_samples", -1),
    ("surrogate=forest surrogate.n_estimators=1", "surrogate.n_estimators", 1),
    ("surrogate.min_measurements=1", "surrogate.min_measurements", 1),
    ("tracking.kind=wandb", "tracking.kind", "wandb"),
]


@pytest.mark.parametrize(("override", "key", "value"), KEYED, ids=[k[1] for k in KEYED])
def test_config_errors_carry_key_source_and_value(tmp_path, override, key, value):
    with pytest.raises(ConfigError) as err:
        make_campaign("oxychloride", tmp_path, override.split())
    assert err.value.key == key
    assert err.value.value == value
    assert f"key {key}" in str(err.value)
    assert err.value.source in (OXY, None) or err.value.source.startswith(OXY)


def test_default_runs_folder_resolves_without_a_hydra_job(tmp_path, monkeypatch):
    # the multirun sweeper names its folder from paths.runs before any job exists, so
    # the default must not need Hydra's runtime (it did: `${hydra:runtime.cwd}`)
    from hydra import compose, initialize_config_dir

    monkeypatch.chdir(tmp_path)
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=["campaign=oxychloride"])
    assert cfg.paths.runs == f"{tmp_path}/runs"
    assert cfg.paths.ledger == f"{tmp_path}/runs/oxychloride/ledger.csv"


# ------------------------------------------------- a misspelled override, a campaign
def _cli_error(*args: str, cwd: Path) -> str:
    """``python -m optim ...``: exit code 2, one ``error:`` line, no traceback."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "optim", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0].startswith("error: "), proc.stderr
    # beyond the error, at most the entry point's note on a command-line override
    assert all(line.startswith("(The value comes from") for line in lines[1:]), lines
    assert "Traceback" not in proc.stderr and "search path" not in proc.stderr.lower()
    return lines[0]


def test_cli_misspelled_key_and_unknown_campaign_are_one_line(tmp_path):
    line = _cli_error("campain=oxychloride", cwd=tmp_path)
    assert "did you mean campaign?" in line and "Fix: campaign=oxychloride" in line
    (tmp_path / "mine" / "campaign").mkdir(parents=True)
    (tmp_path / "mine" / "campaign" / "sulfide.yaml").write_text("# @package _global_\n")
    line = _cli_error("--config-dir", str(tmp_path / "mine"), "campaign=oxychlorid",
                      cwd=tmp_path)
    assert "did you mean oxychloride?" in line
    assert "crossed_barrel, interlayer, oxychloride, sulfide" in line  # both folders
    assert "Fix: campaign=oxychloride" in line


OVERRIDE_ERRORS = [
    (["campain=oxychloride"], "campain", r"did you mean campaign\? Fix: campaign=oxychloride"),
    (["batchsize=3"], "batchsize", r"did you mean batch_size\? Fix: batch_size=3"),
    (["lab=simulatd"], "lab", r"no option 'simulatd' in config group 'lab'; did you mean "
                              r"simulated\? Available: cycling, manual, replay, simulated"),
    (["prices=hi_lab"], "prices", r"did you mean high_lab\?"),
    (["zzz=1"], "zzz", r"neither a config key nor a config group\. Fix: \+zzz=1"),
]


@pytest.mark.parametrize(("overrides", "key", "match"), OVERRIDE_ERRORS,
                         ids=["campaign-key", "batch_size", "lab", "prices", "unknown"])
def test_misspelled_overrides_name_the_closest(overrides, key, match):
    from optim.config.compose import CONFIG_DIR
    from optim.config.overrides import check_overrides

    with pytest.raises(ConfigError, match=match) as err:
        check_overrides(["campaign=oxychloride", *overrides], CONFIG_DIR)
    assert err.value.key == key


def test_valid_overrides_pass_the_check():
    from optim.config.compose import CONFIG_DIR
    from optim.config.overrides import check_overrides

    check_overrides(["campaign=oxychloride", "benchmark=simulated", "seed=0,1",
                     "strategy=qlognehvi_gp,random", "hydra.job.chdir=false",
                     "initial_design.n=12", "surrogate.fit_rows=null", "strategy=null",
                     "~prices.precursors.ZrCl4", "+initial_design.method=lhs",
                     "experiments=44", "paths.runs=/x"], CONFIG_DIR)
    check_overrides(["campaign=glob(*)", "debug=smoke"], CONFIG_DIR)


def test_unknown_campaign_in_python_lists_them(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown campaign 'oxychlorid': did you mean "
                                          r"oxychloride\? Available campaigns") as err:
        make_campaign("oxychlorid", tmp_path)
    assert (err.value.key, err.value.value) == ("campaign", "oxychlorid")
    assert "\n" not in str(err.value)


# ------------------------------------------------------------ a campaign's prices
SULFIDE = """\
# @package _global_
campaign_name: sulfide
search_space:
  composition:
    formula: xLi2S-yP2S5-zLiCl
    bounds: {Li2S: [0.3, 0.8], P2S5: [0.1, 0.4], LiCl: [0.0, 0.3]}
    densities_g_cm3: {Li2S: 1.66, P2S5: 2.09, LiCl: 2.07}
targets:
  conductivity_mS_cm: {direction: maximize, transform: log10, threshold: 1.0}
  cost_usd_per_L: {direction: minimize, threshold: 400, known: precursor_cost}
"""


def _sulfide(tmp_path: Path, head: str = "", tail: str = "") -> Path:
    (tmp_path / "campaign").mkdir(exist_ok=True)
    text = SULFIDE.replace("# @package _global_\n", "# @package _global_\n" + head) + tail
    (tmp_path / "campaign" / "sulfide.yaml").write_text(text)
    return tmp_path


def test_missing_prices_say_how_a_campaign_brings_its_own(tmp_path):
    folder = _sulfide(tmp_path)
    with pytest.raises(ConfigError, match=r"no prices entry for precursor\(s\) "
                                          r"\['Li2S', 'P2S5'\].*override /prices"):
        Campaign.from_config("sulfide", [f"paths.runs={tmp_path}", "tracking=none"],
                             config_dir=folder)


@pytest.mark.parametrize("how", ["defaults", "command-line", "inline"])
def test_a_campaign_selects_or_brings_its_prices(tmp_path, how):
    head = "defaults:\n  - override /prices: sulfide_ma2021\n" if how == "defaults" else ""
    tail = ("prices:\n  precursors:\n    Li2S: {usd_per_kg: 600, source: quote}\n"
            "    P2S5: {usd_per_kg: 40, source: quote, estimate: true}\n"
            if how == "inline" else "")
    extra = ["prices=sulfide_ma2021"] if how == "command-line" else []
    campaign = Campaign.from_config("sulfide", [f"paths.runs={tmp_path}", "tracking=none",
                                                *extra], config_dir=_sulfide(tmp_path, head,
                                                                             tail))
    prices = campaign.settings.objectives.targets[1].known.prices
    assert prices["Li2S"].usd_per_kg == (600 if how == "inline" else 654.18)
    assert prices["P2S5"].estimate  # P2S5 is not a quote in the shipped set


def test_shipped_price_sets_have_a_source_for_every_price():
    import yaml

    for path in (Path(CONFIG_DIR) / "prices").glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        assert data["name"] == path.stem
        for name, entry in data["precursors"].items():
            assert entry["usd_per_kg"] > 0 and entry["source"], (path, name)


# --------------------------------------------------------- rounds and experiments
@pytest.mark.parametrize(("override", "key"), [("experiments=0", "experiments"),
                                               ("experiments=abc", "experiments"),
                                               ("rounds=0", "rounds")])
def test_bad_loop_budgets_are_config_errors(tmp_path, override, key):
    proc_line = _cli_error("campaign=oxychloride", f"paths.runs={tmp_path}",
                           "tracking=none", "lab=simulated", override, cwd=tmp_path)
    assert f"config key {key}" in proc_line


def test_an_experiment_budget_needs_a_lab(tmp_path):
    line = _cli_error("campaign=oxychloride", f"paths.runs={tmp_path}", "tracking=none",
                      "experiments=20", cwd=tmp_path)
    assert "experiments=20 needs a lab that measures" in line
