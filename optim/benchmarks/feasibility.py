"""Failures and limits on the simulated labs: the feasibility model and a declared
outcome constraint, measured in closed loops.

    python -m optim.benchmarks.feasibility                      # 5 seeds, 48 experiments
    python -m optim.benchmarks.feasibility --seeds 2 --experiments 24 --campaigns interlayer

Each job is the CLI's unattended loop (``python -m optim campaign=<c> lab=simulated
experiments=<n> seed=<k> tracking=none``) in its own process and folder, two at a time.
Per campaign and lab scenario, the arms ``feasibility`` (the default: the classifier
learns from failed rows) and ``blind`` (``feasibility.model=none``: failed rows are left
out of the fits, nothing more), and on the interlayer ``ccd>=1`` (as ``feasibility``,
with the outcome constraint ``ccd_mA_cm2 >= 1 mA/cm2`` declared). Scenarios:

- ``oxychloride/default``: the shipped lab: Al-rich samples (Al over 30 % of the metals)
  annealed above about 180 degC lose AlCl3 (failed rows, docs/SIMULATORS.md §1), plus
  3 % random failures;
- ``oxychloride/hot-loss``: AlCl3 lost from 10 % Al upwards and above 100 degC (centre
  150 degC): the anneals that relax the glass fail for most compositions;
- ``interlayer/default``: cells that short (current density near or above their CCD)
  are recorded as failed (``lab.interlayer.noise.shorts_fail=true``), plus 3 % random
  assembly faults; the initial design is 8, so 8 + 5 x 8 = 48;
- ``interlayer/fast``: as default, cycled at 0.5-2 mA/cm2 (a practical rate), where
  thin or missing seed layers short.

Printed per arm (median and 25th-75th percentile over seeds): failed experiments (all,
and among the model-based proposals: the initial design is the same in every arm); the
hypervolume of the measured front at the budget from the simulator's NOISE-FREE values
(failed rows add nothing; the campaign's objectives and thresholds, no constraint, so
arms compare on one scale); the share of model-based proposals (source ``bo``) whose
true CCD is >= 1 mA/cm2 (interlayer); and process-CPU seconds per job (user + system).
The simulators are illustrative (docs/SIMULATORS.md), not predictive chemistry.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CCD_MIN = 1.0
INTERLAYER = ("lab.interlayer.noise.shorts_fail=true", "initial_design.n=8")
# harsher labs, where the failures lie where a blind optimizer wants to go
HOT_LOSS = ("lab.oxychloride.noise.alcl3_loss_above_C=100",
            "lab.oxychloride.noise.alcl3_loss_min_al=0.1",
            "lab.oxychloride.noise.alcl3_loss_center_C=150")
FAST = ("search_space.parameters.current_density_mA_cm2.lower=0.5",)


@dataclass(frozen=True)
class Arm:
    """One benchmark arm: a campaign, its lab scenario and the overrides that set the
    arm apart."""

    campaign: str
    scenario: str
    name: str
    overrides: tuple[str, ...]


def _arms(campaign: str, scenario: str, base: tuple[str, ...], constraint: bool,
          ) -> list[Arm]:
    arms = [Arm(campaign, scenario, "feasibility", base),
            Arm(campaign, scenario, "blind", (*base, "feasibility.model=none"))]
    if constraint:
        arms.append(Arm(campaign, scenario, "ccd>=1",
                        (*base, f"+targets.ccd_mA_cm2.constraint.min={CCD_MIN}")))
    return arms


ARMS = (
    *_arms("oxychloride", "default", (), False),
    *_arms("interlayer", "default", INTERLAYER, True),
    *_arms("oxychloride", "hot-loss", HOT_LOSS, False),
    *_arms("interlayer", "fast", (*INTERLAYER, *FAST), True),
)
SCENARIOS = ("default", "hot-loss", "fast")


def _job(arm: Arm, seed: int, experiments: int, root: Path, extra: list[str]) -> dict:
    folder = (root / arm.campaign / arm.scenario / arm.name.replace(">=", "_ge_")
              / f"seed{seed}")
    folder.mkdir(parents=True, exist_ok=True)
    timing = folder / "time.txt"
    cmd = ["/usr/bin/time", "-o", str(timing), "-f", "%e %U %S", sys.executable, "-m", "optim",
           f"campaign={arm.campaign}", "lab=simulated", f"experiments={experiments}",
           f"seed={seed}", "tracking=none", f"paths.runs={folder}", *arm.overrides, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"job failed: {' '.join(cmd)}\n{proc.stdout[-3000:]}\n"
                         f"{proc.stderr[-3000:]}")
    wall, user, system = (float(v) for v in timing.read_text().split()[-3:])
    return {"campaign": arm.campaign, "scenario": arm.scenario, "arm": arm.name, "seed": seed,
            "ledger": folder / arm.campaign / "ledger.csv", "wall_s": wall,
            "cpu_s": user + system}


def _settings(campaign: str, extra: list[str]):
    """The campaign's settings as the benchmark scores them (no constraint declared)."""
    from optim.campaign import Campaign

    with tempfile.TemporaryDirectory() as tmp:
        return Campaign.from_config(campaign, overrides=[f"paths.runs={tmp}", "tracking=none",
                                                         *extra]).settings


