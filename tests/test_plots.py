"""Review figures: produced headless, with physical units on every axis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import PathCollection

from optim.ledger import Ledger
from optim.metrics import loo_scores
from optim.plots import round_figures
from optim.rounds import plan_round, record_results
from tests.helpers import SMOKE, make_settings, measure


def _labels(fig) -> list[str]:
    return [ax.get_xlabel() + " | " + ax.get_ylabel() for ax in fig.axes]


@pytest.mark.slow
def test_oxychloride_round_figures(oxy, tmp_path):
    plan_round(oxy)
    measure(oxy, tmp_path, drop_retention=("oxy-0002",))
    result = plan_round(oxy)
    figures = round_figures(result, oxy)
    scores = loo_scores(result.model_check)
    assert set(figures) == {"plots/pareto_front.png", "plots/progress.png",
                            "plots/composition_map.png", "plots/model_check.png"}
    pareto = _labels(figures["plots/pareto_front.png"])
    assert any("conductivity_mS_cm [mS/cm]" in s and "cost_usd_per_L [USD/L]" in s
               for s in pareto)
    comp = figures["plots/composition_map.png"]
    tern = comp.axes[0]
    assert tern.get_tlabel() == "Li2O (mole fraction)"
    # colorbars name the log scale and the unit inside it; sd in decades
    bars = [ax.get_ylabel() for ax in comp.axes if ax.name != "ternary"]
    assert bars == ["predicted log10(conductivity_mS_cm / (mS/cm))",
                    "sd of predicted log10(conductivity_mS_cm / (mS/cm)) [decades]"]
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
    assert set(figures) == {"plots/pareto_front.png", "plots/progress.png"}
    assert result.model_check == []
    assert len(figures["plots/pareto_front.png"].axes) == 3  # three objective pairs
    progress = figures["plots/progress.png"]
    ax = progress.axes[0]
    assert list(ax.lines[0].get_xdata()) == [1]  # no round 0 without hand-added rows
    progress.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks == [1]  # rounds are whole numbers
    assert ax.get_ylabel().startswith("hypervolume of the measured front\n(model scale: ")
    assert "ref. = thresholds" in ax.get_ylabel() and "added by hand" not in ax.get_xlabel()


@pytest.mark.slow
def test_interlayer_figures_with_model(tmp_path):
    settings = make_settings("interlayer", tmp_path / "runs", SMOKE)
    plan_round(settings)
    frame = Ledger.load(settings.ledger_path, settings.schema).frame
    mg, naf = frame["mg_thickness_nm"], frame["naf_thickness_nm"]
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
