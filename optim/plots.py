"""Review plots of a round: Pareto fronts, composition and failure maps, model check,
progress, inputs.

Object-oriented matplotlib (``Figure``, no pyplot state), so plotting works headless
and in threads. Every axis carries the quantity and its physical unit; log axes and
colour bars of log10-modelled targets are labelled in physical values (0.2, 0.5, 1, 2).

Figures are sized for mlflow's artifact viewer, which shows them scaled to its pane
(about 600-1000 px wide): at most ``WIDTH_IN`` inches at ``DPI`` (1000 px), panels in
a grid of at most two columns, fonts of 9-12 points. ``savefig`` without a ``dpi``
(as mlflow's ``log_figure`` calls it) uses the figure's own ``DPI``.

Labels (sample ids) are placed by a small deterministic scheme (:func:`_place_labels`):
each takes the first of a fixed sequence of offsets around its point whose box
overlaps no label placed before it. So a figure is the same on every machine.

It imports matplotlib (about 0.5 s): callers import it where they draw, not at the top
of a module that every command imports.
"""

from __future__ import annotations

import itertools
import math

import mpltern  # noqa: F401 - registers the "ternary" projection
import numpy as np
import pandas as pd
import torch
from botorch.models.model import ModelList
from botorch.utils.multi_objective.pareto import is_non_dominated
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.ticker import (
    FixedLocator,
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    MultipleLocator,
    NullFormatter,
)

from optim.metrics import known_values, measured_hypervolume, meets_constraints
from optim.objectives import Target
from optim.rounds import RoundResult
from optim.settings import CampaignSettings

__all__ = ["composition_figure", "failure_figure", "inputs_figure", "model_check_figure",
           "pareto_figure", "progress_figure", "retention_curves_figure", "round_figures"]

MEASURED, FRONT, PENDING, PROPOSED = "#8c8c8c", "#1f77b4", "#ff7f0e", "#d62728"
DPI = 100          # savefig's default dpi is the figure's: 10 in -> 1000 px
WIDTH_IN = 10.0    # two-column figures; one column: ONE_COLUMN_IN
ONE_COLUMN_IN = 6.4
TICK_PT, LABEL_PT, TITLE_PT, SUPTITLE_PT, ID_PT = 10, 11, 11, 12, 8.5
N_ALL_IDS = 10     # up to this many measured points in a panel: label all; more: the front


# ---- axes helpers --------------------------------------------------------------------

def _grid(n: int, row_in: float, extra_in: float = 0.0) -> tuple[Figure, int, int]:
    """A figure for ``n`` panels in at most two columns: the figure, rows, columns."""
    ncols = 1 if n == 1 else 2
    nrows = math.ceil(n / ncols)
    width = ONE_COLUMN_IN if ncols == 1 else WIDTH_IN
    fig = Figure(figsize=(width, row_in * nrows + extra_in), dpi=DPI)
    FigureCanvasAgg(fig)  # text extents for the label placement, before any draw
    return fig, nrows, ncols


def _style(ax: Axes) -> None:
    """Readable fonts on an axes (object-oriented, no rcParams) and a light grid."""
    ax.tick_params(labelsize=TICK_PT)
    ax.xaxis.label.set_fontsize(LABEL_PT)
    ax.yaxis.label.set_fontsize(LABEL_PT)
    ax.title.set_fontsize(TITLE_PT)
    ax.grid(alpha=0.3)


def _plain(value: float, _pos: object = None) -> str:
    return f"{value:g}"


def _log_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Readable major ticks of a log axis over ``[lo, hi]`` (``lo > 0``): the densest of
    k·10^e with k in (1, 2, 3, 5), (1, 2, 5), (1, 3), (1,) that has at most
    ``max_ticks`` (every other decade beyond); linear steps when the axis spans too
    little for two of them."""
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks: list[float] = []
    for subs in ((1, 2, 3, 5), (1, 2, 5), (1, 3), (1,)):
        ticks = [float(f"{k}e{e}") for e in range(e0, e1 + 1) for k in subs
                 if lo <= float(f"{k}e{e}") <= hi]
        if len(ticks) <= max_ticks:
            break
    if len(ticks) > max_ticks:
        ticks = ticks[::math.ceil(len(ticks) / max_ticks)]
    if len(ticks) < 2:
        steps = MaxNLocator(4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi)
        ticks = [float(f"{v:.6g}") for v in steps if lo <= v <= hi and v > 0]
    return ticks


def _log_axis(axis: Axis, lo: float, hi: float) -> None:
    """A log axis over its final limits with plain labels (0.2, 0.5, 1, 2), few major
    ticks and unlabelled minor ticks: matplotlib's default labels every minor tick
    (2×10⁻¹3×10⁻¹…) when the axis spans under two decades."""
    axis.set_major_locator(FixedLocator(_log_ticks(min(lo, hi), max(lo, hi))))
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10))))
    axis.set_minor_formatter(NullFormatter())


def _overlap(a: tuple, b: tuple) -> float:
    """Overlap area of two boxes ``(x0, y0, x1, y1)``."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * \
        max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


