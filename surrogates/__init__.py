"""Surrogate models: tensors in, botorch ``Model`` out. Knows nothing of campaigns."""

from surrogates.base import Surrogate, validate_training_data
from surrogates.checkpoints import AtFidelity, CheckpointGP
from surrogates.classifier import (
    DirichletGPClassifier,
    log_success_probability,
    success_probability,
)
from surrogates.exceptions import SurrogateError, SurrogateSettingsError, TrainingDataError
from surrogates.forest import ForestModel, ForestSurrogate, MemberSampler
from surrogates.gp import GPSurrogate
from surrogates.known import known_model
from surrogates.validation import loo_predictions

__all__ = [
    "AtFidelity",
    "CheckpointGP",
    "DirichletGPClassifier",
    "ForestModel",
    "ForestSurrogate",
    "GPSurrogate",
    "MemberSampler",
    "Surrogate",
    "SurrogateError",
    "SurrogateSettingsError",
    "TrainingDataError",
    "known_model",
    "log_success_probability",
    "loo_predictions",
    "success_probability",
    "validate_training_data",
]
