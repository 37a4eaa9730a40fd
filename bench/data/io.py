"""Writing files so that a kill never leaves half of one, and the one JSON and timestamp style of every record.

No torch and no OpenCV: the dataset builders, the peers' environment and the reports all write through here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path

UTC_FORMAT = "%Y-%m-%d %H:%M UTC"


def utc_now() -> str:
    """The time a record was written, as every report states it (minutes, UTC)."""
    return dt.datetime.now(dt.UTC).strftime(UTC_FORMAT)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename, so a kill never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would make a shared dataset unreadable to other users
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
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
