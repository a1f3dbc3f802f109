"""Review plots of a round: Pareto fronts, composition map, model check, progress.

Object-oriented matplotlib (``Figure``, no pyplot state), so plotting works headless
and in threads. Every axis carries the quantity and its physical unit.

It imports matplotlib (about 0.5 s): callers import it where they draw, not at the top
of a module that every command imports.
"""

from __future__ import annotations

import itertools

import mpltern  # noqa: F401 - registers the "ternary" projection
import numpy as np
import pandas as pd
import torch
from botorch.models.model import ModelList
from botorch.utils.multi_objective.pareto import is_non_dominated
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from optim.metrics import known_values, measured_hypervolume
from optim.objectives import Target
from optim.rounds import RoundResult
from optim.settings import CampaignSettings

__all__ = ["composition_figure", "model_check_figure", "pareto_figure", "progress_figure",
           "round_figures"]

MEASURED, FRONT, PENDING, PROPOSED = "#8c8c8c", "#1f77b4", "#ff7f0e", "#d62728"


def _front_mask(values: pd.DataFrame, targets: list[Target]) -> np.ndarray:
    if values.empty:
        return np.zeros(0, dtype=bool)
    Y = torch.tensor(np.stack([t.sign * values[t.name].to_numpy() for t in targets], -1))
    return is_non_dominated(Y).numpy()


def _interval(batch: pd.DataFrame, t: Target) -> tuple[np.ndarray, np.ndarray]:
    """Centre and ``2 x n`` error-bar lengths of predictions, as the terminal shows them
    (log10-modelled targets: median and 68 % interval; others: mean ± sd)."""
    centre, lo, hi = t.interval(batch[f"pred_{t.name}_mean"], batch[f"pred_{t.name}_sd"])
    return centre, np.stack([centre - lo, hi - centre])


def _model_label(t: Target) -> str:
    """The target on the model's scale with its unit: ``log10(name / (unit))`` when
    log10-modelled, else ``name [unit]``."""
    if t.transform != "log10":
        return t.label
    unit = f"({t.unit})" if "/" in t.unit else t.unit
    return f"log10({t.name} / {unit})" if unit else f"log10({t.name})"


def pareto_figure(result: RoundResult, settings: CampaignSettings) -> Figure:
    """Every pair of objectives: measured points, the measured front, proposals ± sd."""
    targets = list(settings.objectives.targets)
    ledger = result.ledger
    measured = ledger[ledger["status"] == "measured"].dropna(
        subset=[t.name for t in settings.objectives.measured])
    values = known_values(measured, settings)
    front = _front_mask(values, targets)
    batch = result.batch
    pairs = list(itertools.combinations(targets, 2)) or [(targets[0], targets[0])]
    fig = Figure(figsize=(5.2 * len(pairs), 4.6))
    for k, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(1, len(pairs), k + 1)
        ax.scatter(values[a.name], values[b.name], s=22, c=MEASURED, label="measured")
        ax.scatter(values[a.name][front], values[b.name][front], s=40, c=FRONT,
                   label="measured Pareto front")
        (xm, xerr), (ym, yerr) = _interval(batch, a), _interval(batch, b)
        if np.isfinite(xm).all() and np.isfinite(ym).all():
            ax.errorbar(xm, ym, xerr=xerr, yerr=yerr, fmt="D", c=PROPOSED, ms=6,
                        capsize=3, label="proposed (mean ± 1 sd; log axes: median, 68 %)")
            for ident, x, y in zip(batch["id"], xm, ym, strict=True):
                ax.annotate(ident, (x, y), fontsize=7, xytext=(4, 4),
                            textcoords="offset points")
        for t, setter in ((a, ax.axvline), (b, ax.axhline)):
            setter(t.threshold, ls="--", lw=0.8, c="k")
        if a.transform == "log10":
            ax.set_xscale("log")
        if b.transform == "log10":
            ax.set_yscale("log")
        ax.set_xlabel(f"{a.label} ({a.direction})")
        ax.set_ylabel(f"{b.label} ({b.direction})")
        ax.grid(alpha=0.3)
    fig.axes[0].legend(fontsize=8, loc="best")
    fig.suptitle(f"{result.campaign} round {result.round}: measured front and proposals "
                 "(dashed: thresholds)")
    fig.tight_layout()
    return fig


