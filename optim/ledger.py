"""The ledger: one CSV row per experiment ever proposed or measured.

It is the single source of truth. Scientists edit it in a spreadsheet or merge a results
file into it by id. Every read validates every cell and reports the file, row, column,
value and fix of the first bad one; every write is atomic (temporary file, then rename),
and nothing recorded is ever overwritten with a different value.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from optim import history
from optim.cells import (
    neutralise,
    parse_inputs,
    parse_number,
    parse_target,
    read_table,
    read_text,
)
from optim.checkpoints import STOPPED
from optim.exceptions import LedgerError, LedgerLockedError, LedgerWarning, where
from optim.objectives import Objectives, Target, split_checkpoint
from optim.search_space import SearchSpace
from optim.weighing import (
    WeighingSpec,
    asked_column,
    fractions_from_grams,
    grams_column,
    parse_grams,
)

__all__ = ["DECISIONS", "Decision", "Ledger", "LedgerSchema", "LedgerWarning", "STATUSES",
           "SOURCES"]

STATUSES = ("proposed", "approved", "rejected", "measured", "failed")
SOURCES = ("initial", "bo", "random", "manual", "literature")
PENDING = ("proposed", "approved")
LOG_STATS = ("median", "lo68", "hi68", "mean", "sd")  # predictions of a log10 target
DECISIONS = {"approve": "approved", "approved": "approved",
             "reject": "rejected", "rejected": "rejected"}  # a reviewer's word: the status


class Decision(NamedTuple):
    """A reviewer's decision on a proposal, and who made it when (as the source knows)."""

    value: str  # approve / reject (as written: a typo is reported, never applied)
    by: str = ""  # the signed-in account, the OS user of a command, or how it was set
    at: str = ""  # ISO 8601 UTC; empty: when it is applied


