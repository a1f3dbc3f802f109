"""Build an acquisition function from a spec, a fitted model and the data; optimize it."""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.logei import (
    qLogNoisyExpectedImprovement,
    qLogProbabilityOfFeasibility,
)
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement as BotorchQLogNEHVI,
)
from botorch.acquisition.multi_objective.objective import MCMultiOutputObjective
from botorch.acquisition.multi_objective.parego import qLogNParEGO as BotorchQLogNParEGO
from botorch.acquisition.objective import GenericMCObjective
from botorch.exceptions.warnings import BadInitialCandidatesWarning, OptimizationWarning
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.gpytorch import GPyTorchModel
from botorch.models.model import Model, ModelList
from botorch.models.model_list_gp_regression import ModelListGP
from botorch.optim.initializers import initialize_q_batch
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
from optim.kernel import fused_kernel
from optim.objectives import Target
from optim.progress import step
from optim.search_space import SearchSpace
from optim.search_space.arms import Arm
from optim.search_space.distinct import distinct
from optim.search_space.unit_cube import UnitCubeMap
from optim.timing import phase
from surrogates import MemberSampler, log_success_probability

__all__ = ["AcquisitionContext", "FeasibilityWeighted", "batch_value",
           "propose", "reference_point", "snap_to_bounds"]

