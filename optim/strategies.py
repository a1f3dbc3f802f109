"""Where a round's proposals come from: one strategy per situation.

:func:`choose` reads the round's situation (is the initial design complete? does any
target have enough data for a model? is the campaign a quasi-random baseline?) and
returns a strategy; the strategy's ``propose`` returns a :class:`Proposal` whose
:class:`StrategyLabel` says, as data, what was done: the report, the review screen and
tracking read it instead of parsing a display string. New kinds of proposal (mixed
spaces, learned feasibility, long-horizon targets) enter here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from torch import Tensor

from optim.acquisition import AcquisitionContext, QuasiRandom, propose
from optim.acquisition.builder import seeks_thresholds
from optim.checkpoints import cycling
from optim.exceptions import PoolExhaustedError
from optim.fitting import FittedModels, fit_models, has_enough_data
from optim.ledger import Ledger
from optim.metrics import thresholds_beaten
from optim.search_space.design import pick_random, pick_spread
from optim.search_space.distinct import distinct
from optim.settings import CampaignSettings
from optim.timing import phase

__all__ = ["InitialDesign", "ModelBased", "Proposal", "QuasiRandomDesign", "RoundContext",
           "SpaceFilling", "Strategy", "StrategyLabel", "choose", "round_context"]

AVOID = ("proposed", "approved", "rejected")  # rows a proposal must not repeat


@dataclass(frozen=True)
class StrategyLabel:
    """What a round did, as data; ``str()`` gives the words the terminal shows.

    Args:
        kind: ``initial_design``, ``space_filling`` (no target has enough data yet),
            ``quasi_random`` (the baseline), ``model`` or ``unknown``.
        method: The initial design's method (``space_filling``, ``random``).
        acquisition: The acquisition function (``qLogNEHVI``, ``qLogNParEGO``,
            ``qLogNEI`` for one objective).
        targets: The modelled targets, in model-output order.
        surrogate: The surrogate family (``GP``, ``random forest``).
        pool_size: Candidates left in the pool of a pool campaign.
        constraints: The outcome constraints the acquisition weighs, in words.
        feasibility: The acquisition weighs the learned probability of success.
    """

    kind: str
    method: str = ""
    acquisition: str = ""
    targets: tuple[str, ...] = ()
    surrogate: str = ""
    pool_size: int | None = None
    constraints: tuple[str, ...] = ()
    feasibility: bool = False

    @property
    def model_based(self) -> bool:
        """Proposals came from a fitted model."""
        return self.kind == "model"

    @property
    def improves(self) -> str:
        """What the acquisition value measures: ``hypervolume``, ``objective`` or
        ``probability`` (of beating every threshold, ``qLogPOF``)."""
        return {"qLogNEHVI": "hypervolume", "qLogPOF": "probability"}.get(
            self.acquisition, "objective")

    def __str__(self) -> str:
        if self.kind == "initial_design":
            return f"initial design ({self.method.replace('_', '-')})"
        if self.kind == "space_filling":
            return "space-filling (no target has enough data)"
        if self.kind == "quasi_random":
            return "quasi-random"
        if self.kind != "model":
            return "unknown (logged late from the ledger)"
        what = ("probability of beating every threshold (qLogPOF)"
                if self.acquisition == "qLogPOF" else self.acquisition)
        text = f"{what} over {', '.join(self.targets)}"
        if self.surrogate and self.surrogate != "GP":
            text += f" ({self.surrogate} surrogate)"
        limits = [*self.constraints, *(["success"] if self.feasibility else [])]
        if limits:
            text += "; weighted by " + " x ".join(f"P({x})" for x in limits)
        if self.pool_size is not None:
            text += f" (pool of {self.pool_size} candidates)"
        return text


@dataclass(frozen=True)
class RoundContext:
    """What every strategy sees in a round.

    Args:
        settings: The campaign.
        ledger: The ledger, as loaded under the round's lock.
        seed: The round's seed.
        q: Proposals wanted.
        X_all: ``n x d`` encoded inputs of every ledger row (initial designs keep away).
        X_pending: ``p x d`` encoded proposed, approved or rejected rows, and measured
            rows still waiting for a checkpointed target's final value (a proposal
            must not repeat one), or ``None``.
        pool: ``c x d`` encoded pool candidates not yet in the ledger, or ``None``
            for a continuous space.
        notes: What the context had to change (a pool running out), in words.
    """

    settings: CampaignSettings
    ledger: Ledger
    seed: int
    q: int
    X_all: Tensor
    X_pending: Tensor | None
    pool: Tensor | None
    notes: tuple[str, ...] = ()

    @property
    def n_missing(self) -> int:
        """Initial-design experiments still to propose (rejected ones do not count)."""
        return self.settings.n_initial - len(self.ledger.active)


def round_context(settings: CampaignSettings, ledger: Ledger, seed: int) -> RoundContext:
    """The round's context: pending rows, pool candidates and the batch size.

    Raises:
        PoolExhaustedError: A pool campaign has no candidate left.
    """
    tk = settings.tkwargs
    frame = ledger.frame
    # cells still cycling are pending too: a batch must not repeat them
    avoid = frame[frame["status"].isin(AVOID) | cycling(frame, settings.objectives)]
    n_missing = settings.n_initial - len(ledger.active)
    q = n_missing if n_missing > 0 else settings.batch_size
    pool, notes = None, []
    if settings.pool is not None:
        pool = settings.pool.available(settings.space, frame, **tk)
        if len(pool) == 0:
            raise PoolExhaustedError(
                f"every candidate of the pool {settings.pool.path} "
                f"({len(settings.pool.frame)} rows) is already in the ledger "
                f"{settings.ledger_path}. Fix: add candidates to the pool file.")
        if len(pool) < q:
            notes.append(f"only {len(pool)} candidate(s) left in the pool: proposing "
                         f"{len(pool)} instead of {q}.")
            q = len(pool)
    return RoundContext(settings, ledger, seed, q, settings.space.encode(frame, **tk),
                        settings.space.encode(avoid, **tk) if len(avoid) else None, pool,
                        tuple(notes))


@dataclass(frozen=True)
class Proposal:
    """A strategy's batch.

    Args:
        X: ``q x d`` encoded candidates, feasible.
        strategy: What was done.
        source: The ledger's ``source`` for these rows (``initial``, ``random``, ``bo``).
        fitted: The models the batch came from (model-based strategies).
        acq_value: The batch's expected improvement (model scale), when model-based.
        notes: Remarks for the reviewer, in words.
        fit_s: Seconds spent fitting models.
    """

    X: Tensor
    strategy: StrategyLabel
    source: str
    fitted: FittedModels | None = None
    acq_value: float | None = None
    notes: tuple[str, ...] = ()
    fit_s: float = 0.0


def _spread(ctx: RoundContext, method: str = "space_filling") -> Tensor:
    """``q`` model-free candidates (spread out, or uniformly random), none a copy of a
    pending row or of another."""
    X = _spread_raw(ctx, method)
    return distinct(ctx.settings.space, X, ctx.X_pending, ctx.seed, choices=ctx.pool)[0]


def _spread_raw(ctx: RoundContext, method: str) -> Tensor:
    space, tk = ctx.settings.space, ctx.settings.tkwargs
    if ctx.pool is not None:
        if method == "random":
            return pick_random(ctx.pool, ctx.q, ctx.seed)
        existing = ctx.X_all if ctx.X_all is not None and len(ctx.X_all) else None
        return pick_spread(ctx.pool, ctx.q, ctx.seed, features=space.features(ctx.pool),
                           existing_features=None if existing is None
                           else space.features(existing))
    if method == "random":
        return space.sample(ctx.q, ctx.seed, **tk)
    return space.space_filling(ctx.q, ctx.seed, existing=ctx.X_all, **tk)


@dataclass(frozen=True)
class InitialDesign:
    """The initial design: spread-out (or random) experiments before any model."""

    method: str

    def propose(self, ctx: RoundContext) -> Proposal:
        """The design's missing experiments."""
        return Proposal(_spread(ctx, self.method), StrategyLabel("initial_design",
                                                                 self.method), "initial")


