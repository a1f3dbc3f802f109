"""What the terminal and the round description say, and the printed UI command."""

from __future__ import annotations

import math
import shlex

import numpy as np
import pandas as pd
import pytest

from optim import ui
from optim.objectives import Target
from optim.report import describe_round, format_batch
from optim.rounds import RoundResult
from optim.strategies import StrategyLabel
from optim.tracking import MlflowTracker
from tests.helpers import make_settings

COND, RET, COST = "conductivity_mS_cm", "retention_pct", "cost_usd_per_L"


def _lognormal(median: float, sigma_ln: float) -> tuple[float, float]:
    """Mean and sd of the log-normal with this median and log-space sd."""
    mean = median * math.exp(sigma_ln**2 / 2)
    return mean, mean * math.sqrt(math.expm1(sigma_ln**2))


@pytest.fixture
def settings(tmp_path):
    return make_settings("oxychloride", tmp_path / "runs")


def _result(settings, preds: dict[str, tuple[tuple[float, float], tuple[float, float]]],
            ) -> RoundResult:
    """A round whose measured best is conductivity 1.0 mS/cm and retention 90 %, with one
    proposal per entry of ``preds``: id to ((conductivity mean, sd), (retention mean, sd))
    as the ledger stores them (conductivity: log-normal mean and sd)."""
    ledger = pd.DataFrame({"id": ["oxy-0001", "oxy-0002"], "round": [1, 1],
                           "status": ["measured", "measured"],
                           COND: [1.0, 0.2], RET: [80.0, 90.0]})
    rows = []
    for ident, ((c_mean, c_sd), (r_mean, r_sd)) in preds.items():
        rows.append({"id": ident, "Li2O": 0.5, "ZrCl4": 0.2, "AlCl3": 0.3,
                     "anneal_temperature_C": 200.0, "milling_time_h": 10.0,
                     "anneal_time_h": 2.0, "milling_speed_rpm": 500.0,
                     f"pred_{COND}_mean": c_mean, f"pred_{COND}_sd": c_sd,
                     f"pred_{RET}_mean": r_mean, f"pred_{RET}_sd": r_sd,
                     f"pred_{COST}_mean": 30.0, f"pred_{COST}_sd": 0.0})
    return RoundResult(
        campaign="oxychloride", round=2,
        strategy=StrategyLabel("model", acquisition="qLogNEHVI", targets=(COND, RET, COST)),
        batch=pd.DataFrame(rows),
        ledger=ledger, ledger_path=settings.ledger_path,
        metrics={"fit_s": 0.1, "propose_s": 0.2, "round_s": 0.3}, notes=[], seed=2,
        inputs=settings.space.names, targets=[COND, RET])


def test_prediction_interval_recovers_the_lognormal_median_and_68_percent():
    log = Target(COND, "maximize", 1.0, unit="mS/cm", transform="log10")
    mean, sd = _lognormal(2.0, 0.5)  # sd > mean/2: the mean alone misleads
    centre, lo, hi = log.interval([mean, math.nan], [sd, 1.0])
    np.testing.assert_allclose([centre[0], lo[0], hi[0]],
                               [2.0, 2.0 * math.exp(-0.5), 2.0 * math.exp(0.5)])
    assert math.isnan(centre[1])
    assert log.interval(3.0, 0.0)[0] == pytest.approx(3.0)  # certain
    lin = Target(RET, "maximize", 80.0, unit="%")
    np.testing.assert_allclose(lin.interval([88.0], [3.0]), [[88.0], [85.0], [91.0]])


def test_physical_moments_and_interval_are_inverse():
    # model scale: log10 mean 0.3, variance 0.04 -> log-normal mean and sd -> the median
    # 10**0.3 and the 68 % interval 10**(0.3 +- 0.2), to float precision
    log = Target(COND, "maximize", 1.0, unit="mS/cm", transform="log10")
    mean, sd = log.physical_moments(np.array([0.3]), np.array([0.04]))
    centre, lo, hi = log.interval(mean, sd)
    np.testing.assert_allclose([centre[0], lo[0], hi[0]], [10**0.3, 10**0.1, 10**0.5],
                               rtol=1e-12)
    lin = Target(RET, "maximize", 80.0, unit="%")
    np.testing.assert_allclose(lin.physical_moments(np.array([88.0]), np.array([9.0])),
                               [[88.0], [3.0]])


def test_batch_table_shows_median_and_interval_of_log_targets(settings):
    mean, sd = _lognormal(2.1, 0.5)
    assert sd > mean / 2
    table = format_batch(_result(settings, {"oxy-0003": ((mean, sd), (88.0, 3.0))}),
                         settings)
    row = next(line for line in table.splitlines() if line.startswith("oxy-0003"))
    assert "2.10 (1.27–3.46)" in row and "88 ± 3" in row and f"{mean:.4g}" not in row
    assert ("median (68 % interval) for the log10-modelled conductivity_mS_cm; mean ± sd "
            "otherwise") in table


