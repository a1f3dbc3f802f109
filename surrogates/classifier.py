"""Feasibility classifier: the probability that an experiment at ``x`` succeeds.

Dirichlet-based GP classification (Milios et al., NeurIPS 2018), as gpytorch implements
it (``DirichletClassificationLikelihood``): each class ``c`` gets a latent GP ``f_c``
fitted by exact regression to the transformed labels ``log(alpha_c) - sigma2_c / 2``
with known noise ``sigma2_c = log(1 / alpha_c + 1)``, where ``alpha_c = 1 + eps`` for
the observed class and ``eps`` otherwise. The class probability is the posterior mean
of the softmax of the latents; with two classes (0 failed, 1 succeeded) that is
``E[sigmoid(f_1 - f_0)]``.

Because the latents are independent GPs, the classifier is a botorch ``ModelListGP`` of
two ``SingleTaskGP`` (fixed heteroskedastic noise, botorch's default kernel and priors,
each with its own hyperparameters, as gpytorch's batched form has), fitted by marginal
likelihood like the regression surrogates: fast, deterministic, and sampled jointly
with them by the acquisition function, whose Monte-Carlo average of
``sigmoid(f_1 - f_0)`` per sample is exactly this probability (README "Failures and
limits" compares it with a random-forest classifier).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelListGP
from gpytorch.likelihoods import DirichletClassificationLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from surrogates.exceptions import SurrogateSettingsError, TrainingDataError
from surrogates.gp import GPSurrogate

__all__ = ["DirichletGPClassifier", "log_success_probability", "success_probability"]


@dataclass(frozen=True)
class DirichletGPClassifier:
    """Fits the two latent GPs of a success/failure classifier.

    Args:
        alpha_epsilon: Dirichlet concentration of the classes not observed: smaller
            gives more confident probabilities. 0.1, not gpytorch's default 0.01: on a
            synthetic failure region with 3-20 % random failures besides
            (``optim.benchmarks.feasibility_calibration``, n = 30 and 60) 0.01 was
            over-confident (calibration error 0.06-0.18 against 0.06-0.12 at 0.1, Brier
            score no better); README "Failures and limits".
    """

    alpha_epsilon: float = 0.1
    name = "Dirichlet GP classifier"

    def __post_init__(self) -> None:
        if not 0 < self.alpha_epsilon < 1:
            raise SurrogateSettingsError(
                f"alpha_epsilon={self.alpha_epsilon!r}; expected 0 < value < 1.",
                field="alpha_epsilon", value=self.alpha_epsilon)

    def fit(self, train_X: Tensor, success: Tensor, bounds: Tensor,
            cat_dims: dict[int, int] | None = None) -> ModelListGP:
        """Fit on ``n x d`` inputs and ``n`` labels (1 succeeded, 0 failed; both present).

        Returns:
            A fitted ``ModelListGP`` of the latents of failure and success, in eval
            mode; :func:`success_probability` reads it.

        Raises:
            TrainingDataError: Labels other than 0/1, or only one class.
        """
        labels = success.to(torch.long).reshape(-1)
        if train_X.ndim != 2 or len(labels) != train_X.shape[0]:
            raise TrainingDataError(f"expected n x d inputs and n labels, got "
                                    f"{tuple(train_X.shape)} and {tuple(success.shape)}.")
        if not torch.isin(labels, torch.tensor([0, 1], device=labels.device)).all() \
                or labels.unique().numel() != 2:
            raise TrainingDataError("labels must be 0 (failed) and 1 (succeeded), both "
                                    "present.")
        lik = DirichletClassificationLikelihood(labels, alpha_epsilon=self.alpha_epsilon,
                                                dtype=train_X.dtype)
        Y = lik.transformed_targets.transpose(-2, -1).to(train_X)  # n x 2
        Yvar = lik.noise.transpose(-2, -1).to(train_X)  # n x 2
        latents = []
        for c in range(2):
            gp = GPSurrogate._model(train_X, Y[:, c:c + 1], bounds, sorted(cat_dims or {}),
                                    Yvar[:, c:c + 1])
            fit_gpytorch_mll(ExactMarginalLogLikelihood(gp.likelihood, gp))
            latents.append(gp)
        return ModelListGP(*latents).eval()


def success_probability(model: ModelListGP, X: Tensor) -> Tensor:
    """``P(success)`` at ``... x n x d`` inputs: ``E[sigmoid(f_1 - f_0)]`` under the
    latents' posterior, by the probit approximation ``sigmoid(mu / sqrt(1 + pi v / 8))``
    (MacKay 1992) of the difference ``f_1 - f_0 ~ N(mu, v)``; ``... x n``."""
    return torch.sigmoid(_probit_argument(model, X))


def log_success_probability(model: ModelListGP, X: Tensor) -> Tensor:
    """``log P(success)`` (:func:`success_probability`), computed stably; ``... x n``."""
    return torch.nn.functional.logsigmoid(_probit_argument(model, X))


def _probit_argument(model: ModelListGP, X: Tensor) -> Tensor:
    post = model.posterior(X)
    mean, var = post.mean, post.variance
    mu = mean[..., 1] - mean[..., 0]
    v = var[..., 0] + var[..., 1]
    return mu / torch.sqrt(1 + math.pi * v / 8)