@dataclass(frozen=True)
class SpaceFilling:
    """More spread-out experiments while no target has enough data for a model."""

    def propose(self, ctx: RoundContext) -> Proposal:
        """A space-filling batch, with a note on why."""
        status = ctx.ledger.frame["status"]
        n_failed, n_measured = int((status == "failed").sum()), int((status == "measured").sum())
        if n_failed and not n_measured:
            note = (f"Every experiment with a result so far failed ({n_failed} of "
                    f"{n_failed}): there is nothing to model yet, so this batch is "
                    "space-filling, as far as possible from the failed rows. If the "
                    "failures share a cause (a temperature, a precursor), narrow the "
                    "search space's bounds to exclude it.")
        else:
            note = ("No measured target has enough data for a model yet: proposing more "
                    "space-filling experiments. Record results for model-based proposals.")
        return Proposal(_spread(ctx), StrategyLabel("space_filling"), "initial",
                        notes=(note,))


@dataclass(frozen=True)
class QuasiRandomDesign:
    """The baseline: spread-out feasible points, ignoring every model."""

    def propose(self, ctx: RoundContext) -> Proposal:
        """A space-filling batch."""
        return Proposal(_spread(ctx), StrategyLabel("quasi_random"), "random")


@dataclass(frozen=True)
class ModelBased:
    """Fit the surrogates, then maximize the acquisition function over the space (or
    the pool, or a dense feasible sample for a surrogate without gradients)."""

    def propose(self, ctx: RoundContext) -> Proposal:
        """The batch maximizing the acquisition, pending rows as ``X_pending``."""
        s = ctx.settings
        t_fit = time.perf_counter()
        with phase("fit"):
            fitted = fit_models(ctx.ledger, s)
        fit_s = time.perf_counter() - t_fit
        choices = ctx.pool
        if choices is None and not s.surrogate.differentiable:
            choices = s.space.sample(s.optimizer.discrete_candidates, ctx.seed, **s.tkwargs)
        acq = AcquisitionContext(fitted.model, fitted.targets, s.space, fitted.X_baseline,
                                 ctx.X_pending, ctx.seed, fitted.feasibility,
                                 beaten=thresholds_beaten(ctx.ledger.frame, s))
        X, value, notes = propose(acq, ctx.q, s.acquisition, s.optimizer, choices)
        seeking = seeks_thresholds(acq, s.acquisition)
        if seeking:
            notes = [_seeking_note(s, value), *notes]
        label = StrategyLabel(
            "model",
            # one objective: every model-based spec reduces to qLogNEI (see propose)
            acquisition="qLogPOF" if seeking else (
                s.acquisition.name if len(fitted.objectives) > 1 else "qLogNEI"),
            targets=tuple(t.name for t in fitted.objectives),
            constraints=tuple(t.constraint_text for t in fitted.constraints),
            feasibility=fitted.feasibility is not None,
            surrogate=getattr(s.surrogate, "name", type(s.surrogate).__name__),
            pool_size=None if ctx.pool is None else len(ctx.pool))
        return Proposal(X, label, "bo", fitted, value, (*fitted.notes, *notes), fit_s)


def _seeking_note(settings: CampaignSettings, p: float) -> str:
    """Why the batch maximizes the probability of beating the thresholds."""
    objs = settings.objectives
    aims = [f"{t.name} {'>' if t.sign > 0 else '<'} {t.threshold:g}"
            + (f" {t.unit}" if t.unit else "") for t in objs.optimized
            if len(objs.optimized) > 1]
    aims += [t.constraint_text for t in objs.constrained]
    return (f"No measured experiment beats every threshold yet ({', '.join(aims)}): the "
            "hypervolume has nothing to improve on, so this batch maximizes the "
            "probability that at least one of its experiments (or of those pending) does: "
            f"{p:.2f} as the models see it. Hypervolume improvement returns once a "
            "measured row beats them all.")


Strategy = InitialDesign | SpaceFilling | QuasiRandomDesign | ModelBased


def choose(ctx: RoundContext) -> Strategy:
    """The strategy for the round's situation."""
    s = ctx.settings
    if ctx.n_missing > 0:
        return InitialDesign(s.initial_method)
    if isinstance(s.acquisition, QuasiRandom):
        return QuasiRandomDesign()
    if not has_enough_data(ctx.ledger, s):
        return SpaceFilling()
    return ModelBased()