# offsets (points) tried in order: four rings of eight directions, diagonals first (a
# point's own error bars are horizontal and vertical)
_RINGS = (5.0, 11.0, 18.0, 27.0)
_DIRECTIONS = ((1, 1), (-1, 1), (1, -1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))
_HA = {1: "left", -1: "right", 0: "center"}
_VA = {1: "bottom", -1: "top", 0: "center"}


def _place_labels(ax: Axes, xy: np.ndarray, texts: list[str], taken: list[tuple], *,
                  marks: np.ndarray | None = None, color: str = "k",
                  fontsize: float = ID_PT) -> list:
    """Annotate the points ``xy`` (``n x 2``, data coordinates) with ``texts``.

    Each label takes the first offset (:data:`_RINGS` × :data:`_DIRECTIONS`) whose box
    overlaps no box in ``taken`` (display boxes of labels already placed; extended
    here), lies inside the axes and covers the fewest markers (``marks``, ``m x 2`` data
    coordinates, plus ``xy``); a label beyond the second ring gets a leader line.
    Call it after the layout and the axis limits are final. Deterministic.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    px = fig.dpi / 72
    pts = ax.transData.transform(np.asarray(xy, float).reshape(-1, 2))
    obstacles = pts if marks is None or not len(marks) else np.vstack(
        [pts, ax.transData.transform(np.asarray(marks, float).reshape(-1, 2))])
    radius = 4 * px
    frame = ax.bbox.extents
    out = []
    for (x, y), (xd, yd), text in zip(pts, np.asarray(xy, float).reshape(-1, 2), texts,
                                      strict=True):
        if not (np.isfinite(x) and np.isfinite(y)):
            continue
        probe = Text(0, 0, text, fontsize=fontsize)
        probe.set_figure(fig)
        box = probe.get_window_extent(renderer)
        w, h = box.width + 6, box.height + 2  # air between neighbouring labels
        best = None
        for ring, r in enumerate(_RINGS):
            for ux, uy in _DIRECTIONS:
                ox, oy = x + ux * r * px, y + uy * r * px
                x0 = ox - (0 if ux > 0 else w if ux < 0 else w / 2)
                y0 = oy - (0 if uy > 0 else h if uy < 0 else h / 2)
                cand = (x0, y0, x0 + w, y0 + h)
                clash = sum(_overlap(cand, t) for t in taken)
                outside = not (cand[0] >= frame[0] and cand[1] >= frame[1]
                               and cand[2] <= frame[2] and cand[3] <= frame[3])
                covered = int(np.sum((obstacles[:, 0] > x0 - radius)
                                     & (obstacles[:, 0] < x0 + w + radius)
                                     & (obstacles[:, 1] > y0 - radius)
                                     & (obstacles[:, 1] < y0 + h + radius)))
                score = (clash > 0, outside, covered, clash)
                if best is None or score < best[0]:
                    best = (score, ring, r, ux, uy, cand)
        _, ring, r, ux, uy, cand = best
        taken.append(cand)
        ann = ax.annotate(
            text, (xd, yd), xytext=(ux * r, uy * r), textcoords="offset points",
            ha=_HA[ux], va=_VA[uy], fontsize=fontsize, color=color,
            arrowprops=dict(arrowstyle="-", lw=0.5, color=color, shrinkA=0, shrinkB=2)
            if ring >= 2 else None)
        ann.set_in_layout(False)
        out.append(ann)
    return out


def _front_mask(values: pd.DataFrame, targets: list[Target]) -> np.ndarray:
    if values.empty:
        return np.zeros(0, dtype=bool)
    Y = torch.tensor(np.stack([t.sign * values[t.name].to_numpy(float) for t in targets],
                              -1))
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


def _legend_below(fig: Figure, handles: list, ncols: int = 2) -> float:
    """A figure legend under the panels; returns the figure fraction it takes."""
    legend = fig.legend(handles=handles, loc="lower center", ncols=ncols,
                        fontsize=TICK_PT, frameon=False, bbox_to_anchor=(0.5, 0.0))
    height = legend.get_window_extent(fig.canvas.get_renderer()).height
    return height / fig.bbox.height + 0.01


# ---- Pareto fronts -------------------------------------------------------------------

def _shown_title(values: pd.DataFrame, shown: np.ndarray, pair: tuple[Target, ...]) -> str:
    """How many measured rows a panel shows, and how many wait for which of its values
    (``"4 of 7 measured rows; 3 wait for retention_pct"``)."""
    n, k = len(values), int(shown.sum())
    if k == n:
        return f"all {n} measured rows" if n else "no measured rows yet"
    missing = dict.fromkeys(t.name for t in pair if values[t.name][~shown].isna().any())
    return f"{k} of {n} measured rows; {n - k} wait for {' / '.join(missing)}"


def pareto_figure(result: RoundResult, settings: CampaignSettings) -> Figure:
    """Every pair of objectives: measured points, the measured front, proposals ± sd.

    Each panel shows every measured row that has both of its values (known targets such
    as cost computed from the inputs) and says how many measured rows wait for one of
    them; its front is the front of those rows in its two objectives. Measured points
    carry their ids (all up to :data:`N_ALL_IDS` points, else the front's), proposals
    theirs. The legend sits outside the panels (in the spare grid cell, or below).
    """
    targets = list(settings.objectives.targets)
    ledger = result.ledger
    measured = ledger[ledger["status"] == "measured"]
    values = known_values(measured, settings)
    meets = meets_constraints(measured, settings.objectives).to_numpy()
    ids = measured["id"].astype(str).to_numpy()
    batch = result.batch
    pairs = list(itertools.combinations(targets, 2)) or [(targets[0], targets[0])]
    fig, nrows, ncols = _grid(len(pairs), 4.1, extra_in=0.5)
    spare = nrows * ncols > len(pairs)
    preds = {t.name: _interval(batch, t) for t in targets}
    panels = []
    for k, (a, b) in enumerate(pairs):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        shown = (values[a.name].notna() & values[b.name].notna()).to_numpy()
        rows, ok = values[shown], meets[shown]
        front = np.zeros(len(rows), dtype=bool)  # rows breaking a constraint are off it
        front[ok] = _front_mask(rows[ok], [a, b] if a is not b else [a])
        ax.scatter(rows[a.name][ok], rows[b.name][ok], s=22, c=MEASURED, zorder=2)
        ax.scatter(rows[a.name][front], rows[b.name][front], s=42, c=FRONT, zorder=3)
        if not ok.all():
            ax.scatter(rows[a.name][~ok], rows[b.name][~ok], s=22, facecolors="none",
                       edgecolors=MEASURED, zorder=2)
        (xm, xerr), (ym, yerr) = preds[a.name], preds[b.name]
        has_batch = bool(len(batch)) and np.isfinite(xm).all() and np.isfinite(ym).all()
        if has_batch:
            ax.errorbar(xm, ym, xerr=xerr, yerr=yerr, fmt="D", c=PROPOSED, ms=6,
                        capsize=3, zorder=4)
        for t, setter in ((a, ax.axvline), (b, ax.axhline)):
            setter(t.threshold, ls="--", lw=0.8, c="k")
        ax.set_xlabel(f"{a.label} ({a.direction})")
        ax.set_ylabel(f"{b.label} ({b.direction})")
        ax.set_title(_shown_title(values, shown, (a, b)))
        _style(ax)
        if a.transform == "log10":
            ax.set_xscale("log")
            _log_axis(ax.xaxis, *ax.get_xlim())
        if b.transform == "log10":
            ax.set_yscale("log")
            _log_axis(ax.yaxis, *ax.get_ylim())
        panels.append((ax, rows, front, shown, xm, ym, has_batch))
    handles = [
        Line2D([], [], ls="", marker="o", ms=5, c=MEASURED,
               label="measured (ids" + (f" on the front where over {N_ALL_IDS})" if any(
                   len(p[1]) > N_ALL_IDS for p in panels) else ")")),
        Line2D([], [], ls="", marker="o", ms=7, c=FRONT,
               label="measured front of the panel's two objectives"),
        Line2D([], [], ls="-", marker="D", ms=6, c=PROPOSED,
               label="proposed (median, 68 % on log axes; else mean ± 1 sd)"),
        Line2D([], [], ls="--", lw=0.8, c="k", label="threshold (worst value worth having)"),
    ]
    if not meets.all():
        limits = ", ".join(t.constraint_text for t in settings.objectives.constrained
                           if not t.is_known)
        handles.insert(1, Line2D([], [], ls="", marker="o", ms=5, mfc="none", c=MEASURED,
                                 label=f"measured, breaks {limits} (off the front)"))
    fig.suptitle(f"{result.campaign} round {result.round}: measured front and proposals",
                 fontsize=SUPTITLE_PT)
    if spare:
        host = fig.add_subplot(nrows, ncols, len(pairs) + 1)
        host.axis("off")
        host.legend(handles=handles, loc="center", fontsize=TICK_PT, frameon=False)
        fig.tight_layout()
    else:
        fig.tight_layout(rect=(0, _legend_below(fig, handles), 1, 1))
    for (ax, rows, front, shown, xm, ym, has_batch), (a, b) in zip(panels, pairs,
                                                                   strict=True):
        taken: list[tuple] = []  # proposals first: their labels never overlap
        points = rows[[a.name, b.name]].to_numpy(float)
        proposals = np.stack([xm, ym], -1) if has_batch else np.zeros((0, 2))
        marks = np.vstack([points, proposals])
        if has_batch:
            _place_labels(ax, proposals, list(batch["id"].astype(str)), taken,
                          marks=marks, color=PROPOSED)
        pick = np.ones(len(rows), bool) if len(rows) <= N_ALL_IDS else front
        _place_labels(ax, points[pick], list(ids[shown][pick]), taken, marks=marks,
                      color="#404040")
    return fig


# ---- composition map -----------------------------------------------------------------

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


def _map_layers(target: Target, mu: np.ndarray, sd: np.ndarray) -> list[tuple]:
    """The two maps of a target, in what a bench scientist reads: ``(values, title,
    colour-bar label, physical ticks or None)``. Log10-modelled: the median in its
    unit on a log colour scale, and the uncertainty as a ×/÷ factor (10**sd: the 68 %
    interval runs from median / factor to median × factor)."""
    if target.transform != "log10":
        return [(mu, f"predicted {target.name}\n(mean)", f"predicted {target.label}", None),
                (sd, f"uncertainty of predicted {target.name}\n(sd)",
                 f"sd of predicted {target.label}", None)]
    lo, hi = 10 ** float(mu.min()), 10 ** float(mu.max())
    return [(mu, f"predicted {target.name}\n(median, log colour scale)",
             f"{target.label}, median", _log_ticks(lo, hi, 7)),
            (10 ** sd, "uncertainty of the prediction: ×/÷ factor\n(68 %: median / factor "
             "to median × factor)", "×/÷ factor (68 % interval)", None)]


def composition_figure(result: RoundResult, settings: CampaignSettings) -> Figure | None:
    """Ternary map of the main target's prediction and its uncertainty over the
    composition, in physical units.

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
    rest_label = others[0] if len(others) == 1 else "+".join(others)

    def coords(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t_ = rows[names[0]].to_numpy(float)
        l_ = rows[names[1]].to_numpy(float)
        r_ = rows[others].to_numpy(float).sum(axis=1)
        return t_, l_, r_

    fig = Figure(figsize=(WIDTH_IN, 6.0), dpi=DPI)
    FigureCanvasAgg(fig)
    for k, (values, title, bar_label, ticks) in enumerate(_map_layers(target, mu, sd)):
        ax = fig.add_subplot(1, 2, k + 1, projection="ternary")
        pc = ax.tripcolor(a, b, rest, values, shading="gouraud", cmap="viridis",
                          rasterized=True)
        bar = fig.colorbar(pc, ax=ax, shrink=0.72, pad=0.3)  # clear of the right label
        bar.set_label(bar_label, fontsize=TICK_PT)
        if ticks is not None:  # log10 values, labelled in the physical unit
            lo, hi = float(values.min()), float(values.max())
            bar.set_ticks(np.log10(ticks), labels=[_plain(v) for v in ticks])
            minor = [float(f"{m}e{e}") for e in range(math.floor(lo) - 1, math.ceil(hi) + 1)
                     for m in range(1, 10)]
            bar.ax.yaxis.set_minor_locator(FixedLocator(
                [v for v in np.log10(minor) if lo <= v <= hi]))
        bar.ax.tick_params(labelsize=TICK_PT)
        for rows, colour, marker, label in (
            (measured, "w", "o", "measured"),
            (ledger[ledger["status"].isin(["proposed", "approved"])
                    & ~ledger["id"].isin(result.batch["id"])], PENDING, "s", "pending"),
            (result.batch, PROPOSED, "D", "proposed this round"),
        ):
            if len(rows):
                ax.scatter(*coords(rows), c=colour, marker=marker, s=30, edgecolors="k",
                           linewidths=0.6, label=label, clip_on=False, zorder=3)
        ax.set_tlabel(f"{names[0]} (mole fraction)", fontsize=TICK_PT)
        ax.set_llabel(f"{names[1]} (mole fraction)", fontsize=TICK_PT)
        ax.set_rlabel(f"{rest_label} (mole fraction)", fontsize=TICK_PT)
        ax.tick_params(labelsize=TICK_PT - 1)
        # a fixed title height: mpltern's automatic one re-measures every tick label of
        # the three axes for each title and label (most of this figure's drawing time)
        ax.set_title(title, y=1.28, fontsize=TITLE_PT)  # above the top corner label
    held = ", ".join(f"{p.name}={best[p.name]:.3g}" for p in space.parameters)
    fig.suptitle(f"{result.campaign} round {result.round}: composition map (blank: outside "
                 f"the constraints)\nmodel slice at the process settings of the best measured "
                 f"row ({best['id']}):\n{held}; points at their own settings",
                 fontsize=TICK_PT)
    handles, _ = fig.axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, _legend_below(fig, handles, ncols=3), 1, 1))
    return fig


