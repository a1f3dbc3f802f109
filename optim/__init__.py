"""Bayesian multi-objective optimization workbench for battery-materials campaigns."""

__all__: list[str] = []
