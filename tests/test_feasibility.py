"""Failures and limits: outcome constraints in the config, the ledger and the front;
the feasibility classifier's probabilities; campaigns whose every row failed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from optim.benchmarks import feasibility_calibration as calib
from optim.exceptions import ConfigError
from optim.feasibility import FeasibilitySpec, success_labels
from optim.ledger import Ledger
from optim.metrics import best_measured, measured_hypervolume
from optim.objectives import Objectives, Target
from optim.report import format_batch
from optim.rounds import plan_round, record_results
from surrogates import DirichletGPClassifier, success_probability
from tests.helpers import SMOKE, cli_inprocess, make_campaign, make_settings

TK = {"dtype": torch.float64}


# ---- the classifier ------------------------------------------------------------------

def test_classifier_probabilities_are_calibrated_on_a_synthetic_failure_region():
    # predicted vs true failure rate in bins of the prediction, 60 experiments, 3 fits
    rows = [calib.evaluate("gp alpha=0.1", 60, 0.03, seed) for seed in range(3)]
    pred = np.concatenate([r["pred"] for r in rows])
    truth = np.concatenate([r["p_true"] for r in rows])
    table = calib.calibration_table(pred, truth).dropna()
    populated = table[table["share"] >= 0.02]
    assert len(populated) >= 4  # the classifier uses the whole range, not one bin
    gaps = (populated["predicted"] - populated["observed"]).abs()
    assert gaps.max() < 0.2, table
    assert calib.calibration_error(pred, truth) < 0.08
    # sharper than knowing only the overall failure rate
    rate = truth.mean()
    constant = float(np.mean(truth * (1 - rate) ** 2 + (1 - truth) * rate ** 2))
    assert np.mean([r["brier"] for r in rows]) < 0.8 * constant


def test_classifier_gives_probabilities_with_gradients():
    gen = torch.Generator().manual_seed(3)
    X = torch.rand(20, 2, generator=gen, **TK)
    ok = (X[:, 0] < 0.5).to(**TK)
    model = DirichletGPClassifier().fit(X, ok, torch.tensor([[0.0, 0.0], [1.0, 1.0]], **TK))
    Xq = torch.rand(3, 5, 2, generator=gen, **TK).requires_grad_(True)
    p = success_probability(model, Xq)
    assert p.shape == (3, 5) and bool(((p > 0) & (p < 1)).all())
    p.sum().backward()
    assert torch.isfinite(Xq.grad).all() and Xq.grad[..., 0].abs().sum() > 0
    with torch.no_grad():
        edge = success_probability(model, torch.tensor([[0.1, 0.5], [0.9, 0.5]], **TK))
    assert edge[0] > 0.8 and edge[1] < 0.2


def test_classifier_needs_both_outcomes():
    from surrogates import TrainingDataError

    X = torch.rand(5, 1, **TK)
    with pytest.raises(TrainingDataError, match="both"):
        DirichletGPClassifier().fit(X, torch.ones(5, **TK), torch.tensor([[0.0], [1.0]], **TK))


# ---- targets and config --------------------------------------------------------------

def test_constraint_only_target_takes_its_side_and_bound():
    t = Target("ccd", None, None, constraint=(1.0, None), objective=False)
    assert (t.direction, t.threshold) == ("maximize", 1.0)
    assert t.meets(np.array([0.9, 1.0, np.nan])).tolist() == [False, True, False]
    assert t.constraint_text == "ccd >= 1"
    log = Target("s", "maximize", 1.0, transform="log10", constraint=(None, 10.0))
    assert log.model_constraints() == [(-1.0, 1.0)]  # log10(10), a max


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"constraint": (2.0, 1.0)}, "not below max"),
    ({"constraint": (None, None)}, "needs min and/or max"),
    ({"constraint": (120.0, None)}, "no possible value"),
    ({"constraint": (None, -1.0)}, "no possible value"),
    ({"objective": False}, "needs a constraint"),
    ({"constraint": (float("nan"), None)}, "not a finite number"),
])
def test_bad_constraints_name_the_key(kwargs, match):
    with pytest.raises(ConfigError, match=match) as err:
        Target("r", "maximize", 80.0, valid_range=(0.0, 100.0), **kwargs)
    assert err.value.key.startswith(("constraint", "objective"))


def test_every_target_a_constraint_only_is_an_error():
    with pytest.raises(ConfigError, match="nothing to optimize"):
        Objectives((Target("c", None, None, constraint=(1.0, None), objective=False),))


@pytest.mark.parametrize(("override", "match"), [
    ("+targets.ccd.constraint.min=1", r"key targets\.ccd\.constraint: .*not a target"),
    ("+targets.ccd_mA_cm2.constraint={min:3,max:1}", r"targets\.ccd_mA_cm2\.constraint: "
     "min=3 is not below max=1"),
    ("+targets.retention_pct.constraint.min=120", r"constraint\.min: min=120 leaves no"),
    ("+targets.ccd_mA_cm2.constraint.mn=1", r"unknown field\(s\) \['mn'\]"),
    ("feasibility.model=svm", r"key feasibility\.model: value='svm'"),
    ("feasibility.learn_from=[failures]", r"feasibility\.learn_from"),
])
def test_config_errors_on_constraints_and_feasibility(tmp_path, override, match):
    code, _, err = cli_inprocess(tmp_path, override, campaign="interlayer")
    assert code == 2
    assert pd.Series([err]).str.contains(match).all(), err


def test_a_cost_ceiling_that_no_composition_meets_is_a_config_error(tmp_path):
    code, _, err = cli_inprocess(tmp_path, "+targets.cost_usd_per_L.constraint.max=5")
    assert code == 2 and "targets.cost_usd_per_L.constraint" in err
    assert "cost_usd_per_L <= 5 leaves no composition" in err


def test_cost_ceiling_is_an_exact_linear_constraint(tmp_path):
    settings = make_settings("oxychloride", tmp_path,
                             ["+targets.cost_usd_per_L.constraint.max=40"])
    cost = settings.objectives["cost_usd_per_L"].known
    X = settings.space.sample(400, seed=1, dtype=torch.float64)
    assert float(cost(X).max()) <= 40 + 1e-9  # every feasible sample is under the ceiling
    free = make_settings("oxychloride", tmp_path / "free").space.sample(400, seed=1,
                                                                         dtype=torch.float64)
    (ceiling,) = cost.linear_constraints(None, 40.0)
    names = settings.space.names
    slack = np.array([ceiling.slack(dict(zip(names, row, strict=True)))
                      for row in free.numpy()])
    assert np.array_equal(slack >= 0, cost(free).squeeze(-1).numpy() <= 40)
    assert (slack < 0).any() and (slack >= 0).any()


# ---- labels, front, best -------------------------------------------------------------

def _frame(settings, rows):
    frame = settings.schema.empty()
    return settings.schema.coerce(pd.concat([frame, pd.DataFrame(rows)], ignore_index=True))


def test_success_labels_from_failed_rows_and_from_constraints(tmp_path):
    settings = make_settings("interlayer", tmp_path,
                             ["+targets.ccd_mA_cm2.constraint.min=1.0"])
    base = {"round": 1, "seed_metal": "Mg", "seed_thickness_nm": 50, "naf_thickness_nm": 20,
            "current_density_mA_cm2": 0.5, "stack_pressure_MPa": 5}
    frame = _frame(settings, [
        {**base, "id": "a", "status": "measured", "retention_pct": 80, "ccd_mA_cm2": 1.5,
         "energy_density_Wh_kg": 250},
        {**base, "id": "b", "status": "measured", "retention_pct": 85, "ccd_mA_cm2": 0.8,
         "energy_density_Wh_kg": 260},
        {**base, "id": "c", "status": "failed"},
        {**base, "id": "d", "status": "proposed"},
    ])
    objs = settings.objectives
    assert success_labels(frame, objs, FeasibilitySpec()).tolist() == [1.0, 1.0, 0.0]
    both = FeasibilitySpec(learn_from=("failed", "constraints"))
    assert success_labels(frame, objs, both).tolist() == [1.0, 0.0, 0.0]
    # b breaks ccd >= 1: left out of the front and of the best values
    assert best_measured(frame, objs)["retention_pct"] == 80
    only_a = measured_hypervolume(frame[frame["id"] == "a"], settings)
    assert measured_hypervolume(frame, settings) == pytest.approx(only_a, rel=1e-12)
    free = make_settings("interlayer", tmp_path / "free")
    assert measured_hypervolume(frame, free) > only_a


# ---- campaigns -----------------------------------------------------------------------

def test_failed_only_ledger_gives_space_filling_away_from_the_failures(tmp_path):
    settings = make_settings("oxychloride", tmp_path, ["debug=smoke", *SMOKE])
    first = plan_round(settings)
    record_results(settings, pd.DataFrame({"id": first.batch["id"], "status": "failed"}))
    second = plan_round(settings)
    assert second.strategy.kind == "space_filling"
    note = next(n for n in second.notes if "Every experiment" in n)
    assert "4 of 4" in note and "failed" in note
    space = settings.space
    failed = space.encode(first.batch, **settings.tkwargs)
    new = space.encode(second.batch, **settings.tkwargs)
    width = space.bounds(**settings.tkwargs).diff(dim=0)
    gap = ((new.unsqueeze(1) - failed.unsqueeze(0)) / width).abs().amax(-1).min()
    assert float(gap) > 0.05  # no proposal repeats a failed experiment
    assert second.batch["pred_feasible"].isna().all()


def test_feasibility_reaches_the_ledger_the_terminal_and_the_review_plot(tmp_path):
    from optim.plots import round_figures
    from optim.tracking.mlflow import prediction_metrics

    campaign = make_campaign("interlayer", tmp_path, [
        "debug=smoke", *SMOKE, "lab=simulated", "lab.interlayer.noise.shorts_fail=true",
        "lab.interlayer.noise.random_failure=0.3", "initial_design.n=8",
        "+targets.ccd_mA_cm2.constraint.min=1.0"])
    results = campaign.run(rounds=3)
    last = results[-1]
    assert last.strategy.model_based and last.feasibility is not None
    assert "P(ccd_mA_cm2 >= 1 mA/cm2) x P(success)" in str(last.strategy)
    batch = last.batch
    for col in ("pred_success", "pred_ccd_mA_cm2_meets", "pred_feasible"):
        assert batch[col].between(0, 1).all(), col
    np.testing.assert_allclose(batch["pred_feasible"],
                               batch["pred_success"] * batch["pred_ccd_mA_cm2_meets"])
    ledger = Ledger.load(campaign.settings.ledger_path, campaign.settings.schema).frame
    stored = ledger.set_index("id").loc[batch["id"], "pred_feasible"].to_numpy()
    np.testing.assert_allclose(stored, batch["pred_feasible"].to_numpy(), rtol=1e-12)
    table = format_batch(last, campaign.settings)
    assert "P(success)" in table and "P(feasible)" in table
    assert "P(ccd_mA_cm2 >= 1 mA/cm2)" in table
    metrics = prediction_metrics(batch.iloc[0].to_dict(), {})
    assert {"pred_success", "pred_ccd_mA_cm2_meets", "pred_feasible"} <= set(metrics)
    figures = round_figures(last, campaign.settings)
    assert "plots/failure_map.png" in figures
    title = figures["plots/failure_map.png"].texts[0].get_text()
    done = last.ledger["status"].isin(["measured", "failed"])
    n_failed = int((last.ledger["status"] == "failed").sum())
    assert f"where experiments fail (feasibility classifier, {n_failed} failed of " \
        f"{int(done.sum())})" in title
