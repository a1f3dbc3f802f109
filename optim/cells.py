"""Reading CSV cells: one set of checks and words for ledgers, results and pool files.

Every table a person edits (the ledger, a results file, a pool file) is read as text
and each cell is parsed here, so a bad value gets the same message wherever it is:
file, row, column, the value, what is valid and the fix.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd

from optim.exceptions import LedgerError, LedgerWarning, where
from optim.objectives import Target
from optim.search_space import SearchSpace

__all__ = ["BOUND_TOLERANCE", "SUM_QUIET", "SUM_TOLERANCE", "parse_inputs", "parse_number",
           "parse_target", "read_table"]

SUM_TOLERANCE = 5e-3  # fractions rounded to 3 decimals (0.583 + 0.313 + 0.104 = 1.000)
SUM_QUIET = 1e-4  # beyond this (and within SUM_TOLERANCE) the row is kept with a warning
BOUND_TOLERANCE = 1e-9


def read_table(path, what: str) -> pd.DataFrame:
    """Read a CSV as text cells (validation parses them), stripping whitespace."""
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)
    except FileNotFoundError:
        raise LedgerError(f"{what} {path} does not exist. Fix: check the path.") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise LedgerError(
            f"{what} {path} is not a readable CSV file: {err}. Fix: save it as CSV "
            "(UTF-8) and quote any cell that contains a comma (spreadsheets' CSV export "
            "does this)."
        ) from err
    raw.columns = [str(c).strip() for c in raw.columns]
    return raw.apply(lambda s: s.str.strip())


def parse_number(text: str, loc: str, hint: str) -> float:
    """A finite number from a cell's text.

    Raises:
        LedgerError: Not a number, or not finite; ``loc`` and ``hint`` in the message.
    """
    try:
        value = float(text)
    except ValueError:
        raise LedgerError(f"{loc}: value={text!r} is not a number. Fix: {hint}") from None
    if not math.isfinite(value):
        raise LedgerError(f"{loc}: value={text!r} is not finite. Fix: {hint}")
    return value


def parse_target(text: str, target: Target, loc: str) -> float:
    """A measured target value from a cell's text; NaN for an empty cell.

    Impossible values (outside the target's valid range, not positive for a log10
    target) raise; values that look like a unit slip (0.9 for a % target) are kept
    with a :class:`LedgerWarning`.

    Raises:
        LedgerError: Not a finite number, or impossible for the target.
    """
    if text == "":
        return np.nan
    value = parse_number(text, loc, "enter a number, or leave the cell empty if not "
                         "measured yet.")
    problem = target.check_value(value)
    if problem:
        raise LedgerError(f"{loc}: value={value} is {problem}. Fix: check the value and its "
                          f"unit ({target.unit or 'see the campaign config'}).")
    reason = target.suspicious(value)
    if reason:
        warnings.warn(f"{loc}: {reason} The value is kept as written; correct it if it "
                      "is a slip.", LedgerWarning, stacklevel=3)
    return value


def parse_inputs(rec: dict[str, str], i: int, space: SearchSpace, source: str,
                 ) -> dict[str, float]:
    """Input cells of one row (text): numbers within bounds, fractions summing to the
    composition's total (rounded sums within ``SUM_TOLERANCE`` kept with a warning).

    Raises:
        LedgerError: The first bad cell, with file, row, column, value and the fix.
    """
    bounds = space.physical_bounds
    row: dict[str, float] = {}
    for c in space.names:
        lo, hi = bounds[c]
        loc = where(source, i, c)
        value = parse_number(rec[c], loc, f"enter a number in [{lo}, {hi}].")
        tol = BOUND_TOLERANCE * (hi - lo)
        if not lo - tol <= value <= hi + tol:
            raise LedgerError(
                f"{loc}: value={value} is outside the bounds [{lo}, {hi}]. Fix: correct "
                "the value (unit?) or widen the bounds in the campaign config."
            )
        row[c] = value
    if space.composition:
        total = sum(row[c] for c in space.composition_names)
        if abs(total - space.composition.total) > SUM_TOLERANCE:
            cols = "+".join(space.composition_names)
            raise LedgerError(
                f"{where(source, i)}, columns {cols}: fractions sum to {total:.6g}; "
                f"expected {space.composition.total} within {SUM_TOLERANCE}. Fix: enter "
                "mole fractions, e.g. 1.4Li2O-0.75ZrCl4-0.25AlCl3 is 0.58333, 0.3125, "
                "0.10417 (each amount divided by their sum)."
            )
        if abs(total - space.composition.total) > SUM_QUIET:
            warnings.warn(
                f"{where(source, i)}: fractions sum to {total:.6g} (rounded values?); "
                "the row is kept as written and normalized for modelling.",
                LedgerWarning, stacklevel=3,
            )
    return row
