"""Fit a round's models from the ledger, and predict in physical units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from botorch.models.model import Model, ModelList
from torch import Tensor

from optim.ledger import Ledger
from optim.objectives import Objectives, Target
from optim.progress import step
from optim.settings import CampaignSettings
from surrogates import known_model

__all__ = ["FittedModels", "fit_models", "has_enough_data", "predict"]


@dataclass(frozen=True)
class FittedModels:
    """A round's models: one output per entry of ``targets`` (model scale).

    Args:
        model: Surrogates of the measured targets with enough data, then the known
            targets as deterministic models.
        targets: The modelled targets, in output order.
        X_baseline: ``n x d`` encoded inputs of the rows any model was fitted on.
        notes: Targets left out (too few measurements), in words.
    """

    model: Model
    targets: list[Target]
    X_baseline: Tensor
    notes: list[str]


def has_enough_data(ledger: Ledger, settings: CampaignSettings) -> bool:
    """Some measured target has as many measurements as the surrogate needs."""
    need = settings.surrogate.min_measurements
    return any(len(ledger.measured(t.name)) >= need for t in settings.objectives.measured)


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
    for t in settings.objectives.measured:
        rows = ledger.measured(t.name)
        if len(rows) < settings.surrogate.min_measurements:
            notes.append(f"{t.name}: {len(rows)} measurement(s), fewer than the "
                         f"{settings.surrogate.min_measurements} a model needs; this round "
                         "leaves it out of the objectives.")
            continue
        step(f"fitting {t.name} ({len(rows)} rows)")
        X = settings.space.encode(rows, **tk)
        Y = torch.as_tensor(t.to_model(rows[t.name].to_numpy(dtype=float, copy=True)), **tk)
        cats = settings.space.cat_dims  # passed only when there are any (plugins)
        models.append(settings.surrogate.fit(X, Y.unsqueeze(-1), bounds,
                                             **({"cat_dims": cats} if cats else {})))
        targets.append(t)
        used_rows.update(rows.index)
    X_baseline = settings.space.encode(ledger.frame.loc[sorted(used_rows)], **tk)
    for t in settings.objectives.known:
        models.append(known_model(t.known))
        targets.append(t)
    return FittedModels(ModelList(*models), targets, X_baseline, notes)


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
    return out
