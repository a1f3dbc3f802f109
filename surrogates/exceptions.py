"""Errors of the surrogate models."""

from __future__ import annotations

__all__ = ["InputDataError", "SurrogateError"]


class SurrogateError(Exception):
    """Base class of surrogate errors."""


class InputDataError(SurrogateError, ValueError):
    """Training tensors have the wrong shape, dtype or values."""
