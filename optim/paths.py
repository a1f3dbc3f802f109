"""Where files are: the project folder, and user-given paths resolved against it."""

from __future__ import annotations

from pathlib import Path

__all__ = ["PROJECT_ROOT", "resolve_path"]

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def resolve_path(path: str | Path) -> Path:
    """An absolute path; a relative one is tried against the working directory, then
    against the project folder (the one holding ``configs/``)."""
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve()
    return (PROJECT_ROOT / path).resolve()