FEASIBILITY_TOLERANCE = 1e-6
CONSTRAINT_ETA = 1e-3  # botorch's default temperature of an outcome constraint's sigmoid


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
        warnings.simplefilter("always", BadInitialCandidatesWarning)
        yield
    flat = [w for w in caught if issubclass(w.category, BadInitialCandidatesWarning)]
    if flat:  # botorch then picks start points at random: a fact for the reviewer
        notes.append("the acquisition was the same at every raw sample (nothing to gain "
                     "anywhere, as the model sees it): start points were chosen at random.")
    handled = [w for w in caught
               if issubclass(w.category, RuntimeWarning | OptimizationWarning
                             | BadInitialCandidatesWarning)]
    for w in caught:
        if w not in handled:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    # jitter added to a nearly singular covariance is routine stabilization, not news
    relevant = [w for w in handled if not issubclass(
        w.category, NumericalWarning | BadInitialCandidatesWarning)]
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
        feasibility: The classifier of success (a ``ModelListGP`` of the latents of
            failure and success; ``surrogates.classifier``), or ``None``.
        beaten: Some measured row beats every threshold and meets every constraint
            (``optim.metrics.thresholds_beaten``); until one does, a spec with
            ``before_thresholds="probability"`` maximizes
            :func:`probability_of_beating` instead.

    Targets that are constraints only (``objective: false``) are modelled but not
    optimized; every measured target with a ``constraint`` weights the acquisition by
    the probability that it holds (botorch's ``constraints=``), and the classifier by
    the probability of success (:class:`FeasibilityWeighted`).
    """

    model: Model
    targets: Sequence[Target]
    space: SearchSpace
    X_baseline: Tensor
    X_pending: Tensor | None
    seed: int
    feasibility: Model | None = None
    beaten: bool = True

    @property
    def objectives(self) -> list[Target]:
        """The targets optimized, in model-output order."""
        return [t for t in self.targets if t.objective]

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
    pending). Otherwise, by default (``optimizer.method="unit_cube"``), greedily over
    the space's unit cube (:class:`optim.search_space.unit_cube.UnitCubeMap`: bounds,
    mixture sum and constraints hold by construction) with L-BFGS-B, starting points
    chosen from raw samples drawn once per round; ``"polytope"`` (or a space whose
    constraints do not reduce to intervals) uses ``optimize_acqf`` under the linear
    constraints (SLSQP). One objective: every spec reduces to qLogNEI.

    Args:
        ctx: Model, targets, space and data of the round.
        q: Batch size.
        spec: Which acquisition function (qLogNEHVI or qLogNParEGO).
        optimizer: Optimizer settings.
        choices: ``c x d`` encoded feasible candidates to pick from (``c >= q``), or
            ``None`` for continuous optimization.

    Returns:
        ``q x d`` encoded candidates satisfying every bound and constraint; the
        batch's expected improvement under a fresh acquisition function (hypervolume
        for qLogNEHVI, the scalarized or single objective otherwise; model scale); and
        notes on numerical warnings.

    Raises:
        ProposalError: The optimizer returned an infeasible candidate.
    """
    notes: list[str] = []
    bounds = ctx.space.bounds(**ctx.tkwargs)
    weights = None
    if len(ctx.objectives) > 1 and isinstance(spec, qLogNParEGO) \
            and not seeks_thresholds(ctx, spec):
        weights = sample_simplex(len(ctx.objectives), n=q, seed=ctx.seed, **ctx.tkwargs)
    with _optimizer_warnings(notes):
        step(f"building {spec.name}")
        with phase("acquisition"):
            acqfs = [_build(ctx, spec, w) for w in weights] if weights is not None \
                else [_build(ctx, spec)] * q
            # a copy as built: the optimized ones end up holding the batch as pending
            # points, under which the batch itself would look worthless (25 ms vs. 0.6 s
            # for building a fresh one at n=100)
            fresh = copy.deepcopy(acqfs[0])
        cube = ctx.space.unit_cube
        if choices is not None:
            X = _pick(ctx, acqfs, q, choices)
        elif ctx.space.is_mixed:
            X = _greedy_mixed(ctx, acqfs, optimizer)
        elif optimizer.method == "unit_cube" and optimizer.sequential and cube is not None:
            X = _greedy_on_cube(ctx, acqfs, optimizer, cube)
        else:
            X = _on_polytope(ctx, acqfs, q, optimizer, bounds)
        if not ctx.space.is_mixed:  # mixed proposals are snapped to allowed values already
            X = snap_to_bounds(X.detach(), bounds)
        with phase("distinct"):
            X, n_copies = distinct(ctx.space, X.detach(), ctx.X_pending, ctx.seed,
                                   score=_scorer(ctx, acqfs), choices=choices)
        if n_copies:
            notes.append(f"{n_copies} proposal(s) copied a pending experiment or another "
                         "proposal (the acquisition is flat there); each was replaced by "
                         "the best distinct alternative.")
        with phase("evaluate"), torch.no_grad():
            # log-EI family: exp gives the EI (the probability, for qLogPOF)
            value = float(fresh(X.unsqueeze(0)).exp())
    # pool rows are what exists (a resolution is for proposals); the rest is on the grid
    worst = float(ctx.space.max_violation(X, grid=choices is None).max())
    if worst > FEASIBILITY_TOLERANCE:
        raise ProposalError(
            f"the optimizer returned a candidate violating a bound or constraint by "
            f"{worst:.3g} (> {FEASIBILITY_TOLERANCE}). Fix: check that the constraints leave "
            "a feasible region, or raise acq_optimizer.maxiter."
        )
    return X, value, notes


def batch_value(ctx: AcquisitionContext, spec: AcquisitionSpec, X: Tensor,
                weights: Tensor | None = None) -> float:
    """The expected improvement of the batch ``X`` (``q x d``) jointly, under a fresh
    acquisition function with ``ctx.X_pending`` pending (model scale; the log-EI
    family's value, exponentiated)."""
    with torch.no_grad():
        return float(_build(ctx, spec, weights)(X.unsqueeze(0)).exp())


def _scorer(ctx: AcquisitionContext, acqfs: list):
    """``(k, options, others) -> values``: each option as candidate ``k`` under
    ``acqfs[k]``, the round's pending rows and ``others`` pending."""
    def score(k: int, options: Tensor, others: Tensor | None) -> Tensor:
        pending = [p for p in (ctx.X_pending, others) if p is not None]
        acqfs[k].set_X_pending(torch.cat(pending) if pending else None)
        return _values(acqfs[k], options.unsqueeze(-2))
    return score


def _sampler(model: Model, X: Tensor, sample_shape: torch.Size, seed: int):
    """botorch's sampler for the model's posterior, with ensemble members (forests)
    drawn consistently across t-batches (see ``surrogates.MemberSampler``)."""
    sampler = get_sampler(model.posterior(X[:1]), sample_shape=sample_shape, seed=seed)

    def consistent(s, k):
        return MemberSampler(sample_shape, seed=seed + k) if isinstance(s, IndexSampler) else s

    if isinstance(sampler, ListSampler):
        return ListSampler(*(consistent(s, k) for k, s in enumerate(sampler.samplers)))
    return consistent(sampler, 0)


class _OnCube(AcquisitionFunction):
    """An acquisition function of points of the unit cube (decoded to the space)."""

    def __init__(self, acqf: AcquisitionFunction, cube: UnitCubeMap | Arm) -> None:
        super().__init__(model=acqf.model)
        self.acqf = acqf
        self.cube = cube

    def forward(self, U: Tensor) -> Tensor:
        """``b x q x m`` cube points to the acquisition values of their decodings."""
        return self.acqf(self.cube.decode(U))


def _values(acqf: AcquisitionFunction, X: Tensor, chunk: int = 256) -> Tensor:
    """Acquisition values of ``b x q x m`` t-batches, in chunks (no gradients)."""
    with torch.no_grad():
        return torch.cat([acqf(X[k:k + chunk]) for k in range(0, len(X), chunk)])


def _greedy_on_cube(ctx: AcquisitionContext, acqfs: list, optimizer: OptimizerSpec,
                    cube: UnitCubeMap) -> Tensor:
    """Sequential greedy batch: candidate ``k`` maximizes ``acqfs[k]`` over the cube with
    the earlier candidates pending; starting points by Boltzmann selection from one set
    of raw samples drawn from the space for the whole round. After the first candidate
    only the best quarter of the raw samples (under the first acquisition) is rescored:
    pending points lower the acquisition near themselves, they do not create new
    peaks in regions the first look found poor."""
    with phase("initial_conditions"):
        raw = cube.encode(ctx.space.sample(optimizer.raw_samples, ctx.seed, **ctx.tkwargs))
        raw = raw.unsqueeze(-2)  # raw_samples x 1 x m
    unit = torch.stack([torch.zeros(cube.m), torch.ones(cube.m)]).to(raw)
    picked: list[Tensor] = []
    for k, acqf in enumerate(acqfs):
        step(f"optimizing candidate {k + 1} of {len(acqfs)}")
        if k > 0:
            with phase("pending"):  # qLogNEHVI rebuilds its box decompositions here
                acqf.set_X_pending(torch.cat([p for p in (ctx.X_pending, *picked)
                                              if p is not None]))
        on_cube = _OnCube(acqf, cube)
        with phase("initial_conditions"):
            values = _values(on_cube, raw)
            starts, _ = initialize_q_batch(raw, values,
                                           n=min(optimizer.num_restarts, len(raw)))
            if k == 0:  # later candidates rescore the best quarter of the raw samples
                keep = max(len(raw) // 4, 8 * optimizer.num_restarts)
                raw = raw[values.topk(min(keep, len(raw))).indices]
        with phase("optimize"):
            U, _ = optimize_acqf(on_cube, bounds=unit, q=1, num_restarts=len(starts),
                                 batch_initial_conditions=starts,
                                 options={"maxiter": optimizer.maxiter},
                                 retry_on_optimization_warning=False)
        picked.append(cube.decode(U.detach()))
    return torch.cat(picked)


def _raw_over_arms(ctx: AcquisitionContext, arms: list[Arm], n: int) -> Tensor:
    """``r x (d + 1)`` raw samples spread over ``arms`` (equal shares), each row with
    its arm's index appended."""
    per_arm = max(-(-n // len(arms)), 4)
    parts = []
    for a, arm in enumerate(arms):
        X = arm.sample(per_arm, ctx.seed + 7919 * a,
                       500 if len(arms) <= 4 else 200).to(**ctx.tkwargs)
        parts.append(torch.cat([X, torch.full_like(X[:, :1], float(a))], dim=-1))
    return torch.cat(parts)


def _greedy_mixed(ctx: AcquisitionContext, acqfs: list, optimizer: OptimizerSpec) -> Tensor:
    """Sequential greedy batch over a mixed space: candidate ``k`` maximizes
    ``acqfs[k]`` over the union of the space's arms (one polytope per combination
    of categorical values and precursors present), then is snapped to the best
    allowed rounding (integer, discrete, resolution) that satisfies every constraint
    and repeats no pending or earlier candidate.

    Starting points come from one set of raw samples spread over every arm (Boltzmann
    selection on the acquisition values, as in ``_greedy_on_cube``); each start is
    optimized with L-BFGS-B within its own arm's unit cube, so the cost does not grow
    with the number of arms. Batch-shared parameters take the first candidate's
    values; later candidates are optimized with them held."""
    space = ctx.space
    arms = list(space.arms)
    with phase("initial_conditions"):
        raw = _raw_over_arms(ctx, arms, optimizer.raw_samples)
    picked: list[Tensor] = []
    for k, acqf in enumerate(acqfs):
        step(f"optimizing candidate {k + 1} of {len(acqfs)}")
        pending = [p for p in (ctx.X_pending, *picked) if p is not None]
        if k > 0:
            with phase("pending"):
                acqf.set_X_pending(torch.cat(pending))
        if k == 1 and space.shared_dims:  # later candidates hold the shared values
            held = {j: float(picked[0][0, j]) for j in space.shared_dims}
            arms = space.restricted_arms(held)
            with phase("initial_conditions"):
                raw = _raw_over_arms(ctx, arms, optimizer.raw_samples)
        with phase("initial_conditions"):
            values = _values(acqf, raw[:, :-1].unsqueeze(-2))
            starts, _ = initialize_q_batch(raw.unsqueeze(-2), values,
                                           n=min(optimizer.num_restarts, len(raw)))
            if k == 0 and not space.shared_dims:
                keep = max(len(raw) // 4, 8 * optimizer.num_restarts)
                raw = raw[values.topk(min(keep, len(raw))).indices]
        starts = starts.squeeze(-2)
        best, best_value = None, -math.inf
        with phase("optimize"):
            for a in sorted({int(i) for i in starts[:, -1].tolist()}):
                arm = arms[a]
                X0 = starts[starts[:, -1] == a][:, :-1]
                if arm.cube is None:  # nothing free, or no interval map: the starts
                    vals = _values(acqf, X0.unsqueeze(-2))
                    x, v = X0[vals.argmax()].unsqueeze(0), float(vals.max())
                else:
                    U, v = optimize_acqf(_OnCube(acqf, arm),  # an arm decodes like a cube
                                         bounds=torch.stack([torch.zeros(arm.cube.m),
                                                             torch.ones(arm.cube.m)]).to(X0),
                                         q=1, num_restarts=len(X0),
                                         batch_initial_conditions=arm.encode(X0).unsqueeze(-2),
                                         options={"maxiter": optimizer.maxiter},
                                         retry_on_optimization_warning=False)
                    x, v = arm.decode(U.detach()), float(v)
                if v > best_value:
                    best, best_value = x, v
        with phase("snap"), torch.no_grad():
            avoid = torch.cat(pending) if pending else None
            x = space.snap(best, score=lambda opts, f=acqf: _values(f, opts.unsqueeze(-2)),
                           avoid=avoid)
        picked.append(x)
    return torch.cat(picked)


def _pick(ctx: AcquisitionContext, acqfs: list, q: int, choices: Tensor) -> Tensor:
    """The batch picked from ``choices``, one candidate at a time, earlier ones pending
    (batch-shared parameters: later picks among the choices with the first pick's
    values, drawn afresh from the space when the choices hold too few)."""
    shared = ctx.space.shared_dims
    if not shared or q == 1:
        return _pick_plain(acqfs, q, choices)
    first = _pick_plain(acqfs[:1], 1, choices)
    held = {j: float(first[0, j]) for j in shared}
    same = (choices[:, shared] - first[:, shared]).abs().amax(-1) <= 1e-9
    rest = choices[same & (choices - first).abs().amax(-1).gt(1e-12)]
    if len(rest) < q - 1:
        rest = ctx.space.sample(max(len(choices), 4 * q), ctx.seed, held=held, **ctx.tkwargs)
        rest = rest[(rest - first).abs().amax(-1).gt(1e-12)]
    later = acqfs[1:]
    for acqf in {id(a): a for a in later}.values():
        acqf.set_X_pending(torch.cat([p for p in (acqf.X_pending, first) if p is not None]))
    return torch.cat([first, _pick_plain(later, q - 1, rest)])


def _pick_plain(acqfs: list, q: int, choices: Tensor) -> Tensor:
    """``_pick`` without shared parameters."""
    if all(a is acqfs[0] for a in acqfs):
        with phase("optimize"):
            X, _ = optimize_acqf_discrete(acqfs[0], q=q, choices=choices, unique=True)
        return X
    picked: list[Tensor] = []
    base_pending = acqfs[0].X_pending
    with phase("optimize"):
        for k, acqf in enumerate(acqfs):
            step(f"picking candidate {k + 1} of {len(acqfs)}")
            pending = [p for p in (base_pending, *picked) if p is not None]
            acqf.set_X_pending(torch.cat(pending) if pending else None)
            X, _ = optimize_acqf_discrete(acqf, q=1, choices=choices, unique=True,
                                          X_avoid=torch.cat(picked) if picked else None)
            picked.append(X)
    return torch.cat(picked)


def _on_polytope(ctx: AcquisitionContext, acqfs: list, q: int, optimizer: OptimizerSpec,
                 bounds: Tensor) -> Tensor:
    """botorch's ``optimize_acqf`` (or ``_list``) under the linear constraints (SLSQP
    when there are any), initial conditions from botorch's polytope sampler."""
    ineq, eq = ctx.space.botorch_constraints(**ctx.tkwargs)
    opt_kwargs = {
        "bounds": bounds,
        "num_restarts": optimizer.num_restarts,
        "raw_samples": optimizer.raw_samples,
        "options": {"maxiter": optimizer.maxiter},
        "inequality_constraints": ineq,
        "equality_constraints": eq,
    }
    step(f"optimizing {q} candidate(s) under the constraints")
    with phase("optimize"):
        if all(a is acqfs[0] for a in acqfs):
            X, _ = optimize_acqf(acqfs[0], q=q, sequential=optimizer.sequential,
                                 **opt_kwargs)
        else:
            X, _ = optimize_acqf_list(acqfs, **opt_kwargs)
    return X


class _Objectives(MCMultiOutputObjective):
    """The objectives from the samples: the sampled outputs at ``columns`` (measured
    objectives), then the known targets computed from ``X``, times the targets' signs
    (outputs in the order of ``AcquisitionContext.objectives``)."""

    def __init__(self, columns: list[int], known: list[Model], signs: Tensor) -> None:
        super().__init__()
        self.columns = columns
        self.known = known
        self.register_buffer("signs", signs)

    def forward(self, samples: Tensor, X: Tensor | None = None) -> Tensor:
        """``sample x batch x q x m`` samples and ``batch x q x d`` inputs."""
        out = samples[..., self.columns]
        if self.known:
            computed = torch.cat([m(X) for m in self.known], dim=-1)
            computed = computed.expand(*samples.shape[:-1], computed.shape[-1])
            out = torch.cat([out, computed.to(samples)], dim=-1)
        return out * self.signs


def _learned_and_known(model: Model) -> tuple[list[Model], list[Model]] | None:
    """A ``ModelList(GP, ..., known, ...)`` (fitting.py's order) split into the GPs
    and the known targets' deterministic models (possibly none); ``None`` for any other
    model (forests)."""
    parts = list(model.models) if isinstance(model, ModelList) else [model]
    known = [m for m in parts if isinstance(m, GenericDeterministicModel)]
    learned = parts[:len(parts) - len(known)]
    if not learned or parts[len(learned):] != known \
            or not all(isinstance(m, GPyTorchModel) for m in learned):
        return None
    return learned, known


@dataclass(frozen=True)
class _Assembled:
    """The model an acquisition function samples, and how to read its samples."""

    model: Model
    objective: _Objectives
    constraints: list | None
    cache_root: bool


def _assemble(ctx: AcquisitionContext, joint: bool) -> _Assembled:
    """One model for the acquisition. ``joint`` (qLogNEHVI): the GPs of the measured
    targets as one ``ModelListGP`` (joint posterior, which supports botorch's cached
    root decomposition over the baseline: at n=26 with three GPs this cut a round's
    acquisition optimization several-fold), known targets computed from ``X`` by the
    objective. Otherwise, and for any other model
    (forests): the round's ``ModelList`` as it is. Constraint callables read the
    samples: a measured target's constraint ``sign * (y - bound) >= 0`` as ``-sign * (y -
    bound)`` (botorch counts ``<= 0`` as feasible; smoothed by its fat-tailed sigmoid,
    ``eta=1e-3``)."""
    targets = list(ctx.targets)
    split = _learned_and_known(ctx.model) if joint else None
    if split is not None:
        learned, known = split
        model = learned[0] if len(learned) == 1 else ModelListGP(*learned)
        sampled = targets[:len(learned)]
    else:
        known, model = [], ctx.model
        sampled = targets
    signs = torch.tensor([t.sign for t in ctx.objectives], **ctx.tkwargs)
    columns = [k for k, t in enumerate(sampled) if t.objective]
    objective = _Objectives(columns, [m for m, t in zip(known, targets[len(sampled):],
                                                        strict=True) if t.objective], signs)
    constraints = [lambda Z, k=k, sign=sign, bound=bound: -sign * (Z[..., k] - bound)
                   for k, t in enumerate(sampled) if not t.is_known
                   for sign, bound in t.model_constraints()]
    return _Assembled(model, objective, constraints or None, cache_root=split is not None)


class FeasibilityWeighted(AcquisitionFunction):
    """A log-acquisition function weighted by the classifier's probability that every
    candidate succeeds: ``log a(X) + sum_q log P(success | x_q)``, i.e. ``a(X) * prod_q
    P(success | x_q)`` (the feasibility-weighted acquisition of Anubis/Atlas and of
    botorch's constrained EI with an independent classifier). With the sequential
    greedy batch (``q = 1`` per candidate) the weight is exactly the candidate's
    probability of success; pending candidates count as they are proposed.

    Why outside botorch's ``constraints=``: there, a constraint also decides which
    measured (baseline) points count, per posterior sample; the classifier's latents
    would drop measured rows that are known to have succeeded from the front in part of
    the samples (and botorch's probability form, ``fat=None``, is read as a plain
    constraint by the hard feasibility indicator of qLogNEHVI's baseline partitioning
    and of baseline pruning, which then count every measured point infeasible and ignore
    pending points: measured in botorch 0.18.1, it gave batches of eight copies of one
    experiment).
    """

    def __init__(self, acqf: AcquisitionFunction, classifier: Model) -> None:
        super().__init__(model=acqf.model)
        self.acqf = acqf
        self.classifier = classifier

    @property
    def X_pending(self) -> Tensor | None:  # noqa: N802 (botorch's name)
        """The wrapped acquisition function's pending points."""
        return self.acqf.X_pending

    def set_X_pending(self, X_pending: Tensor | None = None) -> None:
        """Pending points of the wrapped acquisition function."""
        self.acqf.set_X_pending(X_pending)

    def forward(self, X: Tensor) -> Tensor:
        """``b x q x d`` candidates to ``b`` weighted log-acquisition values."""
        return self.acqf(X) + log_success_probability(self.classifier, X).sum(-1)


def _build(ctx: AcquisitionContext, spec: AcquisitionSpec,
           weights: Tensor | None = None) -> AcquisitionFunction:
    """The round's acquisition function, ``ctx.X_pending`` pending, weighted by the
    probability of success when there is a classifier; ``weights``: the Chebyshev
    scalarization of a qLogNParEGO candidate."""
    acqf = _build_plain(ctx, spec, weights)
    return acqf if ctx.feasibility is None else FeasibilityWeighted(acqf, ctx.feasibility)


def seeks_thresholds(ctx: AcquisitionContext, spec: AcquisitionSpec) -> bool:
    """Whether the round maximizes :func:`probability_of_beating`: no measured row
    beats every threshold yet and the spec says so."""
    return not ctx.beaten and getattr(spec, "before_thresholds", "") == "probability"


def probability_of_beating(ctx: AcquisitionContext, mc_samples: int) -> AcquisitionFunction:
    """The log probability that at least one experiment of the batch, or of those
    pending, beats every objective's threshold and meets every constraint (botorch's
    ``qLogProbabilityOfFeasibility`` over the joint posterior; Ax's choice while no
    observed point is feasible, ``choose_botorch_acqf_class``).

    Unlike Ax, the thresholds of the objectives count, not only outcome constraints
    (with a demanding conductivity threshold the hypervolume improvement is flat and a
    known cost would pull the batch to the cheapest corner); known targets (cost) enter
    exactly, computed from ``X``; and pending experiments are in the "at least one",
    so a batch spreads over chances that are not the same chance."""
    a = _assemble(ctx, joint=False)  # every target sampled, known ones exactly
    checks = []
    for k, t in enumerate(ctx.targets):
        if t.objective:
            ref = float(reference_point([t], dtype=torch.float64)[0])
            checks.append(lambda Z, k=k, s=t.sign, r=ref: r - s * Z[..., k])
        if not t.is_known:  # known targets' constraints bound the space itself
            checks.extend(lambda Z, k=k, sign=sign, bound=bound: -sign * (Z[..., k] - bound)
                          for sign, bound in t.model_constraints())
    sampler = _sampler(a.model, ctx.X_baseline, torch.Size([mc_samples]), ctx.seed)
    return qLogProbabilityOfFeasibility(a.model, checks, sampler=sampler,
                                        X_pending=ctx.X_pending, eta=CONSTRAINT_ETA)


def _build_plain(ctx: AcquisitionContext, spec: AcquisitionSpec,
                 weights: Tensor | None = None) -> AcquisitionFunction:
    """The round's acquisition function without the classifier's weight."""
    X_baseline, X_pending, seed = ctx.X_baseline, ctx.X_pending, ctx.seed
    shape = torch.Size([spec.mc_samples])
    if seeks_thresholds(ctx, spec):
        return probability_of_beating(ctx, spec.mc_samples)
    a = _assemble(ctx, joint=len(ctx.objectives) > 1
                  and isinstance(spec, qLogNoisyExpectedHypervolumeImprovement))
    sampler = _sampler(a.model, X_baseline, shape, seed)
    limits = {"constraints": a.constraints, "eta": CONSTRAINT_ETA}
    if len(ctx.objectives) == 1:
        return qLogNoisyExpectedImprovement(
            a.model, X_baseline, sampler=sampler,
            objective=GenericMCObjective(lambda Z, X=None: a.objective(Z, X)[..., 0]),
            X_pending=X_pending, prune_baseline=True, cache_root=False,
            incremental=False,  # keeps X_pending, which sequential greedy builds on
            **limits)
    if isinstance(spec, qLogNoisyExpectedHypervolumeImprovement):
        with fused_kernel():
            return BotorchQLogNEHVI(
                a.model,
                ref_point=reference_point(ctx.objectives, **ctx.tkwargs).tolist(),
                X_baseline=X_baseline,
                sampler=sampler,
                objective=a.objective,
                X_pending=X_pending,
                prune_baseline=spec.prune_baseline,
                cache_root=a.cache_root,
                **limits,
            )
    if isinstance(spec, qLogNParEGO):
        return BotorchQLogNParEGO(
            a.model, X_baseline, scalarization_weights=weights, sampler=sampler,
            objective=a.objective, X_pending=X_pending,
            prune_baseline=True, cache_root=False, incremental=False, **limits,
        )
    raise ProposalError(f"unknown acquisition spec {spec!r}")  # pragma: no cover
