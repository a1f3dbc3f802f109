"""Review figures: produced headless, with physical units on every axis, and telling the
truth: every measured row that has a panel's two values, readable log ticks, labels and
legends that cover nothing, best values by round, colour bars in physical units."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection
from matplotlib.text import Annotation, Text

from optim.ledger import Ledger
from optim.metrics import known_values, loo_scores
from optim.plots import _log_ticks, pareto_figure, progress_figure, round_figures
from optim.rounds import plan_round, record_results
from tests.helpers import SMOKE, make_settings, measure

# seven measured rows over 0.2-3 mS/cm (under two decades); three wait for retention
COND = [0.2, 0.35, 0.6, 0.9, 1.4, 2.1, 3.0]
RET = [82.0, np.nan, np.nan, np.nan, 78.0, 79.0, 75.0]
PROPOSED_IDS = ["oxy-0101", "oxy-0102", "oxy-0103", "oxy-0104"]


def _labels(fig) -> list[str]:
    return [ax.get_xlabel() + " | " + ax.get_ylabel() for ax in fig.axes]


def _panel(fig, x: str, y: str):
    """The axes whose x and y labels start with the targets ``x`` and ``y``."""
    return next(ax for ax in fig.axes
                if ax.get_xlabel().startswith(x) and ax.get_ylabel().startswith(y))


def _overlap(a, b, tol: float = 0.5) -> bool:
    """Two display boxes overlap by more than ``tol`` pixels both ways."""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tol
            and min(a.y1, b.y1) - max(a.y0, b.y0) > tol)


def _texts(ax) -> list[Annotation]:
    return [c for c in ax.texts if isinstance(c, Annotation)]


def _data_axes(fig):
    return [ax for ax in fig.axes if ax.axison]


def _legends(fig):
    return list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]


@pytest.fixture
def recorded(oxy, tmp_path):
    """Round 2 of oxychloride as the figures see it: seven rows of the initial design
    measured (rows 5-7 moved to round 2), three of them waiting for retention, and four
    proposals crowded round one point (so their labels must make room)."""
    first = plan_round(oxy)
    ids = first.batch["id"].tolist()
    path = tmp_path / "results.csv"
    pd.DataFrame({"id": ids[:7], "conductivity_mS_cm": COND, "retention_pct": RET}
                 ).to_csv(path, index=False)
    record_results(oxy, path)
    ledger = Ledger.load(oxy.ledger_path, oxy.schema).frame
    ledger.loc[ledger["id"].isin(ids[4:7]), "round"] = 2
    batch = ledger[ledger["id"].isin(ids[:4])].copy().reset_index(drop=True)
    batch["id"] = PROPOSED_IDS
    batch["status"] = "proposed"
    step = np.arange(4, dtype=np.float64)
    batch["pred_conductivity_mS_cm_mean"] = 0.60 + 0.01 * step
    batch["pred_conductivity_mS_cm_sd"] = 0.1
    batch["pred_retention_pct_mean"] = 85.0 + 0.2 * step
    batch["pred_retention_pct_sd"] = 2.0
    cost = known_values(ledger[ledger["id"].isin(ids[:4])], oxy)["cost_usd_per_L"]
    batch["pred_cost_usd_per_L_mean"] = float(cost.mean()) + 0.2 * step
    batch["pred_cost_usd_per_L_sd"] = 0.0
    return replace(first, round=2, ledger=ledger, batch=batch), ids


def test_log_ticks_are_plain_and_few():
    assert _log_ticks(0.2, 3.0) == [0.2, 0.3, 0.5, 1.0, 2.0, 3.0]
    assert _log_ticks(0.01, 2.0) == [0.01, 0.03, 0.1, 0.3, 1.0]
    assert len(_log_ticks(1e-3, 1e3)) <= 6
    narrow = _log_ticks(1.0, 1.3)  # too narrow for two of k·10^e: linear steps
    assert len(narrow) >= 2 and all(1.0 <= v <= 1.3 for v in narrow)


def test_pareto_panels_keep_rows_missing_another_target(recorded, oxy):
    result, ids = recorded
    fig = pareto_figure(result, oxy)
    cost_panel = _panel(fig, "conductivity_mS_cm", "cost_usd_per_L")
    ret_panel = _panel(fig, "conductivity_mS_cm", "retention_pct")
    # conductivity vs cost: all seven measured rows (cost is computed for each)
    measured_x = np.concatenate([c.get_offsets()[:, 0] for c in cost_panel.collections
                                 if isinstance(c, PathCollection)])
    assert set(np.round(measured_x, 6)) == set(COND)
    assert cost_panel.get_title() == "all 7 measured rows"
    # conductivity vs retention: the four complete rows, and the three that wait
    grey = ret_panel.collections[0].get_offsets()
    assert sorted(np.round(grey[:, 0], 6)) == [0.2, 1.4, 2.1, 3.0]
    assert ret_panel.get_title() == "4 of 7 measured rows; 3 wait for retention_pct"
    # few points: every measured one carries its id; proposals theirs
    texts = {a.get_text() for a in _texts(cost_panel)}
    assert set(ids[:7]) | set(PROPOSED_IDS) <= texts
    texts = {a.get_text() for a in _texts(ret_panel)}
    assert {ids[k] for k in (0, 4, 5, 6)} | set(PROPOSED_IDS) <= texts
    assert not {ids[k] for k in (1, 2, 3)} & texts
    # the front is the panel's: in conductivity (max) vs retention (max), 1.4 mS/cm at
    # 78 % is dominated by 2.1 mS/cm at 79 %; 0.2 (82 %), 2.1 and 3.0 (75 %) are not
    front = ret_panel.collections[1].get_offsets()
    assert sorted(np.round(front[:, 0], 6)) == [0.2, 2.1, 3.0]


def test_pareto_log_ticks_are_readable(recorded, oxy):
    result, _ = recorded
    fig = pareto_figure(result, oxy)
    fig.canvas.draw()
    ax = _panel(fig, "conductivity_mS_cm", "cost_usd_per_L")
    assert ax.get_xscale() == "log"
    lo, hi = ax.get_xlim()
    assert 0.1 < lo < 0.2 and 3.0 < hi < 4.0  # the data span under two decades
    labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
    texts = [t.get_text() for t in labels]
    assert len(texts) >= 3 and len(set(texts)) == len(texts)
    assert all(s == f"{float(s):g}" for s in texts), texts  # plain numbers, no 2×10⁻¹
    assert {"0.2", "1", "3"} <= set(texts)
    boxes = [t.get_window_extent() for t in labels]
    assert not any(_overlap(a, b) for a, b in itertools.combinations(boxes, 2))
    assert not any(t.get_text() for t in ax.xaxis.get_minorticklabels())


def test_pareto_labels_and_legend_cover_nothing(recorded, oxy):
    result, _ = recorded
    fig = pareto_figure(result, oxy)
    fig.canvas.draw()
    assert fig.get_size_inches()[0] * fig.dpi <= 1000
    for ax in _data_axes(fig):
        labels = _texts(ax)
        proposals = [a for a in labels if a.get_text() in PROPOSED_IDS]
        assert len(proposals) == 4
        boxes = [(a.get_text(), Text.get_window_extent(a)) for a in labels]  # not leaders
        clashes = [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
                   if _overlap(ba, bb)]
        assert not clashes
    legends = _legends(fig)
    assert len(legends) == 1
    box = legends[0].get_window_extent()
    assert not any(_overlap(box, ax.get_window_extent()) for ax in _data_axes(fig))
    assert "front of the panel's two objectives" in " ".join(
        t.get_text() for t in legends[0].get_texts())


def test_progress_shows_best_values_by_round(recorded, oxy):
    result, ids = recorded
    fig = progress_figure(result, oxy)
    fig.canvas.draw()
    assert fig.get_size_inches()[0] * fig.dpi <= 1000
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:3] == ["best measured conductivity_mS_cm (higher is better)",
                          "best measured retention_pct (higher is better)",
                          "best measured cost_usd_per_L (lower is better)"]
    cond, ret = fig.axes[0], fig.axes[1]
    assert cond.get_yscale() == "log" and cond.get_ylabel() == "best conductivity_mS_cm [mS/cm]"
    assert list(cond.lines[0].get_xdata()) == [1, 2]
    np.testing.assert_allclose(cond.lines[0].get_ydata(), [0.9, 3.0])
    np.testing.assert_allclose(ret.lines[0].get_ydata(), [82.0, 82.0])
    # thresholds dashed, in physical units
    dashed = [ln for ln in cond.lines if ln.get_linestyle() == "--"]
    assert dashed and list(dashed[0].get_ydata()) == [1.0, 1.0]
    # ids where the best changes (and only there)
    assert [a.get_text() for a in _texts(cond)] == [ids[3], ids[6]]
    assert [a.get_text() for a in _texts(ret)] == [ids[0]]
    ticks = [t.get_text() for t in cond.get_yticklabels() if t.get_text()]
    assert ticks and all(s == f"{float(s):g}" for s in ticks)
    # several objectives: the hypervolume too, and why it is 0
    hv = fig.axes[3]
    assert hv.get_title() == ("hypervolume of the measured front\n"
                              "0 until a sample beats every threshold")
    assert list(hv.lines[0].get_ydata()) == [0.0, 0.0]


def test_single_objective_figures_show_the_best_value(tmp_path):
    settings = make_settings("crossed_barrel", tmp_path / "runs", SMOKE)
    first = plan_round(settings)
    ids = first.batch["id"].tolist()
    path = tmp_path / "results.csv"
    pd.DataFrame({"id": ids, "toughness": [5.0, 12.0]}).to_csv(path, index=False)
    record_results(settings, path)
    ledger = Ledger.load(settings.ledger_path, settings.schema).frame
    ledger.loc[ledger["id"] == ids[1], "round"] = 2
    result = replace(first, ledger=ledger)
    progress = progress_figure(result, settings)
    progress.canvas.draw()
    words = " ".join(t.get_text() for t in progress.findobj(Text))
    assert "hypervolume" not in words
    (ax,) = progress.axes
    assert ax.get_title() == "best measured toughness (higher is better)"
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [5.0, 12.0])
    assert [a.get_text() for a in _texts(ax)] == ids
    # one panel: the legend goes below it, over no data
    pareto = pareto_figure(result, settings)
    pareto.canvas.draw()
    (legend,) = _legends(pareto)
    assert not any(_overlap(legend.get_window_extent(), a.get_window_extent())
                   for a in _data_axes(pareto))


def _tick_texts(ax) -> list[str]:
    lo, hi = ax.get_xlim()
    return [t.get_text() for t in ax.get_xticklabels()
            if t.get_text() and lo <= t.get_position()[0] <= hi]


@pytest.mark.slow
def test_oxychloride_round_figures(oxy, tmp_path):
    plan_round(oxy)
    measure(oxy, tmp_path, drop_retention=("oxy-0002",))
    result = plan_round(oxy)
    figures = round_figures(result, oxy)
    scores = loo_scores(result.model_check)
    assert set(figures) == {"plots/pareto_front.png", "plots/progress.png",
                            "plots/composition_map.png", "plots/model_check.png",
                            "plots/inputs.png"}
    inputs = figures["plots/inputs.png"]
    inputs.canvas.draw()
    by_input = {ax.get_xlabel(): ax for ax in inputs.axes if ax.get_xlabel()}
    assert list(by_input)[:3] == ["Li2O (mole fraction)", "ZrCl4 (mole fraction)",
                                  "AlCl3 (mole fraction)"]
    rpm = _tick_texts(by_input["milling_speed_rpm [rpm]"])
    assert rpm and all(t.isdigit() and int(t) % 50 == 0 for t in rpm)  # 300 .. 650, no .0
    assert all(t.isdigit() for t in _tick_texts(by_input["anneal_time_h [h]"]))
    errorbars = [c for c in by_input["milling_speed_rpm [rpm]"].containers]
    assert errorbars  # the proposals at their predictions
    for fig in figures.values():  # sized for mlflow's artifact viewer
        assert fig.get_size_inches()[0] * fig.dpi <= 1000
    pareto = _labels(figures["plots/pareto_front.png"])
    assert any("conductivity_mS_cm [mS/cm]" in s and "cost_usd_per_L [USD/L]" in s
               for s in pareto)
    comp = figures["plots/composition_map.png"]
    tern = comp.axes[0]
    assert tern.get_tlabel() == "Li2O (mole fraction)"
    # colour bars in physical units: the median in mS/cm (log colour scale, ticks
    # labelled in mS/cm), the uncertainty as a ×/÷ factor
    comp.canvas.draw()
    bars = [ax for ax in comp.axes if ax.name != "ternary"]
    labels = [ax.get_ylabel() for ax in bars]
    assert labels == ["conductivity_mS_cm [mS/cm], median", "×/÷ factor (68 % interval)"]
    assert not any("log10" in s for s in labels)
    ticks = [(t.get_position()[1], t.get_text()) for t in bars[0].get_yticklabels()
             if t.get_text()]
    assert len(ticks) >= 2
    for loc, text in ticks:
        assert float(text) == pytest.approx(10 ** loc, rel=1e-9)
    assert min(bars[1].get_ylim()) >= 1.0  # a ×/÷ factor is at least 1
    # points on the triangle's edges are drawn whole
    points = [c for ax in comp.axes if ax.name == "ternary" for c in ax.collections
              if isinstance(c, PathCollection)]
    assert points and not any(c.get_clip_on() for c in points)
    best = result.ledger.loc[result.ledger["conductivity_mS_cm"].idxmax(), "id"]
    assert f"slice at the process settings of the best measured row ({best})" in \
        comp.get_suptitle()
    check = _labels(figures["plots/model_check.png"])
    assert any("measured log10(conductivity_mS_cm / (mS/cm))" in s for s in check)
    assert scores["loo_rmse_retention_pct"] > 0 and np.isfinite(scores["loo_r2_"
                                                                        "conductivity_mS_cm"])
    for fig in figures.values():
        fig.savefig(tmp_path / "f.png")  # renders without a display


def test_interlayer_figures_without_model(tmp_path):
    settings = make_settings("interlayer", tmp_path / "runs", SMOKE)
    result = plan_round(settings)
    figures = round_figures(result, settings)
    assert set(figures) == {"plots/pareto_front.png", "plots/progress.png",
                            "plots/inputs.png"}
    assert result.model_check == []
    inputs = figures["plots/inputs.png"]
    inputs.canvas.draw()
    seed = next(ax for ax in inputs.axes if ax.get_xlabel() == "seed_metal")
    assert [t.get_text() for t in seed.get_xticklabels()] == ["Mg", "Sn", "Au", "none"]
    xs = seed.collections[-1].get_offsets()[:, 0]  # the proposals, jittered per choice
    assert len(xs) == len(result.batch)
    index = {"Mg": 0, "Sn": 1, "Au": 2, "none": 3}
    assert np.allclose(np.round(xs), [index[v] for v in result.batch["seed_metal"]])
    pareto = figures["plots/pareto_front.png"]
    assert len(_data_axes(pareto)) == 3  # three objective pairs; the legend in the 4th cell
    progress = figures["plots/progress.png"]
    ax = next(a for a in progress.axes if a.get_title().startswith("hypervolume"))
    assert list(ax.lines[0].get_xdata()) == [1]  # no round 0 without hand-added rows
    progress.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1]  # rounds are whole numbers
    assert ax.get_ylabel().startswith("hypervolume [")
    assert "reference: thresholds" in ax.get_ylabel()
    assert "added by hand" not in ax.get_xlabel()
    nothing = [a for a in progress.axes if not a.get_title().startswith("hypervolume")]
    assert all("no measurement yet" in [t.get_text() for t in a.texts] for a in nothing)


@pytest.mark.slow
def test_interlayer_figures_with_model(tmp_path):
    settings = make_settings("interlayer", tmp_path / "runs", SMOKE)
    plan_round(settings)
    frame = Ledger.load(settings.ledger_path, settings.schema).frame
    mg, naf = frame["seed_thickness_nm"], frame["naf_thickness_nm"]
    results = pd.DataFrame({
        "id": frame["id"],
        "retention_pct": 60 + 20 * np.exp(-((naf - 25) / 30) ** 2),
        "ccd_mA_cm2": 0.5 + mg / 200,
        "energy_density_Wh_kg": 250 - naf / 4,
    })
    path = tmp_path / "r.csv"
    results.to_csv(path, index=False)
    record_results(settings, path)
    result = plan_round(settings)
    figures = round_figures(result, settings)
    scores = loo_scores(result.model_check)
    assert "plots/composition_map.png" not in figures
    assert {"loo_rmse_retention_pct", "loo_rmse_ccd_mA_cm2"} <= set(scores)
