"""Every config option composes and builds; bad config values name file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

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
                               "milling_time_h"]
    assert oxy.objectives.names == ["conductivity_mS_cm", "retention_pct", "cost_usd_per_L"]
    assert (oxy.batch_size, oxy.n_initial) == (4, 8)
    inter = make_settings("interlayer", tmp_path)
    assert inter.space.names == ["mg_thickness_nm", "naf_thickness_nm",
                                 "current_density_mA_cm2", "stack_pressure_MPa"]
    assert inter.objectives.names == ["retention_pct", "ccd_mA_cm2", "energy_density_Wh_kg"]
    assert inter.batch_size == 8
    assert inter.space.parameters[2].log_scale


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
    (["~prices.precursors.ZrCl4"], r"configs/prices/ma2021_backcalc.yaml: no prices entry"),
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