def _main_model(result: RoundResult) -> tuple[Target, object] | None:
    if result.model is None:
        return None
    for k, t in enumerate(result.model_targets):
        if not t.is_known:
            model = result.model.models[k] if isinstance(result.model, ModelList) else None
            return (t, model) if model is not None else None
    return None


def _ternary_grid(settings: CampaignSettings, best: pd.Series,
                  n: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray, torch.Tensor]:
    """A triangular grid over the simplex of the first two components and "the rest"
    (split as in ``best``), process parameters at ``best``'s values: the grid's
    ternary coordinates and its encoded inputs."""
    space, comp = settings.space, settings.space.composition
    names, others = comp.names, comp.names[2:]
    grid = np.array([(i / n, j / n) for i in range(n + 1) for j in range(n + 1 - i)])
    a, b = grid[:, 0], grid[:, 1]
    rest = 1 - a - b
    frame = pd.DataFrame({names[0]: a * comp.total, names[1]: b * comp.total})
    rest_share = best[others].to_numpy(float)
    rest_share = rest_share / rest_share.sum() if rest_share.sum() > 0 else \
        np.full(len(others), 1 / len(others))
    for name, share in zip(others, rest_share, strict=True):
        frame[name] = rest * share * comp.total
    for p in space.parameters:
        frame[p.name] = best[p.name]
    return a, b, rest, space.encode(frame[space.names], **settings.tkwargs)


