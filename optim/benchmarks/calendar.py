"""Long-horizon targets on a calendar: hypervolume against simulated weeks.

    python -m optim.benchmarks.calendar                         # 5 seeds, 26 weeks
    python -m optim.benchmarks.calendar --seeds 2 --weeks 6 --arms fidelity

The interlayer campaign against ``CyclingInterlayerLab`` (docs/SIMULATORS.md 2.3: cells
cycle at their own current density, 2 h/(mA/cm2) a cycle, retention read at cycles 25,
50, 100, 200, 350; 32 cycler channels), a round every 7 days while a channel is free
(``optim.calendar``). Arms (config ``checkpoints.model``):

- ``final``: waits for cycle 350 (retention modelled from finished cells only);
- ``latest``: each cell's latest retention reading taken as if final;
- ``fidelity``: the checkpoint GP on fade-law values (``checkpoints.transform=fade_law``,
  the default);
- ``fidelity-stop``: the same, ending the test of a cell under 5 % probability of beating
  the threshold (``checkpoints.stop_below=0.05``), its channel freed for a new cell;
- ``fidelity-min10``: ``fidelity`` modelling retention only once 10 cells (the initial
  design) have a reading (``checkpoints.min_cells=10``);
- ``fidelity-raw``: the checkpoint GP on the readings as read (``transform=none``).

Per arm and week: the hypervolume (model scale, reference point = thresholds) of the
cells STARTED by then, from the simulator's NOISE-FREE final values (a cell that
shorted counts retention 0; an assembly fault counts nothing): what the designs chosen
by that week are worth once they finish. Printed: median [25th-75th percentile] over
seeds, the first week each arm reaches the ``final`` arm's median hypervolume at the
horizon, and process CPU seconds per run. Jobs run two at a time, each in its own
process. The simulator is illustrative, not predictive chemistry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ARMS = ("final", "latest", "fidelity", "fidelity-stop", "fidelity-min10", "fidelity-raw")
FIDELITY = ["checkpoints.model=fidelity", "checkpoints.transform=fade_law",
            "checkpoints.stop_below=null", "checkpoints.min_cells=null"]
OVERRIDES = {"final": ["checkpoints.model=final"], "latest": ["checkpoints.model=latest"],
             "fidelity": FIDELITY,
             "fidelity-stop": [*FIDELITY, "checkpoints.stop_below=0.05"],
             "fidelity-min10": [*FIDELITY, "checkpoints.min_cells=10"],
             "fidelity-raw": [*FIDELITY, "checkpoints.transform=none"]}


def run_one(arm: str, seed: int, weeks: float, folder: str) -> dict:
    """One calendar run; the hypervolume per week and the CPU time."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from optim.calendar import run_calendar
    from optim.campaign import Campaign
    from optim.labs.cycling import CyclingInterlayerLab
    from optim.labs.simulated import SimulatedInterlayerLab
    from optim.metrics import measured_hypervolume

    cpu = time.process_time()
    campaign = Campaign.from_config("interlayer", overrides=[
        f"paths.runs={folder}", "tracking=none", f"seed={seed}", *OVERRIDES[arm]])
    lab = CyclingInterlayerLab(SimulatedInterlayerLab(seed=seed))
    dates = run_calendar(campaign, lab, weeks)
    settings = campaign.settings
    ledger = campaign.ledger
    started = {i: d.day for d in dates for i in d.started}
    rows = ledger[ledger["id"].isin(started)].copy()
    truth = lab.truth(rows[settings.space.names])
    fates = _fates(lab, rows, settings)
    for t in settings.objectives.measured:
        rows[t.name] = truth[t.name].to_numpy()
    rows.loc[fates["shorted"].to_numpy(), "retention_pct"] = 0.0
    rows["status"] = np.where(fates["fault"].to_numpy(), "failed", "measured")
    rows["day"] = rows["id"].map(started)
    hv = {}
    for week in range(0, int(weeks) + 1):
        hv[week] = measured_hypervolume(rows[rows["day"] <= week * 7 + 1e-9], settings)
    return {"arm": arm, "seed": seed, "hv": hv, "cpu_s": time.process_time() - cpu,
            "cells": len(rows), "rounds": sum(d.result is not None for d in dates),
            "stopped": sum(len(d.stopped) for d in dates)}


