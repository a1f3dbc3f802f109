"""The fused-kernel guard: a per-environment build folder, and no silent wait on its lock."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest
from botorch.acquisition.multi_objective import logei

from optim.exceptions import BuildLockedError
from optim.kernel import extensions_dir, fused_kernel, lock_path


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    """TORCH_EXTENSIONS_DIR at tmp_path; botorch has not tried to load the kernel yet."""
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.setattr(logei, "_load_attempted", False)
    return tmp_path


def _lock(root: Path, age_s: float = 0.0) -> Path:
    lock = root / "logei_fused_ext" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()
    then = time.time() - age_s
    os.utime(lock, (then, then))
    return lock


def test_extensions_dir_respects_the_variable_and_defaults_under_sys_prefix(tmp_path,
                                                                            monkeypatch):
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    assert extensions_dir() == tmp_path
    assert lock_path() == tmp_path / "logei_fused_ext" / "lock"
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR")
    assert extensions_dir() == Path(sys.prefix) / "torch_extensions"


@pytest.mark.parametrize("previous", [None, "/somewhere/else"])
def test_the_variable_is_set_for_the_block_and_restored(tmp_path, monkeypatch, previous):
    monkeypatch.setattr(logei, "_load_attempted", False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    if previous is None:
        monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    else:
        monkeypatch.setenv("TORCH_EXTENSIONS_DIR", previous)
    expected = tmp_path / "torch_extensions" if previous is None else Path(previous)
    with fused_kernel() as root:
        assert root == expected
        assert os.environ["TORCH_EXTENSIONS_DIR"] == str(expected)
    assert os.environ.get("TORCH_EXTENSIONS_DIR") == previous


def test_a_stale_lock_is_refused_with_its_path_and_the_fix(root):
    lock = _lock(root, age_s=3600)
    with pytest.raises(BuildLockedError, match="delete") as err:
        with fused_kernel(stale_after=600):
            pytest.fail("the block ran despite a stale lock")
    assert str(lock) in str(err.value) and "3600 s old" in str(err.value)
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(root)


def test_a_lock_that_outlives_the_wait_is_refused(root):
    lock = _lock(root)
    with pytest.raises(BuildLockedError, match="after waiting") as err:
        with fused_kernel(timeout=0.2, poll=0.05):
            pass
    assert f"delete {lock}" in str(err.value)


def test_a_fresh_lock_is_waited_on_out_loud(root, capfd):
    lock = _lock(root)
    remover = threading.Timer(0.3, lock.unlink)
    remover.start()
    try:
        with fused_kernel(poll=0.05):
            assert not lock.exists()
    finally:
        remover.join()
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "Waiting for another process's build" in err
    assert str(lock) in err


def test_no_lock_no_message(root, capfd):
    with fused_kernel():
        pass
    assert capfd.readouterr().err == ""


def test_nothing_is_done_once_botorch_has_tried_to_load(tmp_path, monkeypatch, capfd):
    monkeypatch.setattr(logei, "_load_attempted", True)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    stale = _lock(tmp_path / "torch_extensions", age_s=3600)
    with fused_kernel(stale_after=1):
        assert "TORCH_EXTENSIONS_DIR" not in os.environ
    assert stale.exists() and capfd.readouterr().err == ""


@pytest.fixture
def own_root(tmp_path, monkeypatch) -> Path:
    """The environment's own folder (no TORCH_EXTENSIONS_DIR), moved to tmp_path."""
    import optim.kernel

    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    monkeypatch.setattr(optim.kernel, "extensions_dir", lambda: tmp_path)
    monkeypatch.setattr(logei, "_load_attempted", False)
    return tmp_path


def test_in_its_own_folder_a_lock_left_by_a_killed_build_is_removed(own_root, capfd):
    lock = _lock(own_root, age_s=5)  # a build SIGKILLed 5 s ago: no process holds the guard
    with fused_kernel() as root:
        assert root == own_root and not lock.exists()
        assert os.environ["TORCH_EXTENSIONS_DIR"] == str(own_root)
    assert "TORCH_EXTENSIONS_DIR" not in os.environ
    assert f"Removing {lock}, left by a kernel build that was killed." in capfd.readouterr().err


def test_in_its_own_folder_a_live_build_is_waited_on_and_never_removed(own_root, capfd):
    from filelock import FileLock

    lock = _lock(own_root)
    builder = FileLock(own_root / "logei_fused_ext.optim-lock")  # another live process
    builder.acquire()
    try:
        with pytest.raises(BuildLockedError, match="has held .* for 0 s"), \
                fused_kernel(timeout=0.2):
            pass
        assert lock.exists()  # a live build's lock is left alone
        assert "Waiting for another process's build" in capfd.readouterr().err
    finally:
        builder.release()