# ---- failure map ---------------------------------------------------------------------

def _reference_row(result: RoundResult, settings: CampaignSettings) -> pd.Series:
    """The row whose settings a map's slice holds: the best measured row of the first
    measured target (the composition map's slice), else the first proposal."""
    t = next((t for t in settings.objectives.targets if not t.is_known), None)
    ledger = result.ledger
    measured = ledger[(ledger["status"] == "measured")]
    if t is not None and measured[t.name].notna().any():
        measured = measured[measured[t.name].notna()]
        return measured.loc[(t.sign * measured[t.name]).idxmax()]
    return result.batch.iloc[0]


def _steepest_pair(model, settings: CampaignSettings, ref: pd.Series) -> list[str]:
    """The (up to) two process parameters along which the probability of failure
    changes most from ``ref`` (a sweep of each over its range, the rest held)."""
    from surrogates import success_probability

    space = settings.space
    spans = []
    for p in space.parameters:
        if space.parameter(p.name) is None or p.name in space.categorical_names:
            continue
        lo, hi = space.physical_bounds[p.name]
        if hi <= lo:
            continue
        frame = pd.DataFrame([ref[space.names]] * 25).reset_index(drop=True)
        frame[p.name] = np.geomspace(lo, hi, 25) if p.log_scale and lo > 0 else \
            np.linspace(lo, hi, 25)
        with torch.no_grad():
            prob = success_probability(model, space.encode(frame, **settings.tkwargs))
        spans.append((float(prob.max() - prob.min()), p.name))
    return [name for _, name in sorted(spans, reverse=True)[:2]]


