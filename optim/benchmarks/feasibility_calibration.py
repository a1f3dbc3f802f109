"""How well feasibility classifiers' probabilities of failure match the truth.

    python -m optim.benchmarks.feasibility_calibration            # 10 repetitions
    python -m optim.benchmarks.feasibility_calibration --reps 3 --n 30

A synthetic failure region in the unit cube (d = 4): experiments fail with probability
``p(x) = floor + (1 - floor) * sigmoid((r0 - |x - c|) / width)`` (a ball of failures
around ``c`` with a soft edge, plus random failures at rate ``floor`` everywhere).
``n`` training experiments drawn uniformly are labelled by that probability; each
classifier is fitted and scored on 4000 fresh points against the TRUE ``p``:

- Brier score of the labels (mean squared error of the predicted probability against
  0/1 outcomes drawn from ``p``; lower is better; 0.25 is a coin);
- calibration error: predictions in five bins of predicted P(failure) (0-0.2, ...,
  0.8-1), and the mean absolute gap between each bin's mean prediction and its mean
  true ``p``, weighted by the bin's share of the test points;
- the binned table itself for the first setting (``--table``).

Classifiers: the Dirichlet GP (``surrogates.DirichletGPClassifier``) at several
``alpha_epsilon``, and scikit-learn's random forest (500 trees, min_samples_leaf=3,
probabilities = share of trees), the classifier the field's other tools use.

``--labs``: the same scores on the simulated labs' failure laws, 30 experiments drawn
from the campaign's own (mixed) search space: interlayer shorts (``p = 0.03 + 0.97
p_short``, docs/SIMULATORS.md §2) and the oxychloride AlCl3 loss of the benchmark's
``hot-loss`` scenario (from 10 % Al, above 100 degC, centre 150 degC; plus 3 %).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

D = 4
CENTRE = np.full(D, 0.7)
BINS = np.linspace(0, 1, 6)


def true_failure(X: np.ndarray, floor: float, r0: float = 0.45, width: float = 0.05,
                 ) -> np.ndarray:
    """The synthetic probability of failure at ``n x D`` points of the unit cube."""
    r = np.linalg.norm(X - CENTRE, axis=-1)
    return floor + (1 - floor) / (1 + np.exp(-(r0 - r) / width))


def sample(n: int, floor: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` uniform points, their true P(failure) and drawn success labels (1 = ok)."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, D))
    p = true_failure(X, floor)
    return X, p, (rng.uniform(size=n) >= p).astype(float)


def predict_gp(X: np.ndarray, ok: np.ndarray, X_test: np.ndarray, alpha: float) -> np.ndarray:
    """P(failure) on ``X_test`` from the Dirichlet GP classifier."""
    from surrogates import DirichletGPClassifier, success_probability

    tk = {"dtype": torch.float64}
    bounds = torch.tensor([[0.0] * D, [1.0] * D], **tk)
    model = DirichletGPClassifier(alpha_epsilon=alpha).fit(
        torch.tensor(X, **tk), torch.tensor(ok, **tk), bounds)
    with torch.no_grad():
        return 1 - success_probability(model, torch.tensor(X_test, **tk)).numpy()


def predict_forest(X: np.ndarray, ok: np.ndarray, X_test: np.ndarray, seed: int,
                   ) -> np.ndarray:
    """P(failure) on ``X_test`` from a random-forest classifier."""
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=500, min_samples_leaf=3, random_state=seed)
    forest.fit(X, ok)
    return forest.predict_proba(X_test)[:, list(forest.classes_).index(0.0)]


def calibration_table(pred: np.ndarray, p_true: np.ndarray) -> pd.DataFrame:
    """Per bin of predicted P(failure): share of points, mean prediction, mean truth."""
    which = np.clip(np.digitize(pred, BINS) - 1, 0, len(BINS) - 2)
    rows = []
    for b in range(len(BINS) - 1):
        sel = which == b
        rows.append({"bin": f"{BINS[b]:.1f}-{BINS[b + 1]:.1f}", "share": float(sel.mean()),
                     "predicted": float(pred[sel].mean()) if sel.any() else np.nan,
                     "observed": float(p_true[sel].mean()) if sel.any() else np.nan})
    return pd.DataFrame(rows)


def calibration_error(pred: np.ndarray, p_true: np.ndarray) -> float:
    """Share-weighted mean absolute gap between predicted and true P(failure) per bin."""
    t = calibration_table(pred, p_true).dropna()
    return float((t["share"] * (t["predicted"] - t["observed"]).abs()).sum())


def evaluate(classifier: str, n: int, floor: float, seed: int) -> dict:
    """One fit and its scores."""
    X, _, ok = sample(n, floor, seed)
    while ok.min() == ok.max():  # both outcomes needed: draw again
        seed += 1000
        X, _, ok = sample(n, floor, seed)
    X_test, p_test, _ = sample(4000, floor, seed + 1)
    start = time.process_time()
    if classifier == "forest":
        pred = predict_forest(X, ok, X_test, seed)
    else:
        pred = predict_gp(X, ok, X_test, float(classifier.split("=")[1]))
    cpu = time.process_time() - start
    brier = float(np.mean(p_test * (1 - pred) ** 2 + (1 - p_test) * pred ** 2))
    return {"classifier": classifier, "n": n, "floor": floor, "seed": seed, "brier": brier,
            "calibration_error": calibration_error(pred, p_test), "cpu_s": cpu,
            "pred": pred, "p_true": p_test}


CLASSIFIERS = ("gp alpha=0.01", "gp alpha=0.05", "gp alpha=0.1", "forest")


def _lab_failure(campaign: str):
    """The campaign's settings and its simulated P(failure) of a decoded frame."""
    import tempfile

    from optim.campaign import Campaign
    from optim.labs import InterlayerTruth

    with tempfile.TemporaryDirectory() as tmp:
        settings = Campaign.from_config(campaign, overrides=[f"paths.runs={tmp}",
                                                             "tracking=none"]).settings
    if campaign == "interlayer":
        truth = InterlayerTruth()
        return settings, lambda f: 0.03 + 0.97 * truth.short_probability(f)

    def hot_loss(f: pd.DataFrame) -> np.ndarray:
        al = (f["AlCl3"] / (f["ZrCl4"] + f["AlCl3"])).to_numpy()
        t = f["anneal_temperature_C"].to_numpy(float)
        return 0.03 + 0.97 * np.where((t > 100) & (al > 0.1),
                                      al / (1 + np.exp(-(t - 150) / 10)), 0.0)
    return settings, hot_loss


