"""Where a round's time goes, from 50 to 1000 measured rows, and what it buys.

    python -m optim.benchmarks.round_time                      # n = 50 100 300 1000, 5 seeds
    python -m optim.benchmarks.round_time --n 100 --seeds 2 --no-commands

For each ``n`` and seed, an oxychloride ledger of ``n`` measured rows (batch 4): a
random initial design answered by the simulated truth (docs/SIMULATORS.md §1) plus
noise, through the public API (``Campaign.propose`` / ``record``). Then one model-based
round per variant on a copy of that ledger:

- ``before``: the optimizer of December 2026 (``acq_optimizer.method=polytope``:
  botorch's ``optimize_acqf`` under the constraints, SLSQP, 4 restarts from 256 raw
  samples, 64 MC samples);
- ``after``: today's defaults (configs/acq_optimizer, configs/acquisition).

Printed per variant: process-CPU seconds per phase (fit, acquisition, initial
conditions, optimization, evaluation), the round's wall and CPU seconds, peak resident
memory of the worker process, and the quality yardstick: the batch's expected
hypervolume improvement under one common reference qLogNEHVI (256 MC samples, fresh, no
pending points) on the same fitted model, relative to ``before`` (median over seeds).
Each ``n`` runs in its own process, so peak memory belongs to that ``n``. With commands
(the default), the whole CLI at n=100 is timed too: imports alone, ``tracking=none``,
and the default (mlflow, plots), as child-process CPU seconds (user + system).

One thread (``OMP_NUM_THREADS=1``), as the README recommends on small machines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

VARIANTS = {
    "before": ["acq_optimizer.method=polytope", "acq_optimizer.num_restarts=4",
               "acq_optimizer.raw_samples=256", "acquisition.mc_samples=64"],
    "after": [],
}
PHASES = ("fit", "acquisition", "initial_conditions", "optimize", "pending", "evaluate")
BASE = ["tracking=none", "batch_size=4"]


def _results(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Simulated measurements of every row (truth plus noise)."""
    from optim.labs import OxychlorideTruth

    truth = OxychlorideTruth()(frame)
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "id": frame["id"],
        "conductivity_mS_cm": truth["conductivity_mS_cm"] * 10 ** rng.normal(0, 0.06,
                                                                               len(frame)),
        "retention_pct": np.clip(truth["retention_pct"] + rng.normal(0, 2, len(frame)),
                                 0, 100),
    })


def measured_ledger(runs: Path, n: int, seed: int, tracked: bool = False) -> Path:
    """A campaign folder whose ledger holds ``n`` measured rows; returns the ledger.
    ``tracked``: logged to the campaign's mlflow store as it goes, as a campaign run
    with the default tracking would be."""
    from optim.campaign import Campaign

    base = ["batch_size=4"] if tracked else BASE
    campaign = Campaign.from_config("oxychloride", [
        *base, f"paths.runs={runs}", f"initial_design.n={n}",
        "+initial_design.method=random", f"seed={seed}"])
    campaign.propose()
    campaign.record(_results(campaign.ledger, seed))
    return campaign.ledger_path


def _reference_value(result, space, X_baseline) -> float:
    """The batch's EHVI under the common reference qLogNEHVI (256 samples, fresh)."""
    import torch

    from optim.acquisition import (
        AcquisitionContext,
        batch_value,
        qLogNoisyExpectedHypervolumeImprovement,
    )

    X = space.encode(result.batch, dtype=torch.float64)
    ctx = AcquisitionContext(result.model, result.model_targets, space, X_baseline, None,
                             seed=12345)
    return batch_value(ctx, qLogNoisyExpectedHypervolumeImprovement(mc_samples=256), X)


def worker(n: int, seeds: list[int], variants: list[str]) -> dict:
    """Rounds at ``n`` rows for each seed and variant (in this process)."""
    import torch

    from optim.campaign import Campaign
    from optim.timing import phases

    torch.set_num_threads(1)
    rows = []
    for seed in seeds:
        runs = Path(tempfile.mkdtemp(prefix=f"bench-round-{n}-"))
        ledger = measured_ledger(runs, n, seed)
        snapshot = ledger.read_bytes()
        reference = None
        for variant in variants:
            ledger.write_bytes(snapshot)
            shutil.rmtree(ledger.parent / "history", ignore_errors=True)
            campaign = Campaign.from_config(
                "oxychloride", [*BASE, f"paths.runs={runs}", f"seed={seed}",
                                *VARIANTS[variant]])
            wall, cpu = time.perf_counter(), time.process_time()
            with phases() as spent:
                result = campaign.propose()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            if reference is None:  # one common yardstick: the first variant's model
                space = campaign.settings.space
                measured = campaign.ledger.query("status == 'measured'")
                X_baseline = space.encode(measured, dtype=torch.float64)
                reference = (result, space, X_baseline)
            _, space, X_baseline = reference
            quality = _reference_value(
                type(result)(**{**result.__dict__, "model": reference[0].model,
                                "model_targets": reference[0].model_targets}),
                space, X_baseline)
            rows.append({"n": n, "seed": seed, "variant": variant, "wall_s": wall,
                         "cpu_s": cpu, "quality": quality,
                         **{f"cpu_{p}": spent[p].cpu_s if p in spent else 0.0
                            for p in PHASES}})
        shutil.rmtree(runs, ignore_errors=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "peak_mib": peak_mib}