def failure_figure(result: RoundResult, settings: CampaignSettings) -> Figure | None:
    """Where experiments are predicted to fail: the classifier's probability of failure
    (1 - P(success)) as a ternary map over the composition (process settings of the
    composition map's slice) and as a map over the two process parameters it depends on
    most (the rest held at that row); failed rows as red crosses, measured rows as
    dots, this round's proposals as diamonds, each at its own settings. ``None`` without
    a fitted classifier (no failure yet, or ``feasibility.model=none``)."""
    from surrogates import success_probability

    model = result.feasibility
    if model is None:
        return None
    space, comp, ledger = settings.space, settings.space.composition, result.ledger
    ref = _reference_row(result, settings)
    pair = _steepest_pair(model, settings, ref)
    panels = (["ternary"] if comp is not None else []) + (["pair"] if len(pair) == 2 else [])
    if not panels:
        return None
    groups = ((ledger[ledger["status"] == "measured"], "w", "o", "measured"),
              (ledger[ledger["status"] == "failed"], "#d62728", "X", "failed"),
              (result.batch, PROPOSED, "D", "proposed this round"))
    fig = Figure(figsize=(WIDTH_IN if len(panels) == 2 else ONE_COLUMN_IN, 5.6), dpi=DPI)
    FigureCanvasAgg(fig)
    for k, panel in enumerate(panels):
        if panel == "ternary":
            names, others = comp.names, comp.names[2:]
            a, b, rest, X = _ternary_grid(settings, ref)
            feasible = (space.max_violation(X) <= 1e-9).cpu().numpy()
            with torch.no_grad():
                fail = 1 - success_probability(model, X).cpu().numpy()
            a, b, rest, fail = (v[feasible] for v in (a, b, rest, fail))
            ax = fig.add_subplot(1, len(panels), k + 1, projection="ternary")
            pc = ax.tripcolor(a, b, rest, fail, shading="gouraud", cmap="magma_r",
                              vmin=0, vmax=1, rasterized=True)
            for rows, colour, marker, label in groups:
                if len(rows):
                    ax.scatter(rows[names[0]].to_numpy(float), rows[names[1]].to_numpy(float),
                               rows[others].to_numpy(float).sum(axis=1), c=colour,
                               marker=marker, s=34, edgecolors="k", linewidths=0.6,
                               label=label, clip_on=False, zorder=3)
            rest_label = others[0] if len(others) == 1 else "+".join(others)
            ax.set_tlabel(f"{names[0]} (mole fraction)", fontsize=TICK_PT)
            ax.set_llabel(f"{names[1]} (mole fraction)", fontsize=TICK_PT)
            ax.set_rlabel(f"{rest_label} (mole fraction)", fontsize=TICK_PT)
            ax.tick_params(labelsize=TICK_PT - 1)
            held = ", ".join(f"{p.name}={space.format_value(p.name, ref[p.name])}"
                             for p in space.parameters)
            ax.set_title("\n".join(["P(failure) over the composition",
                                    *_wrap(f"at {held}", 50)]), y=1.28, fontsize=TICK_PT)
            bar = fig.colorbar(pc, ax=ax, shrink=0.72, pad=0.3)
        else:
            xn, yn = pair
            (x0, x1), (y0, y1) = space.physical_bounds[xn], space.physical_bounds[yn]
            logs = [space.parameter(n).log_scale and lo > 0 for n, lo in ((xn, x0), (yn, y0))]
            xs = np.geomspace(x0, x1, 50) if logs[0] else np.linspace(x0, x1, 50)
            ys = np.geomspace(y0, y1, 50) if logs[1] else np.linspace(y0, y1, 50)
            gx, gy = np.meshgrid(xs, ys)
            frame = pd.DataFrame([ref[space.names]] * gx.size).reset_index(drop=True)
            frame[xn], frame[yn] = gx.ravel(), gy.ravel()
            with torch.no_grad():
                fail = 1 - success_probability(
                    model, space.encode(frame, **settings.tkwargs)).cpu().numpy()
            ax = fig.add_subplot(1, len(panels), k + 1)
            pc = ax.pcolormesh(gx, gy, fail.reshape(gx.shape), cmap="magma_r", vmin=0,
                               vmax=1, shading="gouraud", rasterized=True)
            for rows, colour, marker, label in groups:
                if len(rows):
                    ax.scatter(rows[xn].to_numpy(float), rows[yn].to_numpy(float), c=colour,
                               marker=marker, s=34, edgecolors="k", linewidths=0.6,
                               label=label, zorder=3)
            if logs[0]:
                ax.set_xscale("log")
                _log_axis(ax.xaxis, x0, x1)
            if logs[1]:
                ax.set_yscale("log")
                _log_axis(ax.yaxis, y0, y1)
            unit = {n: space.parameter(n).unit for n in pair}
            ax.set_xlabel(f"{xn} [{unit[xn]}]" if unit[xn] else xn, fontsize=LABEL_PT)
            ax.set_ylabel(f"{yn} [{unit[yn]}]" if unit[yn] else yn, fontsize=LABEL_PT)
            held = ", ".join(f"{n}={space.format_value(n, ref[n])}" for n in space.names
                             if n not in pair)
            ax.set_title("P(failure) over the two inputs it depends on most\n"
                         + "\n".join(_wrap(f"rest at {held}", 60)), fontsize=TICK_PT)
            _style(ax)
            bar = fig.colorbar(pc, ax=ax, shrink=0.85)
        bar.set_label("predicted probability of failure", fontsize=TICK_PT)
        bar.ax.tick_params(labelsize=TICK_PT)
    n_failed = int((ledger["status"] == "failed").sum())
    fig.suptitle(f"{result.campaign} round {result.round}: where experiments fail "
                 f"(feasibility classifier, {n_failed} failed of "
                 f"{int(ledger['status'].isin(['measured', 'failed']).sum())})\nslices "
                 f"through {ref['id']}'s settings; points at their own", fontsize=TICK_PT)
    handles, _ = fig.axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, _legend_below(fig, handles, ncols=3), 1, 0.97))
    return fig


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