def test_ignored_decisions_are_warnings_other_notes_stay_notes(settings):
    result = _result(settings, {"oxy-0003": ((1.0, 0.1), (88.0, 3.0))})
    result.notes[:] = ["ignored mlflow tag 'decision': decision 'rejct' for oxy-0003: "
                       "expected 'approve' or 'reject'", "retention_pct: 2 measurement(s)"]
    table = format_batch(result, settings)
    assert "WARNING: ignored mlflow tag 'decision': decision 'rejct'" in table
    assert "note: retention_pct: 2 measurement(s)" in table


def test_description_shows_medians_and_judges_by_them(settings):
    # mean 1.2 is beyond the best 1.0, the median (0.51) is not
    mean, sd = _lognormal(0.51, 1.3)
    assert mean > 1.0
    text = describe_round(_result(settings, {"oxy-0003": ((mean, sd), (85.0, 2.0))}),
                          settings)
    assert "conductivity_mS_cm 0.510 (0.139–1.87)" in text
    assert "predicted beyond" not in text
    # its 68 % interval spans 1.1 decades, more than half the measured 0.7 decades
    assert "explores where the model is unsure (conductivity_mS_cm" in text


def test_each_proposal_gets_its_own_reason_and_the_best_names_its_sample(settings):
    result = _result(settings, {
        "oxy-0003": (_lognormal(0.9, 0.05), (85.0, 0.5)),   # narrow, inside the front
        "oxy-0004": (_lognormal(0.5, 1.3), (85.0, 0.5)),    # unsure conductivity
        "oxy-0005": (_lognormal(2.0, 0.05), (85.0, 0.5)),   # beyond the best
    })
    inputs = {"Li2O": [0.5, 0.6], "ZrCl4": [0.2, 0.2], "AlCl3": [0.3, 0.2],
              "anneal_temperature_C": [380.0, 200.0], "milling_time_h": [10.0, 10.0],
              "anneal_time_h": [2.0, 2.0], "milling_speed_rpm": [500.0, 500.0]}
    for name, values in inputs.items():
        result.ledger[name] = values
    text = describe_round(result, settings)
    reasons = {line.split("`")[1]: line for line in text.split("\n\n")
               if line.startswith("- `")}
    assert "fills the trade-off" in reasons["oxy-0003"]
    assert "explores where the model is unsure" in reasons["oxy-0004"]
    assert "predicted beyond the best measured conductivity_mS_cm" in reasons["oxy-0005"]
    # every proposal sits at 200 degC, Li2O 0.5: oxy-0001 differs by 180 of the 295 degC
    # range (scaled 0.61), oxy-0002 by 0.1 of Li2O's 0.45 (scaled 0.22): oxy-0002 is closer
    assert all("closest measured sample `oxy-0002` (differs most in" in r
               for r in reasons.values())
    assert "Best measured so far: conductivity_mS_cm 1 (`oxy-0001`), retention_pct 90 " \
           "(`oxy-0002`)." in text


def test_one_proposal_improving_two_objectives_is_no_trade(settings):
    text = describe_round(_result(settings, {
        "oxy-0003": (_lognormal(2.0, 0.2), (95.0, 1.0)),   # beyond both
        "oxy-0004": (_lognormal(1.5, 0.2), (85.0, 1.0)),   # beyond conductivity only
    }), settings)
    assert "`oxy-0003` is predicted to improve on both conductivity_mS_cm and " \
           "retention_pct." in text
    assert "trades" not in text


def test_different_proposals_aiming_at_different_objectives_trade(settings):
    text = describe_round(_result(settings, {
        "oxy-0003": (_lognormal(2.0, 0.2), (85.0, 1.0)),   # conductivity
        "oxy-0004": (_lognormal(0.5, 0.2), (95.0, 1.0)),   # retention
        "oxy-0005": (_lognormal(2.0, 0.2), (95.0, 1.0)),   # both
        "oxy-0006": (_lognormal(1.5, 0.2), (80.0, 1.0)),   # conductivity
    }), settings)
    assert ("The batch trades conductivity_mS_cm (oxy-0003, oxy-0006) against "
            "retention_pct (oxy-0004).") in text
    assert "`oxy-0005` is predicted to improve on both" in text


def _ui_main(argv: list[str], monkeypatch) -> list[str]:
    """The ``mlflow ui`` command line ``python -m optim.ui argv`` would exec."""
    import mlflow.tracking

    class Client:
        def __init__(self, uri):
            pass

        def search_experiments(self):
            return []

    class Exec(Exception):
        pass

    def execve(path, args, env):
        raise Exec(args)

    monkeypatch.setattr(mlflow.tracking, "MlflowClient", Client)
    monkeypatch.setattr(ui.os, "execve", execve)
    with pytest.raises(Exec) as exc:
        ui.main(argv)
    return exc.value.args[0]


