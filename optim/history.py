"""The ledger remembers what it wrote: earlier versions, and what a read lost.

Every write keeps a copy in ``<campaign>/history/`` (the last ``KEEP``). Every read
compares the file with the last copy: a row, id or recorded value (an input, a
measurement, a status past ``proposed``/``approved``/``rejected``, the round, a note)
that disappeared or changed is an error listing each one, with how to restore the copy
or accept an intended correction. Filling an empty cell or adding a row is normal. One
mechanism covers truncated files, deleted columns, sorts that broke ids and wiped cells.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["KEEP", "changes", "last_version", "save_version"]

KEEP = 20
OPEN = ("proposed", "approved", "rejected")  # statuses a person may still change
_NAME = re.compile(r"ledger-(\d{6})\.csv")


def folder(ledger: Path) -> Path:
    """The history folder beside a ledger."""
    return Path(ledger).parent / "history"


def _versions(ledger: Path) -> list[Path]:
    found = [p for p in folder(ledger).glob("ledger-*.csv") if _NAME.fullmatch(p.name)]
    return sorted(found, key=lambda p: int(_NAME.fullmatch(p.name).group(1)))


def last_version(ledger: Path) -> Path | None:
    """The copy of the last version the tool wrote, or ``None``."""
    versions = _versions(ledger)
    return versions[-1] if versions else None


def save_version(ledger: Path, text: str) -> Path:
    """Keep ``text`` (what was just written) as the newest version; prune to ``KEEP``."""
    versions = _versions(ledger)
    number = int(_NAME.fullmatch(versions[-1].name).group(1)) + 1 if versions else 1
    path = folder(ledger) / f"ledger-{number:06d}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)  # a kill mid-write never leaves a half version
    for old in versions[: max(0, len(versions) + 1 - KEEP)]:
        old.unlink(missing_ok=True)
    return path


def _differs(old: object, new: object) -> bool:
    if isinstance(old, float):
        if math.isnan(old):
            return False  # filling an empty cell is normal
        return not isinstance(new, float) or math.isnan(new) or not math.isclose(
            old, new, rel_tol=1e-12, abs_tol=1e-15)
    return old != "" and old != new


def _show(value: object) -> str:
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return repr(int(value)) if isinstance(value, int | np.integer) else repr(value)


def changes(old: pd.DataFrame, new: pd.DataFrame, recorded: list[str],
            inputs: list[str] = ()) -> list[tuple[str, str]]:
    """What ``new`` lost or changed of ``old`` (rows matched by id): (id, in words).

    Args:
        old: The last version written (typed frame).
        new: The file as read now.
        recorded: Columns whose values must not change once filled (targets, round,
            notes); ``status`` is checked separately.
        inputs: Columns fixed once a row is measured or failed (before that a person
            may enter what was actually weighed).
    """
    index = {ident: k for k, ident in enumerate(new["id"]) if ident}
    out = []
    for rec in old.to_dict("records"):
        ident = rec["id"]
        if ident not in index:
            out.append((ident, f"row {ident} is gone"))
            continue
        now = new.iloc[index[ident]]
        fixed = [*recorded, *(inputs if rec["status"] not in OPEN else [])]
        for col in fixed:
            if _differs(rec[col], now[col]):
                gone = isinstance(now[col], float) and np.isnan(now[col]) or now[col] == ""
                shown = "empty" if gone else _show(now[col])
                out.append((ident, f"{ident}, column {col!r}: {_show(rec[col])} became "
                                   f"{shown}"))
        if rec["status"] not in OPEN and now["status"] != rec["status"]:
            out.append((ident, f"{ident}, column 'status': {rec['status']!r} became "
                               f"{now['status']!r}"))
    return out
