"""One round of a campaign: load the ledger, fit, propose, record.

A round is a pure function of (settings, ledger, seed): the same inputs give the same
proposals on the same hardware. Tracking happens after the ledger is written, so a
tracking failure never loses a proposal.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from botorch.models.model import Model, ModelList
from botorch.utils.multi_objective.box_decompositions.dominated import (
    DominatedPartitioning,
)
from torch import Tensor

from optim.acquisition import (
    AcquisitionSpec,
    OptimizerSpec,
    QuasiRandom,
    propose,
    reference_point,
)
from optim.exceptions import CandidateGenerationError, ConfigError, LedgerError
from optim.ledger import Ledger, LedgerSchema, now
from optim.objectives import Objectives, Target
from optim.search_space import SearchSpace
from optim.search_space.pool import CandidatePool, pick_random, pick_spread
from surrogates import GPSurrogate, Surrogate, known_model

INITIAL_METHODS = ("space_filling", "random")

__all__ = ["CampaignSettings", "RoundResult", "decide", "measured_hypervolume",
           "plan_round", "record_results"]


@dataclass(frozen=True)
class CampaignSettings:
    """Everything a round needs, validated.

    Args:
        name: Campaign name (mlflow experiment, ledger folder).
        space: Inputs, bounds and constraints.
        objectives: Targets.
        ledger_path: The ledger CSV.
        batch_size: Experiments proposed per model-based round.
        n_initial: Size of the space-filling initial design.
        surrogate: Model builder for measured targets.
        acquisition: Acquisition spec.
        optimizer: Acquisition optimizer settings.
        seed: Base seed; each round derives its own from it and the round number.
        device: Torch device for models and optimization.
        id_prefix: Prefix of experiment ids.
        pool: For a pool campaign, the finite table of candidates; proposals come only
            from its rows not yet in the ledger.
        initial_method: ``space_filling`` (centroidal design) or ``random`` (uniform
            over the feasible space or the pool) for the initial design.
    """

    name: str
    space: SearchSpace
    objectives: Objectives
    ledger_path: Path
    batch_size: int = 4
    n_initial: int = 8
    surrogate: Surrogate = field(default_factory=GPSurrogate)
    acquisition: AcquisitionSpec = field(default_factory=QuasiRandom)
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    seed: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    id_prefix: str = "exp"
    pool: CandidatePool | None = None
    initial_method: str = "space_filling"

    def __post_init__(self) -> None:
        if self.initial_method not in INITIAL_METHODS:
            raise ConfigError(f"config key initial_design.method: value="
                              f"{self.initial_method!r}; expected one of "
                              f"{list(INITIAL_METHODS)}.")
        for name in ("batch_size", "n_initial"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"config key {name}: value={value!r}; expected a "
                                  "positive whole number.")

    @property
    def schema(self) -> LedgerSchema:
        """The ledger's columns."""
        return LedgerSchema(self.space, self.objectives, self.id_prefix)

    @property
    def tkwargs(self) -> dict:
        """Tensor dtype (float64) and device."""
        return {"dtype": torch.float64, "device": self.device}


@dataclass
class RoundResult:
    """What a round did, for the terminal and the tracker."""

    campaign: str
    round: int
    strategy: str
    batch: pd.DataFrame
    ledger: pd.DataFrame
    ledger_path: Path
    metrics: dict[str, float]
    notes: list[str]
    seed: int
    inputs: list[str]
    targets: list[str]
    model: Model | None = None
    model_targets: list[Target] = field(default_factory=list)
    acquisition_value: float | None = None


def round_seed(seed: int, round_number: int) -> int:
    """A distinct, reproducible seed per (base seed, round)."""
    return (seed * 1_000_003 + round_number) % (2**31 - 1)


