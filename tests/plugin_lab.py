"""A user's own lab, as a plain function: the plug-in contract in its smallest form."""

from __future__ import annotations

import pandas as pd


def measure(experiments: pd.DataFrame, offset: float = 0.0) -> pd.DataFrame:
    """Pretend robot: conductivity from the Li2O fraction, retention from milling time."""
    return pd.DataFrame({
        "id": experiments["id"],
        "conductivity_mS_cm": 0.1 + 3 * experiments["Li2O"] + offset,
        "retention_pct": 70 + experiments["milling_time_h"] / 2,
    })


def broken(experiments: pd.DataFrame) -> list:
    """Returns the wrong type."""
    return [1, 2, 3]
