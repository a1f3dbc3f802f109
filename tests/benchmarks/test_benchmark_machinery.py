"""The benchmark machinery (not its figures): a quick strategies x seeds multirun through
Hydra's joblib launcher with the summary callback, and the Liang et al. protocol."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from optim.benchmarks import liang
from tests.helpers import ROOT


@pytest.mark.slow
@pytest.mark.integration
def test_quick_simulated_suite_summarizes_and_logs(tmp_path):
    runs = tmp_path / "runs"
    proc = subprocess.run(
        [sys.executable, "-m", "optim", "--multirun", "campaign=oxychloride",
         "benchmark=simulated", "debug=smoke", "rounds=2", "seed=0",
         "strategy=qlognehvi_gp,qlognehvi_forest,random", f"paths.runs={runs}"],
        capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert "ILLUSTRATIVE simulator" in out and "log10 hypervolume regret" in out
    assert "full suite wall time:" in out and "qlognehvi_gp - random" in out
    sweep = next((runs / "benchmarks" / "oxychloride").iterdir())
    summary = pd.read_csv(sweep / "benchmark_summary.csv")
    assert sorted(summary["strategy"].unique()) == ["qlognehvi_forest", "qlognehvi_gp",
                                                    "random"]
    assert sorted(summary["experiments"].unique()) == [4, 7]  # smoke: 4 initial + 3
    per_run = pd.read_csv(sweep / "benchmark_runs.csv")
    assert len(per_run) == 3 * 2 and (per_run["hypervolume"] >= 0).all()
    assert np.isfinite(per_run["log10_regret"]).all()
    assert (sweep / "benchmark.png").stat().st_size > 20_000
    for strategy in ("qlognehvi_gp", "qlognehvi_forest", "random"):
        ledger = pd.read_csv(sweep / strategy / "seed0" / "ledger.csv")
        assert len(ledger) == 7
    client = MlflowClient(f"sqlite:///{runs}/mlflow.db")
    exp = client.get_experiment_by_name("benchmark-oxychloride")
    found = client.search_runs([exp.experiment_id])
    parent = next(r for r in found if r.data.tags.get("kind") == "benchmark")
    arms = [r for r in found if r.data.tags.get("kind") == "benchmark-arm"]
    assert len(arms) == 3 and parent.data.metrics["hypervolume_true_front"] > 0
    history = client.get_metric_history(arms[0].info.run_id, "hypervolume_median")
    assert sorted(m.step for m in history) == [4, 7]
    arts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"benchmark.png", "benchmark_summary.csv", "benchmark_runs.csv"} <= arts


def test_liang_datasets_match_their_documented_sizes():
    # README figures: unique designs and top-5 % set sizes (ceil(0.05 N))
    for name, (n_pool, n_top) in {"crossed_barrel": (600, 30), "p3ht_cnt": (178, 9),
                                  "agnp": (164, 9)}.items():
        ds = liang.DATASETS[name]
        pool = liang.load_pool(ds)
        assert len(pool) == n_pool and len(liang.top_set(pool, ds)) == n_top
    cb = liang.load_pool(liang.DATASETS["crossed_barrel"])
    assert cb["toughness"].max() == pytest.approx(46.71, abs=5e-3)


@pytest.mark.slow
def test_liang_protocol_run_and_summary(tmp_path):
    runs = [liang.run_one("p3ht_cnt", strategy, seed, budget=6)
            for strategy in ("gp", "forest") for seed in (0, 1)]
    for run in runs:
        found = np.asarray(run["found"])
        assert len(found) == 6 and (np.diff(found) >= 0).all() and found[-1] <= 9
    again = liang.run_one("p3ht_cnt", "gp", 0, budget=6)
    assert again["found"] == runs[0]["found"]  # same seed, same picks
    curves, table = liang.summarize(runs)
    assert set(table["strategy"]) == {"gp", "forest"}
    assert (curves["random_expected"].iloc[:6] == np.arange(1, 7) / 178).all()
    assert liang.experiments_to_reach(np.array([0, 0.1, 0.25, 0.5]), 0.2) == 3
    assert math.isinf(liang.experiments_to_reach(np.array([0, 0.1]), 0.2))
    liang.figure(curves, tmp_path / "fig.png")
    assert (tmp_path / "fig.png").stat().st_size > 10_000


def test_study_runs_arms_side_by_side_and_scores_with_the_truth(tmp_path):
    # The machinery of optim.benchmarks.study on a tiny budget: every arm runs the
    # product's loop, the scores come from the noise-free truth, no batch holds copies.
    from optim.benchmarks.study import run_one, summarize

    runs = [run_one(arm, 0, 40.0, 12, str(tmp_path / arm), "oxychloride")
            for arm in ("default", "acquisition")]
    assert [r["experiments"] for r in runs] == [12, 12]
    assert all(r["copies"] == 0 for r in runs)
    # 40 mS/cm: nothing beats it, so the default sought the probability, the other not
    assert runs[0]["pof_rounds"] == 1 and runs[1]["pof_rounds"] == 0
    assert all(r["hypervolume"] == 0.0 and not r["found"] and r["first_beat"] == 13
               for r in runs)
    import pandas as pd

    table = summarize(pd.DataFrame(runs))
    assert list(table["arm"]) == ["default", "acquisition"]


def test_calibration_study_prints_coverage_per_model(capsys):
    from optim.benchmarks.calibration import main

    table = main(["--datasets", "p3ht_cnt", "--train", "20", "--reps", "1",
                  "--models", "default", "cv"])
    assert list(table["model"]) == ["default", "cv"]
    out = capsys.readouterr().out
    assert "cover90" in out and "p3ht_cnt" in out


def test_calendar_benchmark_runs_an_arm_and_reports_weeks(tmp_path, capsys):
    from optim.benchmarks.calendar import OVERRIDES, parse_args, report, run_one

    assert parse_args(["--arms", "fidelity,fidelity-stop", "--first-seed", "5"]).first_seed == 5
    with pytest.raises(SystemExit):
        parse_args(["--arms", "fidelity-nostop"])
    assert "checkpoints.stop_below=0.05" in OVERRIDES["fidelity-stop"]
    run = run_one("fidelity-stop", 0, 1.0, str(tmp_path / "a"))
    assert set(run["hv"]) == {0, 1} and run["cells"] == 10 and run["stopped"] == 0
    assert run["hv"][0] > 0  # the initial design's cells, scored by their true finals
    report([run, {**run, "arm": "final"}], 1.0, None)
    out = capsys.readouterr().out
    assert "weeks to reach the final arm's week-1 median" in out
    assert "fidelity-stop" in out and "0 stopped" in out