def _score(job: dict, settings, truth) -> dict:
    from optim.ledger import Ledger
    from optim.metrics import measured_hypervolume

    header = pd.read_csv(job["ledger"], nrows=0).columns
    frame = Ledger.load(job["ledger"], _with_columns(settings, header)).frame
    done = frame[frame["status"].isin(["measured", "failed"])]
    true = frame.copy()
    measured = true["status"] == "measured"
    values = truth(true.loc[measured, settings.space.names]) if measured.any() else None
    for t in settings.objectives.measured:
        if values is not None:
            true.loc[measured, t.name] = values[t.name].to_numpy()
    bo_done = done[done["source"] == "bo"]
    out = {**job, "experiments": len(done), "failed": int((done["status"] == "failed").sum()),
           "failed_bo": int((bo_done["status"] == "failed").sum()),
           "hypervolume": measured_hypervolume(true, settings)}
    bo = frame[frame["source"] == "bo"]
    if "ccd_mA_cm2" in settings.objectives.names and len(bo):
        ccd = truth(bo[settings.space.names])["ccd_mA_cm2"].to_numpy()
        out["ccd_ok"] = float(np.mean(ccd >= CCD_MIN))
    return out


def _with_columns(settings, columns: pd.Index):
    """The ledger schema of the arm whose ledger has ``columns`` (a declared constraint
    adds a ``pred_<target>_meets`` column)."""
    from dataclasses import replace

    from optim.objectives import Objectives

    if "pred_ccd_mA_cm2_meets" not in columns:
        return settings.schema
    targets = tuple(replace(t, constraint=(CCD_MIN, None)) if t.name == "ccd_mA_cm2" else t
                    for t in settings.objectives.targets)
    return replace(settings, objectives=Objectives(targets)).schema


def _cell(values: pd.Series, fmt: str) -> str:
    q = values.quantile([0.25, 0.5, 0.75]).to_numpy()
    return f"{q[1]:{fmt}} [{q[0]:{fmt}}-{q[2]:{fmt}}]"


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Median [IQR] per campaign and arm."""
    out = []
    for (campaign, scenario, arm), g in rows.groupby(["campaign", "scenario", "arm"],
                                                     sort=False):
        rec = {"campaign": campaign, "scenario": scenario, "arm": arm, "seeds": len(g),
               "experiments": int(g["experiments"].median()),
               "failed": _cell(g["failed"], ".3g"),
               "failed_in_bo": _cell(g["failed_bo"], ".3g"),
               "hypervolume": _cell(g["hypervolume"], ".4g"),
               "cpu_s_per_job": _cell(g["cpu_s"], ".0f")}
        if "ccd_ok" in g and g["ccd_ok"].notna().any():
            rec["bo_ccd>=1"] = _cell(100 * g["ccd_ok"], ".0f") + " %"
        out.append(rec)
    return pd.DataFrame(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--experiments", type=int, default=48)
    parser.add_argument("--campaigns", nargs="+", default=["oxychloride", "interlayer"])
    parser.add_argument("--arms", nargs="+", default=None, help="arm names (default all)")
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS),
                        help="lab scenarios: default (the shipped labs), hot-loss (AlCl3 "
                             "lost above 100 degC from 10 %% Al), fast (interlayer cells "
                             "cycled at >= 0.5 mA/cm2)")
    parser.add_argument("--jobs", type=int, default=2, help="jobs at a time")
    parser.add_argument("--out", type=Path, default=None, help="folder (default: temporary)")
    parser.add_argument("--override", action="append", default=[],
                        help="extra Hydra override for every job (repeatable)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the arms and print the table; returns the per-job rows."""
    args = parse_args(argv)
    from optim.labs import InterlayerTruth, OxychlorideTruth

    root = args.out or Path(tempfile.mkdtemp(prefix="feasibility-bench-"))
    arms = [a for a in ARMS if a.campaign in args.campaigns and a.scenario in args.scenarios
            and (args.arms is None or a.name in args.arms)]
    tasks = [(a, s) for a in arms for s in range(args.seeds)]
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        jobs = list(pool.map(lambda t: _job(t[0], t[1], args.experiments, root,
                                            args.override), tasks))
    truths = {"oxychloride": OxychlorideTruth(), "interlayer": InterlayerTruth()}
    settings = {c: _settings(c, args.override) for c in {a.campaign for a in arms}}
    rows = pd.DataFrame([_score(j, settings[j["campaign"]], truths[j["campaign"]])
                         for j in jobs])
    rows.drop(columns=["ledger"]).to_csv(root / "feasibility_runs.csv", index=False)
    table = summarize(rows)
    print(f"Failures and limits, {args.seeds} seed(s), {args.experiments} experiments per "
          "campaign (ILLUSTRATIVE simulators; hypervolume from noise-free values, model "
          "scale, reference = thresholds); median [25th-75th percentile] over seeds")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(f"outputs: {root}/feasibility_runs.csv")
    return rows


if __name__ == "__main__":
    main()
