"""Build an acquisition function from a spec, a fitted model and the data; optimize it."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement as BotorchQLogNEHVI,
)
from botorch.acquisition.multi_objective.objective import WeightedMCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO as BotorchQLogNParEGO
from botorch.acquisition.objective import GenericMCObjective
from botorch.exceptions.warnings import OptimizationWarning
from botorch.models.model import Model
from botorch.optim.optimize import optimize_acqf, optimize_acqf_discrete, optimize_acqf_list
from botorch.sampling.get_sampler import get_sampler
from botorch.sampling.index_sampler import IndexSampler
from botorch.sampling.list_sampler import ListSampler
from botorch.utils.sampling import sample_simplex
from linear_operator.utils.warnings import NumericalWarning
from torch import Tensor

from optim.acquisition.specs import (
    AcquisitionSpec,
    OptimizerSpec,
    qLogNoisyExpectedHypervolumeImprovement,
    qLogNParEGO,
)
from optim.exceptions import ProposalError
from optim.objectives import Target
from optim.search_space import SearchSpace
from surrogates import MemberSampler

__all__ = ["AcquisitionContext", "propose", "reference_point", "snap_to_bounds"]

FEASIBILITY_TOLERANCE = 1e-6


def reference_point(targets: Sequence[Target], **tkwargs) -> Tensor:
    """Thresholds on the maximization scale: ``sign * to_model(threshold)``; ``m``."""
    values = [t.sign * float(t.to_model(torch.tensor(t.threshold, dtype=torch.float64)))
              for t in targets]
    return torch.tensor(values, **tkwargs)


def snap_to_bounds(X: Tensor, bounds: Tensor, tol: float = 1e-9) -> Tensor:
    """Put values within ``tol`` (relative to the range) of a bound onto it.

    SLSQP leaves values such as 9.6e-12 where a fraction's optimum is its bound of 0; a
    scientist should read 0. Moving by at most ``tol * range`` keeps every constraint
    within the feasibility tolerance.
    """
    span = tol * (bounds[1] - bounds[0])
    X = torch.where((X - bounds[0]).abs() <= span, bounds[0].expand_as(X), X)
    return torch.where((X - bounds[1]).abs() <= span, bounds[1].expand_as(X), X)


@contextmanager
def _optimizer_warnings(notes: list[str]) -> Iterator[None]:
    """Turn numerical warnings of building and optimizing the acquisition into notes.

    Typical: SLSQP failing from one start point (botorch retries with new ones), or
    gpytorch adding jitter to a nearly singular covariance (near-duplicate points).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        warnings.simplefilter("always", OptimizationWarning)
        yield
    handled = [w for w in caught
               if issubclass(w.category, RuntimeWarning | OptimizationWarning)]
    for w in caught:
        if w not in handled:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # jitter added to a nearly singular covariance is routine stabilization, not news
    relevant = [w for w in handled if not issubclass(w.category, NumericalWarning)]
    if relevant:
        first = str(relevant[0].message).splitlines()[0]
        notes.append(f"building/optimizing the acquisition raised {len(relevant)} "
                     f"numerical warning(s), handled by botorch (first: {first}); the batch "
                     "satisfies every constraint.")


@dataclass(frozen=True)
class AcquisitionContext:
    """What an acquisition function is built from in one round.

    Args:
        model: Model with one output per entry of ``targets`` (model scale).
        targets: The objectives, in the model's output order.
        space: Bounds and linear constraints.
        X_baseline: ``n x d`` encoded inputs already measured.
        X_pending: ``p x d`` encoded inputs proposed but not measured, or ``None``.
        seed: Seed for the sampler and the scalarization weights.
    """

    model: Model
    targets: Sequence[Target]
    space: SearchSpace
    X_baseline: Tensor
    X_pending: Tensor | None
    seed: int

    @property
    def tkwargs(self) -> dict:
        """dtype and device of the data."""
        return {"dtype": self.X_baseline.dtype, "device": self.X_baseline.device}


def propose(ctx: AcquisitionContext, q: int, spec: AcquisitionSpec,
            optimizer: OptimizerSpec, choices: Tensor | None = None,
            ) -> tuple[Tensor, float, list[str]]:
    """Propose ``q`` feasible candidates by maximizing the acquisition function.

    With ``choices`` (a pool campaign's available rows, or a dense feasible sample for
    a model without gradients) the batch is picked from them by botorch's
    ``optimize_acqf_discrete`` (greedy, one candidate at a time, earlier picks
    pending); otherwise by gradient-based ``optimize_acqf`` under the constraints.
    One objective: every spec reduces to qLogNEI.

    Args:
        ctx: Model, targets, space and data of the round.
        q: Batch size.
        spec: Which acquisition function (qLogNEHVI or qLogNParEGO).
        optimizer: ``optimize_acqf`` settings.
        choices: ``c x d`` encoded feasible candidates to pick from (``c >= q``), or
            ``None`` for continuous optimization.

    Returns:
        ``q x d`` encoded candidates satisfying every bound and constraint; the
        batch's expected improvement (hypervolume for qLogNEHVI, the scalarized or
        single objective otherwise; model scale); and notes on numerical warnings.

    Raises:
        ProposalError: The optimizer returned an infeasible candidate.
    """
    notes: list[str] = []
    bounds = ctx.space.bounds(**ctx.tkwargs)
    ineq, eq = ctx.space.botorch_constraints(**ctx.tkwargs)
    with _optimizer_warnings(notes):
        X, acqf = _optimize(ctx, q, spec, optimizer, bounds, ineq, eq, choices)
        X = snap_to_bounds(X.detach(), bounds)
        with torch.no_grad():
            value = float(acqf(X.unsqueeze(0)).exp())  # log-EI family: exp gives the EI
    worst = float(ctx.space.max_violation(X).max())
    if worst > FEASIBILITY_TOLERANCE:
        raise ProposalError(
            f"the optimizer returned a candidate violating a bound or constraint by "
            f"{worst:.3g} (> {FEASIBILITY_TOLERANCE}). Fix: check that the constraints leave "
            "a feasible region, or raise acq_optimizer.maxiter."
        )
    return X, value, notes


