"""Checkpointed targets: values read as a long measurement goes (a cell's retention at
cycles 25, 50, ..., 350), and how a round models them.

The ledger holds one column per checkpoint (``retention_pct@50``; the last checkpoint
is the target's own column). A round models a checkpointed target one of three ways
(config ``checkpoints.model``):

- ``fidelity`` (default): one GP over inputs and checkpoint (``surrogates.CheckpointGP``)
  trained on every value read so far, predicting the final checkpoint; cells still
  cycling are pending, so a batch does not repeat them.
- ``latest``: each cell's latest reading taken as if it were final.
- ``final``: only cells with the final checkpoint (waiting for cycle 350).

With ``fidelity`` and ``checkpoints.stop_below`` set (default: off), a round also says
which cells to stop: a cell whose final value has less than that probability of beating
its target's threshold is unlikely to add to the front (the hypervolume's reference
point is the thresholds), so ending its test frees its channel for a new cell. Its readings stay
and are fitted; the ledger's ``stopped_at`` says after which checkpoint it was ended,
and it is no longer pending.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from botorch.models.model import Model

from optim.exceptions import ConfigError
from optim.objectives import Objectives, Target
from surrogates.checkpoints import TRANSFORMS, AtFidelity, CheckpointGP, fade_back

__all__ = ["MODELS", "STOPPED", "CheckpointSpec", "Waiting", "cycling", "fit_checkpointed",
           "latest_values", "long_table", "predicted_curves", "stopped", "to_stop", "waiting",
           "waiting_table"]

MODELS = ("fidelity", "latest", "final")
Z90 = 1.6448536269514722  # half-width of a central 90 % normal interval, in sd
STOPPED = "stopped_at"  # ledger column: the last checkpoint read before a test was ended


@dataclass(frozen=True)
class CheckpointSpec:
    """How a round models checkpointed targets (module docstring).

    Args:
        model: ``fidelity``, ``latest`` or ``final``.
        transform: For ``fidelity``: ``fade_law`` (values mapped to the final value a
            constant per-cycle fade implies, then modelled; targets in % of a first
            value, not log10-modelled, only) or ``none``.
        stop_below: For ``fidelity``: a round recommends stopping a cell that has a
            reading of its own when the probability that its final value beats the
            target's threshold is below this (``None``, the default: never).
        min_cells: For ``fidelity``: the fewest cells with a reading before the
            checkpoint GP models the target (``None``: the surrogate's minimum);
            until then a round leaves the target out of its objectives.
    """

    model: str = "fidelity"
    transform: str = "fade_law"
    stop_below: float | None = None
    min_cells: int | None = None

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"value={self.model!r}; expected one of {list(MODELS)}. Fix: "
                              "fidelity (read partial curves), latest or final.",
                              key="model", value=self.model)
        if self.transform not in TRANSFORMS:
            raise ConfigError(f"value={self.transform!r}; expected one of "
                              f"{list(TRANSFORMS)}.", key="transform", value=self.transform)
        p = self.stop_below
        if p is not None and (isinstance(p, bool) or not isinstance(p, int | float)
                              or not 0 < p < 1):
            raise ConfigError(f"value={p!r}; expected a probability between 0 and 1 "
                              "(e.g. 0.05: stop a cell once its final value has under 5 % "
                              "chance of beating the threshold), or null to never stop.",
                              key="stop_below", value=p)
        n = self.min_cells
        if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
            raise ConfigError(f"value={n!r}; expected a whole number of cells >= 1, or null "
                              "(the surrogate's minimum).", key="min_cells", value=n)

    def cells_needed(self, surrogate_minimum: int) -> int:
        """The fewest cells with a reading the checkpoint GP is fitted to."""
        return max(surrogate_minimum, self.min_cells or 0)


def long_table(frame: pd.DataFrame, target: Target) -> pd.DataFrame:
    """Every value read of ``target``: one row per (ledger row, checkpoint), columns
    ``row`` (ledger index), ``checkpoint`` and ``value``; measured rows only."""
    rows = frame[frame["status"] == "measured"]
    parts = []
    for col, cp in target.checkpoint_columns.items():
        have = rows[col].notna()
        parts.append(pd.DataFrame({"row": rows.index[have], "checkpoint": cp,
                                   "value": rows.loc[have, col].to_numpy(float)}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["row", "checkpoint", "value"])


def latest_values(frame: pd.DataFrame, target: Target) -> pd.Series:
    """Each measured row's latest reading of ``target`` (NaN: none yet)."""
    cols = list(target.checkpoint_columns)
    return frame[cols].ffill(axis=1).iloc[:, -1].where(frame["status"] == "measured")


def stopped(frame: pd.DataFrame) -> pd.Series:
    """Rows whose test was ended before the final checkpoint."""
    if STOPPED not in frame:
        return pd.Series(False, index=frame.index)
    return frame[STOPPED].notna()


def cycling(frame: pd.DataFrame, objectives: Objectives) -> pd.Series:
    """Measured rows still waiting for a checkpointed target's final value (not
    stopped)."""
    out = pd.Series(False, index=frame.index)
    for t in objectives.checkpointed:
        out |= (frame["status"] == "measured") & frame[t.name].isna()
    return out & ~stopped(frame)


def fit_checkpointed(frame: pd.DataFrame, target: Target, spec: CheckpointSpec,
                     encode, bounds, cat_dims, surrogate, tkwargs,
                     ) -> tuple[Model, pd.Index, str] | None:
    """The model of a checkpointed target, the ledger rows it learned from and a note;
    ``None`` when too few cells have a reading.

    Args:
        frame: The ledger.
        target: The checkpointed target.
        spec: How to model it.
        encode: ``rows -> n x d`` encoded inputs.
        bounds: Encoded bounds.
        cat_dims: Categorical input index to its number of choices (or empty).
        surrogate: The campaign's surrogate (``latest`` and ``final`` fit with it).
        tkwargs: dtype and device.
    """
    measured = frame[frame["status"] == "measured"]
    need = surrogate.min_measurements
    cats = {"cat_dims": cat_dims} if cat_dims else {}
    partial = any(measured[c].notna().any() for c in target.checkpoint_columns
                  if c != target.name)
    if spec.model == "final" or (spec.model == "fidelity" and not partial):
        # no reading before the final one: the checkpoint GP has nothing more to read
        # than the campaign's surrogate on the final values (a lab that waits)
        rows = measured[measured[target.name].notna()]
        if len(rows) < need:
            return None
        y = target.to_model(rows[target.name].to_numpy(float, copy=True))
        model = surrogate.fit(encode(rows), torch.as_tensor(y, **tkwargs).unsqueeze(-1),
                              bounds, **cats)
        return model, rows.index, f"{target.name}: {len(rows)} final value(s)"
    if spec.model == "latest":
        latest = latest_values(frame, target).dropna()
        if len(latest) < need:
            return None
        rows = frame.loc[latest.index]
        y = target.to_model(latest.to_numpy(float, copy=True))
        model = surrogate.fit(encode(rows), torch.as_tensor(y, **tkwargs).unsqueeze(-1),
                              bounds, **cats)
        n_final = int(rows[target.name].notna().sum())
        return model, rows.index, (f"{target.name}: latest readings of {len(rows)} cells "
                                   f"taken as final ({n_final} at the final checkpoint)")
    transform = spec.transform if target.unit == "%" and target.transform is None else "none"
    table = long_table(frame, target)
    cells = table["row"].unique()
    if len(cells) < spec.cells_needed(need):
        return None
    X = encode(frame.loc[table["row"]])
    y = torch.as_tensor(table["value"].to_numpy(float, copy=True), **tkwargs).unsqueeze(-1)
    if transform == "none":
        y = target.to_model(y)
    cps = torch.as_tensor(table["checkpoint"].to_numpy(float, copy=True), **tkwargs)
    gp = CheckpointGP(min_measurements=need, transform=transform)
    model = gp.fit(X, y, cps, float(target.final_checkpoint), bounds, cat_dims or None)
    n_final = int(frame.loc[cells, target.name].notna().sum())
    return model, pd.Index(cells), (
        f"{target.name}: checkpoint GP on {len(table)} readings of {len(cells)} cells "
        f"({n_final} at the final checkpoint {target.final_checkpoint} "
        f"{target.checkpoint_unit}), predicting the final value")


@dataclass(frozen=True)
class Waiting:
    """A cell still cycling: what it has, what it waits for, and its predicted final.

    Args:
        id: The ledger id.
        target: The checkpointed target.
        last: The latest checkpoint read (``None``: none yet) and ...
        last_value: ... its value.
        next: The checkpoint it waits for.
        mean: Predicted final value (physical unit), ``nan`` without a model; ...
        lo90: ... and its 90 % interval.
        hi90: (upper end)
        readings: Checkpoint to value so far.
        p_beats: Probability that its final value beats the target's threshold
            (``nan`` without a model or threshold).
    """

    id: str
    target: Target
    last: int | None
    last_value: float
    next: int
    mean: float
    lo90: float
    hi90: float
    readings: dict[int, float]
    p_beats: float = math.nan


def waiting(frame: pd.DataFrame, objectives: Objectives, model_for, encode,
            ) -> list[Waiting]:
    """The cells waiting for a checkpoint, with the round's prediction of their final
    value (``model_for(target)``: the fitted model of the target, or ``None``)."""
    out: list[Waiting] = []
    for t in objectives.checkpointed:
        rows = frame[(frame["status"] == "measured") & frame[t.name].isna() & ~stopped(frame)]
        if rows.empty:
            continue
        model = model_for(t)
        mean = lo = hi = p_beats = np.full(len(rows), np.nan)
        if model is not None:
            with torch.no_grad():
                post = model.posterior(encode(rows), observation_noise=True)
                m = post.mean.squeeze(-1).cpu().numpy()
                sd = post.variance.clamp_min(0).sqrt().squeeze(-1).cpu().numpy()
            mean, lo, hi = (t.from_model(v) for v in (m, m - Z90 * sd, m + Z90 * sd))
            if t.threshold is not None:  # the cell's own final reading beats it
                z = t.sign * (m - float(t.to_model(np.float64(t.threshold)))) / np.maximum(
                    sd, 1e-12)
                p_beats = torch.special.ndtr(torch.as_tensor(z)).numpy()
            lo_v, hi_v = t.valid_range
            if lo_v is not None:
                lo = np.maximum(lo, lo_v)
            if hi_v is not None:
                hi = np.minimum(hi, hi_v)
        for k, (_, row) in enumerate(rows.iterrows()):
            readings = {cp: float(row[c]) for c, cp in t.checkpoint_columns.items()
                        if not np.isnan(row[c])}
            last = max(readings) if readings else None
            nxt = next(cp for cp in t.checkpoints if last is None or cp > last)
            out.append(Waiting(row["id"], t, last, readings.get(last, np.nan), nxt,
                               float(mean[k]), float(lo[k]), float(hi[k]), readings,
                               float(p_beats[k])))
    return out


def to_stop(waits: list[Waiting], spec: CheckpointSpec) -> list[Waiting]:
    """The waiting cells a round recommends stopping (module docstring): with the
    checkpoint model, a reading of their own, and under ``spec.stop_below`` probability
    of beating their target's threshold. A cell waiting on several targets is listed
    once, when every one of them says stop."""
    if spec.model != "fidelity" or spec.stop_below is None:
        return []
    by_id: dict[str, list[Waiting]] = {}
    for w in waits:
        by_id.setdefault(w.id, []).append(w)
    return [ws[0] for ws in by_id.values()
            if all(w.last is not None and w.p_beats < spec.stop_below for w in ws)]


def predicted_curves(frame: pd.DataFrame, objectives: Objectives, model_for, encode,
                     ) -> dict[str, dict[str, tuple[list[int], np.ndarray, np.ndarray,
                                                    np.ndarray]]]:
    """Per checkpointed target read by a checkpoint GP, each waiting cell's predicted
    value (mean, 90 % interval with reading noise) at every checkpoint: the curve so
    far and its continuation, for the reviewer's figure."""
    out: dict = {}
    for t in objectives.checkpointed:
        model = model_for(t)
        rows = frame[(frame["status"] == "measured") & frame[t.name].isna() & ~stopped(frame)]
        if not isinstance(model, AtFidelity) or rows.empty:
            continue
        cps = list(t.checkpoints)
        X = encode(rows)
        gp = model.model
        n, m = X.shape[0], len(cps)
        s = torch.tensor([c / t.final_checkpoint for c in cps]).to(X)
        Xs = torch.cat([X.unsqueeze(1).expand(n, m, X.shape[-1]),
                        s.view(1, m, 1).expand(n, m, 1)], dim=-1)
        with torch.no_grad():
            post = gp.posterior(Xs.reshape(n * m, -1), observation_noise=True)
            mean = post.mean.reshape(n, m).cpu().numpy()
            sd = post.variance.clamp_min(0).sqrt().reshape(n, m).cpu().numpy()
        lo, hi = mean - Z90 * sd, mean + Z90 * sd
        if model.transform == "fade_law":  # back from implied-final to the reading
            mean, lo, hi = (fade_back(v, np.array(cps, dtype=float), t.final_checkpoint)
                            for v in (mean, lo, hi))
        out[t.name] = {ident: (cps, mean[k], lo[k], hi[k])
                       for k, ident in enumerate(rows["id"])}
    return out


def waiting_table(waits: list[Waiting], stop: list[Waiting] = ()) -> pd.DataFrame:
    """Waiting cells as a table (the round run's ``cycling.json`` in mlflow); ``stop``:
    the cells the round recommends stopping."""
    stops = {w.id for w in stop}
    return pd.DataFrame([{
        "id": w.id, "target": w.target.name, "last_checkpoint": w.last,
        "last_value": w.last_value, "next_checkpoint": w.next,
        "pred_final_mean": w.mean, "pred_final_lo90": w.lo90, "pred_final_hi90": w.hi90,
        "p_beats_threshold": w.p_beats, "stop": w.id in stops}
        for w in waits])
