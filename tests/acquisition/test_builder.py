"""Acquisition helpers: reference point and bound snapping."""

from __future__ import annotations

import torch

from optim.acquisition import reference_point, snap_to_bounds


def test_reference_point_from_thresholds(oxy):
    ref = reference_point(oxy.objectives.targets, dtype=torch.float64)
    # log10(1.0) = 0 for conductivity; 80 for retention; -60 for minimized cost.
    torch.testing.assert_close(ref, torch.tensor([0.0, 80.0, -60.0], dtype=torch.float64))


def test_snap_to_bounds_only_moves_tiny_offsets():
    bounds = torch.tensor([[0.0, 25.0], [0.6, 320.0]], dtype=torch.float64)
    X = torch.tensor([[9.6e-12, 319.9999999999], [0.3, 25.001]], dtype=torch.float64)
    out = snap_to_bounds(X, bounds)
    assert out[0, 0] == 0.0 and out[0, 1] == 320.0
    torch.testing.assert_close(out[1], X[1], rtol=0, atol=0)
