"""Derived quantities of a campaign, computed in one place.

The hypervolume of the measured front, the best measured value per target, the values
of known targets (computed from the inputs), and leave-one-out model checks. The round,
the terminal report, the review plots, tracking and the benchmarks all read them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
import torch
from botorch.models.model import Model, ModelList
from botorch.utils.multi_objective.box_decompositions.dominated import (
    DominatedPartitioning,
)

from optim.acquisition import reference_point
from optim.checkpoints import latest_values, stopped
from optim.objectives import Objectives, Target
from optim.settings import CampaignSettings
from surrogates import loo_predictions

__all__ = ["LooCheck", "best_measured", "best_samples", "known_values", "loo_checks",
           "loo_scores", "measured_hypervolume", "meets_constraints", "thresholds_beaten"]


def known_values(frame: pd.DataFrame, settings: CampaignSettings) -> pd.DataFrame:
    """Physical values of every target for the rows of ``frame``: measured targets as
    recorded, known targets (cost) computed from the inputs."""
    out = pd.DataFrame(index=frame.index)
    X = settings.space.encode(frame, **settings.tkwargs) if len(frame) else None
    for t in settings.objectives.targets:
        if t.is_known:
            out[t.name] = (t.known(X).squeeze(-1).cpu().numpy() if X is not None
                           else np.array([]))
        else:
            out[t.name] = frame[t.name].to_numpy(dtype=float)
    return out


def best_measured(frame: pd.DataFrame, objectives: Objectives) -> dict[str, float]:
    """The best value per measured target over rows with status ``measured`` (values
    on failed rows do not count); targets without a value are left out."""
    return {name: value for name, (value, _) in best_samples(frame, objectives).items()}


def meets_constraints(frame: pd.DataFrame, objectives: Objectives) -> pd.Series:
    """Rows of ``frame`` whose recorded values meet every outcome constraint of a
    measured target (a missing value does not break one; known targets' constraints
    are constraints of the space, checked when a row is read)."""
    ok = np.ones(len(frame), dtype=bool)
    for t in objectives.constrained:
        if not t.is_known and t.name in frame:
            values = frame[t.name].to_numpy(dtype=float)
            ok &= np.isnan(values) | np.asarray(t.meets(values))
    return pd.Series(ok, index=frame.index)


def best_samples(frame: pd.DataFrame, objectives: Objectives,
                 ) -> dict[str, tuple[float, str]]:
    """The best value per measured target and the id of the row holding it (the first
    such row), over rows with status ``measured`` that meet every outcome constraint;
    targets without a value left out."""
    ok = frame[frame["status"] == "measured"]
    ok = ok[meets_constraints(ok, objectives)]
    best = {}
    for t in objectives.measured:
        values = ok[t.name].dropna()
        if len(values):
            k = values.idxmax() if t.sign > 0 else values.idxmin()
            best[t.name] = (float(values[k]), str(ok.at[k, "id"]))
    return best


def measured_hypervolume(frame: pd.DataFrame, settings: CampaignSettings) -> float:
    """Hypervolume (model scale, maximization signs) of the objectives over rows with
    every target measured and every outcome constraint met.

    Known targets are computed from the inputs; the reference point is the thresholds.
    With one objective: how far the best row lies beyond the threshold. Returns 0 when
    no row dominates the reference point.
    """
    objs = settings.objectives
    rows = frame[frame["status"] == "measured"].dropna(
        subset=[t.name for t in objs.measured])
    if rows.empty:
        return 0.0
    tk = settings.tkwargs
    values = known_values(rows, settings)
    keep = objs.feasible_rows(values)
    values = values[keep]
    if values.empty:
        return 0.0
    targets = objs.optimized
    Y = torch.stack([t.sign * t.to_model(torch.as_tensor(
        values[t.name].to_numpy(dtype=float, copy=True), **tk)) for t in targets], dim=-1)
    ref = reference_point(targets, **tk)
    if len(targets) == 1:
        return float((Y - ref).clamp_min(0).max())
    return float(DominatedPartitioning(ref_point=ref, Y=Y).compute_hypervolume())


def thresholds_beaten(frame: pd.DataFrame, settings: CampaignSettings) -> bool:
    """Whether some measured row (every measured target in) beats every objective's
    threshold and meets every outcome constraint. A checkpointed target still being
    read counts with its latest reading (retention only falls: a cell whose latest
    reading misses the threshold will miss it); a stopped cell does not count (it was
    stopped as unlikely to beat it). With one objective and no constraint:
    always (qLogNEI improves on the best row, not on a threshold)."""
    objs = settings.objectives
    optimized = objs.optimized
    if len(optimized) == 1 and not objs.constrained:
        return True
    frame = frame.copy()
    for t in objs.checkpointed:  # a cell still cycling counts with its latest reading
        frame[t.name] = latest_values(frame, t).where(~stopped(frame))
    rows = frame[frame["status"] == "measured"].dropna(
        subset=[t.name for t in objs.measured])
    if rows.empty:
        return False
    values = known_values(rows, settings)
    ok = objs.feasible_rows(values)
    if len(optimized) > 1:
        for t in optimized:
            ok &= t.sign * (values[t.name].to_numpy(float, copy=True) - t.threshold) > 0
    return bool(ok.any())


@dataclass(frozen=True)
class LooCheck:
    """Leave-one-out predictions of one fitted target (model scale) and their scores."""

    target: Target
    observed: np.ndarray
    mean: np.ndarray
    sd: np.ndarray

    @property
    def rmse(self) -> float:
        """Root-mean-square leave-one-out error (model scale)."""
        return float(np.sqrt(np.mean((self.mean - self.observed) ** 2)))

    @property
    def r2(self) -> float:
        """1 - SSE / SST of the leave-one-out predictions (NaN for constant data)."""
        ss_tot = float(np.sum((self.observed - self.observed.mean()) ** 2))
        sse = float(np.sum((self.mean - self.observed) ** 2))
        return 1 - sse / ss_tot if ss_tot > 0 else float("nan")

    def coverage(self, level: float) -> float:
        """Share of rows whose observed value lies inside the central ``level``
        predictive interval of its leave-one-out prediction (normal, observation noise
        included): honest intervals give about ``level``."""
        z = float(NormalDist().inv_cdf(0.5 + level / 2))
        inside = np.abs(self.observed - self.mean) <= z * np.maximum(self.sd, 1e-300)
        return float(np.mean(inside))


def loo_checks(model: Model | None, targets: Sequence[Target]) -> list[LooCheck]:
    """Leave-one-out checks of every fitted (not known) target of a round's model."""
    if model is None:
        return []
    models = model.models if isinstance(model, ModelList) else [model]
    checks = []
    for t, m in zip(targets, models, strict=True):
        if not t.is_known:
            observed, mean, sd = (v.cpu().numpy() for v in loo_predictions(m))
            checks.append(LooCheck(t, observed, mean, sd))
    return checks


def loo_scores(checks: Sequence[LooCheck]) -> dict[str, float]:
    """``loo_rmse_<target>``, ``loo_r2_<target>`` and the coverage of the 90 % and 50 %
    leave-one-out intervals, ``loo_cover90_<target>`` and ``loo_cover50_<target>``."""
    scores: dict[str, float] = {}
    for c in checks:
        scores[f"loo_rmse_{c.target.name}"] = c.rmse
        scores[f"loo_r2_{c.target.name}"] = c.r2
        scores[f"loo_cover90_{c.target.name}"] = c.coverage(0.9)
        scores[f"loo_cover50_{c.target.name}"] = c.coverage(0.5)
    return scores