def _sampler(model: Model, X: Tensor, sample_shape: torch.Size, seed: int):
    """botorch's sampler for the model's posterior, with ensemble members (forests)
    drawn consistently across t-batches (see ``surrogates.MemberSampler``)."""
    sampler = get_sampler(model.posterior(X[:1]), sample_shape=sample_shape, seed=seed)

    def consistent(s, k):
        return MemberSampler(sample_shape, seed=seed + k) if isinstance(s, IndexSampler) else s

    if isinstance(sampler, ListSampler):
        return ListSampler(*(consistent(s, k) for k, s in enumerate(sampler.samplers)))
    return consistent(sampler, 0)


def _maximize(acqf, q, optimizer, opt_kwargs, choices):
    """``optimize_acqf`` over the polytope, or ``optimize_acqf_discrete`` over choices."""
    if choices is not None:
        X, _ = optimize_acqf_discrete(acqf, q=q, choices=choices, unique=True)
        return X
    X, _ = optimize_acqf(acqf, q=q, sequential=optimizer.sequential, **opt_kwargs)
    return X


def _maximize_list(acqfs, optimizer, opt_kwargs, choices):
    """One candidate per acquisition function, earlier ones pending for later ones."""
    if choices is None:
        X, _ = optimize_acqf_list(acqfs, **opt_kwargs)
        return X
    picked: list[Tensor] = []
    base_pending = acqfs[0].X_pending
    for acqf in acqfs:
        pending = [p for p in (base_pending, *picked) if p is not None]
        acqf.set_X_pending(torch.cat(pending) if pending else None)
        X, _ = optimize_acqf_discrete(acqf, q=1, choices=choices, unique=True,
                                      X_avoid=torch.cat(picked) if picked else None)
        picked.append(X)
    return torch.cat(picked)


def _optimize(ctx: AcquisitionContext, q, spec, optimizer, bounds, ineq, eq, choices=None):
    """Build the acquisition function and optimize it; returns ``(X, acqf)``."""
    model, targets, X_baseline, X_pending, seed = (ctx.model, ctx.targets, ctx.X_baseline,
                                                   ctx.X_pending, ctx.seed)
    tkwargs = ctx.tkwargs
    signs = torch.tensor([t.sign for t in targets], **tkwargs)
    sample_shape = torch.Size([spec.mc_samples])
    sampler = _sampler(model, X_baseline, sample_shape, seed)
    opt_kwargs = {
        "bounds": bounds,
        "num_restarts": optimizer.num_restarts,
        "raw_samples": optimizer.raw_samples,
        "options": {"maxiter": optimizer.maxiter},
        "inequality_constraints": ineq,
        "equality_constraints": eq,
    }
    if len(targets) == 1:
        objective = GenericMCObjective(lambda Z, X=None: signs[0] * Z[..., 0])
        acqf = qLogNoisyExpectedImprovement(
            model, X_baseline, sampler=sampler, objective=objective,
            X_pending=X_pending, prune_baseline=True, cache_root=False,
            incremental=False,  # keeps X_pending, which sequential greedy builds on
        )
        X = _maximize(acqf, q, optimizer, opt_kwargs, choices)
    elif isinstance(spec, qLogNoisyExpectedHypervolumeImprovement):
        acqf = BotorchQLogNEHVI(
            model,
            ref_point=reference_point(targets, **tkwargs).tolist(),
            X_baseline=X_baseline,
            sampler=sampler,
            objective=WeightedMCMultiOutputObjective(signs),
            X_pending=X_pending,
            prune_baseline=spec.prune_baseline,
            cache_root=False,
        )
        X = _maximize(acqf, q, optimizer, opt_kwargs, choices)
    elif isinstance(spec, qLogNParEGO):
        weights = sample_simplex(len(targets), n=q, seed=seed, **tkwargs)
        acqfs = [
            BotorchQLogNParEGO(
                model, X_baseline, scalarization_weights=w, sampler=sampler,
                objective=WeightedMCMultiOutputObjective(signs), X_pending=X_pending,
                prune_baseline=True, cache_root=False, incremental=False,
            )
            for w in weights
        ]
        X = _maximize_list(acqfs, optimizer, opt_kwargs, choices)
        acqf = acqfs[0]
    else:  # pragma: no cover - specs are a closed set
        raise ProposalError(f"unknown acquisition spec {spec!r}")
    return X, acqf
