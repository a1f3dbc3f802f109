"""Targets: directions, transforms and threshold validation."""

from __future__ import annotations

import numpy as np
import pytest

from optim.exceptions import ConfigError
from optim.objectives import Target


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"direction": "maximize", "threshold": -1.0, "transform": "log10"}, "wrong sign"),
        ({"direction": "minimize", "threshold": -60.0, "valid_range": (0, None)},
         "outside the target's valid range"),
        ({"direction": "up", "threshold": 1.0}, "'maximize' or 'minimize'"),
        ({"direction": "maximize", "threshold": 1.0, "transform": "ln"}, "'log10'"),
        ({"direction": "maximize", "threshold": float("nan")}, "not a finite number"),
    ],
    ids=["log-negative", "cost-negative", "direction", "transform", "nan"],
)
def test_bad_targets_raise(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        Target(name="t", **kwargs)
    assert err.value.key in ("threshold", "direction", "transform")


def test_log_target_value_checks():
    t = Target("conductivity_mS_cm", "maximize", 1.0, transform="log10")
    assert t.check_value(2.5) is None
    assert "must be > 0" in t.check_value(-0.1)
    assert "must be > 0" in t.check_value(0.0)
    np.testing.assert_allclose(t.to_model(np.array([10.0, 0.1])), [1.0, -1.0])

