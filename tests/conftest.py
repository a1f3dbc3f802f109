"""Shared fixtures: seeded RNGs and campaign settings composed from the real configs."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from optim.campaign import CampaignSettings
from optim.settings import settings_from_config

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "configs")


@pytest.fixture(autouse=True)
def _seed():
    """Seed torch, numpy and random; restore the RNG state afterwards."""
    state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    yield
    torch.set_rng_state(state[0])
    np.random.set_state(state[1])
    random.setstate(state[2])


def compose_config(campaign: str, runs: Path, overrides: list[str] | None = None) -> dict:
    """The resolved config of a campaign as plain containers (no Hydra runtime needed)."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose("config", overrides=[f"campaign={campaign}", f"paths.runs={runs}",
                                           "tracking=none", *(overrides or [])])
    return cfg


def make_settings(campaign: str, runs: Path, overrides: list[str] | None = None,
                  ) -> CampaignSettings:
    """Campaign settings exactly as the entry point builds them."""
    cfg = compose_config(campaign, runs, overrides)
    plain = OmegaConf.to_container(cfg, resolve=True)
    return settings_from_config(
        plain,
        surrogate=instantiate(cfg.surrogate),
        acquisition=instantiate(cfg.acquisition),
        optimizer=instantiate(cfg.acq_optimizer),
        source=f"configs/campaign/{campaign}.yaml",
    )


SMOKE = ["acquisition.mc_samples=16", "acq_optimizer.num_restarts=2",
         "acq_optimizer.raw_samples=32", "acq_optimizer.maxiter=50"]


@pytest.fixture
def oxy(tmp_path: Path) -> CampaignSettings:
    """Oxychloride settings with small optimizer budgets, ledger under tmp_path."""
    return make_settings("oxychloride", tmp_path / "runs", SMOKE)


def pytest_configure(config):
    """Mirror the entry point's ``threads=auto``: one torch thread on small machines."""
    import os

    if (os.cpu_count() or 1) <= 4:
        torch.set_num_threads(1)
