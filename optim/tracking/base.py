"""The tracker protocol: mirror rounds and measurements of the ledger for review."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import pandas as pd

from optim.ledger import Decision
from optim.rounds import RoundResult

__all__ = ["Tracker"]


class Tracker(Protocol):
    """Mirrors the ledger into a tracking store. Never holds data the ledger lacks."""

    records_artifacts: bool

    def log_round(self, result: RoundResult, config: dict, description: str = "",
                  figures: dict | None = None) -> None:
        """Log one planned round (parent run) and its proposals (child runs)."""
        ...

    def log_measurements(
        self, campaign: str, ledger: pd.DataFrame, targets: list[str]
    ) -> int:
        """Bring proposals' child runs up to date with the ledger's measurements.

        Returns:
            The number of child runs updated.
        """
        ...

    def sync(self, result: RoundResult) -> int:
        """Log the rounds of the ledger (``result.ledger``) the store lacks, then its
        measurements; returns the number of rounds logged late."""
        ...

    def decisions(self, campaign: str) -> dict[str, Decision]:
        """Reviewers' decisions not yet applied, by ledger id (approve/reject, and who
        decided when where the store knows)."""
        ...

    def mark_decisions(self, campaign: str, decisions: dict[str, str]) -> None:
        """Record decisions as applied."""
        ...

    def review_hint(self, campaign: str) -> str | None:
        """How to open the review screen, or ``None``."""
        ...

    def log_recipe(self, campaign: str, round_number: int, paths: Sequence[Path],
                   ) -> str | None:
        """Attach a round's weighing sheet (files) to its round run.

        Returns:
            The run's name, or ``None`` when the round has no run in the store.
        """
        ...
