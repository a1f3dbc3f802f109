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


def _toy(n=12):
    from surrogates import GPSurrogate

    gen = torch.Generator().manual_seed(0)
    X = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    return X, bounds, GPSurrogate().fit(X, X.sum(-1, keepdim=True), bounds)


def test_single_objective_and_parego_keep_pending_rows_for_sequential_greedy():
    # botorch's qLogNEI defaults to incremental=True, which folds X_pending into the
    # baseline and sets X_pending=None; the greedy loops then rebuild the baseline
    # without the pending rows (rejected/pending proposals silently ignored).
    from botorch.models.model import ModelList

    from optim.acquisition.builder import AcquisitionContext, _optimize
    from optim.acquisition.specs import OptimizerSpec, qLogNParEGO
    from optim.objectives import Target
    from optim.search_space import NumericalParameter, SearchSpace

    X, bounds, gp = _toy()
    pending = torch.tensor([[0.9, 0.9], [0.8, 0.95]], dtype=torch.float64)
    spec = OptimizerSpec(num_restarts=2, raw_samples=16, maxiter=20)
    choices = torch.rand(30, 2, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    t1, t2 = Target("a", "maximize", 0.0), Target("b", "maximize", -5.0)
    space = SearchSpace((NumericalParameter("x1", 0.0, 1.0), NumericalParameter("x2", 0.0, 1.0)))
    for model, targets in ((gp, [t1]), (ModelList(gp, gp), [t1, t2])):
        ctx = AcquisitionContext(model, targets, space, X, pending, seed=0)
        _, acqf = _optimize(ctx, 2, qLogNParEGO(mc_samples=16), spec, bounds, None, None,
                            choices)
        torch.testing.assert_close(acqf.X_pending, pending, rtol=0, atol=0)