# ---- model check ---------------------------------------------------------------------

def model_check_figure(result: RoundResult) -> Figure | None:
    """Leave-one-out predicted versus measured per fitted target, with RMSE and R²
    (``optim.metrics.loo_checks``); ``None`` without a fitted model."""
    checks = result.model_check
    if not checks:
        return None
    fig, nrows, ncols = _grid(len(checks), 4.3, extra_in=0.4)
    for k, c in enumerate(checks):
        t, observed, mean = c.target, c.observed, c.mean
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.errorbar(observed, mean, yerr=c.sd, fmt="o", ms=4, capsize=2, c=FRONT)
        lo, hi = min(observed.min(), mean.min()), max(observed.max(), mean.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"measured {_model_label(t)}")
        ax.set_ylabel(f"leave-one-out predicted\n{_model_label(t)}")
        unit = " decades" if t.transform == "log10" else f" {t.unit}"
        ax.set_title(f"{t.name}: RMSE {c.rmse:.3g}{unit}, R² {c.r2:.2f}, n={len(observed)}")
        _style(ax)
    fig.suptitle(f"{result.campaign} round {result.round}: model check (error bars: LOO sd)",
                 fontsize=SUPTITLE_PT)
    fig.tight_layout()
    return fig


# ---- inputs --------------------------------------------------------------------------