def _fates(lab, rows: pd.DataFrame, settings) -> pd.DataFrame:
    """Per cell, whether the lab shorted it or it had an assembly fault (the draws of
    its own batch, as the lab made them)."""
    out = []
    for _, batch in rows.groupby("round", sort=False):
        arrivals = lab.start(batch[["id", "round", *settings.space.names]]
                             .reset_index(drop=True), 0.0)
        fault = {a.id for a in arrivals if a.status == "failed"}
        shorted = {a.id for a in arrivals if "short circuit" in a.notes}
        out.append(pd.DataFrame({"fault": batch["id"].isin(fault).to_numpy(),
                                 "shorted": batch["id"].isin(shorted).to_numpy()},
                                index=batch.index))
    return pd.concat(out).loc[rows.index]


def summarize(runs: list[dict], weeks: float) -> pd.DataFrame:
    """Median and quartiles of the hypervolume per arm and week."""
    long = pd.DataFrame([{"arm": r["arm"], "seed": r["seed"], "week": w, "hv": v}
                         for r in runs for w, v in r["hv"].items()])
    table = long.groupby(["arm", "week"])["hv"].quantile([0.25, 0.5, 0.75]).unstack()
    table.columns = ["q25", "median", "q75"]
    return table.reset_index()


def report(runs: list[dict], weeks: float, figure: Path | None) -> None:
    table = summarize(runs, weeks)
    horizon = int(weeks)
    arms = [a for a in ARMS if a in set(table["arm"])]
    print("hypervolume of the cells started by each week (noise-free final values), "
          "median [25th-75th percentile] over seeds")
    shown = [w for w in (2, 4, 6, 8, 10, 13, 16, 20, 26, 30, 40) if w <= horizon]
    print("week   " + "".join(f"{a:>24}" for a in arms))
    for w in shown:
        cells = []
        for a in arms:
            r = table[(table["arm"] == a) & (table["week"] == w)].iloc[0]
            cells.append(f"{r['median']:8.1f} [{r['q25']:6.1f}-{r['q75']:6.1f}]")
        print(f"{w:4d}   " + "".join(f"{c:>24}" for c in cells))
    if "final" in arms:
        goal = float(table[(table["arm"] == "final") & (table["week"] == horizon)]["median"]
                     .iloc[0])
        print(f"\nweeks to reach the final arm's week-{horizon} median ({goal:.1f}):")
        for a in arms:
            t = table[(table["arm"] == a) & (table["median"] >= goal - 1e-9)]
            print(f"  {a:>9}: {int(t['week'].min()) if len(t) else 'not reached'}")
    print("\nper run: process CPU s (median), cells started, rounds planned, cells stopped")
    for a in arms:
        rs = [r for r in runs if r["arm"] == a]
        print(f"  {a:>9}: {np.median([r['cpu_s'] for r in rs]):7.0f} CPU-s, "
              f"{np.median([r['cells'] for r in rs]):.0f} cells, "
              f"{np.median([r['rounds'] for r in rs]):.0f} rounds, "
              f"{np.median([r.get('stopped', 0) for r in rs]):.0f} stopped")
    if figure is not None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for a in arms:
            t = table[table["arm"] == a]
            ax.plot(t["week"], t["median"], label=a)
            ax.fill_between(t["week"], t["q25"], t["q75"], alpha=0.2)
        ax.set(xlabel="simulated weeks", ylabel="hypervolume of the cells started",
               title=f"interlayer on a calendar ({len(runs) // len(arms)} seeds)")
        ax.legend(title="checkpoints.model")
        fig.tight_layout()
        fig.savefig(figure, dpi=120)
        print(f"\nfigure: {figure}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, ...")
    p.add_argument("--weeks", type=float, default=26)
    p.add_argument("--arms", default="final,latest,fidelity")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="write runs as JSON here")
    p.add_argument("--figure", type=Path, default=None)
    a = p.parse_args(argv)
    a.arms = [x for x in a.arms.split(",") if x]
    bad = [x for x in a.arms if x not in ARMS]
    if bad:
        p.error(f"--arms: unknown {bad}; expected some of {list(ARMS)}")
    return a


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    arms = a.arms
    t0, cpu0 = time.time(), time.process_time()
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(a.jobs) as pool:
        futures = [pool.submit(run_one, arm, seed, a.weeks, str(Path(tmp) / f"{arm}-{seed}"))
                   for seed in range(a.first_seed, a.first_seed + a.seeds) for arm in arms]
        runs = [f.result() for f in futures]
    if a.out is not None:
        a.out.write_text(json.dumps(runs, indent=1))
    report(runs, a.weeks, a.figure)
    print(f"\nwall {time.time() - t0:.0f} s, {a.jobs} jobs; parent CPU "
          f"{time.process_time() - cpu0:.1f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
