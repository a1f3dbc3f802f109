"""What a long round is doing, on the terminal: one live status line (tqdm).

A round on a loaded machine takes minutes; without a word a person cannot tell a slow
fit from a hung one. The CLI opens :func:`status` around each command; the round's
steps call :func:`step` ("fitting conductivity_mS_cm (GP, 12 rows)", "optimizing
candidate 2 of 4"). The line shows the step and the elapsed time, refreshed twice a
second, and disappears when the command ends. It is written to stderr only when
stderr is a terminal: piped output, CI logs and the Python API stay quiet (``step``
is then a no-op costing a context-variable lookup).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["say", "status", "step"]

_LINE: ContextVar[Any] = ContextVar("optim_progress_line", default=None)


@contextmanager
def status(description: str, enabled: bool | None = None, file: Any = None,
           ) -> Iterator[None]:
    """Show a live status line for the block.

    Args:
        description: What the block does (``round 3 of campaign oxychloride``).
        enabled: Show it; ``None``: only when ``file`` is a terminal.
        file: Where to draw (default: stderr).
    """
    file = file if file is not None else sys.stderr
    if enabled is None:
        enabled = bool(getattr(file, "isatty", lambda: False)())
    if not enabled or _LINE.get() is not None:  # nested: the outer line shows the steps
        yield
        return
    from tqdm import tqdm  # only on a terminal

    line = tqdm(total=None, desc=description, file=file, leave=False, dynamic_ncols=True,
                bar_format="{desc} [{elapsed}]", mininterval=0.2)
    line.base = description
    stop = threading.Event()

    def tick() -> None:  # the elapsed time moves while a step computes
        while not stop.wait(0.5):
            line.refresh()

    ticker = threading.Thread(target=tick, name="optim-progress", daemon=True)
    token = _LINE.set(line)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()
        _LINE.reset(token)
        line.close()


def step(text: str) -> None:
    """Say which step the current command is at (nothing without a status line)."""
    line = _LINE.get()
    if line is not None:
        line.set_description_str(f"{line.base}: {text}", refresh=True)


def say(text: str) -> None:
    """Print a line to stdout above the status line (so the two do not garble)."""
    line = _LINE.get()
    if line is None:
        print(text, flush=True)
    else:
        line.write(text, file=sys.stdout)
