"""Error tree of the application.

Every error raised for bad user input (a config value, a ledger cell, a results file)
inherits :class:`OptimError` and the matching built-in, and its message names where the
bad value is (file, row, column or config key), the value itself, what would be valid,
and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "CandidateGenerationError",
    "ConfigError",
    "LedgerError",
    "LabError",
    "LedgerLockedError",
    "OptimError",
]


class OptimError(Exception):
    """Base class of every error this application raises on purpose."""


class ConfigError(OptimError, ValueError):
    """A campaign config holds a value that cannot be used."""


class LedgerError(OptimError, ValueError):
    """A ledger or results file holds a value that cannot be used."""


class LedgerLockedError(OptimError):
    """Another process holds the campaign's ledger lock."""


class LabError(OptimError):
    """A lab (simulated or a user's plug-in) failed or returned something unusable."""


class CandidateGenerationError(OptimError):
    """No candidate satisfying every constraint could be generated."""


def where(source: str, row: int | None = None, column: str | None = None) -> str:
    """Format a location for error messages.

    Args:
        source: The file (or config key) the value came from.
        row: The 1-based data row (the header is not counted); the file line is row + 1.
        column: The column name.

    Returns:
        A string such as ``"runs/x/ledger.csv, row 3 (line 4), column 'Li2O'"``.
    """
    parts = [source]
    if row is not None:
        parts.append(f"row {row} (line {row + 1})")
    if column is not None:
        parts.append(f"column {column!r}")
    return ", ".join(parts)
