"""Summary of a strategies x seeds benchmark against a simulated lab.

Run by Hydra at the end of ``python -m optim --multirun campaign=<c> benchmark=simulated``
(``configs/benchmark/simulated.yaml``). Each job left a ledger under the sweep folder
(``<strategy>/seed<k>/ledger.csv``). For every job and round this computes the
hypervolume of the measured front using the simulator's NOISE-FREE values of the
experiments run so far (failed syntheses count as experiments but add nothing), and the
log10 hypervolume regret against the true front, estimated by dense constrained sampling
of the simulator (plus every benchmark point). Output: a table in the terminal, CSVs and
a PNG in the sweep folder, and an mlflow run (experiment ``benchmark-<campaign>``).

The simulators are illustrative (docs/SIMULATORS.md), not predictive chemistry.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import pandas as pd
from hydra.experimental.callback import Callback
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf

from optim.acquisition import OptimizerSpec, QuasiRandom
from optim.config import settings_from_config
from optim.ledger import Ledger
from optim.metrics import measured_hypervolume
from optim.tracking import BenchmarkArm, log_benchmark
from surrogates import GPSurrogate

__all__ = ["SummaryCallback", "summarize_sweep"]

BASELINE = "random"


class SummaryCallback(Callback):
    """Hydra callback: time the multirun, then summarize it."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._start = time.perf_counter()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        wall = time.perf_counter() - self._start
        sweep_dir = Path(str(config.hydra.sweep.dir))
        cfg = OmegaConf.to_container(config, resolve=False)
        cfg.pop("hydra", None)
        cfg = OmegaConf.create(cfg)
        cfg.paths.campaign_dir = str(sweep_dir)  # jobs had their own; any path will do
        summarize_sweep(sweep_dir, OmegaConf.to_container(cfg, resolve=True), wall)


def _settings_and_truth(cfg: dict):
    settings = settings_from_config(
        cfg, surrogate=GPSurrogate(), acquisition=QuasiRandom(), optimizer=OptimizerSpec(),
        source=f"configs/campaign/{cfg['campaign_name']}.yaml")
    lab = hydra.utils.instantiate(cfg["lab"])
    return settings, lab.truth


def _with_truth(frame: pd.DataFrame, settings, truth) -> pd.DataFrame:
    """The ledger with noise-free target values on measured rows."""
    out = frame.copy()
    measured = out["status"] == "measured"
    if measured.any():
        values = truth(out.loc[measured, settings.space.names])
        for t in settings.objectives.measured:
            out.loc[measured, t.name] = values[t.name].to_numpy()
    return out


def _true_front_frame(settings, truth, n: int) -> pd.DataFrame:
    """``n`` feasible points sampled uniformly, with their noise-free values."""
    frame = settings.space.decode(settings.space.sample(n, seed=12345, **settings.tkwargs))
    frame["status"] = "measured"
    return _with_truth(frame, settings, truth)


def summarize_sweep(sweep_dir: Path, cfg: dict, wall_s: float | None = None) -> pd.DataFrame:
    """Summarize every job ledger under ``sweep_dir``; returns the per-run table."""
    settings, truth = _settings_and_truth(cfg)
    ledgers = sorted(sweep_dir.glob("*/seed*/ledger.csv"))
    if not ledgers:
        print(f"benchmark summary: no job ledgers under {sweep_dir}; nothing to summarize.")
        return pd.DataFrame()
    rows, union = [], []
    for path in ledgers:
        strategy, seed = path.parent.parent.name, int(path.parent.name.removeprefix("seed"))
        frame = _with_truth(Ledger.load(path, settings.schema).frame, settings, truth)
        union.append(frame)
        for rnd in sorted(frame["round"].unique()):
            done = frame[frame["round"] <= rnd]
            rows.append({"strategy": strategy, "seed": seed, "round": int(rnd),
                         "experiments": len(done),
                         "failed": int((done["status"] == "failed").sum()),
                         "hypervolume": measured_hypervolume(done, settings)})
    runs = pd.DataFrame(rows)
    n_dense = int(cfg.get("benchmark", {}).get("true_front_samples", 20000))
    dense = _true_front_frame(settings, truth, n_dense)
    hv_true = measured_hypervolume(pd.concat([dense, *union], ignore_index=True), settings)
    hv_dense = measured_hypervolume(dense, settings)
    # regret below the true front's resolution (1e-6 of it) is shown at that floor
    runs["log10_regret"] = np.log10(np.maximum(hv_true - runs["hypervolume"],
                                               1e-6 * max(hv_true, 1e-300)))
    table = _table(runs)
    sweep_dir.mkdir(parents=True, exist_ok=True)
    runs.to_csv(sweep_dir / "benchmark_runs.csv", index=False)
    table.to_csv(sweep_dir / "benchmark_summary.csv", index=False)
    _figure(runs, hv_true, settings.name, sweep_dir / "benchmark.png")
    print(f"\nBenchmark {settings.name} (ILLUSTRATIVE simulator, not predictive chemistry): "
          f"{runs['strategy'].nunique()} strategies x {runs['seed'].nunique()} seeds; "
          f"true-front hypervolume {hv_true:.4g} (dense sample of {n_dense}: {hv_dense:.4g}); "
          "hypervolume from noise-free values, model scale, reference point = thresholds")
    _print_tables(table)
    if wall_s is not None:
        print(f"full suite wall time: {wall_s:.0f} s ({len(ledgers)} jobs)")
    print(f"outputs: {sweep_dir}/benchmark_summary.csv, benchmark_runs.csv, benchmark.png")
    uri = str(cfg.get("benchmark", {}).get("tracking_uri", "none"))
    if uri != "none":
        run_id = _log(uri, settings.name, runs, table, sweep_dir, hv_true, wall_s, cfg)
        print(f"logged to mlflow {uri}: experiment benchmark-{settings.name}, run {run_id}")
    return runs