def _jitter(n: int, width: float = 0.3) -> np.ndarray:
    """Deterministic spreads in ``[-width/2, width/2]`` (golden-ratio sequence), so
    points of one category sit side by side, the same on every machine."""
    return ((np.arange(n) * 0.6180339887) % 1.0 - 0.5) * width


def _input_axis(ax: Axes, settings: CampaignSettings, name: str,
                column: pd.Series) -> np.ndarray:
    """The x positions of one input's values on its axis, the axis set up to read it:
    a categorical input's choices by name (ticks at 0, 1, ...; points jittered), a
    whole-number grid with whole-number ticks, a log-scale input on a log axis."""
    p = settings.space.parameter(name)
    if p is not None and p.is_categorical:
        index = {c: k for k, c in enumerate(p.choices)}
        x = np.array([index.get(str(v), np.nan) for v in column], float)
        ax.set_xticks(range(len(p.choices)), list(p.choices))
        ax.set_xlim(-0.5, len(p.choices) - 0.5)
        ax.set_xlabel(p.name + (" (ordered)" if p.ordered else ""))
        return x + _jitter(len(x))
    x = pd.to_numeric(column, errors="coerce").to_numpy(float)
    ax.set_xlabel(p.label if p is not None else f"{name} (mole fraction)")
    comp = settings.space.composition
    lo, hi = (p.lower, p.upper) if p is not None else comp.bounds.get(name, (0.0, comp.total))
    ax.set_xlim(lo - 0.04 * (hi - lo), hi + 0.04 * (hi - lo))  # the whole allowed range
    if p is not None and p.log_scale:
        ax.set_xscale("log")
        ax.set_xlim(p.lower / 1.15, p.upper * 1.15)
        _log_axis(ax.xaxis, p.lower, p.upper)
    elif p is not None and p.is_whole:  # 300, 400, 500 rpm: multiples of the step
        step = p.step if p.kind == "integer" else 1.0
        span = (p.upper - p.lower) / step
        k = next(m for m in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, math.inf)
                 if span / m <= 7)
        ax.xaxis.set_major_locator(MultipleLocator(step * k, offset=p.lower % (step * k))
                                   if math.isfinite(k) else MaxNLocator(6, integer=True))
        ax.xaxis.set_major_formatter(FuncFormatter(_plain))
    return x


