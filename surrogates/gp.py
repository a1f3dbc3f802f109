"""Gaussian-process surrogate: botorch ``SingleTaskGP`` with normalized inputs."""

from __future__ import annotations

from dataclasses import dataclass

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

    Args:
        min_measurements: Fewest observations of a target worth fitting a model to.
    """

    min_measurements: int = 3
    # gradient-based acquisition optimization applies (see ForestSurrogate)
    differentiable = True
    name = "GP"

    def __post_init__(self) -> None:
        if not isinstance(self.min_measurements, int) or self.min_measurements < 2:
            raise SurrogateSettingsError(
                f"min_measurements={self.min_measurements!r}; a GP needs a whole number "
                ">= 2.", field="min_measurements", value=self.min_measurements)

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
        model = SingleTaskGP(
            train_X,
            train_Y,
            input_transform=Normalize(d=train_X.shape[-1], bounds=bounds),
            outcome_transform=Standardize(m=1),
        )
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return model.eval()
