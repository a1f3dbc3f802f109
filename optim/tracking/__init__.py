"""Tracking: a ``Tracker`` protocol with mlflow and null implementations."""

from optim.tracking.base import Tracker
from optim.tracking.benchmarks import BenchmarkArm, log_benchmark
from optim.tracking.mlflow import MlflowTracker
from optim.tracking.null import NullTracker

__all__ = ["BenchmarkArm", "MlflowTracker", "NullTracker", "Tracker", "log_benchmark"]