def inputs_figure(result: RoundResult, settings: CampaignSettings) -> Figure | None:
    """What each input did: the main measured target against every input (one panel
    each), measured rows as points, failed syntheses as crosses along the bottom, and
    this round's proposals at their inputs (at the prediction with its interval after a
    model-based round, as ticks along the bottom otherwise). Categorical inputs read by
    name; whole-number inputs with whole-number ticks. ``None`` without a measured
    target."""
    t = next((t for t in settings.objectives.targets if not t.is_known), None)
    if t is None:
        return None
    ledger, batch = result.ledger, result.batch
    names = settings.space.names
    measured = ledger[(ledger["status"] == "measured") & ledger[t.name].notna()]
    failed = ledger[ledger["status"] == "failed"]
    predicted = f"pred_{t.name}_mean" in batch and batch[f"pred_{t.name}_mean"].notna().any()
    fig, nrows, ncols = _grid(len(names), 2.9, extra_in=0.8)
    for k, name in enumerate(names):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        bottom = ax.get_xaxis_transform()  # x in data, y in axes fraction
        xs = _input_axis(ax, settings, name, pd.concat(
            [measured[name], failed[name], batch[name]], ignore_index=True))
        xm, xf, xb = np.split(xs, [len(measured), len(measured) + len(failed)])
        ax.scatter(xm, measured[t.name].to_numpy(float), s=18, c=MEASURED, zorder=2)
        if len(failed):
            ax.scatter(xf, np.full(len(xf), 0.04), marker="x", s=22, c="k", lw=0.9,
                       transform=bottom, zorder=2)
        if predicted:
            centre, err = _interval(batch, t)
            ax.errorbar(xb, centre, yerr=err, fmt="D", ms=5, c=PROPOSED, capsize=2,
                        zorder=3)
        else:
            ax.scatter(xb, np.full(len(xb), 0.04), marker="|", s=120, c=PROPOSED, lw=1.6,
                       transform=bottom, zorder=3)
        if t.transform == "log10" and (len(measured) or predicted):
            ax.set_yscale("log")
            _log_axis(ax.yaxis, *ax.get_ylim())
        if not len(measured):
            ax.text(0.5, 0.5, f"no {t.name} measured yet", transform=ax.transAxes,
                    ha="center", va="center", fontsize=TICK_PT, color="#404040")
        ax.set_ylabel(t.label)
        _style(ax)
    handles = [Line2D([], [], ls="", marker="o", c=MEASURED, label="measured"),
               Line2D([], [], ls="", marker="D" if predicted else "|", c=PROPOSED,
                      label=("proposed (prediction, "
                             + ("median, 68 % interval)" if t.transform == "log10"
                                else "mean ± sd)")) if predicted
                      else "proposed (not yet predicted)")]
    if len(failed):
        handles.append(Line2D([], [], ls="", marker="x", c="k", label="failed synthesis"))
    fig.suptitle(f"{result.campaign} round {result.round}: {t.name} against each input",
                 fontsize=SUPTITLE_PT)
    fig.tight_layout(rect=(0, _legend_below(fig, handles, ncols=len(handles)), 1, 0.98))
    return fig


# ---- progress ------------------------------------------------------------------------

def _best_by_round(values: np.ndarray, rounds_of: np.ndarray, ids: np.ndarray, t: Target,
                   rounds: list[int]) -> tuple[np.ndarray, list[str | None]]:
    """The best of ``values`` (one target, physical units, one per measured row) over
    rows proposed up to each round, and the id of the row holding it (NaN / None before
    any; a tie keeps the earlier row)."""
    best, who = [], []
    for r in rounds:
        rows = np.flatnonzero((rounds_of <= r) & np.isfinite(values))
        i = rows[np.argmax(t.sign * values[rows])] if len(rows) else None
        best.append(np.nan if i is None else float(values[i]))
        who.append(None if i is None else str(ids[i]))
    return np.asarray(best, float), who