def _child_cpu(cmd: list[str], env: dict) -> tuple[float, float]:
    """(CPU seconds user + system, wall seconds) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime), wall


def commands(n: int = 100, seed: int = 0) -> list[tuple[str, float, float]]:
    """CPU and wall seconds of the CLI: imports alone, a round without and with mlflow
    (the store exists and holds the earlier rounds, as in a running campaign)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = Path(tempfile.mkdtemp(prefix="bench-cmd-"))
    ledger = measured_ledger(runs, n, seed, tracked=True)
    snapshot = ledger.read_bytes()
    cli = [sys.executable, "-m", "optim", "campaign=oxychloride", f"paths.runs={runs}",
           f"seed={seed}"]
    out = [("python -c 'import optim.__main__'",
            *_child_cpu([sys.executable, "-c", "import optim.__main__"], env))]
    for label, extra in (("tracking=none", ["tracking=none"]),
                         ("default (mlflow, plots)", [])):
        ledger.write_bytes(snapshot)
        shutil.rmtree(ledger.parent / "history", ignore_errors=True)
        out.append((f"python -m optim campaign=oxychloride {label}",
                    *_child_cpu([*cli, *extra], env)))
    shutil.rmtree(runs, ignore_errors=True)
    return out


def _median(values) -> float:
    return statistics.median(values) if values else float("nan")


def report(results: list[dict]) -> None:
    """Print the per-phase table and the quality yardstick."""
    print("\nOne oxychloride round (batch 4), process-CPU seconds, median over seeds "
          "(min-max of the round's CPU)")
    head = ["n", "variant", *PHASES, "round CPU", "round wall", "quality", "peak MiB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for res in results:
        rows = res["rows"]
        by_seed = {(r["seed"], r["variant"]): r for r in rows}
        for variant in dict.fromkeys(r["variant"] for r in rows):
            mine = [r for r in rows if r["variant"] == variant]
            ratios = [r["quality"] / by_seed[(r["seed"], "before")]["quality"]
                      for r in mine if (r["seed"], "before") in by_seed
                      and by_seed[(r["seed"], "before")]["quality"] > 0]
            cpus = [r["cpu_s"] for r in mine]
            cells = [str(mine[0]["n"]), variant,
                     *(f"{_median([r[f'cpu_{p}'] for r in mine]):.2f}" for p in PHASES),
                     f"{_median(cpus):.2f} ({min(cpus):.2f}-{max(cpus):.2f})",
                     f"{_median([r['wall_s'] for r in mine]):.2f}",
                     (f"{100 * _median(ratios):.1f} %" if ratios else
                      f"EHVI {_median([r['quality'] for r in mine]):.3g}"),
                     f"{res['peak_mib']:.0f}"]
            print("| " + " | ".join(cells) + " |")
    print("quality: the batch's EHVI under the reference qLogNEHVI (256 samples) as % of "
          "'before' on the same ledger and seed (median); peak: the worker process at "
          "that n (all its variants and seeds).")


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[50, 100, 300, 1000])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS),
                        help=f"of {list(VARIANTS)} and those added with --variant")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME:OVR,OVR",
                        help="another variant: a name and Hydra overrides, e.g. "
                             "'mc32:acquisition.mc_samples=32' (runs with --variants)")
    parser.add_argument("--before-max-n", type=int, default=300,
                        help="largest n at which 'before' runs (it is slow)")
    parser.add_argument("--no-commands", action="store_true")
    parser.add_argument("--commands-only", action="store_true")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    for spec in args.variant:
        name, _, overrides = spec.partition(":")
        VARIANTS[name] = [o for o in overrides.split(",") if o]
        if name not in args.variants:
            args.variants.append(name)
    if args.worker is not None:
        print(json.dumps(worker(args.worker, seeds, args.variants)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, one torch thread; "
          f"n={args.n}, seeds {seeds}")
    results = []
    for n in [] if args.commands_only else args.n:
        variants = [v for v in args.variants if v != "before" or n <= args.before_max_n]
        proc = subprocess.run([sys.executable, "-m", "optim.benchmarks.round_time",
                               "--worker", str(n), "--seeds", str(args.seeds),
                               *(f"--variant={v}" for v in args.variant),
                               "--variants", *variants], capture_output=True, text=True,
                              env=env)
        if proc.returncode != 0:
            raise SystemExit(f"worker n={n} failed:\n{proc.stdout}\n{proc.stderr}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"  n={n} done", flush=True)
    if results:
        report(results)
    if not args.no_commands:
        print("\nThe whole command at n=100 (child-process CPU seconds, user + system; wall)")
        for label, cpu, wall in commands():
            print(f"  {label}: {cpu:.2f} CPU-s, {wall:.2f} s wall")


if __name__ == "__main__":
    main()
