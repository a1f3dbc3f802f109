"""Where botorch's fused qLogEHVI kernel is built, and never waiting on its build lock silently.

botorch compiles a C++ kernel (``logei_fused_ext``) the first time a process constructs
qLogEHVI/qLogNEHVI, with ``torch.utils.cpp_extension.load``. torch builds it in
``$TORCH_EXTENSIONS_DIR/logei_fused_ext`` (unset: a per-user cache shared by every Python
environment on the machine) and serializes builds with a ``lock`` file there: a process
that finds the file polls until it disappears, with no output and no limit, so a build
killed midway leaves a lock that hangs every later round.

:func:`fused_kernel` wraps the construction: the build goes to a folder of this Python
environment (:func:`extensions_dir`), and a lock found there is waited on out loud, up to
a limit, and reported with its fix once stale. In the environment's own folder the builds
also take turns under an OS file lock, which dies with its holder: a torch lock found
while holding it was left by a killed build and is removed, so a ``kill -9`` during the
first round's compile never blocks the next round.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from optim.exceptions import BuildLockedError

__all__ = ["EXTENSION", "POLL_S", "STALE_AFTER_S", "extensions_dir", "fused_kernel", "lock_path"]

EXTENSION = "logei_fused_ext"  # botorch's name for the extension: its build folder's name
STALE_AFTER_S = 600.0  # a build takes 1-3 minutes; a lock this old was left by a killed one
POLL_S = 0.5


def extensions_dir() -> Path:
    """The root folder torch builds extensions in for this process.

    Returns:
        ``$TORCH_EXTENSIONS_DIR`` when set, else ``<sys.prefix>/torch_extensions``: a folder
        of this Python environment, so environments never share or fight over a build
        (``~/.cache/optim/torch_extensions/<hash of sys.prefix>`` when the environment
        is not writable, e.g. a system Python).
    """
    chosen = os.environ.get("TORCH_EXTENSIONS_DIR")
    if chosen:
        return Path(chosen)
    if os.access(sys.prefix, os.W_OK):
        return Path(sys.prefix) / "torch_extensions"
    # a system Python (not writable): a per-user folder, still one per environment
    tag = hashlib.sha1(sys.prefix.encode()).hexdigest()[:12]
    return Path.home() / ".cache" / "optim" / "torch_extensions" / tag


def lock_path() -> Path:
    """The lock file torch holds while building the kernel under :func:`extensions_dir`.

    With ``TORCH_EXTENSIONS_DIR`` set, torch's ``_get_build_directory`` adds no tag folder
    (``py311_cpu``), and ``_jit_compile`` makes ``FileBaton(<build dir>/lock)``.
    """
    return extensions_dir() / EXTENSION / "lock"


@contextmanager
def fused_kernel(*, stale_after: float = STALE_AFTER_S, timeout: float = STALE_AFTER_S,
                 poll: float = POLL_S) -> Iterator[Path]:
    """Construct qLogEHVI/qLogNEHVI inside this block: its kernel build stays in this
    environment and never hangs silently.

    For the block, ``TORCH_EXTENSIONS_DIR`` is :func:`extensions_dir` (the previous value,
    or its absence, comes back afterwards). Before it, a lock left in the build folder is
    announced on stderr (path, age) and waited on, polling. Does nothing once botorch has
    tried to load the kernel in this process (it tries once).

    Args:
        stale_after: Seconds after which a lock counts as left by a killed build.
        timeout: Seconds to wait for another process's build.
        poll: Seconds between looks at the lock.

    Yields:
        The extensions root in use.

    Raises:
        BuildLockedError: The lock is older than ``stale_after`` or outlived ``timeout``; the
            message names the lock file, its age and the fix.
    """
    from botorch.acquisition.multi_objective import logei

    root = extensions_dir()
    if logei._load_attempted:
        yield root
        return
    previous = os.environ.get("TORCH_EXTENSIONS_DIR")
    with ExitStack() as stack:
        if previous is None:  # the environment's own folder: only optim builds there
            stack.enter_context(_build_guard(root, timeout))
        else:  # a folder the user chose, maybe shared with other tools: wait on torch's
            _wait_for_lock(root / EXTENSION / "lock", stale_after, timeout, poll)
        os.environ["TORCH_EXTENSIONS_DIR"] = str(root)
        try:
            yield root
        finally:
            if previous is None:
                os.environ.pop("TORCH_EXTENSIONS_DIR", None)
            else:
                os.environ["TORCH_EXTENSIONS_DIR"] = previous


@contextmanager
def _build_guard(root: Path, timeout: float) -> Iterator[None]:
    """Hold an OS file lock (``flock``) over the construction, so builds in ``root`` take
    turns; the OS releases it when its holder dies, even by SIGKILL. Holding it, a torch
    ``lock`` file in the build folder can only be left by a build that was killed, and
    is removed (torch would otherwise wait on it forever)."""
    from filelock import FileLock, Timeout

    root.mkdir(parents=True, exist_ok=True)
    guard = FileLock(root / f"{EXTENSION}.optim-lock")
    try:
        guard.acquire(timeout=0)
    except Timeout:
        print(f"Waiting for another process's build of botorch's fused kernel (in {root}; "
              "a build takes 1-3 minutes)...", file=sys.stderr, flush=True)
        try:
            guard.acquire(timeout=timeout)
        except Timeout:
            raise BuildLockedError(
                f"another process has held {guard.lock_file} for {timeout:.0f} s while "
                "building botorch's fused kernel (a build takes 1-3 minutes). Fix: wait "
                "for it, or stop that process.") from None
    try:
        left = root / EXTENSION / "lock"
        if left.exists():
            print(f"Removing {left}, left by a kernel build that was killed.",
                  file=sys.stderr, flush=True)
            left.unlink(missing_ok=True)
        yield
    finally:
        guard.release()


def _age(lock: Path) -> float | None:
    """Seconds since ``lock`` was made (torch never writes to it), or None when absent."""
    try:
        return max(0.0, time.time() - lock.stat().st_mtime)
    except FileNotFoundError:
        return None


def _wait_for_lock(lock: Path, stale_after: float, timeout: float, poll: float) -> None:
    """Return once ``lock`` is absent; announce a wait, refuse a stale or endless lock."""
    start = time.monotonic()
    announced = False
    while (age := _age(lock)) is not None:
        waited = time.monotonic() - start
        if age > stale_after or waited > timeout:
            why = (f"is {age:.0f} s old (a build takes 1-3 minutes)" if age > stale_after
                   else f"is still there after waiting {waited:.0f} s (it is {age:.0f} s old)")
            raise BuildLockedError(
                f"botorch's fused-kernel build lock {lock} {why}: a build was probably "
                f"killed midway, and torch would wait on it forever. Fix: if no other "
                f"optim/botorch process is building it: delete {lock} and run again.")
        if not announced:
            print(f"Waiting for another process's build of botorch's fused kernel (lock "
                  f"{lock}, {age:.0f} s old; a build takes 1-3 minutes)...",
                  file=sys.stderr, flush=True)
            announced = True
        time.sleep(poll)