@pytest.mark.parametrize("where", ["runs", "elsewhere"])
def test_printed_ui_command_opens_this_store_on_the_printed_port(where, tmp_path,
                                                                  monkeypatch):
    work = tmp_path.resolve() / "work"
    runs = work / "runs" if where == "runs" else tmp_path.resolve() / "data" / "campaigns"
    for folder in (work, runs):
        folder.mkdir(parents=True, exist_ok=True)
    (runs / "mlflow.db").touch()
    monkeypatch.chdir(work)
    monkeypatch.setattr(MlflowTracker, "_experiment_id", lambda self, name, create: "1")
    uri = f"sqlite:///{runs}/mlflow.db"
    hint = MlflowTracker(uri, runs / "mlartifacts").review_hint("oxychloride")
    command, url = hint.split("   then open ")
    assert command == ("python -m optim.ui --runs runs" if where == "runs"
                       else f"python -m optim.ui --runs {runs}")
    args = _ui_main(shlex.split(command)[3:], monkeypatch)
    assert args[args.index("--backend-store-uri") + 1] == uri
    assert url == (f"http://127.0.0.1:{args[args.index('--port') + 1]}/#/experiments/1/runs"
                   "?workflowType=machine_learning")


def test_other_stores_by_uri_and_servers_by_their_page(tmp_path, monkeypatch):
    store = tmp_path / "team.db"
    store.touch()
    monkeypatch.setattr(MlflowTracker, "_experiment_id", lambda self, name, create: None)
    hint = MlflowTracker(f"sqlite:///{store}", tmp_path).review_hint("oxychloride")
    assert hint == (f"python -m optim.ui --backend-store-uri sqlite:///{store}   then open "
                    "http://127.0.0.1:5000/")
    monkeypatch.setattr(MlflowTracker, "_experiment_id", lambda self, name, create: "7")
    server = MlflowTracker("http://mlflow.lab:5000/", tmp_path)
    assert server.review_hint("oxychloride") == \
        "open http://mlflow.lab:5000/#/experiments/7/runs?workflowType=machine_learning"


def test_best_in_words_names_samples_thresholds_to_beat_and_the_computed_cost(settings):
    from optim.report import best_in_words

    ledger = pd.DataFrame({
        "id": ["oxy-0001", "oxy-0002", "oxy-0003"], "status": ["measured", "measured", "failed"],
        "Li2O": [0.5, 0.6, 0.5], "ZrCl4": [0.3, 0.3, 0.3], "AlCl3": [0.2, 0.1, 0.2],
        "anneal_temperature_C": [200.0, 200.0, 200.0], "milling_time_h": [10.0, 10.0, 10.0],
        "anneal_time_h": [2.0, 2.0, 2.0], "milling_speed_rpm": [500.0, 500.0, 500.0],
        COND: [0.8, 0.3, 5.0], RET: [70.0, 91.0, 99.0]})
    text = best_in_words(ledger, settings)
    # the failed row's 5 mS/cm never counts; 0.8 has not reached the 1 mS/cm threshold
    assert text.startswith("best conductivity_mS_cm 0.8 mS/cm (oxy-0001; threshold 1 still "
                           "to beat), retention_pct 91 % (oxy-0002), cost_usd_per_L ")
    assert "hypervolume 0 (no sample beats every threshold yet)" in text


def test_a_single_objective_campaign_reports_no_hypervolume(tmp_path):
    from optim.report import best_in_words

    settings = make_settings("crossed_barrel", tmp_path / "runs")
    ledger = pd.DataFrame({"id": ["cb-0001"], "status": ["measured"], "n": [6.0],
                           "theta": [0.0], "r": [1.5], "t": [0.7], "toughness": [1.2]})
    assert best_in_words(ledger, settings) == "best toughness 1.2 J (cb-0001)"


def test_loo_interval_coverage_by_hand():
    # observed 0..3 around mean 0, sd 1: |z| = 0, 1, 2, 3. The 90 % interval
    # (|z| <= 1.645) holds 0 and 1; the 50 % one (|z| <= 0.674) holds 0 only.
    import numpy as np

    from optim.metrics import LooCheck, loo_scores
    from optim.objectives import Target

    c = LooCheck(Target("y", "maximize", 0.0), np.arange(4.0), np.zeros(4), np.ones(4))
    assert c.coverage(0.9) == 0.5 and c.coverage(0.5) == 0.25
    scores = loo_scores([c])
    assert scores["loo_cover90_y"] == 0.5 and scores["loo_cover50_y"] == 0.25


def test_description_gives_the_probability_of_beating_the_thresholds(settings):
    result = _result(settings, {"oxy-0003": ((1.0, 0.1), (88.0, 3.0))})
    result.metrics.pop("expected_improvement", None)
    result.metrics["p_beats_thresholds"] = 0.234
    text = describe_round(result, settings)
    assert ("Probability that at least one experiment of the batch (or one pending) beats "
            "every threshold: 0.23 (no measured row does yet).") in text
    assert "Expected hypervolume improvement" not in text
