"""Fit a round's models from the ledger, and predict in physical units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from botorch.models.model import Model, ModelList
from scipy.special import ndtr
from torch import Tensor

from optim.checkpoints import fit_checkpointed, latest_values
from optim.feasibility import success_labels
from optim.ledger import Ledger
from optim.objectives import Objectives, Target
from optim.progress import step
from optim.settings import CampaignSettings
from surrogates import DirichletGPClassifier, known_model, success_probability

__all__ = ["FittedModels", "feasibility_predictions", "fit_feasibility", "fit_models",
           "has_enough_data", "predict"]


@dataclass(frozen=True)
class FittedModels:
    """A round's models: one output per entry of ``targets`` (model scale).

    Args:
        model: Surrogates of the measured targets with enough data, then the known
            targets as deterministic models.
        targets: The modelled targets, in output order.
        X_baseline: ``n x d`` encoded inputs of the rows any model was fitted on.
        notes: Targets left out (too few measurements), in words.
        feasibility: The classifier of success (two latent outputs, see
            ``surrogates.classifier``), or ``None`` (switched off, or the data hold no
            failure).
    """

    model: Model
    targets: list[Target]
    X_baseline: Tensor
    notes: list[str]
    feasibility: Model | None = None

    @property
    def objectives(self) -> list[Target]:
        """The modelled targets that are optimized (not constraints only)."""
        return [t for t in self.targets if t.objective]

    @property
    def constraints(self) -> list[Target]:
        """The modelled targets with an outcome constraint (measured ones: known
        targets' constraints are exact constraints of the space)."""
        return [t for t in self.targets if t.constraint is not None and not t.is_known]


def has_enough_data(ledger: Ledger, settings: CampaignSettings) -> bool:
    """Some measured target has as many measurements as the surrogate needs."""
    need = settings.surrogate.min_measurements
    return any(n_learnable(ledger, settings, t) >= need for t in settings.objectives.measured)


def n_learnable(ledger: Ledger, settings: CampaignSettings, t: Target) -> int:
    """Rows a round can learn ``t`` from: measured with a value (a checkpointed target
    outside ``checkpoints.model=final``: with any reading)."""
    if t.checkpoints and settings.checkpoints.model != "final":
        return int(latest_values(ledger.frame, t).notna().sum())
    return len(ledger.measured(t.name))


def fit_models(ledger: Ledger, settings: CampaignSettings) -> FittedModels:
    """Fit one surrogate per measured target with enough data; add known targets.

    Call only when :func:`has_enough_data`.
    """
    tk = settings.tkwargs
    bounds = settings.space.bounds(**tk)
    targets: list[Target] = []
    models: list[Model] = []
    notes: list[str] = []
    used_rows: set[int] = set()
    cats = settings.space.cat_dims  # passed only when there are any (plugins)
    for t in settings.objectives.measured:
        if t.checkpoints:
            step(f"fitting {t.name} (checkpoints, model {settings.checkpoints.model})")
            fit = fit_checkpointed(ledger.frame, t, settings.checkpoints,
                                   lambda rows: settings.space.encode(rows, **tk), bounds,
                                   cats, settings.surrogate, tk)
            if fit is None:
                spec, need = settings.checkpoints, settings.surrogate.min_measurements
                if spec.model == "fidelity":
                    need = spec.cells_needed(need)
                notes.append(f"{t.name}: {n_learnable(ledger, settings, t)} cell(s) with "
                             f"a reading, fewer than the {need} a model needs; this "
                             "round leaves it out of the objectives.")
                continue
            model, rows_used, note = fit
            models.append(model)
            targets.append(t)
            used_rows.update(rows_used)
            notes.append(note + ".")
            continue
        rows = ledger.measured(t.name)
        if len(rows) < settings.surrogate.min_measurements:
            notes.append(f"{t.name}: {len(rows)} measurement(s), fewer than the "
                         f"{settings.surrogate.min_measurements} a model needs; this round "
                         "leaves it out of the objectives.")
            continue
        step(f"fitting {t.name} ({len(rows)} rows)")
        X = settings.space.encode(rows, **tk)
        Y = torch.as_tensor(t.to_model(rows[t.name].to_numpy(dtype=float, copy=True)), **tk)
        models.append(settings.surrogate.fit(X, Y.unsqueeze(-1), bounds,
                                             **({"cat_dims": cats} if cats else {})))
        targets.append(t)
        used_rows.update(rows.index)
    X_baseline = settings.space.encode(ledger.frame.loc[sorted(used_rows)], **tk)
    for t in settings.objectives.known:
        if t.objective:  # a known constraint only is a constraint of the space
            models.append(known_model(t.known))
            targets.append(t)
    feasibility = fit_feasibility(ledger, settings, notes)
    return FittedModels(ModelList(*models), targets, X_baseline, notes, feasibility)


def fit_feasibility(ledger: Ledger, settings: CampaignSettings,
                    notes: list[str] | None = None) -> Model | None:
    """The classifier of success on the measured and failed rows, or ``None`` when it
    is switched off or the rows hold only one outcome (nothing to learn)."""
    spec = settings.feasibility
    if not spec.enabled:
        return None
    labels = success_labels(ledger.frame, settings.objectives, spec)
    n_failed = int((labels == 0).sum())
    if n_failed == 0 or n_failed == len(labels):
        return None
    step(f"fitting feasibility ({n_failed} failed of {len(labels)})")
    tk = settings.tkwargs
    X = settings.space.encode(ledger.frame.loc[labels.index], **tk)
    cats = settings.space.cat_dims
    model = DirichletGPClassifier().fit(X, torch.tensor(labels.to_numpy(), **tk),
                                        settings.space.bounds(**tk), cats or None)
    if notes is not None:
        what = "failed" if spec.learn_from == ("failed",) else "failed or broke a constraint"
        notes.append(f"feasibility: {n_failed} of {len(labels)} experiments {what}; "
                     "proposals are weighted by their predicted probability of success "
                     "(Dirichlet GP classifier).")
    return model


def predict(fitted: FittedModels | None, X: Tensor,
            objectives: Objectives) -> dict[str, np.ndarray]:
    """``pred_<target>_mean`` and ``_sd`` in physical units (NaN where not modelled).

    Known targets are exact (sd 0); log10-modelled targets give the median and 68 %
    interval (``_median``, ``_lo68``, ``_hi68``: what people read) and the mean and sd
    of the implied log-normal (``Target.physical_moments``).
    """
    out: dict[str, np.ndarray] = {}
    n = X.shape[0]
    post = None
    if fitted is not None:
        with torch.no_grad():
            post = fitted.model.posterior(X)
            mean, var = post.mean, post.variance
    for t in objectives.targets:
        if t.is_known:
            mu, sd = t.known(X).squeeze(-1).cpu().numpy(), np.zeros(n)
        elif post is not None and t in fitted.targets:
            k = fitted.targets.index(t)
            mu, sd = t.physical_moments(mean[:, k].cpu().numpy(), var[:, k].cpu().numpy())
        else:
            mu = sd = np.full(n, np.nan)
        if t.transform == "log10" and not t.is_known:  # what people read
            for stat, values in zip(("median", "lo68", "hi68"), t.interval(mu, sd),
                                    strict=True):
                out[f"pred_{t.name}_{stat}"] = np.asarray(values, dtype=float)
        out[f"pred_{t.name}_mean"] = mu
        out[f"pred_{t.name}_sd"] = sd
    out.update(feasibility_predictions(fitted, X, objectives, post))
    return out


def feasibility_predictions(fitted: FittedModels | None, X: Tensor, objectives: Objectives,
                            post=None) -> dict[str, np.ndarray]:
    """``pred_success`` (the classifier's probability of success), ``pred_<target>_meets``
    per constrained target (the model's probability that the true value meets the
    constraint; exact 0/1 for known targets) and ``pred_feasible``, their product
    (independent factors); NaN where nothing is learned (the initial design)."""
    n = X.shape[0]
    out: dict[str, np.ndarray] = {}
    factors, learned = [], 0
    success = np.full(n, np.nan)
    if fitted is not None and fitted.feasibility is not None:
        with torch.no_grad():
            success = success_probability(fitted.feasibility, X).cpu().numpy()
        factors.append(success)
        learned += 1
    out["pred_success"] = success
    for t in objectives.constrained:
        meets = np.full(n, np.nan)
        if t.is_known:
            meets = np.asarray(t.meets(t.known(X).squeeze(-1).cpu().numpy()), dtype=float)
        elif post is not None and t in fitted.targets:
            k = fitted.targets.index(t)
            mean = post.mean[:, k].cpu().numpy()
            sd = np.sqrt(np.clip(post.variance[:, k].cpu().numpy(), 1e-300, None))
            meets = np.ones(n)
            for sign, bound in t.model_constraints():
                meets = meets * ndtr(sign * (mean - bound) / sd)
        if not np.isnan(meets).all():
            factors.append(meets)
            learned += not t.is_known
        out[f"pred_{t.name}_meets"] = meets
    # a known constraint holds in every proposal: alone it says nothing about them
    out["pred_feasible"] = np.prod(factors, axis=0) if learned else np.full(n, np.nan)
    return out

