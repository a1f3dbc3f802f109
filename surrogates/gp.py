"""Gaussian-process surrogate: botorch ``SingleTaskGP`` with normalized inputs."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from surrogates.base import validate_training_data
from surrogates.exceptions import SurrogateSettingsError

__all__ = ["GPSurrogate"]


@dataclass(frozen=True)
class GPSurrogate:
    """``SingleTaskGP`` with botorch's default kernel and priors.

    Botorch 0.18's default is an RBF kernel with one length scale per input and a
    dimension-scaled log-normal length-scale prior (Hvarfner et al. 2024); inputs are
    normalized to the unit cube from the space's bounds, outputs standardized.

    With more than ``fit_rows`` observations, the hyperparameters (length scales,
    output scale, noise, mean) are learned on a fixed pseudo-random subset of
    ``fit_rows`` of them, and the GP then conditions on every observation with those
    hyperparameters: an exact fit costs ``O(n^3)`` per optimizer step (11 CPU-s per
    target at n=1000 against 0.6 s at n=300), while the hyperparameters of a smooth
    response are well determined by a few hundred points. README "Performance" has
    the measured effect on proposals.

    Args:
        min_measurements: Fewest observations of a target worth fitting a model to.
        fit_rows: Most observations the hyperparameters are learned on (``None``:
            all of them).
    """

    min_measurements: int = 3
    fit_rows: int | None = 300
    # gradient-based acquisition optimization applies (see ForestSurrogate)
    differentiable = True
    name = "GP"

    def __post_init__(self) -> None:
        if not isinstance(self.min_measurements, int) or self.min_measurements < 2:
            raise SurrogateSettingsError(
                f"min_measurements={self.min_measurements!r}; a GP needs a whole number "
                ">= 2.", field="min_measurements", value=self.min_measurements)
        if self.fit_rows is not None and (isinstance(self.fit_rows, bool) or not isinstance(
                self.fit_rows, int) or self.fit_rows < 10):
            raise SurrogateSettingsError(
                f"fit_rows={self.fit_rows!r}; expected a whole number >= 10, or null for "
                "every row.", field="fit_rows", value=self.fit_rows)

    def fit(self, train_X: Tensor, train_Y: Tensor, bounds: Tensor) -> SingleTaskGP:
        """Fit by maximizing the marginal likelihood (L-BFGS-B, botorch defaults).

        Args:
            train_X: ``n x d`` encoded inputs, float64.
            train_Y: ``n x 1`` targets on model scale, float64.
            bounds: ``2 x d`` encoded bounds.

        Returns:
            The fitted ``SingleTaskGP`` in eval mode.
        """
        validate_training_data(train_X, train_Y, bounds, self.min_measurements)
        n = train_X.shape[0]
        if self.fit_rows is None or n <= self.fit_rows:
            model = self._model(train_X, train_Y, bounds)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            return model.eval()
        generator = torch.Generator().manual_seed(n)
        rows = torch.randperm(n, generator=generator)[:self.fit_rows].to(train_X.device)
        subset = self._model(train_X[rows], train_Y[rows], bounds)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(subset.likelihood, subset))
        model = self._model(train_X, train_Y, bounds)
        learned = {k: v for k, v in subset.state_dict().items()
                   if not k.startswith(("outcome_transform.", "input_transform."))}
        model.load_state_dict(learned, strict=False)
        return model.eval()

    @staticmethod
    def _model(train_X: Tensor, train_Y: Tensor, bounds: Tensor) -> SingleTaskGP:
        return SingleTaskGP(
            train_X,
            train_Y,
            input_transform=Normalize(d=train_X.shape[-1], bounds=bounds),
            outcome_transform=Standardize(m=1),
        )
