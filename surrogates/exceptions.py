"""Errors of the surrogate models (names of their own, none shared with botorch)."""

from __future__ import annotations

__all__ = ["SurrogateError", "SurrogateSettingsError", "TrainingDataError"]


class SurrogateError(Exception):
    """Base class of surrogate errors."""


class TrainingDataError(SurrogateError, ValueError):
    """Training tensors have the wrong shape, dtype or values, or too few rows."""


class SurrogateSettingsError(SurrogateError, ValueError):
    """A surrogate's settings (kind, tree count, minimum rows) cannot be used.

    Args:
        message: What is wrong and what is valid.
        field: The setting's name (``n_estimators``).
        value: The value given.
    """

    def __init__(self, message: str, *, field: str, value: object) -> None:
        super().__init__(message)
        self.field = field
        self.value = value
