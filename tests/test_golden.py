"""Golden proposals: the same config, ledger and seed give the same proposals.

The CSVs under ``tests/golden/`` were recorded before the campaign-API refactor (commit
"Golden proposals recorded before the refactor"); every later change to the round's
machinery must reproduce them to 1e-9 or say in its commit why the numbers moved.
Record again (only deliberately): ``GOLDEN_RECORD=1 python -m pytest tests/test_golden.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import SMOKE, make_campaign

GOLDEN = Path(__file__).parent / "golden"

# campaign, extra overrides, model-based rounds after the initial design
SCENARIOS = {
    "oxychloride": ("oxychloride", ["lab=simulated"], 2),
    "interlayer": ("interlayer", ["lab=simulated"], 1),
    "pool_crossed_barrel": ("crossed_barrel", ["lab=replay", "initial_design.n=4",
                                               "batch_size=2"], 1),
    "forest_oxychloride": ("oxychloride", ["lab=simulated", "surrogate=forest",
                                           "acq_optimizer.discrete_candidates=256"], 1),
}


def _proposals(campaign: str, overrides: list[str], model_rounds: int,
               runs: Path) -> pd.DataFrame:
    """Every proposal of: the initial design, measured by the lab, then model rounds
    left unmeasured (each later one keeps away from the earlier, pending ones)."""
    c = make_campaign(campaign, runs, [*SMOKE, *overrides])
    results = c.run(rounds=1)  # the initial design, measured by the configured lab
    results += [c.propose() for _ in range(model_rounds)]
    frame = pd.concat([r.batch for r in results], ignore_index=True)
    return frame[["id", "round", "source", *c.settings.space.names,
                  *[col for col in frame if col.startswith("pred_")]]]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_proposals_match_the_golden_record(name, tmp_path):
    campaign, overrides, rounds = SCENARIOS[name]
    got = _proposals(campaign, overrides, rounds, tmp_path / "runs")
    path = GOLDEN / f"{name}.csv"
    if os.environ.get("GOLDEN_RECORD") == "1":
        got.to_csv(path, index=False, float_format="%.17g")
    want = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert list(got.columns) == list(want.columns)
    texts = ["id", "round", "source", *(c for c in got.columns
                                        if got[c].dtype == object or got[c].dtype == "str")]
    assert got[texts].astype(str).equals(want[texts].astype(str))  # categories by name
    numbers = [c for c in got.columns if c not in texts]
    # 1e-9: the same arithmetic on the same machine; only summation order may differ
    pd.testing.assert_frame_equal(got[numbers].astype(float), want[numbers].astype(float),
                                  rtol=1e-9, atol=1e-9)
