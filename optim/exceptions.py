"""Error and warning trees of the application.

Every error raised for bad user input (a config value, a ledger cell, a results file)
inherits :class:`OptimError` and the matching built-in, and its message names where the
bad value is (file, row, column or config key), the value itself, what would be valid,
and how to fix it.

Errors are data as well as text: a :class:`ConfigError` carries the config ``key``, the
``source`` file and the ``value``, so callers (the entry point's hint on command-line
overrides, a notebook) read fields instead of parsing messages. Domain classes raise
with their own field names (``key="lower"``); the config layer, which alone knows where
an object sits in the YAML, adds the location (``optim.config.located``).
"""

from __future__ import annotations

__all__ = [
    "BuildLockedError",
    "ConfigError",
    "LabError",
    "LedgerError",
    "LedgerLockedError",
    "LedgerWarning",
    "OptimError",
    "OptimWarning",
    "PoolExhaustedError",
    "ProposalError",
    "TrackingError",
    "TrackingWarning",
    "where",
]


class OptimError(Exception):
    """Base class of every error this application raises on purpose."""


class ConfigError(OptimError, ValueError):
    """A campaign setting holds a value that cannot be used.

    Args:
        message: What is wrong, the value, what is valid and the fix.
        key: The setting's name: a field of the object that raised (``lower``), or,
            once the config layer has located it, the full config key
            (``search_space.parameters.milling_time_h.lower``).
        source: The config file the value came from, once located.
        value: The offending value, when there is one.
    """

    def __init__(self, message: str, *, key: str | None = None, source: str | None = None,
                 value: object = None) -> None:
        super().__init__(message)
        self.message = message
        self.key = key
        self.source = source
        self.value = value


class LedgerError(OptimError, ValueError):
    """A ledger or results file holds a value that cannot be used."""


class LedgerLockedError(OptimError):
    """Another process holds the campaign's ledger lock."""


class BuildLockedError(OptimError):
    """botorch's compiled kernel is being built by another process, or a killed build
    left its lock file behind (the message names the file and the fix)."""


class LabError(OptimError):
    """A lab (simulated or a user's plug-in) failed or returned something unusable."""


class TrackingError(OptimError):
    """The tracking store cannot be used (damaged); the ledger is unaffected."""


class ProposalError(OptimError):
    """No proposal satisfying every bound and constraint could be made."""


class PoolExhaustedError(ProposalError):
    """Every candidate of a pool campaign is already in the ledger."""


class OptimWarning(UserWarning):
    """Base class of this application's warnings (shown to people without a source line)."""


class LedgerWarning(OptimWarning):
    """Usable but suspicious ledger content (e.g. a measured row outside a constraint)."""


class TrackingWarning(OptimWarning):
    """Tracking failed; the ledger is written and nothing is lost."""


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
