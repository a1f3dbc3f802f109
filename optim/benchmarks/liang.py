"""Pool-based benchmarks on real published data (Liang et al. 2021 protocol).

Liang, Gongora, Ren et al., "Benchmarking the performance of Bayesian optimization
across multiple experimental materials science domains", npj Comput. Mater. 7, 188
(2021), DOI 10.1038/s41524-021-00656-9. Data (MIT licence) and citations of the original
experiments: ``optim/benchmarks/data/*/README.md``.

Protocol: replicates averaged per unique design (mean of distinct values), the pool is
the unique designs, 2 random starts, then one experiment per cycle chosen by the
strategy from the designs not yet run; score = fraction of the top-5 % designs found
versus the number of experiments, against random sampling (expected i/N). Each cycle is
the product's own closed loop (``Campaign.run`` on a pool campaign with a ledger), with a
lab answering each design with its averaged value, so the benchmark
measures what a user gets.

Usage::

    python -m optim.benchmarks.liang                       # full: 3 datasets, 10 seeds
    python -m optim.benchmarks.liang --datasets crossed_barrel --seeds 5 --budget 100
    python -m optim.benchmarks.liang --csv my_data.csv --inputs a,b,c --target y \
        --direction maximize                               # any table of measured designs

Budget on a 2-core machine: 10 seeds (Liang used 50), experiments capped per dataset
(crossed barrel 100 of 600, P3HT 60 of 178, AgNP 60 of 164). Prints a table, writes
``runs/benchmarks/liang2021/`` (curves CSV, summary CSV, PNG) and logs to mlflow.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from optim.acquisition import OptimizerSpec, qLogNoisyExpectedHypervolumeImprovement
from optim.campaign import Campaign, LoopRound
from optim.cells import parse_number, read_table
from optim.exceptions import ConfigError, LedgerError, OptimError, where
from optim.labs import average_replicates
from optim.objectives import Objectives, Target
from optim.pool import CandidatePool
from optim.search_space import NumericalParameter, SearchSpace
from optim.settings import CampaignSettings
from optim.tracking import BenchmarkArm, log_benchmark
from surrogates import ForestSurrogate, GPSurrogate

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Dataset:
    """A Liang et al. dataset (or a table of one's own): file, input columns
    (renamed), objective."""

    name: str
    file: str  # relative to the data folder, or absolute
    inputs: dict[str, str]  # original column -> ledger column
    target: tuple[str, str]  # original column -> ledger column
    maximize: bool
    budget: int  # experiments per run (capped for this machine)
    reference: str | None = None  # the authors' reference curve, if shipped


DATASETS = {
    "crossed_barrel": Dataset(
        "crossed_barrel", "liang2021_crossed_barrel/crossed_barrel_dataset.csv",
        {"n": "n", "theta": "theta", "r": "r", "t": "t"}, ("toughness", "toughness"),
        True, 100, "liang2021_crossed_barrel/reference_GP_M52_LCB2_top5pct_curve.csv"),
    "p3ht_cnt": Dataset(
        "p3ht_cnt", "liang2021_p3ht_cnt/P3HT_dataset.csv",
        {"P3HT content (%)": "p3ht_pct", "D1 content (%)": "d1_pct",
         "D2 content (%)": "d2_pct", "D6 content (%)": "d6_pct", "D8 content (%)": "d8_pct"},
        ("Conductivity (measured) (S/cm)", "conductivity_S_cm"), True, 60),
    "agnp": Dataset(
        "agnp", "liang2021_agnp/AgNP_dataset.csv",
        {"QAgNO3(%)": "q_agno3_pct", "Qpva(%)": "q_pva_pct", "Qtsc(%)": "q_tsc_pct",
         "Qseed(%)": "q_seed_pct", "Qtot(uL/min)": "q_total_uL_min"},
        ("loss", "spectral_loss"), False, 60),
}

# our default (GP + qLogNEI), the tree ensemble, and the GP with cross-validated
# intervals (surrogate.calibrate=cv, surrogates.calibration)
STRATEGIES = ("gp", "forest", "gp_cv")


MIN_DESIGNS = 4  # 2 random starts and at least 2 designs left to choose from


def custom_dataset(path: str | Path, inputs: list[str], target: str, direction: str,
                   budget: int | None = None) -> Dataset:
    """A benchmark dataset from any CSV of measured designs, validated.

    Args:
        path: The CSV file (one row per measured design; replicates are averaged).
        inputs: Its input columns.
        target: Its measured column.
        direction: ``maximize`` or ``minimize``.
        budget: Experiments per run (default: 100, at most the number of designs).

    Raises:
        ConfigError: The file, a column or a cell that cannot be used, with the fix.
    """
    file = Path(path).expanduser().resolve()
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"--direction {direction!r}: expected maximize or minimize. "
                          "Fix: --direction maximize (or minimize).", key="direction",
                          value=direction)
    if not file.is_file():
        raise ConfigError(f"--csv {path}: file not found (looked at {file}). Fix: give the "
                          "path of a CSV file with one row per measured design.", key="csv",
                          value=str(path))
    if not inputs or len(set(inputs)) != len(inputs) or target in inputs:
        raise ConfigError(f"--inputs {','.join(inputs)} --target {target}: expected distinct "
                          "input columns and a target that is not one of them. Fix: e.g. "
                          "--inputs a,b,c --target y.", key="inputs", value=inputs)
    try:
        raw = read_table(file, "benchmark file")
    except LedgerError as err:
        raise ConfigError(str(err), key="csv", value=str(path)) from err
    missing = [c for c in [*inputs, target] if c not in raw.columns]
    if missing:
        raise ConfigError(f"{file}: no column(s) {missing}; it has {list(raw.columns)}. Fix: "
                          "name the file's columns in --inputs and --target (exact "
                          "spelling; quote names with spaces).", key="columns", value=missing)
    for i, rec in enumerate(raw[[*inputs, target]].to_dict("records"), start=1):
        for col, text in rec.items():
            try:
                parse_number(text, where(str(file), i, col), "every input and target cell "
                             "must be a number (drop rows of designs not measured).")
            except LedgerError as err:
                raise ConfigError(str(err), key=col, value=text) from err
    ds = Dataset(file.stem, str(file), {c: c for c in inputs}, (target, target),
                 direction == "maximize", budget or 100)
    pool = load_pool(ds)
    constant = [c for c in inputs if pool[c].nunique() < 2]
    if constant or len(pool) < MIN_DESIGNS:
        raise ConfigError(f"{file}: {len(pool)} distinct design(s)"
                          + (f"; input(s) {constant} take a single value" if constant else "")
                          + f". Fix: at least {MIN_DESIGNS} distinct designs, and drop inputs "
                          "that never change from --inputs.", key="inputs",
                          value=constant or len(pool))
    return Dataset(ds.name, ds.file, ds.inputs, ds.target, ds.maximize,
                   min(ds.budget, len(pool)))


def load_pool(ds: Dataset) -> pd.DataFrame:
    """Unique designs with their averaged objective (mean of distinct values)."""
    raw = pd.read_csv(DATA / ds.file)
    raw = raw.rename(columns={**ds.inputs, ds.target[0]: ds.target[1]})
    return average_replicates(raw, list(ds.inputs.values()), [ds.target[1]])


def top_set(pool: pd.DataFrame, ds: Dataset) -> set[tuple]:
    """Input tuples of the top 5 % designs (ceil(0.05 N))."""
    k = math.ceil(0.05 * len(pool))
    order = pool[ds.target[1]].sort_values(ascending=not ds.maximize).index[:k]
    return {tuple(np.round(pool.loc[i, list(ds.inputs.values())].to_numpy(float), 9))
            for i in order}


def _settings(ds: Dataset, pool: pd.DataFrame, strategy: str, seed: int, folder: Path):
    names = list(ds.inputs.values())
    params = tuple(NumericalParameter(n, float(pool[n].min()), float(pool[n].max()))
                   for n in names)
    space = SearchSpace(params)
    y = pool[ds.target[1]]
    target = Target(ds.target[1], "maximize" if ds.maximize else "minimize",
                    float(y.min() if ds.maximize else y.max()))
    surrogate = (GPSurrogate(min_measurements=2) if strategy == "gp"
                 else GPSurrogate(min_measurements=2, calibrate="cv") if strategy == "gp_cv"
                 else ForestSurrogate(min_measurements=2))
    return CampaignSettings(
        name=ds.name, space=space, objectives=Objectives((target,)),
        ledger_path=folder / "ledger.csv", batch_size=1, n_initial=2,
        surrogate=surrogate, acquisition=qLogNoisyExpectedHypervolumeImprovement(),
        optimizer=OptimizerSpec(), seed=seed, id_prefix="x",
        pool=CandidatePool(pool[names].copy(), DATA / ds.file), initial_method="random",
    )


def run_one(dataset: str | Dataset, strategy: str, seed: int, budget: int | None = None,
            ) -> dict:
    """One benchmark run: top-5 % designs found after each experiment.

    The product's own closed loop (:meth:`optim.Campaign.run`) on a pool campaign, with
    a lab that answers each design with its averaged recorded value.
    """
    ds = dataset if isinstance(dataset, Dataset) else DATASETS[dataset]
    dataset = ds.name
    pool = load_pool(ds)
    budget = min(budget or ds.budget, len(pool))
    top = top_set(pool, ds)
    names = list(ds.inputs.values())
    lookup = {tuple(np.round(r[names].to_numpy(float), 9)): r[ds.target[1]]
              for _, r in pool.iterrows()}

    def key(row: pd.Series) -> tuple:
        return tuple(np.round(row[names].to_numpy(float), 9))

    def replay(experiments: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"id": experiments["id"],
                             ds.target[1]: [lookup[key(r)] for _, r in experiments.iterrows()]})

    found: list[int] = []

    def count(step: LoopRound) -> None:
        for _, row in step.result.batch.iterrows():
            found.append((found[-1] if found else 0) + (key(row) in top))

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        campaign = Campaign(_settings(ds, pool, strategy, seed, Path(tmp)), threads=1)
        # the first round proposes the 2 random starts, each later round one design
        campaign.run(replay, rounds=budget - 1, on_round=count)
    return {"dataset": dataset, "strategy": strategy, "seed": seed,
            "found": found[:budget], "n_top": len(top), "n_pool": len(pool),
            "wall_s": time.perf_counter() - start}


def experiments_to_reach(fractions: np.ndarray, level: float) -> float:
    """First experiment count at which the fraction found reaches ``level`` (inf: never)."""
    idx = np.nonzero(fractions >= level - 1e-12)[0]
    return float(idx[0] + 1) if len(idx) else math.inf


def summarize(runs: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Median curves per (dataset, strategy) and a summary table."""
    curves, rows = [], []
    frame = pd.DataFrame(runs)
    for (dataset, strategy), group in frame.groupby(["dataset", "strategy"], sort=False):
        n_top, n_pool = int(group["n_top"].iloc[0]), int(group["n_pool"].iloc[0])
        F = np.array([np.asarray(f, float) / n_top for f in group["found"]])
        med, lo, hi = (np.median(F, 0), np.percentile(F, 5, 0), np.percentile(F, 95, 0))
        mean = F.mean(0)
        for i in range(F.shape[1]):
            curves.append({"dataset": dataset, "strategy": strategy, "experiments": i + 1,
                           "top_frac_median": med[i], "top_frac_p05": lo[i],
                           "top_frac_p95": hi[i], "top_frac_mean": mean[i],
                           "random_expected": (i + 1) / n_pool})
        row = {"dataset": dataset, "strategy": strategy, "seeds": len(F),
               "budget": F.shape[1], "pool": n_pool, "top5%": n_top,
               "found_at_budget (median)": float(med[-1]),
               "random_at_budget": F.shape[1] / n_pool,
               "median_wall_s": float(group["wall_s"].median())}
        for level in (0.2, 0.5):
            hits = [experiments_to_reach(f, level) for f in F]
            pct = int(level * 100)
            # two statistics: the median over runs of each run's hitting time, and where
            # the mean curve over runs crosses (the authors' curve is a median of
            # fold means, i.e. close to the mean curve)
            row[f"exp_to_{pct}% (median run)"] = float(np.median(hits))
            row[f"exp_to_{pct}% (mean curve)"] = experiments_to_reach(mean, level)
            row[f"exp_to_{pct}% random"] = level * n_pool
        rows.append(row)
    return pd.DataFrame(curves), pd.DataFrame(rows)


def reference_curve(dataset: str) -> pd.DataFrame | None:
    """The authors' reference curve (crossed barrel only), or ``None``."""
    ref = DATASETS[dataset].reference if dataset in DATASETS else None
    return pd.read_csv(DATA / ref) if ref else None


def figure(curves: pd.DataFrame, path: Path) -> None:
    """Fraction of top-5 % found vs experiments, one panel per dataset."""
    datasets = list(dict.fromkeys(curves["dataset"]))
    fig = Figure(figsize=(5.2 * len(datasets), 4.2))
    for k, dataset in enumerate(datasets):
        ax = fig.add_subplot(1, len(datasets), k + 1)
        sub = curves[curves["dataset"] == dataset]
        for strategy, g in sub.groupby("strategy", sort=False):
            line, = ax.plot(g["experiments"], g["top_frac_median"], label=f"{strategy} (median)")
            ax.fill_between(g["experiments"], g["top_frac_p05"], g["top_frac_p95"],
                            color=line.get_color(), alpha=0.15)
        g = sub[sub["strategy"] == sub["strategy"].iloc[0]]
        ax.plot(g["experiments"], g["random_expected"], "k:", label="random sampling")
        ref = reference_curve(dataset)
        if ref is not None:
            ref = ref[ref["learning_cycle"] <= g["experiments"].max()]
            ax.plot(ref["learning_cycle"], ref["top_frac_median"], "k--",
                    label="Liang et al. GP-M52-LCB2 (median)")
        ax.set(title=f"{dataset} ({int(g['random_expected'].iloc[0] ** -1)} designs)",
               xlabel="experiments (incl. 2 random starts)",
               ylabel="fraction of top-5 % designs found", ylim=(0, 1.02))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("Liang et al. 2021 real data\n(band: 5th-95th percentile over seeds)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def log_to_mlflow(uri: str, curves: pd.DataFrame, table: pd.DataFrame, out: Path,
                  params: dict) -> str:
    """One mlflow run per (dataset, strategy) under experiment ``benchmark-liang2021``."""
    arms = []
    for rec in table.to_dict("records"):
        sub = curves[(curves["dataset"] == rec["dataset"])
                     & (curves["strategy"] == rec["strategy"])]
        arm_params = {k: v for k, v in rec.items() if isinstance(v, str)}
        points = [(k.replace("%", "pct").replace(" ", "_").replace("(", "").replace(")", ""),
                   float(v), 0) for k, v in rec.items()
                  if not isinstance(v, str) and math.isfinite(v)]
        points += [("top_frac_median", float(v), int(s))
                   for s, v in zip(sub["experiments"], sub["top_frac_median"], strict=True)]
        arms.append(BenchmarkArm(f"{rec['dataset']} / {rec['strategy']}", arm_params, points))
    artifacts = [out / n for n in ("liang2021_summary.csv", "liang2021_curves.csv",
                                   "liang2021_top5pct.png")]
    return log_benchmark(uri, "benchmark-liang2021", f"suite {time.strftime('%Y-%m-%d %H:%M')}",
                         {k: str(v) for k, v in params.items()}, {}, artifacts, arms)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (``--help`` lists it)."""
    parser = argparse.ArgumentParser(prog="python -m optim.benchmarks.liang",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=None, choices=list(DATASETS),
                        help="datasets (default: all three, or none with --csv)")
    parser.add_argument("--csv", type=Path, default=None,
                        help="a table of one's own: one row per measured design (with "
                             "--inputs, --target, --direction)")
    parser.add_argument("--inputs", default=None,
                        help="--csv's input columns, comma-separated (a,b,c)")
    parser.add_argument("--target", default=None, help="--csv's measured column")
    parser.add_argument("--direction", default=None, choices=("maximize", "minimize"),
                        help="--csv's target: maximize or minimize")
    parser.add_argument("--strategies", nargs="+", default=["gp", "forest"],
                        choices=list(STRATEGIES),
                        help="gp: our default (GP + qLogNEI); forest: random forest")
    parser.add_argument("--seeds", type=int, default=10,
                        help="runs per dataset and strategy, seeds 0..N-1 (default 10)")
    parser.add_argument("--budget", type=int, default=None,
                        help="experiments per run (default: crossed barrel 100, others 60)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="parallel processes (default: CPU count)")
    parser.add_argument("--out", type=Path, default=Path("runs/benchmarks/liang2021"),
                        help="folder for CSVs and the PNG (default runs/benchmarks/liang2021)")
    parser.add_argument("--tracking-uri", default=None,
                        help="mlflow store (default: sqlite:///runs/mlflow.db); 'none' skips")
    args = parser.parse_args(argv)
    given = [f"--{k}" for k in ("inputs", "target", "direction") if getattr(args, k)]
    if args.csv is None and given:
        parser.error(f"{', '.join(given)} go with --csv. Fix: add --csv <file>.")
    if args.csv is not None and len(given) < 3:
        parser.error("--csv needs --inputs, --target and --direction. Fix: e.g. --csv "
                     "data.csv --inputs a,b,c --target y --direction maximize.")
    if args.datasets is None:
        args.datasets = [] if args.csv is not None else list(DATASETS)
    return args


def datasets_of(args: argparse.Namespace) -> list[Dataset]:
    """The datasets a command line names, a ``--csv`` table validated.

    Raises:
        ConfigError: A ``--csv`` table that cannot be used.
    """
    chosen = [DATASETS[d] for d in args.datasets]
    if args.csv is not None:
        inputs = [c.strip() for c in args.inputs.split(",") if c.strip()]
        chosen.append(custom_dataset(args.csv, inputs, args.target, args.direction,
                                     args.budget))
    return chosen


def main(argv: list[str] | None = None) -> None:
    """``python -m optim.benchmarks.liang``: run, summarize, plot, log."""
    args = parse_args(argv)
    try:
        datasets = datasets_of(args)
    except OptimError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    from joblib import Parallel, delayed

    start = time.perf_counter()
    tasks = [(d, s, seed) for d in datasets for s in args.strategies
             for seed in range(args.seeds)]
    runs = Parallel(n_jobs=args.jobs)(delayed(run_one)(d, s, seed, args.budget)
                                      for d, s, seed in tasks)
    wall = time.perf_counter() - start
    curves, table = summarize(runs)
    args.out.mkdir(parents=True, exist_ok=True)
    curves.to_csv(args.out / "liang2021_curves.csv", index=False)
    table.to_csv(args.out / "liang2021_summary.csv", index=False)
    figure(curves, args.out / "liang2021_top5pct.png")
    shown = table.copy()
    for col in [c for c in shown.columns if c.startswith("exp_to_")]:
        shown[col] = [f">{b}" if math.isinf(v) else f"{v:.3g}"
                      for v, b in zip(shown[col], shown["budget"], strict=True)]
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if "crossed_barrel" in args.datasets:
        print("Liang et al. reference (GP-M52-LCB2, crossed barrel, 50 runs): their curve "
              "(median of fold means) reaches 20 % after 32 and 50 % after 83 experiments; "
              "median run 30.5 and 79; random 120 and 300.")
    print(f"{len(tasks)} runs in {wall:.0f} s wall on {args.jobs} process(es); "
          f"outputs in {args.out}")
    uri = args.tracking_uri or f"sqlite:///{Path('runs').resolve()}/mlflow.db"
    if uri != "none":
        pid = log_to_mlflow(uri, curves, table, args.out,
                            {"seeds": args.seeds,
                             "datasets": ",".join(d.name for d in datasets),
                             "wall_s": f"{wall:.0f}"})
        print(f"logged to mlflow {uri}, experiment benchmark-liang2021, run {pid}")


if __name__ == "__main__":
    main()