def evaluate_lab(campaign: str, classifier: str, n: int, seed: int) -> dict:
    """One fit on ``n`` experiments of the campaign's space and its scores."""
    settings, failure = _lab_failure(campaign)
    space, tk = settings.space, settings.tkwargs
    X = space.sample(n, seed=seed, **tk)
    p = failure(space.decode(X))
    ok = (np.random.default_rng(seed).uniform(size=n) >= p).astype(float)
    X_test = space.sample(2000, seed=seed + 100, **tk)
    p_test = failure(space.decode(X_test))
    start = time.process_time()
    if classifier == "forest":
        pred = predict_forest(X.numpy(), ok, X_test.numpy(), seed)
    else:
        from surrogates import DirichletGPClassifier, success_probability

        model = DirichletGPClassifier(alpha_epsilon=float(classifier.split("=")[1])).fit(
            X, torch.tensor(ok, **tk), space.bounds(**tk), space.cat_dims or None)
        with torch.no_grad():
            pred = 1 - success_probability(model, X_test).numpy()
    cpu = time.process_time() - start
    brier = float(np.mean(p_test * (1 - pred) ** 2 + (1 - p_test) * pred ** 2))
    return {"classifier": classifier, "n": n, "floor": campaign, "seed": seed,
            "brier": brier, "calibration_error": calibration_error(pred, p_test),
            "cpu_s": cpu, "pred": pred, "p_true": p_test}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line's options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--n", type=int, nargs="+", default=[30, 60])
    parser.add_argument("--floor", type=float, nargs="+", default=[0.03, 0.2])
    parser.add_argument("--classifiers", nargs="+", default=list(CLASSIFIERS))
    parser.add_argument("--labs", action="store_true",
                        help="also the simulated labs' failure laws (n=30)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    """Run the study and print the table; returns per-fit rows."""
    args = parse_args(argv)
    torch.set_num_threads(1)
    rows = [evaluate(c, n, f, seed) for c in args.classifiers for n in args.n
            for f in args.floor for seed in range(args.reps)]
    if args.labs:
        rows += [evaluate_lab(lab, c, 30, seed) for lab in ("interlayer", "oxychloride")
                 for c in args.classifiers for seed in range(args.reps)]
    runs = pd.DataFrame(rows)
    runs["floor"] = runs["floor"].astype(str)  # a random-failure rate, or a lab's name
    table = runs.groupby(["n", "floor", "classifier"], sort=False).agg(
        brier=("brier", "median"), calibration_error=("calibration_error", "median"),
        cpu_s=("cpu_s", "median")).reset_index()
    print(f"Feasibility classifiers on a synthetic failure region (d={D}), median over "
          f"{args.reps} repetitions; Brier score and calibration error against the true "
          "P(failure) on 4000 test points (lower is better)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    first = runs[(runs["n"] == args.n[0]) & (runs["floor"] == str(args.floor[0]))]
    for c, g in first.groupby("classifier", sort=False):
        binned = calibration_table(np.concatenate(g["pred"].to_list()),
                                   np.concatenate(g["p_true"].to_list()))
        print(f"\n{c}, n={args.n[0]}, floor={args.floor[0]}: predicted vs true P(failure) "
              "by bin of prediction (all repetitions pooled)")
        print(binned.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    return runs.drop(columns=["pred", "p_true"])


if __name__ == "__main__":
    main()
