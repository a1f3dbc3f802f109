"""The surrogate protocol: tensors in, a fitted botorch ``Model`` out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from botorch.models.model import Model
from torch import Tensor

from surrogates.exceptions import TrainingDataError

__all__ = ["Surrogate", "validate_training_data"]


@runtime_checkable
class Surrogate(Protocol):
    """Builds a fitted single-output botorch model from training tensors."""

    min_measurements: int
    # False: the model has no useful gradient, so candidates come from a finite set
    differentiable: bool
    # the model family in words, for strategy labels ("GP", "random forest")
    name: str

    def fit(self, train_X: Tensor, train_Y: Tensor, bounds: Tensor) -> Model:
        """Fit a model.

        Args:
            train_X: ``n x d`` inputs (encoded space).
            train_Y: ``n x 1`` observations (model scale).
            bounds: ``2 x d`` bounds of the encoded space, for input normalization.

        A space with unordered categorical inputs also passes ``cat_dims`` (input
        index to its number of choices; the inputs hold choice indices 0, 1, ...) as
        a keyword: a surrogate for such spaces accepts it.

        Returns:
            A fitted botorch model with one output.
        """
        ...


def validate_training_data(train_X: Tensor, train_Y: Tensor, bounds: Tensor,
                           min_rows: int = 1) -> None:
    """Check shapes, dtype, finiteness and the number of rows of training tensors.

    Raises:
        TrainingDataError: Any check fails; the message says which and what was received.
    """
    if train_X.ndim != 2 or train_Y.ndim != 2 or train_Y.shape[-1] != 1:
        raise TrainingDataError(
            f"expected train_X n x d and train_Y n x 1, got {tuple(train_X.shape)} and "
            f"{tuple(train_Y.shape)}."
        )
    if train_X.shape[0] != train_Y.shape[0]:
        raise TrainingDataError(
            f"train_X has {train_X.shape[0]} rows but train_Y has {train_Y.shape[0]}."
        )
    if bounds.shape != (2, train_X.shape[-1]):
        raise TrainingDataError(
            f"bounds must be 2 x {train_X.shape[-1]}, got {tuple(bounds.shape)}."
        )
    for name, t in (("train_X", train_X), ("train_Y", train_Y)):
        if t.dtype != torch.float64:
            raise TrainingDataError(f"{name} must be float64, got {t.dtype}.")
        if not torch.isfinite(t).all():
            raise TrainingDataError(f"{name} holds NaN or infinite values.")
    if train_X.shape[0] < min_rows:
        raise TrainingDataError(
            f"{train_X.shape[0]} observations; need at least {min_rows}.")