def composition_figure(result: RoundResult, settings: CampaignSettings) -> Figure | None:
    """Ternary map of the main target's predicted mean and sd over the composition.

    A slice: process parameters are held at the best measured row's values (said in the
    title); measured, pending and proposed points are drawn at their compositions,
    whatever their process settings. Three precursors: the full ternary. More: the first
    two against the rest combined.
    ``None`` without a composition or a fitted model.
    """
    space = settings.space
    comp = space.composition
    main = _main_model(result)
    if comp is None or main is None:
        return None
    target, model = main
    names = comp.names
    ledger = result.ledger
    measured = ledger[(ledger["status"] == "measured") & ledger[target.name].notna()]
    best = measured.loc[(target.sign * measured[target.name]).idxmax()]
    others = names[2:]
    a, b, rest, X = _ternary_grid(settings, best)
    with torch.no_grad():
        post = model.posterior(X)
        mu = post.mean.squeeze(-1).cpu().numpy()
        sd = post.variance.clamp_min(0).sqrt().squeeze(-1).cpu().numpy()
    # triangulate feasible grid points only: the feasible region is convex, so their
    # Delaunay triangulation covers it and nothing outside it
    feasible = (space.max_violation(X) <= 1e-9).cpu().numpy()
    a, b, rest, mu, sd = (v[feasible] for v in (a, b, rest, mu, sd))
    quantity = _model_label(target)
    if target.transform == "log10":
        sd_title = f"sd of predicted {quantity} [decades]"
    else:
        sd_title = f"sd of predicted {quantity}"
    rest_label = others[0] if len(others) == 1 else "+".join(others)

    def coords(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t_ = rows[names[0]].to_numpy(float)
        l_ = rows[names[1]].to_numpy(float)
        r_ = rows[others].to_numpy(float).sum(axis=1)
        return t_, l_, r_

    fig = Figure(figsize=(13, 5.8))
    for k, (values, title) in enumerate(
            [(mu, f"predicted {quantity}"), (sd, sd_title)]):
        ax = fig.add_subplot(1, 2, k + 1, projection="ternary")
        pc = ax.tripcolor(a, b, rest, values, shading="gouraud", cmap="viridis",
                          rasterized=True)
        fig.colorbar(pc, ax=ax, shrink=0.7, pad=0.22, label=title)
        for rows, colour, marker, label in (
            (measured, "w", "o", "measured"),
            (ledger[ledger["status"].isin(["proposed", "approved"])
                    & ~ledger["id"].isin(result.batch["id"])], PENDING, "s", "pending"),
            (result.batch, PROPOSED, "D", "proposed this round"),
        ):
            if len(rows):
                ax.scatter(*coords(rows), c=colour, marker=marker, s=28, edgecolors="k",
                           linewidths=0.6, label=label, clip_on=False, zorder=3)
        ax.set_tlabel(f"{names[0]} (mole fraction)")
        ax.set_llabel(f"{names[1]} (mole fraction)")
        ax.set_rlabel(f"{rest_label} (mole fraction)")
        ax.set_title(title, pad=28, fontsize=10)
    fig.axes[0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(-0.25, 1.1))
    held = ", ".join(f"{p.name}={best[p.name]:.3g}" for p in space.parameters)
    fig.suptitle(f"{result.campaign} round {result.round}: composition map (blank: outside "
                 f"the constraints)\nmodel slice at the process settings of the best measured "
                 f"row ({best['id']}): {held}; points at their own settings", fontsize=10)
    fig.tight_layout()
    return fig


def model_check_figure(result: RoundResult) -> Figure | None:
    """Leave-one-out predicted versus measured per fitted target, with RMSE and R²
    (``optim.metrics.loo_checks``); ``None`` without a fitted model."""
    checks = result.model_check
    if not checks:
        return None
    fig = Figure(figsize=(5 * len(checks), 4.6))
    for k, c in enumerate(checks):
        t, observed, mean = c.target, c.observed, c.mean
        ax = fig.add_subplot(1, len(checks), k + 1)
        ax.errorbar(observed, mean, yerr=c.sd, fmt="o", ms=4, capsize=2, c=FRONT)
        lo, hi = min(observed.min(), mean.min()), max(observed.max(), mean.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"measured {_model_label(t)}")
        ax.set_ylabel(f"leave-one-out predicted {_model_label(t)}")
        unit = " decades" if t.transform == "log10" else f" {t.unit}"
        ax.set_title(f"{t.name}: RMSE {c.rmse:.3g}{unit}, R² {c.r2:.2f}, n={len(observed)}",
                     fontsize=9)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{result.campaign} round {result.round}: model check (error bars: LOO sd)")
    fig.tight_layout()
    return fig


def progress_figure(result: RoundResult, settings: CampaignSettings) -> Figure:
    """Hypervolume of the measured front after each round's experiments.

    One point per round in the ledger; round 0 (rows added by hand) only when there are
    such rows.
    """
    ledger = result.ledger
    rounds = sorted(int(r) for r in set(ledger["round"]))
    hv = [measured_hypervolume(ledger[ledger["round"] <= r], settings) for r in rounds]
    n = [int(((ledger["round"] <= r) & (ledger["status"] == "measured")).sum())
         for r in rounds]
    fig = Figure(figsize=(6, 4.2))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(rounds, hv, "o-", c=FRONT)
    for r, h, m in zip(rounds, hv, n, strict=True):
        ax.annotate(f"n={m}", (r, h), fontsize=7, xytext=(0, 6), textcoords="offset points")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("round (experiments proposed up to and including it"
                  + ("; 0: added by hand)" if 0 in rounds else ")"))
    units = " × ".join("decades" if t.transform == "log10" else (t.unit or "1")
                       for t in settings.objectives.targets)
    ax.set_ylabel(f"hypervolume of the measured front\n(model scale: {units}; "
                  "ref. = thresholds)")
    ax.margins(y=0.12)
    ax.set_title(f"{result.campaign}: campaign progress")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def round_figures(result: RoundResult, settings: CampaignSettings) -> dict[str, Figure]:
    """Every review figure of a round, by artifact name."""
    figures = {"plots/pareto_front.png": pareto_figure(result, settings),
               "plots/progress.png": progress_figure(result, settings)}
    comp = composition_figure(result, settings)
    if comp is not None:
        figures["plots/composition_map.png"] = comp
    check = model_check_figure(result)
    if check is not None:
        figures["plots/model_check.png"] = check
    return figures
