"""Writing files so that a kill never leaves half of one, and the one JSON and timestamp style of every record.

No torch and no OpenCV: the dataset builders, the peers' environment and the reports all write through here.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import tempfile
from pathlib import Path

from bench.errors import OutputError

UTC_FORMAT = "%Y-%m-%d %H:%M UTC"


def utc_now() -> str:
    """The time a record was written, as every report states it (minutes, UTC)."""
    return dt.datetime.now(dt.UTC).strftime(UTC_FORMAT)


def _why(path: Path, e: OSError) -> str:
    """What stops a write at ``path``, in words: a file where a folder should be, else what the system said."""
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                return f"{p} is a file, not a folder"
            if e.errno == errno.ENOENT:  # /proc and the like: the folder exists but takes nothing new
                return f"{p} takes no new files or folders"
            break
    return (e.strerror or type(e).__name__).lower()


def make_dir(folder: str | os.PathLike) -> Path:
    """``folder`` and its parents created as needed; a path that cannot be a folder is an ``OutputError`` naming it
    and the reason (a user's bad ``--out`` is one line, not a traceback)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create the folder {folder}: {_why(folder, e)}") from None
    return folder


def _temporary(path: Path) -> tuple[int, str]:
    """A new temporary file beside ``path`` (its folder created), as ``tempfile.mkstemp`` returns it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {_why(path.parent, e)}") from None


def check_writable(path: str | os.PathLike) -> Path:
    """Raise ``OutputError`` now, before any long work, if a file cannot be written at ``path`` (its folder is
    created, and a temporary file made and removed in it)."""
    path = Path(path)
    fd, tmp = _temporary(path)
    os.close(fd)
    os.unlink(tmp)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so a kill never leaves half a file."""
    path = Path(path)
    fd, tmp = _temporary(path)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would make a shared dataset unreadable to other users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError):  # no space left, a folder in the file's place
            raise OutputError(f"cannot write {path}: {_why(path, e)}") from None
        raise


def remove_partial_writes(folder: str | os.PathLike) -> None:
    """Delete the temporaries ``atomic_write_bytes`` leaves in ``folder`` when a kill interrupts it."""
    folder = Path(folder)
    if folder.is_dir():
        for p in folder.glob(".*.tmp"):
            p.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def to_json(value: object, indent: int | None = 2) -> str:
    """Strict JSON (``NaN`` and ``Infinity`` raise: they are not JSON and other tools refuse them), sorted keys."""
    return json.dumps(value, indent=indent, sort_keys=True, allow_nan=False)


def atomic_write_json(path: str | os.PathLike, value: object) -> None:
    atomic_write_text(path, to_json(value) + "\n")