def measured_hypervolume(frame: pd.DataFrame, settings: CampaignSettings) -> float:
    """Hypervolume (model scale, maximization signs) of rows with every target measured.

    Known targets are computed from the inputs; the reference point is the thresholds.
    Returns 0 when no row dominates the reference point.
    """
    objs = settings.objectives
    rows = frame[frame["status"] == "measured"].dropna(
        subset=[t.name for t in objs.measured])
    if rows.empty:
        return 0.0
    tk = settings.tkwargs
    X = settings.space.encode(rows, **tk)
    cols = []
    for t in objs.targets:
        if t.is_known:
            y = t.known(X).squeeze(-1)
        else:
            y = torch.as_tensor(rows[t.name].to_numpy(dtype=float, copy=True), **tk)
        cols.append(t.sign * t.to_model(y))
    Y = torch.stack(cols, dim=-1)
    ref = reference_point(objs.targets, **tk)
    if len(objs.targets) == 1:
        return float((Y - ref).clamp_min(0).max())
    return float(DominatedPartitioning(ref_point=ref, Y=Y).compute_hypervolume())


def _fit_models(
    ledger: Ledger, settings: CampaignSettings, notes: list[str]
) -> tuple[list[Target], list[Model], Tensor]:
    """Fit one surrogate per measured target with enough data; add known targets."""
    tk = settings.tkwargs
    bounds = settings.space.bounds(**tk)
    targets: list[Target] = []
    models: list[Model] = []
    used_rows: set[int] = set()
    for t in settings.objectives.measured:
        rows = ledger.measured(t.name)
        if len(rows) < settings.surrogate.min_measurements:
            notes.append(f"{t.name}: {len(rows)} measurement(s), fewer than the "
                         f"{settings.surrogate.min_measurements} a model needs; this round "
                         "leaves it out of the objectives.")
            continue
        X = settings.space.encode(rows, **tk)
        Y = torch.as_tensor(t.to_model(rows[t.name].to_numpy(dtype=float, copy=True)), **tk)
        models.append(settings.surrogate.fit(X, Y.unsqueeze(-1), bounds))
        targets.append(t)
        used_rows.update(rows.index)
    baseline = ledger.frame.loc[sorted(used_rows)]
    X_baseline = settings.space.encode(baseline, **tk)
    if models:
        for t in settings.objectives.known:
            models.append(known_model(t.known))
            targets.append(t)
    return targets, models, X_baseline


def _predict(model: Model | None, targets: list[Target], X: Tensor,
             objectives: Objectives) -> dict[str, np.ndarray]:
    """Predicted mean and sd per target in physical units (NaN where not modelled).

    For log10-modelled targets the mean and sd are those of the implied log-normal.
    """
    out: dict[str, np.ndarray] = {}
    n = X.shape[0]
    with torch.no_grad():
        post = model.posterior(X) if model is not None else None
        mean = post.mean if post is not None else None
        var = post.variance if post is not None else None
    for t in objectives.targets:
        if t.is_known:
            mu = t.known(X).squeeze(-1).cpu().numpy()
            sd = np.zeros(n)
        elif t in targets:
            k = targets.index(t)
            m, v = mean[:, k].cpu().numpy(), var[:, k].clamp_min(0).cpu().numpy()
            if t.transform == "log10":
                ln10 = math.log(10.0)
                mu = np.exp(m * ln10 + 0.5 * v * ln10**2)
                sd = mu * np.sqrt(np.expm1(v * ln10**2))
            else:
                mu, sd = m, np.sqrt(v)
        else:
            mu = sd = np.full(n, np.nan)
        out[f"pred_{t.name}_mean"] = mu
        out[f"pred_{t.name}_sd"] = sd
    return out


def _pool_choices(settings: CampaignSettings, ledger: Ledger) -> Tensor | None:
    """A pool campaign's candidates not yet in the ledger (whatever their status);
    ``None`` for a continuous space."""
    if settings.pool is None:
        return None
    choices = settings.pool.available(settings.space, ledger.frame, **settings.tkwargs)
    if len(choices) == 0:
        raise CandidateGenerationError(
            f"every candidate of the pool {settings.pool.path} "
            f"({len(settings.pool.frame)} rows) is already in the ledger "
            f"{settings.ledger_path}. Fix: add candidates to the pool file.")
    return choices


