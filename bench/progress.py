"""Progress of long commands: a tqdm bar on a terminal, plain lines at a steady interval anywhere else.

Under nohup, CI or a pipe a bar is either silent or a flood of carriage returns; a line every ``interval`` seconds
(and a last one at the end of a run that printed any) shows a log reader that the run is alive and how far it got,
while a task shorter than the interval prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

LINE_INTERVAL_S = 30.0


class Progress:
    """``update(n, **counts)`` (or ``set(done)``) as work finishes; ``close()`` at the end, which returns the measured
    items per second. ``total`` None: unknown (a video's frames). ``enabled`` None: bar or lines as the stream
    allows; False: silent."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int = 0, enabled: bool | None = None,
                 interval: float | None = None, stream: TextIO | None = None, leave: bool = True) -> None:
        self.stream = stream or sys.stderr
        self.total, self.desc, self.unit, self.n, self._initial = total, desc, unit, initial, initial
        self.counts: dict[str, object] = {}
        self.interval = LINE_INTERVAL_S if interval is None else interval
        self._printed = False
        self._t0 = time.perf_counter()
        self._bar = None
        self._lines = False
        if enabled is False:
            return
        if _is_terminal(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, initial=initial, unit=unit, desc=desc, file=self.stream, leave=leave,
                             dynamic_ncols=True)
        else:
            self._lines = True
            self._start = self._last = time.monotonic()

    def update(self, n: int = 1, **counts: object) -> None:
        self.n += n
        self.counts.update(counts)
        if self._bar is not None:
            self._bar.set_postfix(self.counts, refresh=False)
            self._bar.update(n)
        elif self._lines and time.monotonic() - self._last >= self.interval:
            self._line("")

    def set(self, done: int, _total: int | None = None) -> None:
        """The count so far (a callback's ``(done, total)``), instead of an increment."""
        self.update(done - self.n)

    def rate(self) -> float:
        """Items per second since the start (tqdm's own rate is smoothed over a window)."""
        return (self.n - self._initial) / max(time.perf_counter() - self._t0, 1e-9)

    def _line(self, note: str) -> None:
        self._last = time.monotonic()
        self._printed = True
        counts = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        elapsed = int(self._last - self._start)
        done = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        parts = [f"{done} {self.unit}", counts, f"{elapsed // 60}m{elapsed % 60:02d}s", note]
        print(f"{self.desc}: " + "; ".join(p for p in parts if p), file=self.stream, flush=True)

    def close(self, note: str | None = None) -> float:
        """End the bar; the last line says ``note`` (e.g. "done, 2 skipped"), by default done or stopped."""
        rate = self.rate()
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._lines:
            self._lines = False
            if self._printed:
                self._line(note or ("done" if self.total is None or self.n >= self.total else "stopped"))
        return rate


def rate_text(rate: float, unit: str, units: str) -> str:
    """A rate that reads at any speed: "12.3 images/s", and below one a second "4.2 s/image" (never "0.0 images/s")."""
    if rate >= 1.0:
        return f"{rate:.1f} {units}/s"
    return f"{1.0 / rate:.1f} s/{unit}" if rate > 0 else f"no {units}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
