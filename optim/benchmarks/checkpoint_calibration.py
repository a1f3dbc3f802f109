"""How honest is the predicted cycle-350 retention of a cell read only to cycle 50?

    python -m optim.benchmarks.checkpoint_calibration            # 10 repetitions
    python -m optim.benchmarks.checkpoint_calibration --reps 3 --train 20

Simulated cells (``CyclingInterlayerLab``, docs/SIMULATORS.md 2.3) at random designs of
the interlayer space: ``--train`` cells with every checkpoint read (25 ... 350) and
``--test`` cells read to cycle 50 only. Each model predicts the test cells' cycle-350
retention; printed per model over the repetitions: the share of test cells whose
actual final reading lies in the 90 % (and 50 %) predictive interval (observation
noise included), the RMSE and the CPU seconds per fit. Cells that short are left out of
the test set (their collapse is not in their first 50 cycles). Models:

- ``fidelity/fade_law`` (the default), ``fidelity/none``: the checkpoint GP
  (``surrogates.CheckpointGP``) on every reading, with and without the fade-law map;
- ``final``: a GP on the training cells' final values (the test cells' readings unused);
- ``latest``: a GP on every cell's latest reading taken as final.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch
from scipy.stats import norm

MODELS = ("fidelity/fade_law", "fidelity/none", "final", "latest")


def _cells(settings, lab, n: int, seed: int, rnd: int) -> pd.DataFrame:
    """``n`` random designs with every checkpoint reading and whether each shorted."""
    X = settings.space.sample(n, seed=seed, **settings.tkwargs)
    frame = settings.space.decode(X)
    frame.insert(0, "id", [f"c{rnd}-{k}" for k in range(n)])
    frame.insert(1, "round", rnd)
    readings: dict[str, dict] = {i: {} for i in frame["id"]}
    for a in lab.start(frame, 0.0):
        readings[a.id].update(a.values)
        if a.status == "failed" or "short" in a.notes:
            readings[a.id]["bad"] = True
    values = pd.DataFrame.from_dict(readings, orient="index").reindex(frame["id"])
    out = pd.concat([frame.set_index("id"), values], axis=1).reset_index(names="id")
    out["bad"] = out.get("bad", pd.Series(False, index=out.index)).fillna(False).astype(bool)
    return out


def one(settings, rep: int, n_train: int, n_test: int) -> list[dict]:
    from optim.checkpoints import CheckpointSpec, fit_checkpointed
    from optim.labs.cycling import CyclingInterlayerLab
    from optim.labs.simulated import SimulatedInterlayerLab

    lab = CyclingInterlayerLab(SimulatedInterlayerLab(seed=1000 + rep))
    train = _cells(settings, lab, n_train, 7919 * rep + 1, 1)
    test = _cells(settings, lab, n_test * 2, 7919 * rep + 2, 2)
    test = test[~test["bad"]].head(n_test)
    truth = test["retention_pct"].to_numpy(float)
    hidden = [c for c in ("retention_pct@100", "retention_pct@200", "retention_pct")]
    seen = test.copy()
    seen[hidden] = np.nan
    ledger = settings.schema.coerce(pd.concat([train, seen], ignore_index=True))
    ledger["status"] = np.where(ledger[settings.schema.targets].isna().all(axis=1),
                                "failed", "measured")  # an assembly fault: no values
    target = settings.objectives["retention_pct"]
    tk = settings.tkwargs
    bounds = settings.space.bounds(**tk)
    out = []
    for name in MODELS:
        model_name, _, transform = name.partition("/")
        spec = CheckpointSpec(model_name, transform or "fade_law")
        torch.manual_seed(rep)
        cpu = time.process_time()
        fit = fit_checkpointed(ledger, target, spec,
                               lambda rows: settings.space.encode(rows, **tk), bounds,
                               settings.space.cat_dims, settings.surrogate, tk)
        cpu = time.process_time() - cpu
        model = fit[0]
        Xt = settings.space.encode(seen, **tk)
        with torch.no_grad():
            post = model.posterior(Xt, observation_noise=True)
            mean = post.mean.squeeze(-1).numpy()
            sd = post.variance.clamp_min(0).sqrt().squeeze(-1).numpy()
        z = np.abs(truth - mean) / np.maximum(sd, 1e-12)
        out.append({"model": name, "rep": rep, "cover90": float(np.mean(z <= norm.ppf(0.95))),
                    "cover50": float(np.mean(z <= norm.ppf(0.75))),
                    "rmse": float(np.sqrt(np.mean((truth - mean) ** 2))),
                    "mean_sd": float(np.mean(sd)), "cpu_s": cpu, "n_test": len(truth)})
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--train", type=int, default=30)
    p.add_argument("--test", type=int, default=20)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(1)
    from optim.campaign import Campaign

    settings = Campaign.from_config("interlayer", overrides=["tracking=none"]).settings
    rows = [r for rep in range(a.reps) for r in one(settings, rep, a.train, a.test)]
    df = pd.DataFrame(rows)
    print(f"cycle-350 retention of cells read to cycle 50, predicted from {a.train} "
          f"cells with full curves ({a.reps} repetitions, {a.test} test cells each)")
    print(f"{'model':>18} {'90% cover':>22} {'50% cover':>22} {'RMSE pp':>8} "
          f"{'mean sd':>8} {'CPU-s':>6}")
    for name in MODELS:
        d = df[df["model"] == name]
        q = d["cover90"].quantile([0.25, 0.5, 0.75]).to_numpy()
        h = d["cover50"].quantile([0.25, 0.5, 0.75]).to_numpy()
        print(f"{name:>18} {d['cover90'].mean():6.2f} (med {q[1]:.2f} [{q[0]:.2f}-{q[2]:.2f}])"
              f" {d['cover50'].mean():6.2f} (med {h[1]:.2f} [{h[0]:.2f}-{h[2]:.2f}])"
              f" {d['rmse'].median():8.2f} {d['mean_sd'].median():8.2f}"
              f" {d['cpu_s'].median():6.2f}")
    print("cover: pooled share of test cells inside the interval (mean over repetitions), "
          "median [quartiles] of the per-repetition share")


if __name__ == "__main__":
    main()
