"""Reading CSV cells: one set of checks and words for ledgers, results and pool files.

Every table a person edits (the ledger, a results file, a pool file) is read as text
and each cell is parsed here, so a bad value gets the same message wherever it is:
file, row, column, the value, what is valid and the fix.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from optim.exceptions import LedgerError, LedgerWarning, where
from optim.objectives import Target
from optim.search_space import SearchSpace

__all__ = ["BOUND_TOLERANCE", "SUM_QUIET", "SUM_TOLERANCE", "neutralise", "parse_inputs",
           "parse_number", "parse_target", "read_table", "read_text"]

FORMULA_LEAD = ("=", "+", "-", "@", "\t", "\r")  # OWASP CSV injection


def neutralise(text: str) -> str:
    """A free-text cell that a spreadsheet would run as a formula (``=HYPERLINK(...)``),
    prefixed with ``'`` so it shows as text (OWASP's CSV-injection guidance)."""
    return f"'{text}" if text.startswith(FORMULA_LEAD) else text

SUM_TOLERANCE = 5e-3  # fractions rounded to 3 decimals (0.583 + 0.313 + 0.104 = 1.000)
SUM_QUIET = 1e-4  # beyond this (and within SUM_TOLERANCE) the row is kept with a warning
BOUND_TOLERANCE = 1e-9
MAX_WIDTH = 4  # a row with more than 4x the header's cells is damage, not a typo


def read_text(path, what: str) -> str:
    """A table file's text, checked for what breaks parsing: missing, a folder, not
    UTF-8, empty, NUL bytes, a ``;``-separated export with decimal commas, rows with
    more cells than the header (an unquoted decimal comma) or absurdly wide rows.

    Raises:
        LedgerError: Which of these, where, and the fix.
    """
    path = Path(path)
    if path.is_dir():
        raise LedgerError(f"{what} {path} is a folder, not a file. Fix: name the CSV file.")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LedgerError(f"{what} {path} does not exist. Fix: check the path.") from None
    except OSError as err:
        raise LedgerError(f"{what} {path} cannot be read ({err.strerror}). Fix: check the "
                          "path and its permissions.") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise LedgerError(f"{what} {path} is not UTF-8 text (byte {err.start}). Fix: save "
                          "it as CSV (UTF-8).") from None
    if not text.strip():
        raise LedgerError(f"{what} {path} is empty ({len(data)} bytes). Fix: restore it (a "
                          "ledger keeps its earlier versions in the history/ folder beside "
                          "it), or delete it to start afresh.")
    if "\x00" in text:
        line = text[:text.index("\x00")].count("\n") + 1
        raise LedgerError(f"{what} {path}, line {line}: holds a NUL byte (a damaged or "
                          "binary file). Fix: restore it or save it again as CSV.")
    _check_shape(text, path, what)
    return text


def _check_shape(text: str, path, what: str) -> None:
    rows = csv.reader(io.StringIO(text))
    try:
        header = next(rows)
    except csv.Error as err:
        raise LedgerError(f"{what} {path}: not a readable CSV header ({err}). Fix: save "
                          "it as CSV (UTF-8).") from None
    if any(";" in cell for cell in header):  # also a header name with a comma in it
        raise LedgerError(
            f"{what} {path}: the header is separated by ';' (a spreadsheet export with "
            "decimal commas?). Fix: export as CSV with ',' between cells and '.' as the "
            "decimal point (LibreOffice: Save As, Text CSV, field delimiter ',').")
    try:
        for line, row in enumerate(rows, start=2):
            if len(row) > MAX_WIDTH * len(header):
                raise LedgerError(f"{what} {path}, line {line}: {len(row)} cells against "
                                  f"{len(header)} header columns. Fix: restore the file.")
            if len(row) > len(header) and any(c.strip() for c in row[len(header):]):
                raise LedgerError(
                    f"{what} {path}, line {line} (row {line - 1}): {len(row)} cells but "
                    f"the header has {len(header)}: an unquoted comma inside a cell (a "
                    "decimal comma such as 0,58, or a comma in a note) shifts the cells "
                    "after it, so no cell of this row can be trusted. Fix: write decimals "
                    "with '.', and quote any cell that contains a comma (spreadsheets' "
                    "CSV export does this).")
    except csv.Error as err:
        raise LedgerError(f"{what} {path}: not a readable CSV file ({err}). Fix: save it as "
                          "CSV (UTF-8) and quote any cell that contains a comma.") from None


def read_table(path, what: str, text: str | None = None) -> pd.DataFrame:
    """Read a CSV as text cells (validation parses them), stripping whitespace.

    Args:
        path: The file (for reading and for messages).
        what: What the file is, for messages (``ledger``, ``results file``).
        text: The file's text, when already read (:func:`read_text`).
    """
    text = read_text(path, what) if text is None else text
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False,
                          skip_blank_lines=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
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
    """Input cells of one row (text): numbers within bounds (whole numbers, values of a
    discrete set, names of a categorical's choices where the parameter says so),
    fractions summing to the composition's total (rounded sums within
    ``SUM_TOLERANCE`` kept with a warning) and obeying ``max_components`` and
    ``min_fraction``.

    Raises:
        LedgerError: The first bad cell, with file, row, column, value and the fix.
    """
    bounds = space.physical_bounds
    row: dict[str, float | str] = {}
    for c in space.names:
        lo, hi = bounds[c]
        loc = where(source, i, c)
        p = space.parameter(c)
        if p is not None:  # type, bounds and grid: the parameter's own reading
            row[c] = p.parse(rec[c], loc)
            continue
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
        problem = space.composition.cardinality_problem(
            {c: row[c] for c in space.composition_names})
        if problem:
            raise LedgerError(
                f"{where(source, i)}, columns {'+'.join(space.composition_names)}: "
                f"{problem}. Fix: correct the fractions, or relax max_components/"
                "min_fraction in the campaign config.")
    for c in space.sums:  # {sum: [FA, MA], equals: 1}: tolerated like a composition
        total = sum(row[n] for n in c.coefficients)
        # each value rounded to 2 decimals (a published table) is off by up to 0.005
        tol = SUM_TOLERANCE * len(c.coefficients)
        if abs(total - c.rhs) > tol + 1e-9:
            raise LedgerError(
                f"{where(source, i)}, columns {'+'.join(c.coefficients)}: values sum to "
                f"{total:.6g}; expected {c.rhs:g} within {tol:g} (constraint "
                f"{c.description}). Fix: enter fractions that sum to {c.rhs:g} (each "
                "amount divided by their sum).")
        if abs(total - c.rhs) > SUM_QUIET:
            warnings.warn(
                f"{where(source, i)}: {'+'.join(c.coefficients)} sum to {total:.6g} "
                "(rounded values?); the row is kept as written and normalized for "
                "modelling.", LedgerWarning, stacklevel=3)
    return row