def _table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per strategy and experiment count: hypervolume quartiles and median regret."""
    grouped = runs.groupby(["strategy", "experiments"])
    table = grouped["hypervolume"].quantile([0.25, 0.5, 0.75]).unstack()
    table.columns = ["hv_q25", "hv_median", "hv_q75"]
    table["log10_regret_median"] = grouped["log10_regret"].median()
    table["seeds"] = grouped["seed"].nunique()
    return table.reset_index()


def _print_tables(table: pd.DataFrame) -> None:
    """Hypervolume median [IQR] and regret, strategies as columns; gap to the baseline."""
    hv = table.assign(cell=[f"{m:.3g} [{a:.3g}-{b:.3g}]" for m, a, b in
                            zip(table["hv_median"], table["hv_q25"], table["hv_q75"],
                                strict=True)])
    wide = hv.pivot(index="experiments", columns="strategy", values="cell")
    medians = table.pivot(index="experiments", columns="strategy", values="hv_median")
    if BASELINE in medians:
        for strategy in medians.columns:
            if strategy != BASELINE:
                wide[f"{strategy} - {BASELINE}"] = (medians[strategy] - medians[BASELINE]
                                                    ).map(lambda v: f"{v:+.3g}")
    regret = table.pivot(index="experiments", columns="strategy",
                         values="log10_regret_median").map(lambda v: f"{v:.2f}")
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print("hypervolume, median [25th-75th percentile] over seeds; last columns: "
              "gap of the medians to the quasi-random baseline")
        print(wide.to_string())
        print("\nlog10 hypervolume regret (median over seeds; lower is better)")
        print(regret.to_string())


def _figure(runs: pd.DataFrame, hv_true: float, campaign: str, path: Path) -> None:
    fig = Figure(figsize=(11, 4.2))
    ax1, ax2 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for strategy, g in runs.groupby("strategy"):
        stats = g.groupby("experiments")
        x = np.array(sorted(g["experiments"].unique()))
        for ax, col in ((ax1, "hypervolume"), (ax2, "log10_regret")):
            q = stats[col].quantile([0.25, 0.5, 0.75]).unstack()
            line, = ax.plot(x, q[0.5], marker="o", ms=3,
                            label=strategy, ls=":" if strategy == BASELINE else "-")
            ax.fill_between(x, q[0.25], q[0.75], color=line.get_color(), alpha=0.15)
    ax1.axhline(hv_true, color="k", ls="--", lw=1, label="true front")
    ax1.set(xlabel="experiments", ylabel="hypervolume of the measured front\n"
            "(noise-free values; model scale, ref = thresholds)")
    ax2.set(xlabel="experiments", ylabel="log10 hypervolume regret")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    fig.suptitle(f"{campaign}: median and 25th-75th percentile over seeds "
                 "(illustrative simulator)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _log(uri: str, campaign: str, runs: pd.DataFrame, table: pd.DataFrame, folder: Path,
         hv_true: float, wall_s: float | None, cfg: dict) -> str:
    truth_version = str(cfg.get("lab", {}).get(campaign, {}).get("truth", {})
                        .get("truth_version", "?"))
    params = {"strategies": ",".join(sorted(runs["strategy"].unique())),
              "seeds": str(runs["seed"].nunique()), "rounds": str(cfg.get("rounds")),
              "truth_version": truth_version, "sweep_dir": str(folder)}
    metrics = {"hypervolume_true_front": hv_true}
    if wall_s is not None:
        metrics["suite_wall_s"] = wall_s
    arms = []
    for strategy, g in runs.groupby("strategy"):
        points = []
        for exps, s in g.groupby("experiments"):
            points += [("hypervolume_median", float(s["hypervolume"].median()), int(exps)),
                       ("log10_regret_median", float(s["log10_regret"].median()), int(exps))]
            points += [(f"hypervolume_seed{int(r.seed)}", float(r.hypervolume), int(exps))
                       for r in s.itertuples()]
        arms.append(BenchmarkArm(str(strategy), metrics=points))
    artifacts = [folder / a for a in ("benchmark.png", "benchmark_summary.csv",
                                      "benchmark_runs.csv")]
    return log_benchmark(uri, f"benchmark-{campaign}", folder.name, params, metrics,
                         artifacts, arms)
