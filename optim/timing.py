"""Where a round's time goes: wall and process-CPU seconds per named phase.

``with phases() as spent:`` collects every ``with phase("fit"):`` run inside it (in
this thread or context) into ``spent``: ``{"fit": Spent(wall_s, cpu_s), ...}``,
summing repeated phases; an enclosing ``phases()`` block receives them as well.
Outside any ``phases()`` block ``phase`` times nothing, so library code can mark its
phases unconditionally.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["Spent", "phase", "phases"]


@dataclass
class Spent:
    """Seconds spent in one phase: wall clock and CPU of the whole process."""

    wall_s: float = 0.0
    cpu_s: float = 0.0


_current: ContextVar[dict[str, Spent] | None] = ContextVar("optim_phases", default=None)


@contextmanager
def phases() -> Iterator[dict[str, Spent]]:
    """Collect the phases run inside the block (an enclosing block gets them too)."""
    spent: dict[str, Spent] = {}
    token = _current.set(spent)
    try:
        yield spent
    finally:
        _current.reset(token)
        outer = _current.get()
        if outer is not None:
            for name, entry in spent.items():
                total = outer.setdefault(name, Spent())
                total.wall_s += entry.wall_s
                total.cpu_s += entry.cpu_s


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block as ``name`` in the enclosing :func:`phases` (if any)."""
    spent = _current.get()
    if spent is None:
        yield
        return
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        entry = spent.setdefault(name, Spent())
        entry.wall_s += time.perf_counter() - wall
        entry.cpu_s += time.process_time() - cpu
