"""Known targets (computed by a formula) as deterministic botorch models."""

from __future__ import annotations

from collections.abc import Callable

from botorch.models.deterministic import GenericDeterministicModel
from torch import Tensor

__all__ = ["known_model"]


def known_model(f: Callable[[Tensor], Tensor]) -> GenericDeterministicModel:
    """Wrap ``f: batch x n x d -> batch x n x 1`` as a one-output deterministic model."""
    return GenericDeterministicModel(f, num_outputs=1)