def now() -> str:
    """UTC timestamp, ISO 8601, second precision."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class LedgerSchema:
    """The ledger's columns for one campaign."""

    space: SearchSpace
    objectives: Objectives
    id_prefix: str = "exp"
    labels: tuple[str, ...] = ()  # free-text columns after ``source`` (a pool's names)
    weighing: WeighingSpec | None = None  # a composition weighed on a balance

    @property
    def grams(self) -> list[str]:
        """Grams weighed per precursor (``Li2O_g``), in campaigns with a weighing spec."""
        comp = self.space.composition
        return [] if self.weighing is None or comp is None else [
            grams_column(p) for p in comp.names]

    @property
    def weighed(self) -> list[str]:
        """Weighing columns after the inputs: the proposal's mole fractions
        (``asked_Li2O``, kept once grams are recorded and the composition columns hold
        what was weighed), then the grams; empty without a weighing spec."""
        comp = self.space.composition
        return [] if not self.grams else [*map(asked_column, comp.names), *self.grams]

    @property
    def inputs(self) -> list[str]:
        """Input columns, physical units."""
        return self.space.names

    @property
    def targets(self) -> list[str]:
        """Measured-target columns: a checkpointed target's intermediate checkpoints
        (``retention_pct@50``), then every target's own column (its final value)."""
        return [c for c, _ in self.objectives.measured_columns]

    @property
    def stopped(self) -> list[str]:
        """``stopped_at`` when some target has checkpoints: the last checkpoint read
        before a cell's test was ended early (empty: not stopped)."""
        return [STOPPED] if self.objectives.checkpointed else []

    @property
    def measured_columns(self) -> list[tuple[str, Target]]:
        """Each measured-value column and the target whose range and unit it has."""
        return self.objectives.measured_columns

    @property
    def predictions(self) -> list[str]:
        """Predictions at proposal time, per target: ``pred_<target>_mean`` and ``_sd``;
        for a log10-modelled target first ``_median``, ``_lo68`` and ``_hi68`` (what the
        terminal, the review screen and the plots show), then the mean and sd of the
        implied log-normal (kept for the record: the mean lies above the median)."""
        return [*(f"pred_{t.name}_{s}" for t in self.objectives.targets
                  for s in (LOG_STATS if t.transform == "log10" and not t.is_known
                            else ("mean", "sd"))), *self.feasibility]

    @property
    def feasibility(self) -> list[str]:
        """Predicted probabilities at proposal time: of success (the feasibility
        classifier), of meeting each outcome constraint, and their product."""
        return ["pred_success", *(f"pred_{t.name}_meets" for t in self.objectives.constrained),
                "pred_feasible"]

    @property
    def columns(self) -> list[str]:
        """Every column, in file order."""
        return (["id", "round", "status", "source", *self.labels] + self.inputs
                + self.weighed + self.targets + self.stopped
                + self.predictions + ["proposed_at", "decided_by", "decided_at", "measured_at",
                                      "notes", "replicate_of"])

    def final_alias(self, column: str) -> str | None:
        """The target column a ``<target>@<final checkpoint>`` column stands for
        (``retention_pct@350`` is ``retention_pct``), or ``None``."""
        parts = split_checkpoint(column)
        if parts is None:
            return None
        t = next((t for t in self.objectives.checkpointed if t.name == parts[0]), None)
        return t.name if t is not None and parts[1] == str(t.final_checkpoint) else None

    def checkpoint_hint(self, column: str) -> str | None:
        """Why ``column`` (``<target>@<n>``) is not a checkpoint column, or ``None``
        when it does not look like one."""
        parts = split_checkpoint(column)
        if parts is None:
            return None
        name, cp = parts
        t = next((t for t in self.objectives.measured if t.name == name), None)
        if t is None:
            return None
        if not t.checkpoints:
            return (f"{name} has no checkpoints in the campaign config, so {column!r} is "
                    f"not a column; record the value as {name}, or declare "
                    f"targets.{name}.checkpoints (README \"Long-horizon targets\").")
        return (f"{cp!r} is not a declared checkpoint of {name}: its checkpoints are "
                f"{list(t.checkpoints)} ({t.checkpoint_unit}; the last, "
                f"{t.final_checkpoint}, is the column {name} itself). Fix: rename the "
                f"column to one of {[c for c in t.checkpoint_columns]}, or add {cp} to "
                f"targets.{name}.checkpoints in the campaign config.")

    def empty(self) -> pd.DataFrame:
        """A typed, empty ledger frame."""
        return self.coerce(pd.DataFrame({c: [] for c in self.columns}))

    def coerce(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Order columns and set dtypes (numbers float, round int, the rest str;
        categorical inputs are str)."""
        out = pd.DataFrame(index=range(len(frame)))
        categorical = self.space.categorical_names
        for c in self.columns:
            col = frame[c].reset_index(drop=True) if c in frame else None
            if c in categorical:  # category names (Mg, Sn, ...)
                out[c] = "" if col is None else col.fillna("").astype(str)
            elif (c in self.inputs or c in self.targets or c in self.predictions
                  or c in self.weighed or c in self.stopped):
                out[c] = np.nan if col is None else col.astype(float)
            elif c == "round":
                out[c] = 0 if col is None else col.astype(int)
            else:
                out[c] = "" if col is None else col.fillna("").astype(str)
        return out


def _cell(value: object) -> str:
    """A table value as the text a CSV cell would hold (full float precision)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return str(value).strip()


ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
MAX_ROUND = 100_000
MAX_PROBLEMS = 20  # listed per file; the count says how many more


def _parse_id(ident: str, i: int, source: str, seen: dict[str, int]) -> str:
    if not ident:
        return ident
    if not ID_PATTERN.fullmatch(ident):
        raise LedgerError(
            f"{where(source, i, 'id')}: value={ident!r} is not an experiment id. Fix: "
            "letters, digits, '-', '_' or '.', starting with a letter or digit (or leave "
            "it empty on rows you add by hand: the next round assigns one).")
    if ident in seen:
        raise LedgerError(
            f"{where(source, i, 'id')}: value={ident!r} duplicates row {seen[ident]}. "
            "Fix: give every experiment its own id (or leave id empty on rows you "
            "add by hand: the next round assigns one). A second measurement of the same "
            f"sample (a replicate)? Leave its id empty and write {ident} in its "
            "replicate_of cell: the ledger keeps both values and the model uses both.")
    seen[ident] = i
    return ident


def parse_round(text: str, loc: str) -> int:
    """A round number: a whole number in [0, MAX_ROUND]; empty is 0 (added by hand)."""
    fix = "Fix: a whole number, or empty (0) for rows added by hand."
    try:
        value = float(text or "0")
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value != int(value) or not 0 <= value <= MAX_ROUND:
        raise LedgerError(f"{loc}: value={text!r} is not a round number. {fix}")
    return int(value)


def parse_timestamp(text: str, loc: str) -> str:
    """An ISO 8601 timestamp (``2026-12-02T16:35:43+00:00``), or empty."""
    if text:
        try:
            datetime.fromisoformat(text)
        except ValueError:
            raise LedgerError(f"{loc}: value={text!r} is not a date and time. Fix: ISO 8601, "
                              "e.g. 2026-12-02T16:35:43+00:00, or leave it empty.") from None
    return text


def _timestamp_or_now(text: str) -> str:
    """``text`` when it is an ISO 8601 time, else now (a tag typed by hand must not
    make the ledger unreadable)."""
    try:
        return parse_timestamp(text, "") or now()
    except LedgerError:
        return now()


def _parse_status(rec: dict[str, str], row: dict, i: int, schema: LedgerSchema,
                  source: str) -> str:
    has_target = any(not np.isnan(row[t]) for t in schema.targets)
    status = rec.get("status", "") or ("measured" if has_target else "proposed")
    if status not in STATUSES:
        raise LedgerError(
            f"{where(source, i, 'status')}: value={status!r} is not a status. Fix: use "
            f"one of {list(STATUSES)}{_did_you_mean(status, STATUSES)}.")
    if has_target and status != "failed":
        status = "measured"
    if status == "measured" and not has_target:
        raise LedgerError(
            f"{where(source, i, 'status')}: value='measured' but no target value is "
            f"filled in ({schema.targets}). Fix: enter the measured values, or set "
            "status to 'proposed' (not yet measured) or 'failed'.")
    return status


def _parse_row(rec: dict[str, str], i: int, schema: LedgerSchema, source: str,
               seen: dict[str, int]) -> dict[str, object]:
    row: dict[str, object] = {"id": _parse_id(rec.get("id", ""), i, source, seen),
                              "round": parse_round(rec.get("round", ""),
                                                   where(source, i, "round"))}
    row.update(parse_inputs(rec, i, schema.space, source))
    row.update(_parse_weighed(rec, i, schema, source))
    for col, t in schema.measured_columns:
        row[col] = parse_target(rec.get(col, ""), t, where(source, i, col))
    if schema.stopped:
        row[STOPPED] = parse_stopped(rec.get(STOPPED, ""), row, schema,
                                     where(source, i, STOPPED))
    for c in schema.predictions:
        text = rec.get(c, "")
        row[c] = np.nan if text == "" else parse_number(
            text, where(source, i, c), "leave prediction columns as written.")
    row["status"] = _parse_status(rec, row, i, schema, source)
    if schema.stopped and not np.isnan(row[STOPPED]) and row["status"] == "proposed":
        raise LedgerError(f"{where(source, i, STOPPED)}: value={rec[STOPPED]!r} on a row "
                          "with nothing measured. Fix: a test ended before any reading is "
                          "status 'failed' (with a note); clear stopped_at.")
    src = rec.get("source", "") or "manual"
    if src not in SOURCES:
        raise LedgerError(f"{where(source, i, 'source')}: value={src!r} is not a source. "
                          f"Fix: use one of {list(SOURCES)}.")
    row["source"] = src
    for c in ("proposed_at", "decided_at", "measured_at"):
        row[c] = parse_timestamp(rec.get(c, ""), where(source, i, c))
    row["notes"] = neutralise(rec.get("notes", ""))
    row["decided_by"] = neutralise(rec.get("decided_by", ""))
    for c in schema.labels:
        row[c] = neutralise(rec.get(c, ""))
    parent = rec.get("replicate_of", "")
    if parent and not ID_PATTERN.fullmatch(parent):
        raise LedgerError(f"{where(source, i, 'replicate_of')}: value={parent!r} is not an "
                          "experiment id. Fix: the id of the sample this row measures "
                          "again, or leave it empty.")
    row["replicate_of"] = parent
    return row


def _number_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def parse_stopped(text: str, row: Mapping[str, object], schema: LedgerSchema,
                  loc: str) -> float:
    """A ``stopped_at`` cell (empty: NaN): a checkpoint before the final one of every
    checkpointed target, on a row with no reading after it (so no final value).

    ``row`` holds the row's checkpoint values (NaN where empty).
    """
    if text == "":
        return math.nan
    targets = schema.objectives.checkpointed
    allowed = sorted(set.intersection(*(set(t.checkpoints[:-1]) for t in targets)))
    fix = (f"Fix: the last checkpoint read before the test was ended, one of {allowed} "
           f"({targets[0].checkpoint_unit}), or leave it empty (still cycling or finished).")
    value = _number_or_nan(text)
    if value not in allowed:
        raise LedgerError(f"{loc}: value={text!r} is not a checkpoint a test can stop "
                          f"after. {fix}")
    for t in targets:
        later = [c for c, cp in t.checkpoint_columns.items()
                 if cp > value and not np.isnan(float(row.get(c, math.nan)))]
        if later:
            raise LedgerError(f"{loc}: value={text!r} but the row has {later[0]} read "
                              f"after checkpoint {value:g}. A stopped cell reads nothing "
                              "more. Fix: stopped_at is the last checkpoint read; clear "
                              "it if the cell went on cycling.")
    return value


def _parse_weighed(rec: dict[str, str], i: int, schema: LedgerSchema, source: str,
                   ) -> dict[str, float]:
    """The weighing columns of a ledger row: asked fractions and grams (or NaN)."""
    if not schema.weighed:
        return {}
    comp = schema.space.composition
    grams = parse_grams(rec, i, comp, source) or {}
    row = {grams_column(p): grams.get(p, np.nan) for p in comp.names}
    for p in comp.names:
        col, text = asked_column(p), rec.get(asked_column(p), "")
        row[col] = np.nan if text == "" else parse_number(
            text, where(source, i, col), "leave the asked_ columns as written (the "
            "proposal's mole fractions, kept when the grams weighed were recorded).")
    return row


def _raise_all(problems: list[str], source: str) -> None:
    """One error for every problem found in a file (up to ``MAX_PROBLEMS`` listed)."""
    if len(problems) == 1:
        raise LedgerError(problems[0])
    if problems:
        more = len(problems) - MAX_PROBLEMS
        raise LedgerError(f"{source}: {len(problems)} problems; nothing was written.\n"
                          + "\n".join(f"- {p}" for p in problems[:MAX_PROBLEMS])
                          + (f"\n- ... and {more} more" if more > 0 else ""))


def parse_frame(raw: pd.DataFrame, schema: LedgerSchema, source: str) -> pd.DataFrame:
    """Validate text cells of a ledger and return a typed frame.

    Raises:
        LedgerError: Every bad cell of the file (up to ``MAX_PROBLEMS`` listed), each
            with file, row, column, value and the fix.
    """
    allowed = set(schema.columns)
    for col in raw.columns:
        if col not in allowed:
            known_target = next((t for t in schema.objectives.known if t.name == col), None)
            alias = schema.final_alias(col)
            hint = (f"{col} is computed from the composition, not recorded; delete the "
                    "column." if known_target else
                    f"the final checkpoint is the column {alias} itself; rename the "
                    "column." if alias else schema.checkpoint_hint(col) or
                    f"rename it to one of {schema.columns} or delete it.")
            raise LedgerError(f"{where(source, column=col)}: unknown column. Fix: {hint}")
    missing = [c for c in schema.inputs if c not in raw.columns]
    if missing:
        raise LedgerError(
            f"{source}: input column(s) {missing} missing. Expected columns {schema.columns}."
        )
    rows, problems = [], []
    seen: dict[str, int] = {}
    for i, rec in enumerate(raw.to_dict("records"), start=1):
        try:
            rows.append(_parse_row(rec, i, schema, source, seen))
        except LedgerError as err:
            problems.append(str(err))
    known = {r["id"] for r in rows}
    for i, r in enumerate(rows, start=1):
        if r["replicate_of"] and (r["replicate_of"] not in known
                                  or r["replicate_of"] == r["id"]):
            problems.append(f"{where(source, i, 'replicate_of')}: value={r['replicate_of']!r} "
                            "names no other experiment of the ledger. Fix: the id of the "
                            "sample this row measures again, or leave it empty.")
    _raise_all(problems, source)
    frame = schema.coerce(pd.DataFrame(rows)) if rows else schema.empty()
    _warn_constraints(frame, schema, source)
    return frame


def _warn_constraints(frame: pd.DataFrame, schema: LedgerSchema, source: str) -> None:
    for c in schema.space.constraints:
        for i, rec in enumerate(frame[schema.inputs].to_dict("records"), start=1):
            if c.slack(rec) < -1e-6:
                warnings.warn(
                    f"{where(source, i)}: violates the constraint {c.description}; the row "
                    "is kept (measured data outside the searched region still informs "
                    "the model) but no proposal will go there.",
                    LedgerWarning,
                    stacklevel=3,
                )


class Ledger:
    """A campaign's ledger file and its validated contents.

    Args:
        path: The CSV file (need not exist yet).
        schema: Columns and validation rules of the campaign.
        frame: Typed contents.
    """

    def __init__(self, path: Path, schema: LedgerSchema, frame: pd.DataFrame,
                 text: str | None = None) -> None:
        self.path = path
        self.schema = schema
        self.frame = frame
        self._text = text  # the file as read (None: it did not exist)
        self.promoted: list[str] = []  # ids a filled cell moved from proposed to measured

    @classmethod
    def load(cls, path: Path, schema: LedgerSchema,
             accept: tuple[str, ...] | str = ()) -> Ledger:
        """Read and validate; a missing file is an empty ledger.

        The file is compared with the last version the tool wrote
        (``optim.history``): lost or changed recorded values are an error unless
        ``accept`` names their ids (or is ``"all"``).

        Raises:
            LedgerError: A bad cell, or recorded values lost or changed.
        """
        path = Path(path)
        last = history.last_version(path)
        if not path.exists():
            if last is not None:
                raise LedgerError(
                    f"ledger {path} is missing, but this campaign has earlier versions in "
                    f"{history.folder(path)}. Fix: restore the last one (cp {last} {path}), "
                    "or move the campaign folder aside to start afresh.")
            return cls(path, schema, schema.empty())
        try:
            text = read_text(path, "ledger")
            raw = read_table(path, "ledger", text)
            frame = parse_frame(raw, schema, str(path))
        except LedgerError as err:
            if last is None:
                raise
            raise LedgerError(f"{err}\n(If the file was cut short or damaged, restore the "
                              f"last version this tool wrote: cp {last} {path})") from None
        if last is not None and last.read_text() != text:  # unchanged since written: fine
            _check_history(path, last, schema, frame, accept)
        ledger = cls(path, schema, frame, text)
        if "status" in raw:  # a filled target cell makes a proposal measured
            was = raw["status"].fillna("").astype(str).str.strip().to_numpy()
            ledger.promoted = [str(i) for i, before, after in
                               zip(frame["id"], was, frame["status"], strict=True)
                               if before in PENDING and after == "measured"]
        return ledger

    @staticmethod
    @contextmanager
    def lock(path: Path) -> Iterator[None]:
        """Hold the campaign's lock, or fail at once if another round holds it."""
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise LedgerError(
                f"cannot create the campaign folder {path.parent} ({err.strerror}). Fix: "
                "paths.runs must be a folder you can write to.") from None
        lock_path = path.with_name(path.name + ".lock")
        lock = FileLock(lock_path, timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise LedgerLockedError(
                f"another process is running a round of this campaign (it holds "
                f"{lock_path}). Fix: wait for it to finish. The lock is released "
                "automatically when that process exits."
            ) from None
        try:
            yield
        finally:
            lock.release()

    @classmethod
    @contextmanager
    def transaction(cls, path: Path, schema: LedgerSchema, *, must_exist: bool = False,
                    accept: tuple[str, ...] | str = ()) -> Iterator[Ledger]:
        """Lock, load, complete hand edits, yield the ledger; write it on a clean exit.

        Every command that changes a campaign (plan a round, record results, decide) is
        one transaction: nothing is written when the body raises, no other round of the
        campaign runs meanwhile, and an edit saved to the file meanwhile (a spreadsheet)
        is never overwritten (:meth:`write`).

        Args:
            path: The ledger CSV.
            schema: Its columns and validation rules.
            must_exist: Refuse a missing ledger (recording results, deciding) instead of
                starting an empty one.
            accept: Ids (or ``"all"``) whose recorded values were changed on purpose.

        Raises:
            LedgerLockedError: Another process holds the campaign's lock.
            LedgerError: The ledger is missing (``must_exist``), holds a bad cell, lost
                recorded values, or changed on disk during the command.
        """
        with cls.lock(path):
            if must_exist and not Path(path).exists():
                raise LedgerError(
                    f"ledger {path} does not exist yet, so there is nothing to record "
                    "against. Fix: plan a round first, or check paths.runs.")
            ledger = cls.load(path, schema, accept)
            ledger.complete()
            yield ledger
            ledger.write()

    # ---------------------------------------------------------------- queries
    @property
    def next_round(self) -> int:
        """The number of the round about to be planned."""
        return int(self.frame["round"].max()) + 1 if len(self.frame) else 1

    def measured(self, target: str) -> pd.DataFrame:
        """Rows usable for fitting ``target``: measured (not failed), value present."""
        f = self.frame
        return f[(f["status"] == "measured") & f[target].notna()]

    @property
    def pending(self) -> pd.DataFrame:
        """Proposed or approved rows without any measurement yet."""
        return self.frame[self.frame["status"].isin(PENDING)]

    @property
    def active(self) -> pd.DataFrame:
        """Rows that count towards the design: everything but rejected proposals."""
        return self.frame[self.frame["status"] != "rejected"]

    def new_ids(self, n: int) -> list[str]:
        """``n`` fresh ids ``<prefix>-0001`` continuing the ledger's numbering."""
        prefix = f"{self.schema.id_prefix}-"
        used = [int(i[len(prefix):]) for i in self.frame["id"]
                if i.startswith(prefix) and i[len(prefix):].isdigit()]
        start = max(used, default=0) + 1
        return [f"{prefix}{k:04d}" for k in range(start, start + n)]

    def summary(self) -> str:
        """What was read, in words: rows per status, measured rows still waiting for a
        target, targets nobody measured yet, and proposals a filled cell promoted."""
        f = self.frame
        if f.empty:
            return f"Read {self.path}: no experiments yet."
        counts = f["status"].value_counts()
        parts = [f"{int(counts[s])} {s}" for s in STATUSES if s in counts]
        measured = f[f["status"] == "measured"]
        finals = [t.name for t in self.schema.objectives.measured]  # checkpoints aside
        cycled = {t.name for t in self.schema.objectives.checkpointed}
        ended = measured[STOPPED].notna() if self.schema.stopped else pd.Series(
            False, index=measured.index)
        waiting = {t: int((measured[t].isna() & ~(ended & (t in cycled))).sum())
                   for t in finals}
        waits = [f"{n} {'still cycling, ' if t in cycled else ''}waiting for {t}"
                 for t, n in waiting.items() if 0 < n < len(measured)]
        if ended.any():
            waits.append(f"{int(ended.sum())} stopped early")
        text = (f"Read {self.path}: {len(f)} experiment(s): {', '.join(parts)}"
                + (f" ({'; '.join(waits)})" if waits else "") + ".")
        never = [t for t in self.schema.targets if f.loc[f["status"] == "measured", t].isna().all()]
        if never and len(measured):
            text += f" Not measured on any row yet: {', '.join(never)}."
        if self.promoted:
            shown = ", ".join(self.promoted[:10]) + (" ..." if len(self.promoted) > 10 else "")
            text += (f" A filled target cell moved {len(self.promoted)} row(s) from "
                     f"proposed to measured: {shown}.")
        return text

    def replicate_id(self, parent: str, taken: Iterable[str] = ()) -> str:
        """The next free id of a replicate of ``parent``: ``oxy-0003.2``, ``.3``, ..."""
        used = {*self.frame["id"], *taken}
        k = 2
        while f"{parent}.{k}" in used:
            k += 1
        return f"{parent}.{k}"

    # ---------------------------------------------------------------- updates
    def complete(self) -> None:
        """Fill what hand edits leave empty: ids of added rows, ``measured_at``; and the
        median and 68 % interval of log10 targets' predictions in older ledgers."""
        blank = self.frame.index[self.frame["id"] == ""]
        for k in blank:  # a hand-added replicate is numbered after its sample
            parent = self.frame.at[k, "replicate_of"]
            if parent:
                self.frame.at[k, "id"] = self.replicate_id(parent)
        blank = self.frame.index[self.frame["id"] == ""]
        if len(blank):
            self.frame.loc[blank, "id"] = self.new_ids(len(blank))
        unstamped = (self.frame["status"].isin(["measured", "failed"])
                     & (self.frame["measured_at"] == ""))
        self.frame.loc[unstamped, "measured_at"] = now()
        for t in self.schema.objectives.targets:  # ledgers written before the median
            if t.transform != "log10" or t.is_known:
                continue
            f, col = self.frame, f"pred_{t.name}_"
            gap = f[col + "median"].isna() & f[col + "mean"].notna()
            if gap.any():
                centre, lo, hi = t.interval(f.loc[gap, col + "mean"], f.loc[gap, col + "sd"])
                f.loc[gap, col + "median"], f.loc[gap, col + "lo68"] = centre, lo
                f.loc[gap, col + "hi68"] = hi

    def append(self, rows: pd.DataFrame) -> None:
        """Append typed rows (columns of the schema)."""
        self.frame = self.schema.coerce(pd.concat(
            [self.frame, self.schema.coerce(rows)], ignore_index=True))

    def merge_results(self, results: Path | pd.DataFrame, source: str | None = None,
                      ) -> list[str]:
        """Merge results (``id`` plus target columns) into the ledger by id.

        Optional columns: ``status`` (``measured`` or ``failed``), ``notes``,
        ``measured_at``. A value already recorded is never replaced by a different one.
        Every row is validated before any changes.

        Args:
            results: A results CSV file, or a table (a lab's output).
            source: Name of a table's origin, for messages.

        Returns:
            Ids of rows that changed.

        Raises:
            LedgerError: Bad cells, unknown or duplicate ids, or a conflicting value.
        """
        raw, source = self._results_table(results, source)
        index = {ident: k for k, ident in enumerate(self.frame["id"])}
        seen: dict[str, int] = {}
        updates: list[tuple[int, dict[str, object]]] = []
        replicates: list[dict[str, object]] = []
        problems: list[str] = []
        for i, rec in enumerate(raw.to_dict("records"), start=1):
            try:
                again = _flag(rec.get("replicate", ""), where(source, i, "replicate"))
                k = self._result_row(rec, i, source, index, seen, again)
                grams = (parse_grams(rec, i, self.schema.space.composition, source)
                         if self.schema.grams else None)
                if again and (self._has_value(k) or any(k == u for u, _ in updates)):
                    if grams is not None:
                        raise LedgerError(
                            f"{where(source, i)}: grams on a replicate row: a replicate "
                            "measures the same sample again. Fix: record the grams on "
                            f"the sample's own row ({rec['id']}, without replicate).")
                    replicates.append(self._replicate_row(
                        k, rec, i, source, [r["id"] for r in replicates]))
                    continue
                if grams is None or any(rec.get(c, "") for c in
                                        ["status", *self.schema.targets,
                                         *self.schema.stopped]):
                    change = self._row_change(k, rec, i, source)
                else:  # what was weighed, before anything is measured
                    change = self._note_change(k, rec)
                if grams is not None:
                    change.update(self._weighed_change(k, grams, i, source))
            except LedgerError as err:
                problems.append(str(err))
                continue
            if change:
                updates.append((k, change))
        _raise_all(problems, source)
        for k, change in updates:
            for col, value in change.items():
                self.frame.at[k, col] = value
        if replicates:
            self.append(pd.DataFrame(replicates))
        return [self.frame.at[k, "id"] for k, _ in updates] + [r["id"] for r in replicates]

    def _note_change(self, k: int, rec: dict[str, str]) -> dict[str, object]:
        """A results row's note appended to the ledger's (empty: nothing new)."""
        note, old_note = neutralise(rec.get("notes", "")), self.frame.at[k, "notes"]
        if note and note not in old_note:
            return {"notes": f"{old_note}; {note}" if old_note else note}
        return {}

    def _weighed_change(self, k: int, grams: dict[str, float], i: int, source: str,
                        ) -> dict[str, object]:
        """Grams weighed for ledger row ``k``: the grams, the proposal's fractions moved
        to ``asked_<precursor>`` (once; never overwritten) and the fractions as weighed
        in the composition columns. Empty when the same grams are already recorded."""
        comp, spec = self.schema.space.composition, self.schema.weighing
        ident = self.frame.at[k, "id"]
        old = {p: float(self.frame.at[k, grams_column(p)]) for p in comp.names}
        if not all(np.isnan(v) for v in old.values()):
            if all(math.isclose(old[p], grams[p], rel_tol=1e-12, abs_tol=1e-12)
                   for p in comp.names):
                return {}  # recorded before: nothing changes
            shown = ", ".join(f"{grams_column(p)}={old[p]:g}" for p in comp.names)
            given = ", ".join(f"{grams_column(p)}={grams[p]:g}" for p in comp.names)
            raise LedgerError(
                f"{where(source, i)}: {ident} already has grams recorded in {self.path} "
                f"({shown}); the results file gives {given}. Nothing was changed. Fix: "
                "if the recorded grams are wrong, clear them in the ledger (the asked_ "
                f"columns keep the proposal) and record this file with "
                f"accept_changes=[{ident}].")
        made = fractions_from_grams(grams, comp, spec)
        bounds = self.schema.space.physical_bounds
        for p in comp.names:
            lo, hi = bounds[p]
            if not lo - 1e-9 <= made[p] <= hi + 1e-9:
                raise LedgerError(
                    f"{where(source, i, grams_column(p))}: the grams make {p}="
                    f"{made[p]:.5g} as weighed (mole fraction), outside its bounds [{lo}, "
                    f"{hi}], so the ledger cannot hold it. Nothing was changed. Fix: check "
                    f"the grams (a slipped digit?); if that is what was made, widen the "
                    f"bounds of {p} in the campaign config.")
        change: dict[str, object] = {grams_column(p): grams[p] for p in comp.names}
        for p in comp.names:
            if np.isnan(self.frame.at[k, asked_column(p)]):
                change[asked_column(p)] = float(self.frame.at[k, p])
        change.update(made)
        return change

    def _has_value(self, k: int) -> bool:
        return any(not np.isnan(self.frame.at[k, t]) for t in self.schema.targets)

    def _replicate_row(self, k: int, rec: dict[str, str], i: int, source: str,
                       taken: list[str]) -> dict[str, object]:
        """A new ledger row for a second measurement of the sample in row ``k``: its
        inputs, round and source, the replicate's own values, status and notes."""
        parent = self.frame.loc[k]
        root = parent["replicate_of"] or parent["id"]  # replicates all name the sample
        row: dict[str, object] = {c: parent[c] for c in ["round", "source", *self.schema.labels,
                                                         *self.schema.inputs,
                                                         *self.schema.weighed]}
        row["id"] = self.replicate_id(root, taken)
        row["replicate_of"] = root
        for col, t in self.schema.measured_columns:
            row[col] = parse_target(rec.get(col, ""), t, where(source, i, col))
        status = rec.get("status", "") or "measured"
        if status not in ("measured", "failed"):
            raise LedgerError(f"{where(source, i, 'status')}: value={status!r}; expected "
                              "'measured', 'failed' or empty. Fix: one of them.")
        if status == "measured" and all(np.isnan(row[t]) for t in self.schema.targets):
            raise LedgerError(f"{where(source, i)}: a replicate of {parent['id']} with no "
                              "target value. Fix: fill in what was measured, or status "
                              "'failed'.")
        row["status"] = status
        row["notes"] = neutralise(rec.get("notes", ""))
        row["proposed_at"] = parent["proposed_at"]
        row["measured_at"] = parse_timestamp(rec.get("measured_at", ""),
                                             where(source, i, "measured_at")) or now()
        return row

    def _result_row(self, rec: dict[str, str], i: int, source: str,
                    index: dict[str, int], seen: dict[str, int], again: bool = False,
                    ) -> int:
        """The ledger row a results row names (an id seen once unless the row is a
        replicate, known to the ledger)."""
        ident = rec["id"]
        loc = where(source, i, "id")
        if ident in seen and not again:
            raise LedgerError(f"{loc}: value={ident!r} repeats row {seen[ident]}. Fix: "
                              "one row per experiment; for a second measurement of the "
                              "same sample (a replicate), write yes in a 'replicate' "
                              "column on this row.")
        seen.setdefault(ident, i)
        if ident not in index:
            known = list(self.frame["id"])
            span = f"{known[0]} … {known[-1]}" if known else "none yet"
            raise LedgerError(
                f"{loc}: value={ident!r} is not an id in the ledger {self.path} (ids: "
                f"{span}). Fix: correct the id{_did_you_mean(ident, known)}, or add the "
                "experiment to the ledger as a new row.")
        return index[ident]

    def _results_table(self, results: Path | pd.DataFrame, source: str | None,
                       ) -> tuple[pd.DataFrame, str]:
        """A results file or table as text cells, its columns checked; and its name."""
        if isinstance(results, pd.DataFrame):
            source = source or "results table"
            raw = results.apply(lambda col: col.map(_cell)).astype(str)
            raw.columns = [str(c) for c in raw.columns]
        else:
            source = str(results)
            raw = read_table(Path(results), "results file")
        allowed = (["id", "status", "notes", "measured_at", "replicate"] + self.schema.targets
                   + self.schema.stopped + self.schema.grams)
        aliases = {c: self.schema.final_alias(c) for c in raw.columns
                   if self.schema.final_alias(c)}
        for col, name in aliases.items():  # retention_pct@350 is retention_pct
            if name in raw.columns:
                raise LedgerError(
                    f"{where(source, column=col)}: both {col} and {name} are columns, the "
                    f"same value (the final checkpoint). Fix: keep one of them.")
        raw = raw.rename(columns=aliases)
        for col in raw.columns:
            hint = self.schema.checkpoint_hint(col)
            if col not in allowed and hint:
                raise LedgerError(f"{where(source, column=col)}: unknown column: {hint}")
            if col not in allowed:
                grams = (col.endswith("_g") and not self.schema.grams
                         and col[:-2] in self.schema.space.composition_names)
                raise LedgerError(
                    f"{where(source, column=col)}: unknown column. Fix: a results file has "
                    f"'id' and any of {allowed[1:]}"
                    + ("; grams weighed need a `weighing:` block in the campaign config "
                       "(README, Weighing sheet)." if grams else ".")
                )
        if "id" not in raw.columns:
            raise LedgerError(f"{source}: no 'id' column. Fix: add the ledger ids of the "
                              "measured experiments.")
        return raw, source

    def _row_change(self, k: int, rec: dict[str, str], i: int, source: str,
                    ) -> dict[str, object]:
        """What row ``i`` of a results table changes in ledger row ``k`` (empty: nothing)."""
        ident = rec["id"]
        change: dict[str, object] = {}
        for col, t in self.schema.measured_columns:
            text = rec.get(col, "")
            if text == "":
                continue
            tloc = where(source, i, col)
            value = parse_target(text, t, tloc)
            old = self.frame.at[k, col]
            if not np.isnan(old) and not math.isclose(old, value, rel_tol=1e-12):
                raise LedgerError(
                    f"{tloc}: {ident} already has {col}={old} recorded in "
                    f"{self.path}; the results file gives {value}. Nothing was changed. "
                    "Fix: a second measurement of the same sample (a replicate)? Write "
                    "yes in a 'replicate' column on this row: the ledger keeps both "
                    "values (the new one as its own row) and the model uses both. To "
                    "correct a recorded value, edit it in the ledger and run the next "
                    f"command with accept_changes=[{ident}]."
                )
            if np.isnan(old):
                change[col] = value
        if self.schema.stopped:
            change.update(self._stopped_change(k, rec, change, i, source))
        status = rec.get("status", "")
        if status not in ("", "measured", "failed"):
            raise LedgerError(f"{where(source, i, 'status')}: value={status!r}; expected "
                              "'measured', 'failed' or empty. Fix: one of them.")
        current = self.frame.at[k, "status"]
        if current == "failed" and status == "measured":
            raise LedgerError(f"{where(source, i, 'status')}: {ident} is recorded as failed "
                              f"in {self.path}. Nothing was changed. Fix: to correct a "
                              "recorded status, edit the ledger by hand (then run with "
                              f"accept_changes=[{ident}]).")
        has_value = bool(change) or any(
            not np.isnan(self.frame.at[k, t]) for t in self.schema.targets)
        if status == "failed" or current == "failed":
            change["status"] = "failed"  # values of a failed row are kept, never fitted
        elif change or has_value:
            change["status"] = "measured"
        elif not status:
            raise LedgerError(f"{where(source, i)}: {ident} has no target value and no "
                              "status. Fix: fill in a result or status 'failed'.")
        note, old_note = neutralise(rec.get("notes", "")), self.frame.at[k, "notes"]
        if note and note not in old_note:
            change["notes"] = f"{old_note}; {note}" if old_note else note
        stamp = parse_timestamp(rec.get("measured_at", ""), where(source, i, "measured_at"))
        if change.get("status") != current or len(change) > 1:
            change["measured_at"] = stamp or self.frame.at[k, "measured_at"] or now()
            return change
        return {}

    def _stopped_change(self, k: int, rec: dict[str, str], change: dict[str, object],
                        i: int, source: str) -> dict[str, object]:
        """``stopped_at`` from a results row for ledger row ``k`` (with the row's values
        and this row's ``change``): set once, never changed; no reading after it."""
        loc = where(source, i, STOPPED)
        ident, text = rec["id"], rec.get(STOPPED, "")
        values = {c: change.get(c, self.frame.at[k, c]) for c in self.schema.targets}
        old = self.frame.at[k, STOPPED]
        if text == "":
            if not np.isnan(old):  # a reading for a cell recorded as stopped
                parse_stopped(repr(float(old)), values, self.schema,
                              f"{where(source, i)}: {ident} is recorded as stopped after "
                              f"checkpoint {old:g} in {self.path}; {STOPPED}")
            return {}
        if not np.isnan(old):
            if text == repr(old) or _number_or_nan(text) == old:
                return {}
            raise LedgerError(f"{loc}: {ident} already has {STOPPED}={old:g} recorded in "
                              f"{self.path}; the results file gives {text}. Nothing was "
                              "changed. Fix: to correct it, edit it in the ledger and run "
                              f"the next command with accept_changes=[{ident}].")
        value = parse_stopped(text, values, self.schema, loc)
        if self.frame.at[k, "status"] not in ("measured", "failed") and not change:
            raise LedgerError(f"{loc}: {ident} has nothing measured yet. Fix: a test "
                              "ended before any reading is status 'failed' (with a note); "
                              "leave stopped_at empty.")
        return {STOPPED: value}

    def apply_decisions(self, decisions: Mapping[str, str | Decision], source: str,
                        strict: bool = True, by: str = "") -> tuple[list[str], list[str]]:
        """Set reviewers' decisions: ``approve`` or ``reject`` per proposal id, and who
        decided when (``decided_by``, ``decided_at``).

        Only rows still awaiting measurement (``proposed``/``approved``/``rejected``)
        change; a decision on a measured or failed row is moot.

        Args:
            decisions: Id to ``approve``/``reject`` (``approved``/``rejected`` too), or
                to a :class:`Decision` that says who decided and when.
            by: Who decided, for decisions that do not say.
            source: Where the decisions came from, for messages.
            strict: Raise on an unknown id, a bad value or a moot decision (command
                line); otherwise report them (tags set in the UI).

        Returns:
            Ids that changed, and messages about decisions that were ignored.

        Raises:
            LedgerError: ``strict`` and a decision cannot be applied.
        """
        index = {ident: k for k, ident in enumerate(self.frame["id"])}
        changed, ignored = [], []
        for ident, decision in decisions.items():
            if not isinstance(decision, Decision):
                decision = Decision(str(decision))
            raw = decision.value
            value = str(raw).strip().lower()
            status = DECISIONS.get(value)
            problem = None
            if ident not in index:
                problem = f"{ident!r} is not an id in the ledger {self.path}"
            elif status is None:
                problem = (f"decision {raw!r} for {ident}: expected 'approve' or 'reject'")
            elif self.frame.at[index[ident], "status"] not in (*PENDING, "rejected"):
                problem = (f"{ident} is already {self.frame.at[index[ident], 'status']}; "
                           "a decision applies only to proposals awaiting measurement")
            if problem:
                if strict:
                    raise LedgerError(f"{source}: {problem}. Nothing was changed. Fix: "
                                      "approve or reject ids of proposals still awaiting "
                                      "measurement (status proposed or approved).")
                ignored.append(f"ignored {source} {problem}")
                continue
            k = index[ident]
            if self.frame.at[k, "status"] != status:
                self.frame.at[k, "status"] = status
                self.frame.at[k, "decided_by"] = neutralise(decision.by or by)
                self.frame.at[k, "decided_at"] = _timestamp_or_now(decision.at)
                changed.append(ident)
        return changed, ignored

    def write(self) -> None:
        """Write atomically (a temporary file in the same folder, then rename), keeping
        the file's permissions, and keep the version in the history.

        Raises:
            LedgerError: The file changed on disk since it was read (a spreadsheet
                saved it meanwhile): nothing is overwritten, and this version is kept
                beside it.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        frame = self.schema.coerce(self.frame)
        for p in self.schema.space.parameters:  # 550, not 550.0, for whole-number grids
            if p.is_whole:
                col = frame[p.name]
                frame[p.name] = [f"{v:.0f}" if math.isfinite(v) and float(v).is_integer()
                                 else _cell(v) for v in col]
        text = frame.to_csv(index=False)
        fd, tmp = tempfile.mkstemp(prefix=".ledger-", suffix=".csv", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", newline="") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, _mode(self.path))
            if _current_text(self.path) != self._text:
                kept = self.path.with_name(f"{self.path.stem}.unsaved-{_stamp()}.csv")
                os.replace(tmp, kept)
                raise LedgerError(
                    f"ledger {self.path} changed on disk while this command ran (saved "
                    "from a spreadsheet?). Nothing was overwritten: your edit is in "
                    f"{self.path}; this command's version is in {kept}. Fix: run the "
                    "command again (it reads your edit); delete the kept file when done.")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self._text = text
        history.save_version(self.path, text)


def _did_you_mean(value: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'measured'?)`` for the closest choice, or nothing; an id with
    its number padded differently (``oxy-008``) is matched by the number."""
    choices = list(choices)
    numbered = re.fullmatch(r"(.*?)(\d+)", value)
    if numbered:
        prefix, number = numbered.groups()
        same = [c for c in choices if (m := re.fullmatch(r"(.*?)(\d+)", c))
                and m.group(1) == prefix and int(m.group(2)) == int(number)]
        if same:
            return f" (did you mean {same[0]!r}?)"
    close = difflib.get_close_matches(value, choices, n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _flag(text: str, loc: str) -> bool:
    """A yes/no cell (``replicate``): yes, true, 1, x; no, false, 0 or empty."""
    value = text.strip().lower()
    if value in ("yes", "y", "true", "1", "x"):
        return True
    if value in ("", "no", "n", "false", "0"):
        return False
    raise LedgerError(f"{loc}: value={text!r} is not yes or no. Fix: yes for a replicate "
                      "(a second measurement of the same sample), else leave it empty.")


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")


def _current_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return "\x00undecodable"


def _mode(path: Path) -> int:
    """The file's permissions, or those a new file gets under the umask."""
    try:
        return path.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _check_history(path: Path, last: Path, schema: LedgerSchema, frame: pd.DataFrame,
                   accept: tuple[str, ...] | str) -> None:
    """Raise when the ledger lost or changed what the tool last wrote (unless accepted)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LedgerWarning)  # said when it was written
        try:
            old = parse_frame(read_table(last, "ledger history"), schema, str(last))
        except LedgerError:
            return  # a copy from an older schema (the campaign config changed)
    recorded = ["round", *schema.targets, *schema.stopped, *schema.weighed, "notes"]
    changes = history.changes(old, frame, recorded, schema.inputs)
    found = [text for ident, text in changes if accept != "all" and ident not in accept]
    accepted = [text for ident, text in changes if accept == "all" or ident in accept]
    if accepted:  # said, so an accept_changes=all never hides what it let through
        more = len(accepted) - MAX_PROBLEMS
        warnings.warn(f"{path}: accepted {len(accepted)} change(s) to recorded values "
                      f"(accept_changes):\n" + "\n".join(f"- {c}" for c in
                                                         accepted[:MAX_PROBLEMS])
                      + (f"\n- ... and {more} more" if more > 0 else ""),
                      LedgerWarning, stacklevel=3)
    if not found:
        return
    more = len(found) - MAX_PROBLEMS
    raise LedgerError(
        f"ledger {path} lost or changed {len(found)} recorded value(s) since this tool "
        f"last wrote it ({last}):\n" + "\n".join(f"- {c}" for c in found[:MAX_PROBLEMS])
        + (f"\n- ... and {more} more" if more > 0 else "")
        + f"\nNothing was written. Fix: restore the last version (cp {last} {path}) and "
        "redo any new entries; or, if these are intended corrections, run the command "
        "again with accept_changes=all (or accept_changes=[id,...]).")
