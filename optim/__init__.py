"""Bayesian multi-objective optimization workbench for battery-materials campaigns.

The public API is :class:`optim.Campaign` (loaded on first use: importing ``optim``
imports nothing heavy and changes no global state).
"""

from __future__ import annotations

from typing import Any

__all__ = ["Campaign"]


def __getattr__(name: str) -> Any:
    if name == "Campaign":
        from optim.campaign import Campaign

        return Campaign
    raise AttributeError(f"module 'optim' has no attribute {name!r}")
