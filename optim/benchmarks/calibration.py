"""Are the GP's predictive intervals honest at campaign sizes? Held-out coverage on the
three Liang et al. 2021 datasets.

    python -m optim.benchmarks.calibration                  # 3 datasets, n = 30 and 100, 10 reps
    python -m optim.benchmarks.calibration --train 30 --reps 5 --models default warp

Per dataset (replicates averaged per unique design, as in ``optim.benchmarks.liang``),
repetition and training size ``n``: ``n`` designs drawn at random train the model on
the campaign's scale (the target as measured, inputs normalized to the pool's range);
every other design is held out. Printed per dataset, ``n`` and model: the share of
held-out truths inside the central 90 % and 50 % predictive intervals (observation noise
included; honest: about 90 % and 50 %), the mean squared standardized error (MSSE,
honest: about 1; above 1: over-confident), the RMSE over the held-out sd of the target,
and CPU seconds per fit; median [25th-75th percentile] over repetitions.

Models (``--models``): ``default`` (``surrogates.GPSurrogate``: botorch's SingleTaskGP,
RBF kernel with the dimension-scaled length-scale prior and LogNormal(-4, 1) noise
prior, Hvarfner et al. 2024), ``cv`` (``GPSurrogate(calibrate="cv")``: its variance
scaled so the 90th percentile of 5-fold cross-validation errors, hyperparameters
refitted per fold, lies at 1.645; ``surrogates.calibration``), ``loo_scaled`` (the same
factor from closed-form leave-one-out at the fitted hyperparameters), ``warp`` (the default
with botorch's Kumaraswamy input warping, ``Warp``, with its default priors), ``matern``
(Matern-5/2 kernel with the same priors, as BayBE's and Ax's presets of earlier years),
``noise_prior`` (the default with the noise prior of botorch's pre-2024 default,
Gamma(1.1, 0.05): larger noise allowed at small n); ``noise_floor``: the default with
the noise held above 1 % of the standardized variance (botorch's floor is 0.01 %);
``log`` and ``yeo_johnson``: the default GP on the log of the target, or on its Yeo-
Johnson power transform fitted to the training values (sklearn), scored on that scale
(the same coverage, the map being monotone).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import torch

MODELS = ("default", "cv", "loo_scaled", "warp", "matern", "noise_prior", "noise_floor", "log",
          "yeo_johnson")
# the default GP on a transform of the target; coverage is scored on that scale, which
# for a monotone transform is the same as on the measured one
OUTPUT = {"log": "log", "yeo_johnson": "yeo_johnson"}


def _fit(name: str, X: torch.Tensor, y: torch.Tensor):
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms.input import ChainedInputTransform, Normalize, Warp
    from botorch.models.transforms.outcome import Standardize
    from gpytorch.constraints import GreaterThan
    from gpytorch.kernels import MaternKernel
    from gpytorch.likelihoods import GaussianLikelihood
    from gpytorch.mlls import ExactMarginalLogLikelihood
    from gpytorch.priors import GammaPrior, LogNormalPrior

    from surrogates import GPSurrogate

    d = X.shape[-1]
    bounds = torch.stack([torch.zeros(d), torch.ones(d)]).to(X)
    kwargs = {"input_transform": Normalize(d=d, bounds=bounds),
              "outcome_transform": Standardize(m=1)}
    if name == "default":
        return GPSurrogate(min_measurements=2).fit(X, y, bounds)
    if name == "cv":
        return GPSurrogate(min_measurements=2, calibrate="cv").fit(X, y, bounds)
    if name == "loo_scaled":
        # as cv, the factor from closed-form leave-one-out at the fitted hyperparameters
        from surrogates import loo_predictions
        from surrogates.calibration import cv_factor, scaled

        model = GPSurrogate(min_measurements=2).fit(X, y, bounds)
        observed, mean, sd = loo_predictions(model)
        return scaled(model, cv_factor(((observed - mean) / sd).numpy()))
    if name == "warp":
        kwargs["input_transform"] = ChainedInputTransform(
            normalize=Normalize(d=d, bounds=bounds),
            warp=Warp(d=d, indices=list(range(d)),
                      concentration1_prior=LogNormalPrior(0.0, 0.75 ** 0.5),
                      concentration0_prior=LogNormalPrior(0.0, 0.75 ** 0.5)))
    if name == "matern":
        from math import log, sqrt
        kwargs["covar_module"] = MaternKernel(
            nu=2.5, ard_num_dims=d,
            lengthscale_prior=LogNormalPrior(loc=sqrt(2) + log(d) * 0.5, scale=sqrt(3)),
            lengthscale_constraint=GreaterThan(2.5e-2))
    if name == "noise_floor":
        prior = LogNormalPrior(loc=-4.0, scale=1.0)
        kwargs["likelihood"] = GaussianLikelihood(
            noise_prior=prior, noise_constraint=GreaterThan(1e-2, initial_value=2e-2))
    if name == "noise_prior":
        kwargs["likelihood"] = GaussianLikelihood(
            noise_prior=GammaPrior(1.1, 0.05),
            noise_constraint=GreaterThan(1e-4, initial_value=1.1 / 0.05 / 100))
    model = SingleTaskGP(X, y, **kwargs)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model.eval()


def _output_map(kind: str | None, y_train: np.ndarray):
    """The target's map to the model scale: identity, log, or Yeo-Johnson (sklearn's
    ``PowerTransformer``, fitted on the training values)."""
    if kind is None:
        return lambda v: v
    if kind == "log":
        return lambda v: np.log(np.maximum(v, 1e-12))
    from sklearn.preprocessing import PowerTransformer

    pt = PowerTransformer(method="yeo-johnson", standardize=False).fit(y_train.reshape(-1, 1))
    return lambda v: pt.transform(np.asarray(v).reshape(-1, 1)).ravel()


def one(dataset: str, n: int, rep: int, models: list[str]) -> list[dict]:
    """One repetition: every model on the same split."""
    from scipy.stats import norm

    from optim.benchmarks.liang import DATASETS, load_pool

    ds = DATASETS[dataset]
    pool = load_pool(ds)
    names = list(ds.inputs.values())
    X = pool[names].to_numpy(float, copy=True)
    X = (X - X.min(0)) / np.where(np.ptp(X, 0) > 0, np.ptp(X, 0), 1.0)
    y = pool[ds.target[1]].to_numpy(float, copy=True)
    order = np.random.default_rng(7919 * rep + n).permutation(len(pool))
    train, test = order[:n], order[n:]
    tk = {"dtype": torch.float64}
    Xt = torch.as_tensor(X[train], **tk)
    Xh = torch.as_tensor(X[test], **tk)
    out = []
    for name in models:
        torch.manual_seed(rep)
        cpu = time.process_time()
        f = _output_map(OUTPUT.get(name), y[train])
        model = _fit("default" if name in OUTPUT else name, Xt,
                     torch.as_tensor(f(y[train]), **tk).unsqueeze(-1))
        cpu = time.process_time() - cpu
        with torch.no_grad():
            post = model.posterior(Xh, observation_noise=True)
            mean = post.mean.squeeze(-1).numpy()
            sd = post.variance.clamp_min(1e-300).sqrt().squeeze(-1).numpy()
        truth = f(y[test])
        z = (truth - mean) / sd
        out.append({"dataset": dataset, "n": n, "rep": rep, "model": name,
                    "cover90": float(np.mean(np.abs(z) <= norm.ppf(0.95))),
                    "cover50": float(np.mean(np.abs(z) <= norm.ppf(0.75))),
                    "msse": float(np.mean(z ** 2)),
                    "rmse_sd": float(np.sqrt(np.mean((truth - mean) ** 2)) / truth.std()),
                    "cpu_s": cpu})
    return out


def _cell(values: pd.Series, fmt: str) -> str:
    q = values.quantile([0.25, 0.5, 0.75]).to_numpy()
    return f"{q[1]:{fmt}} [{q[0]:{fmt}}-{q[2]:{fmt}}]"


def summarize(rows: pd.DataFrame) -> pd.DataFrame:
    """Median [IQR] per dataset, training size and model."""
    out = []
    for (dataset, n, model), g in rows.groupby(["dataset", "n", "model"], sort=False):
        out.append({"dataset": dataset, "n": n, "model": model, "reps": len(g),
                    "cover90": _cell(g["cover90"], ".2f"), "cover50": _cell(g["cover50"], ".2f"),
                    "msse": _cell(g["msse"], ".2f"), "rmse/sd": _cell(g["rmse_sd"], ".2f"),
                    "cpu_s": f"{g['cpu_s'].median():.2f}"})
    return pd.DataFrame(out)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (module docstring)."""
    from optim.benchmarks.liang import DATASETS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--train", type=int, nargs="+", default=[30, 100])
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    a = parse_args(argv)
    torch.set_num_threads(1)
    rows = pd.DataFrame([r for dataset in a.datasets for n in a.train
                         for rep in range(a.reps) for r in one(dataset, n, rep, a.models)])
    table = summarize(rows)
    print(f"held-out predictive intervals, Liang et al. 2021 datasets, {a.reps} random "
          "splits; median [quartiles]")
    print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
