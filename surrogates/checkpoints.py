"""A GP over inputs and a checkpoint fidelity: a long measurement read as it goes.

A cycling cell's retention is read at checkpoints (cycles 25, 50, ..., 350); the last is
the value optimized. The model is one GP over ``(x, s)``, ``s = checkpoint / final`` in
``(0, 1]``, with the kernel of botorch's ``SingleTaskMultiFidelityGP`` for an iteration
fidelity: the inputs' kernel (botorch's default, or the categorical product kernel of
``GPSurrogate``) times botorch's ``ExponentialDecayKernel`` on ``s`` (the freeze-thaw
kernel of Swersky et al. 2014, built for learning curves). Every checkpoint of every
cell is a training point; :class:`AtFidelity` predicts at ``s = 1``, so a cell with
cycle 50 only is predicted at cycle 350 with the uncertainty the curves of other cells
leave. ``transform='fade_law'`` first maps each value ``R_c`` (% of the first cycle's
capacity) to the final value a constant per-cycle fade implies,
``100 (R_c/100)^((F-1)/(c-1))`` (docs/DOMAIN.md 2.1: ``Q_N = Q_1 CE^(N-1)``), so the GP
models only how curves depart from that law (``optim.benchmarks.checkpoint_calibration``
measures both).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.kernels.categorical import CategoricalKernel
from botorch.models.kernels.exponential_decay import ExponentialDecayKernel
from botorch.models.model import Model
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.models.utils.gpytorch_modules import get_covar_module_with_dim_scaled_prior
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import ScaleKernel
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior
from torch import Tensor

from surrogates.base import validate_training_data
from surrogates.exceptions import SurrogateSettingsError, TrainingDataError

__all__ = ["TRANSFORMS", "AtFidelity", "CheckpointGP", "fade_back", "fade_law"]

TRANSFORMS = ("none", "fade_law")


def fade_law(values: Tensor, checkpoints: Tensor, final: float) -> Tensor:
    """The final value (%) a constant per-cycle fade implies from ``values`` (%) read at
    ``checkpoints``: ``100 (R/100)^((final-1)/(c-1))``; a final checkpoint is kept."""
    ratio = (values / 100).clamp(0, 1)
    power = (final - 1) / (checkpoints - 1).clamp_min(1e-9)
    return 100 * ratio.pow(power)


def fade_back(final: np.ndarray, checkpoints: np.ndarray, last: float) -> np.ndarray:
    """The inverse of :func:`fade_law`: the reading at ``checkpoints`` whose implied
    final value is ``final`` (%)."""
    ratio = np.clip(np.asarray(final, dtype=float) / 100, 0, 1)
    return 100 * ratio ** ((np.asarray(checkpoints, dtype=float) - 1) / (last - 1))


class AtFidelity(Model):
    """A model over ``(x, s)`` read at one fidelity: ``posterior(X)`` is the posterior at
    ``(X, s)`` (``s = 1``: the final checkpoint). One output."""

    def __init__(self, model: SingleTaskGP, fidelity: float = 1.0,
                 transform: str = "none") -> None:
        super().__init__()
        self.model = model
        self.fidelity = fidelity
        self.transform = transform  # how the readings were mapped before the fit

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        return self.model.batch_shape

    def with_fidelity(self, X: Tensor, fidelity: float | Tensor | None = None) -> Tensor:
        """``X`` with the fidelity column appended."""
        s = self.fidelity if fidelity is None else fidelity
        column = torch.as_tensor(s, dtype=X.dtype, device=X.device).expand(*X.shape[:-1], 1)
        return torch.cat([X, column], dim=-1)

    def posterior(self, X: Tensor, output_indices=None, observation_noise=False,
                  posterior_transform=None, **kwargs):
        return self.model.posterior(self.with_fidelity(X), output_indices=output_indices,
                                    observation_noise=observation_noise,
                                    posterior_transform=posterior_transform, **kwargs)


@dataclass(frozen=True)
class CheckpointGP:
    """GP over inputs and checkpoint fidelity (module docstring).

    Args:
        min_measurements: Fewest cells (distinct inputs) worth fitting to.
        transform: ``none`` (model the values as read) or ``fade_law``.
    """

    min_measurements: int = 3
    transform: str = "none"
    differentiable = True
    name = "checkpoint GP"

    def __post_init__(self) -> None:
        if self.transform not in TRANSFORMS:
            raise SurrogateSettingsError(
                f"transform={self.transform!r}; expected one of {list(TRANSFORMS)}.",
                field="transform", value=self.transform)

    def fit(self, train_X: Tensor, train_Y: Tensor, checkpoints: Tensor, final: float,
            bounds: Tensor, cat_dims: dict[int, int] | None = None) -> AtFidelity:
        """Fit on every checkpoint value; predict the final one.

        Args:
            train_X: ``n x d`` encoded inputs, one row per (cell, checkpoint).
            train_Y: ``n x 1`` values read there (model scale; % for ``fade_law``).
            checkpoints: ``n`` checkpoints of the rows (cycles), each ``<= final``.
            final: The final checkpoint.
            bounds: ``2 x d`` encoded bounds.
            cat_dims: Unordered categorical input index to its number of choices.

        Returns:
            The fitted model read at the final checkpoint (``AtFidelity``), eval mode.

        Raises:
            TrainingDataError: Bad shapes, values, or checkpoints outside ``(0, final]``.
        """
        validate_training_data(train_X, train_Y, bounds, 1)
        if checkpoints.shape != (train_X.shape[0],) or not (
                (checkpoints > 0) & (checkpoints <= final)).all():
            raise TrainingDataError(f"checkpoints must be {train_X.shape[0]} values in "
                                    f"(0, {final}], got {checkpoints.tolist()}.")
        n_cells = torch.unique(train_X, dim=0).shape[0]
        if n_cells < self.min_measurements:
            raise TrainingDataError(f"{n_cells} cell(s); need at least "
                                    f"{self.min_measurements}.")
        Y = train_Y
        if self.transform == "fade_law":
            Y = fade_law(train_Y.squeeze(-1), checkpoints, final).unsqueeze(-1)
        s = (checkpoints / final).unsqueeze(-1).to(train_X)
        X = torch.cat([train_X, s], dim=-1)
        model = self._model(X, Y, bounds, sorted(cat_dims or {}))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return AtFidelity(model.eval(), 1.0, self.transform)

    @staticmethod
    def _model(X: Tensor, Y: Tensor, bounds: Tensor, cats: list[int]) -> SingleTaskGP:
        d = X.shape[-1] - 1  # the last column is the fidelity
        numeric = [j for j in range(d) if j not in cats]
        kernel = None
        if numeric:
            kernel = get_covar_module_with_dim_scaled_prior(ard_num_dims=len(numeric),
                                                            active_dims=numeric)
        if cats:
            cat = CategoricalKernel(ard_num_dims=len(cats), active_dims=cats,
                                    lengthscale_constraint=GreaterThan(1e-06))
            kernel = cat if kernel is None else kernel * cat
        decay = ExponentialDecayKernel(lengthscale_prior=GammaPrior(3.0, 6.0),
                                       offset_prior=GammaPrior(3.0, 6.0),
                                       power_prior=GammaPrior(3.0, 6.0), active_dims=[d])
        full = torch.cat([bounds, torch.tensor([[0.0], [1.0]]).to(bounds)], dim=-1)
        return SingleTaskGP(
            X, Y, covar_module=ScaleKernel(kernel * decay),
            input_transform=Normalize(d=d + 1, bounds=full, indices=[*numeric, d]),
            outcome_transform=Standardize(m=1))