def _model_choices(settings: CampaignSettings, pool: Tensor | None,
                   seed: int) -> Tensor | None:
    """What a model-based round picks from: the pool; for a surrogate without gradients
    a dense uniform sample of the feasible space; else ``None`` (continuous)."""
    if pool is not None or getattr(settings.surrogate, "differentiable", True):
        return pool
    return settings.space.sample(settings.optimizer.discrete_candidates, seed,
                                 **settings.tkwargs)


def _spread(settings: CampaignSettings, q: int, seed: int, existing: Tensor,
            choices: Tensor | None, method: str = "space_filling") -> Tensor:
    """``q`` model-free candidates: spread out, or uniformly random."""
    tk = settings.tkwargs
    space = settings.space
    if settings.pool is not None:
        if method == "random":
            return pick_random(choices, q, seed)
        return pick_spread(choices, q, seed, space.bounds(**tk), existing=existing)
    if method == "random":
        return space.sample(q, seed, **tk)
    return space.space_filling(q, seed, existing=existing, **tk)


def plan_round(settings: CampaignSettings,
               decisions: dict[str, str] | None = None) -> RoundResult:
    """Plan the next round and append it to the ledger.

    Initial rounds (fewer active rows than ``n_initial``, or no target with enough
    measurements for a model) propose a space-filling design; later rounds fit models
    and optimize the acquisition function with pending rows as ``X_pending``.

    Rejected proposals are no longer pending, but join the acquisition's pending set
    (and the rows space-filling designs keep away from), so they are not proposed again
    unchanged.

    Args:
        settings: The campaign.
        decisions: Reviewers' decisions from the tracking UI (id to approve/reject),
            applied to the ledger first; ones that cannot apply become notes.

    Raises:
        LedgerError: The ledger holds a bad cell (nothing is written).
        LedgerLockedError: Another round of this campaign is running.
    """
    t_start = time.perf_counter()
    tk = settings.tkwargs
    space = settings.space
    with Ledger.lock(settings.ledger_path):
        ledger = Ledger.load(settings.ledger_path, settings.schema)
        ledger.complete()
        notes: list[str] = []
        if decisions:
            changed, ignored = ledger.apply_decisions(decisions, "mlflow tag 'decision':",
                                                      strict=False)
            notes += ignored
            if changed:
                notes.append(f"applied reviewers' decisions from mlflow to {', '.join(changed)}")
        rnd = ledger.next_round
        seed = round_seed(settings.seed, rnd)
        torch.manual_seed(seed)
        metrics: dict[str, float] = {}
        active = ledger.active
        avoid = ledger.frame[ledger.frame["status"].isin(["proposed", "approved", "rejected"])]
        X_all = space.encode(ledger.frame, **tk)
        X_pending = space.encode(avoid, **tk) if len(avoid) else None
        n_missing = settings.n_initial - len(active)
        choices = _pool_choices(settings, ledger)
        model: Model | None = None
        targets: list[Target] = []
        t_fit = time.perf_counter()
        if n_missing <= 0 and not isinstance(settings.acquisition, QuasiRandom):
            targets, models, X_baseline = _fit_models(ledger, settings, notes)
            if models:
                model = ModelList(*models)
        metrics["fit_s"] = time.perf_counter() - t_fit
        t_acq = time.perf_counter()
        q = n_missing if n_missing > 0 else settings.batch_size
        if choices is not None and len(choices) < q:
            notes.append(f"only {len(choices)} candidate(s) left in the pool: proposing "
                         f"{len(choices)} instead of {q}.")
            q = len(choices)
        if n_missing > 0:
            method = settings.initial_method.replace("_", "-")
            strategy, source = f"initial design ({method})", "initial"
            X = _spread(settings, q, seed, X_all, choices, settings.initial_method)
        elif model is None and not isinstance(settings.acquisition, QuasiRandom):
            strategy, source = "space-filling (no target has enough data)", "initial"
            notes.append("No measured target has enough data for a model yet: proposing "
                         "more space-filling experiments. Record results for model-based "
                         "proposals.")
            X = _spread(settings, q, seed, X_all, choices)
        elif isinstance(settings.acquisition, QuasiRandom):
            strategy, source = "quasi-random", "random"
            X = _spread(settings, q, seed, X_all, choices)
        else:
            names = ", ".join(t.name for t in targets)
            # one objective: every model-based spec reduces to qLogNEI (see propose)
            acq_name = settings.acquisition.name if len(targets) > 1 else "qLogNEI"
            strategy = f"{acq_name} over {names}"
            kind = getattr(settings.surrogate, "kind", None)  # non-GP surrogates say so
            if kind:
                strategy += f" ({kind.replace('_', ' ')} surrogate)"
            if settings.pool is not None:
                strategy += f" (pool of {len(choices)} candidates)"
            source = "bo"
            X, acq_value = propose(model, targets, space, X_baseline, X_pending, q,
                                   settings.acquisition, settings.optimizer, seed, notes,
                                   choices=_model_choices(settings, choices, seed))
            metrics["expected_improvement"] = acq_value if acq_value is not None else math.nan
        metrics["propose_s"] = time.perf_counter() - t_acq
        batch = space.decode(X)
        for col, values in _predict(model, targets, X, settings.objectives).items():
            batch[col] = values
        ids = ledger.new_ids(q)
        batch.insert(0, "id", ids)
        batch.insert(1, "round", rnd)
        batch.insert(2, "status", "proposed")
        batch.insert(3, "source", source)
        batch["proposed_at"] = now()
        ledger.append(batch)
        ledger.write()
    metrics["n_measured"] = float((ledger.frame["status"] == "measured").sum())
    metrics["n_pending"] = float(len(ledger.pending) - q)
    metrics["n_proposed"] = float(q)
    metrics["hypervolume_measured"] = measured_hypervolume(ledger.frame, settings)
    for t in settings.objectives.measured:
        values = ledger.measured(t.name)[t.name]
        if len(values):
            metrics[f"best_{t.name}"] = float(values.max() if t.sign > 0 else values.min())
    metrics["round_s"] = time.perf_counter() - t_start
    return RoundResult(settings.name, rnd, strategy, ledger.schema.coerce(batch),
                       ledger.frame.copy(), settings.ledger_path, metrics, notes, seed,
                       settings.space.names, ledger.schema.targets, model, targets)


def record_results(settings: CampaignSettings, results: Path | pd.DataFrame,
                   source: str | None = None) -> tuple[list[str], pd.DataFrame]:
    """Merge a results file or table into the ledger by id (validated before any write).

    Returns:
        The ids that changed, and the updated ledger frame.
    """
    with Ledger.lock(settings.ledger_path):
        if not Path(settings.ledger_path).exists():
            raise LedgerError(
                f"ledger {settings.ledger_path} does not exist yet, so there is nothing to "
                "record results against. Fix: plan a round first, or check paths.runs."
            )
        ledger = Ledger.load(settings.ledger_path, settings.schema)
        ledger.complete()
        changed = ledger.merge_results(
            results if isinstance(results, pd.DataFrame) else Path(results), source)
        ledger.write()
    return changed, ledger.frame.copy()


def decide(settings: CampaignSettings, decisions: dict[str, str]) -> list[str]:
    """Approve or reject proposals by id (command line); validated before any write.

    Returns:
        The ids whose status changed.
    """
    with Ledger.lock(settings.ledger_path):
        ledger = Ledger.load(settings.ledger_path, settings.schema)
        ledger.complete()
        changed, _ = ledger.apply_decisions(decisions, "command line", strict=True)
        ledger.write()
    return changed
