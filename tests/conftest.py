"""Shared fixtures: seeded RNGs and campaign settings composed from the real configs."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from optim.settings import CampaignSettings
from tests.helpers import SMOKE, make_settings


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


@pytest.fixture
def oxy(tmp_path: Path) -> CampaignSettings:
    """Oxychloride settings with small optimizer budgets, ledger under tmp_path."""
    return make_settings("oxychloride", tmp_path / "runs", SMOKE)


def pytest_configure(config):
    """Mirror the entry point's ``threads=auto``: one torch thread on small machines."""
    if (os.cpu_count() or 1) <= 4:
        torch.set_num_threads(1)
