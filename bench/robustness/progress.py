"""A model's suite scores so far, one JSON line per photo, so a run killed half-way continues where it stopped.

Scoring 14 models on 264 photos x 37 sets takes hours on two cores, and the suite loops over photos (each perturbed
once for every model), so without this a kill at photo 250 would lose every model of the run. Each line holds the
photo's per-image rows (``MetricAccumulator.rows``: its confusion matrix and boundary counts), from which the
accumulator is rebuilt exactly. The first line says what was being scored; a journal of another model, photo list,
seed or set list is started afresh, and a line cut by the kill is dropped. The code's commit is not part of it: a
journal committed at a session's end is meant to be finished on the next machine.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

JOURNAL = "progress.jsonl"


class Journal:
    """``<folder>/progress.jsonl``: ``done`` maps each photo scored by earlier runs to its rows by set."""

    def __init__(self, folder: str | os.PathLike, header: Mapping[str, object], fresh: bool = False) -> None:
        self.path = Path(folder) / JOURNAL
        self.header = json.loads(json.dumps(dict(header)))
        self.done: dict[str, dict[str, dict[str, object]]] = {}
        kept = None if fresh else self._read()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if kept is None:  # none, another run's, or unreadable: start afresh
            self.path.write_text(json.dumps(self.header) + "\n", encoding="utf-8")
        elif kept < self.path.stat().st_size:  # drop the line the kill cut, so the next one starts on its own line
            with open(self.path, "r+b") as f:
                f.truncate(kept)
        self._file = open(self.path, "a", encoding="utf-8")

    def _read(self) -> int | None:
        """Load the lines of a journal of this same run; the byte length of its whole lines, or None."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        whole = data[: data.rfind(b"\n") + 1]
        lines = whole.decode("utf-8", errors="replace").splitlines()
        try:
            if not lines or json.loads(lines[0]) != self.header:
                return None
            for line in lines[1:]:
                entry = json.loads(line)
                self.done[entry["id"]] = entry["rows"]
        except (ValueError, KeyError, TypeError):
            self.done.clear()
            return None
        return len(whole)

    def add(self, sid: str, rows: Mapping[str, Mapping[str, object]]) -> None:
        """Record one photo's rows by set, flushed before the next photo starts."""
        self._file.write(json.dumps({"id": sid, "rows": rows}) + "\n")
        self._file.flush()
        self.done[sid] = {s: dict(r) for s, r in rows.items()}

    def finish(self) -> None:
        """The run's records are written: the journal has served."""
        self._file.close()
        self.path.unlink(missing_ok=True)

    def close(self) -> None:
        self._file.close()
