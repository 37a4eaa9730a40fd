"""How many threads a CPU predictor should use right now: the cores other programs leave free.

PyTorch's CPU kernels run on an OpenMP pool of one thread per core whose threads spin while they wait for each other.
On a machine another program keeps busy, a spinning thread holds a core the other program wants and waits for a
thread that has none, and a small model's pass takes 10-20 times as long as on one thread (measured in
``benchmarks/segment_busy.py``). So `segment` and the Python API (``threads="auto"``, their default) look, before each
pass, at how much CPU the rest of the machine used since the last pass (``/proc/stat`` less this process's own time:
two reads of small files, no waiting) and run on the cores left over, at least one. A machine without ``/proc/stat``
keeps every core.
"""

from __future__ import annotations

import os
import time

AUTO = "auto"  # a predictor's thread count that follows the machine's load (``FreeCores``)


def _machine_busy_seconds() -> float | None:
    """CPU seconds every core has spent busy since boot (``/proc/stat``'s first line), None where there is none."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle and iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _own_busy_seconds() -> float:
    t = os.times()
    return t.user + t.system


class FreeCores:
    """``threads()``: the cores the other programs left free over the interval since the last call (all of them on
    the first call), at least one."""

    def __init__(self, cores: int | None = None) -> None:
        self.cores = cores or os.cpu_count() or 1
        self.last: tuple[float, float, float] | None = None

    def threads(self) -> int:
        machine = _machine_busy_seconds()
        if machine is None:
            return self.cores
        now = (time.monotonic(), machine, _own_busy_seconds())
        last, self.last = self.last, now
        if last is None or now[0] - last[0] <= 0:
            return self.cores
        others = max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / (now[0] - last[0])  # cores busy elsewhere
        return max(1, min(self.cores, round(self.cores - others)))
