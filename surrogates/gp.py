"""Gaussian-process surrogate: botorch ``SingleTaskGP`` with normalized inputs."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import torch
from botorch.exceptions.warnings import InputDataWarning
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor

from surrogates.base import validate_training_data
from surrogates.calibration import cv_factor, fold_errors, scaled
from surrogates.exceptions import SurrogateSettingsError

__all__ = ["CALIBRATIONS", "GPSurrogate"]

CALIBRATIONS = ("none", "cv")
MIN_CV_ROWS = 6  # 5 folds of at least one row, each fitted on at least 4


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
        calibrate: ``cv``: the predictive variance scaled by 5-fold cross-validation
            with refitted hyperparameters (``surrogates.calibration``: the mean is
            unchanged; from 6 observations on), or ``none``.
    """

    min_measurements: int = 3
    fit_rows: int | None = 300
    calibrate: str = "none"
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
        if self.calibrate not in CALIBRATIONS:
            raise SurrogateSettingsError(
                f"calibrate={self.calibrate!r}; expected one of {list(CALIBRATIONS)}. Fix: "
                "cv (intervals scaled by cross-validation) or none.", field="calibrate",
                value=self.calibrate)

    def fit(self, train_X: Tensor, train_Y: Tensor, bounds: Tensor,
            cat_dims: dict[int, int] | None = None) -> SingleTaskGP:
        """Fit by maximizing the marginal likelihood (L-BFGS-B, botorch defaults).

        Args:
            train_X: ``n x d`` encoded inputs, float64.
            train_Y: ``n x 1`` targets on model scale, float64.
            bounds: ``2 x d`` encoded bounds.
            cat_dims: Unordered categorical input index to its number of choices:
                then the kernel is botorch's ``CategoricalKernel`` on those inputs
                times the default continuous kernel on the others (inputs other than
                the categories normalized). Measured against botorch's
                ``MixedSingleTaskGP`` (sum plus product of the two) on the simulated
                interlayer campaign (26 rows, 8 random 18/8 splits, 3 targets): test
                RMSE/sd 0.60/0.94/0.92 against 0.59/0.98/0.94, fit 0.5-0.9 against
                3.4-11.9 CPU-s per target (README "Mixed spaces").

        Returns:
            The fitted ``SingleTaskGP`` in eval mode.
        """
        validate_training_data(train_X, train_Y, bounds, self.min_measurements)
        model = self._fit(train_X, train_Y, bounds, cat_dims)
        if self.calibrate == "cv" and train_X.shape[0] >= MIN_CV_ROWS:
            plain = replace(self, calibrate="none", min_measurements=2)
            z = fold_errors(lambda X, Y: plain.fit(X, Y, bounds, cat_dims), train_X, train_Y)
            model = scaled(model, cv_factor(z))
        return model

    def _fit(self, train_X: Tensor, train_Y: Tensor, bounds: Tensor,
             cat_dims: dict[int, int] | None) -> SingleTaskGP:
        cats = sorted(cat_dims or {})
        n = train_X.shape[0]
        if self.fit_rows is None or n <= self.fit_rows:
            model = self._model(train_X, train_Y, bounds, cats)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
            return model.eval()
        generator = torch.Generator().manual_seed(n)
        rows = torch.randperm(n, generator=generator)[:self.fit_rows].to(train_X.device)
        subset = self._model(train_X[rows], train_Y[rows], bounds, cats)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(subset.likelihood, subset))
        model = self._model(train_X, train_Y, bounds, cats)
        learned = {k: v for k, v in subset.state_dict().items()
                   if not k.startswith(("outcome_transform.", "input_transform."))}
        model.load_state_dict(learned, strict=False)
        return model.eval()

    @staticmethod
    def _model(train_X: Tensor, train_Y: Tensor, bounds: Tensor,
               cat_dims: list[int] | None = None,
               train_Yvar: Tensor | None = None) -> SingleTaskGP:
        """The unfitted GP; ``train_Yvar``: known per-point noise (then one output per
        column of ``train_Y``, as a batched GP)."""
        if bool((train_Y.std(dim=-2) == 0).any()):
            # every value equal (all at a detection limit, say) is data, not an input
            # error: Standardize leaves zeros, which botorch warns are "not
            # standardized"; the GP is then flat at that value
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", category=InputDataWarning,
                                        message=r"Data \(outcome observations\) is not")
                return GPSurrogate._build(train_X, train_Y, bounds, cat_dims, train_Yvar)
        return GPSurrogate._build(train_X, train_Y, bounds, cat_dims, train_Yvar)

    @staticmethod
    def _build(train_X: Tensor, train_Y: Tensor, bounds: Tensor,
               cat_dims: list[int] | None, train_Yvar: Tensor | None) -> SingleTaskGP:
        m = train_Y.shape[-1]
        if cat_dims:
            d = train_X.shape[-1]
            numeric = [j for j in range(d) if j not in cat_dims]
            kernel = CategoricalKernel(ard_num_dims=len(cat_dims), active_dims=cat_dims,
                                       lengthscale_constraint=GreaterThan(1e-06))
            if numeric:
                kernel = get_covar_module_with_dim_scaled_prior(
                    ard_num_dims=len(numeric), active_dims=numeric) * kernel
            return SingleTaskGP(
                train_X, train_Y, train_Yvar, covar_module=ScaleKernel(kernel),
                input_transform=Normalize(d=d, bounds=bounds, indices=numeric)
                if numeric else None,
                outcome_transform=Standardize(m=m))
        return SingleTaskGP(
            train_X,
            train_Y,
            train_Yvar,
            input_transform=Normalize(d=train_X.shape[-1], bounds=bounds),
            outcome_transform=Standardize(m=m),
        )
