"""A tracker that records nothing (``tracking=none``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from optim.rounds import RoundResult

__all__ = ["NullTracker"]


class NullTracker:
    """Tracking switched off."""

    records_artifacts = False

    def log_round(self, result: RoundResult, config: dict, description: str = "",
                  figures: dict | None = None) -> None:
        """Do nothing."""

    def log_measurements(
        self, campaign: str, ledger: pd.DataFrame, targets: list[str]
    ) -> int:
        """Do nothing."""
        return 0

    def sync(self, result: RoundResult) -> int:
        """Nothing to bring up to date."""
        return 0

    def decisions(self, campaign: str) -> dict:
        """Reviewers' decisions not yet applied, by ledger id (approve/reject)."""
        return {}

    def mark_decisions(self, campaign: str, decisions: dict[str, str]) -> None:
        """Record decisions as applied."""

    def review_hint(self, campaign: str) -> str | None:
        """No review screen."""
        return None

    def log_recipe(self, campaign: str, round_number: int, paths: Sequence[Path],
                   ) -> str | None:
        """Attach nothing."""
        return None
