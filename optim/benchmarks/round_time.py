"""Wall time of one oxychloride round with N measured rows, through the real CLI.

    python -m optim.benchmarks.round_time [--n 100] [--repeats 2] [-- extra overrides]

Steps: an initial design of N rows (``initial_design.n=N``); results from the simulated
oxychloride truth (docs/SIMULATORS.md §1, illustrative) plus noise, merged with ``record=``;
then one model-based round (batch 4, qLogNEHVI by default), timed ``--repeats`` times
(the ledger is restored between repeats). Prints the CLI's own timing breakdown and the
process wall time. The first qLogNEHVI call on a machine compiles botorch's fused kernel
(tens of seconds, cached); a warm-up round runs first so that it is not counted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from optim.labs import OxychlorideTruth


def _cli(runs: Path, *overrides: str) -> tuple[float, str]:
    cmd = [sys.executable, "-m", "optim", "campaign=oxychloride", "tracking=none",
           f"paths.runs={runs}", *overrides]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"command failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return wall, proc.stdout


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="measured rows")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides")
    args = parser.parse_args()

    runs = Path(tempfile.mkdtemp(prefix="bench-round-"))
    ledger = runs / "oxychloride" / "ledger.csv"
    _cli(runs, f"initial_design.n={args.n}", f"seed={args.seed}")
    frame = pd.read_csv(ledger)
    truth = OxychlorideTruth()(frame)
    rng = np.random.default_rng(args.seed)
    results = pd.DataFrame({
        "id": frame["id"],
        "conductivity_mS_cm": truth["conductivity_mS_cm"] * 10 ** rng.normal(0, 0.06, len(frame)),
        "retention_pct": np.clip(truth["retention_pct"] + rng.normal(0, 2, len(frame)), 0, 100),
    })
    results_path = runs / "results.csv"
    results.to_csv(results_path, index=False)
    _cli(runs, f"record={results_path}")
    snapshot = runs / "ledger-measured.csv"
    shutil.copy(ledger, snapshot)

    print(f"oxychloride round: {args.n} measured rows, batch 4, overrides {args.overrides}")
    _cli(runs, *args.overrides)  # warm-up: compiles botorch's fused kernel if needed
    for k in range(args.repeats):
        shutil.copy(snapshot, ledger)
        wall, out = _cli(runs, *args.overrides)
        timing = re.search(r"fit [0-9.]+ s, propose [0-9.]+ s, round [0-9.]+ s", out)
        print(f"  repeat {k + 1}: process wall {wall:.1f} s; in-round "
              f"{timing.group(0) if timing else '?'}")
    shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    main()
