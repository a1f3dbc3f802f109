"""Simulated labs (illustrative ground truths, not predictive chemistry)."""

from optim.labs.oxychloride_truth import OxychlorideTruth

__all__ = ["OxychlorideTruth"]