def progress_figure(result: RoundResult, settings: CampaignSettings) -> Figure:
    """The campaign's progress after each round's experiments, in physical units.

    One panel per target: the best measured value over rows proposed up to each round
    (threshold dashed, log axis for log10-modelled targets), labelled with the sample's
    id where the best changes. Several objectives add the hypervolume of the measured
    front (model scale; 0 until a sample beats every threshold). One point per round in
    the ledger; round 0 (rows added by hand) only when there are such rows.
    """
    ledger = result.ledger
    targets = list(settings.objectives.targets)
    rounds = sorted(int(r) for r in set(ledger["round"]))
    measured = ledger[ledger["status"] == "measured"]
    values = known_values(measured, settings)
    rounds_of = measured["round"].to_numpy(float)
    ids = measured["id"].astype(str).to_numpy()
    multi = len(targets) > 1
    fig, nrows, ncols = _grid(len(targets) + multi, 3.7, extra_in=0.5)
    xlabel = ("round (experiments proposed up to and including it"
              + ("; 0: added by hand)" if 0 in rounds else ")"))
    labels = []
    for k, t in enumerate(targets):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        best, who = _best_by_round(values[t.name].to_numpy(float), rounds_of, ids, t,
                                   rounds)
        ax.plot(rounds, best, "o-", c=FRONT, drawstyle="steps-post", zorder=3)
        ax.axhline(t.threshold, ls="--", lw=0.8, c="k")
        better = "higher" if t.sign > 0 else "lower"
        ax.set_title(f"best measured {t.name} ({better} is better)")
        ax.set_ylabel(f"best {t.label}")
        ax.set_xlabel(xlabel)
        if np.isnan(best).all():
            ax.text(0.5, 0.5, "no measurement yet", transform=ax.transAxes, ha="center",
                    va="center", fontsize=LABEL_PT, color="#404040")
        changes = [i for i, w in enumerate(who) if w is not None and (i == 0 or w != who[i - 1])]
        labels.append((ax, np.stack([np.asarray(rounds, float), best], -1), changes,
                       [str(who[i]) for i in changes]))
        ax.margins(x=0.08, y=0.15)
        if t.transform == "log10":
            ax.set_yscale("log")
            _log_axis(ax.yaxis, *ax.get_ylim())
    if multi:
        ax = fig.add_subplot(nrows, ncols, len(targets) + 1)
        hv = [measured_hypervolume(ledger[ledger["round"] <= r], settings) for r in rounds]
        n = [int(((ledger["round"] <= r) & (ledger["status"] == "measured")).sum())
             for r in rounds]
        ax.plot(rounds, hv, "o-", c=FRONT)
        for r, h, m in zip(rounds, hv, n, strict=True):
            ax.annotate(f"n={m}", (r, h), fontsize=ID_PT, xytext=(0, 6),
                        textcoords="offset points", ha="center")
        units = " × ".join("decades" if t.transform == "log10" else (t.unit or "1")
                           for t in targets)
        ax.set_ylabel(f"hypervolume [{units}]\n(model scale; reference: thresholds)")
        ax.set_xlabel(xlabel)
        ax.set_title("hypervolume of the measured front"
                     + ("\n0 until a sample beats every threshold" if min(hv) == 0 else ""))
        ax.margins(x=0.08, y=0.15)
    for ax in fig.axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        _style(ax)
    if multi:
        ax.yaxis.label.set_fontsize(TICK_PT)
    fig.suptitle(f"{result.campaign}: campaign progress by round", fontsize=SUPTITLE_PT)
    fig.tight_layout()
    for ax, xy, changes, texts in labels:
        _place_labels(ax, xy[changes], texts, [], marks=xy[np.isfinite(xy[:, 1])])
    return fig


def retention_curves_figure(result: RoundResult, limit: int = 12) -> Figure | None:
    """Each waiting cell's readings so far (points) and the round's predicted curve to
    the final checkpoint (line, 90 % band); ``None`` without a checkpoint GP's curves."""
    curves = next(iter(result.curves.items()), None)
    if curves is None or not curves[1]:
        return None
    name, cells = curves
    t = next(w.target for w in result.waiting if w.target.name == name)
    readings = {w.id: w.readings for w in result.waiting if w.target.name == name}
    shown = list(cells)[:limit]
    fig, nrows, ncols = _grid(len(shown), 3.2, extra_in=0.8)
    for k, ident in enumerate(shown):
        cps, mean, lo, hi = cells[ident]
        ax = fig.add_subplot(nrows, ncols, k + 1)
        ax.fill_between(cps, lo, hi, color=FRONT, alpha=0.2, lw=0)
        ax.plot(cps, mean, c=FRONT, lw=1.2)
        got = readings.get(ident, {})
        ax.plot(list(got), list(got.values()), "o", c="k", ms=4)
        ax.set_title(f"{ident}: {mean[-1]:.3g} [{lo[-1]:.3g}, {hi[-1]:.3g}]")
        ax.set_xlabel(t.checkpoint_unit)
        ax.set_ylabel(t.label)
        _style(ax)
    more = f" (first {limit} of {len(cells)})" if len(cells) > limit else ""
    fig.suptitle(f"{result.campaign} round {result.round}: cells still cycling{more}\n"
                 f"readings (points), predicted {t.name} and 90 % band to "
                 f"{t.final_checkpoint} {t.checkpoint_unit}", fontsize=SUPTITLE_PT)
    fig.tight_layout()
    return fig


def round_figures(result: RoundResult, settings: CampaignSettings) -> dict[str, Figure]:
    """Every review figure of a round, by artifact name."""
    figures = {"plots/pareto_front.png": pareto_figure(result, settings),
               "plots/progress.png": progress_figure(result, settings)}
    comp = composition_figure(result, settings)
    if comp is not None:
        figures["plots/composition_map.png"] = comp
    failure = failure_figure(result, settings)
    if failure is not None:
        figures["plots/failure_map.png"] = failure
    check = model_check_figure(result)
    if check is not None:
        figures["plots/model_check.png"] = check
    inputs = inputs_figure(result, settings)
    if inputs is not None:
        figures["plots/inputs.png"] = inputs
    curves = retention_curves_figure(result)
    if curves is not None:
        figures["plots/retention_curves.png"] = curves
    return figures
