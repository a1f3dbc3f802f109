"""The sample-efficiency study on the simulated labs: candidate defaults as arms of the
product's closed loop, side by side.

    python -m optim.benchmarks.study                   # both simulators, every arm, 10 seeds
    python -m optim.benchmarks.study --campaigns oxychloride --arms default acquisition
    python -m optim.benchmarks.study --campaigns oxychloride --thresholds 1 1.5

Each run is ``Campaign.run(experiments=...)`` with ``lab=simulated`` and the arm's
overrides (``ARMS``), at the README benchmark's budget (oxychloride 8 + 6 x 4 = 32,
interlayer 10 + 4 x 8 = 42). Arms:

- ``default``: the shipped configuration;
- ``acquisition``: ``acquisition.before_thresholds=acquisition``: qLogNEHVI even while
  no measured row beats every threshold (the default maximizes the probability that
  one experiment of the batch does, until one does);
- ``calibrate``: ``surrogate.calibrate=cv``: predictive variances scaled by 5-fold
  cross-validation (``surrogates.calibration``);
- ``random``: ``strategy=random``, the quasi-random baseline.

The shipped oxychloride thresholds are demanding: 2.5 % of the feasible compositions
and anneals beat all three (conductivity > 1 mS/cm, retention > 80 %, cost < 60 $/L,
noise-free, 4000 uniform samples), so most initial designs of 8 hold no such row.
``--thresholds`` sets the oxychloride's conductivity threshold (mS/cm).

Printed per campaign, threshold and arm (median [25th-75th percentile] over seeds): the
hypervolume at the budget from the simulator's NOISE-FREE values (the campaign's
reference point), the hypervolume after the first batch past the initial design, the
experiments
until the first whose noise-free values beat every threshold (budget + 1 when none
did), the share of seeds that found one, copies within a batch (must be 0), the rounds
that maximized the probability of beating the thresholds, and process CPU seconds per
run. The simulators are illustrative (docs/SIMULATORS.md), not predictive chemistry.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ARMS = {"default": (), "acquisition": ("acquisition.before_thresholds=acquisition",),
        "calibrate": ("surrogate.calibrate=cv",), "random": ("strategy=random",)}
BUDGET = {"oxychloride": 32, "interlayer": 42}  # the README benchmark's budgets


def run_one(arm: str, seed: int, threshold: float | None, experiments: int, folder: str,
            campaign: str = "oxychloride") -> dict:
    """One closed loop; its scores (``threshold``: the oxychloride's conductivity
    threshold, ``None``: the campaign's own)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    from optim.campaign import Campaign
    from optim.labs import InterlayerTruth, OxychlorideTruth
    from optim.metrics import known_values, measured_hypervolume
    from optim.search_space.distinct import copies

    torch.set_num_threads(1)
    cpu = time.process_time()
    c = Campaign.from_config(campaign, overrides=[
        f"paths.runs={folder}", "tracking=none", "lab=simulated", f"seed={seed}",
        *([] if threshold is None else [f"targets.conductivity_mS_cm.threshold={threshold}"]),
        *ARMS[arm]])
    results = c.run(rounds=None, experiments=experiments)
    cpu = time.process_time() - cpu
    s = c.settings
    frame = c.ledger
    true = frame.copy()
    truth = {"oxychloride": OxychlorideTruth, "interlayer": InterlayerTruth}[campaign]()(
        frame[s.space.names])
    for t in s.objectives.measured:
        true[t.name] = truth[t.name].to_numpy()
    measured = (frame["status"] == "measured").to_numpy()
    values = known_values(true[measured], s)
    ok = np.ones(int(measured.sum()), dtype=bool)
    for t in s.objectives.optimized:
        ok &= t.sign * (values[t.name].to_numpy(float) - t.threshold) > 0
    beat = np.zeros(len(frame), dtype=bool)
    beat[np.flatnonzero(measured)[ok]] = True
    first = int(np.flatnonzero(beat)[0]) + 1 if beat.any() else len(frame) + 1
    later = frame.loc[frame["source"] != "initial", "round"]
    first_round = later.min() if len(later) else frame["round"].max()
    n_copies = 0
    for _, batch in frame.groupby("round", sort=True):
        X = s.space.encode(batch, dtype=torch.float64)
        f = s.space.features(X)
        n_copies += sum(bool(copies(f[k:k + 1], f[:k])[0]) for k in range(len(f)))
    return {"campaign": campaign, "arm": arm, "seed": seed,
            "threshold": "own" if threshold is None else threshold, "experiments": len(frame),
            "hypervolume": measured_hypervolume(true, s), "first_beat": first,
            "hv_first_batch": measured_hypervolume(true[frame["round"] <= first_round], s),
            "found": bool(beat.any()), "copies": n_copies, "cpu_s": cpu,
            "pof_rounds": sum(r.strategy.acquisition == "qLogPOF" for r in results)}


def _cell(values: pd.Series, fmt: str) -> str:
    q = values.quantile([0.25, 0.5, 0.75]).to_numpy()
    return f"{q[1]:{fmt}} [{q[0]:{fmt}}-{q[2]:{fmt}}]"


def summarize(runs: pd.DataFrame) -> pd.DataFrame:
    """Median [IQR] per threshold and arm."""
    out = []
    for (campaign, threshold, arm), g in runs.groupby(["campaign", "threshold", "arm"],
                                                      sort=False):
        out.append({"campaign": campaign, "threshold": threshold, "arm": arm,
                    "seeds": len(g), "experiments": int(g["experiments"].median()),
                    "hypervolume": _cell(g["hypervolume"], ".4g"),
                    "hv_first_batch": _cell(g["hv_first_batch"], ".4g"),
                    "first_beat": _cell(g["first_beat"], ".0f"),
                    "found": f"{100 * g['found'].mean():.0f} %",
                    "copies": int(g["copies"].sum()),
                    "pof_rounds": _cell(g["pof_rounds"], ".0f"),
                    "cpu_s": _cell(g["cpu_s"], ".0f")})
    return pd.DataFrame(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--campaigns", nargs="+", default=["oxychloride", "interlayer"],
                   choices=["oxychloride", "interlayer"])
    p.add_argument("--experiments", type=int, nargs="+", default=None,
                   help="budget per campaign (default: oxychloride 32, interlayer 42)")
    p.add_argument("--thresholds", type=float, nargs="+", default=None,
                   help="oxychloride conductivity thresholds, mS/cm (default: its own, 1)")
    p.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write the runs as CSV here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    a = parse_args(argv)
    wall = time.perf_counter()
    budgets = dict(zip(a.campaigns, a.experiments or [BUDGET[c] for c in a.campaigns],
                       strict=True))
    jobs = [(c, th) for c in a.campaigns
            for th in ((a.thresholds or [None]) if c == "oxychloride" else [None])]
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(a.jobs) as pool:
        futures = [pool.submit(run_one, arm, seed, th, budgets[c],
                               str(Path(tmp) / f"{c}-{th}-{arm}-{seed}"), c)
                   for c, th in jobs for seed in range(a.seeds) for arm in a.arms]
        runs = pd.DataFrame([f.result() for f in futures])
    if a.out is not None:
        runs.to_csv(a.out, index=False)
    table = summarize(runs)
    print(f"{a.seeds} seeds; median [quartiles]")
    print(table.to_string(index=False))
    print(f"wall {time.perf_counter() - wall:.0f} s; CPU-s per run in the table "
          "(process time of each job)")
    return table


if __name__ == "__main__":
    main()
