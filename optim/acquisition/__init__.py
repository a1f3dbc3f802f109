"""Acquisition specs (frozen, from config) and the builder that needs model and data."""

from optim.acquisition.builder import (
    AcquisitionContext,
    FeasibilityWeighted,
    batch_value,
    propose,
    reference_point,
    snap_to_bounds,
)
from optim.acquisition.specs import (
    AcquisitionSpec,
    OptimizerSpec,
    QuasiRandom,
    qLogNoisyExpectedHypervolumeImprovement,
    qLogNParEGO,
)

__all__ = [
    "AcquisitionContext",
    "FeasibilityWeighted",
    "AcquisitionSpec",
    "OptimizerSpec",
    "QuasiRandom",
    "batch_value",
    "propose",
    "qLogNParEGO",
    "qLogNoisyExpectedHypervolumeImprovement",
    "reference_point",
    "snap_to_bounds",
]
