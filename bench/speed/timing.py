"""The one timing protocol behind every speed figure: warm-up, then timed passes interleaved across candidates.

Each candidate is a zero-argument callable that runs one inference pass and returns once the result is ready (a
CUDA candidate synchronises inside). Every candidate is warmed up first, then the timed passes go round-robin,
A B C A B C ..., so that load from other processes on a shared machine falls on all candidates alike and cannot
reorder them. Each pass is timed on its own with ``time.perf_counter``; the summary is the median with the spread
(10th/90th percentiles and interquartile range).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np

PROTOCOL = ("warm-up passes per candidate, then timed passes interleaved round-robin across candidates "
            "(A B C A B C ...), each pass timed on its own; median and spread")


def time_interleaved(candidates: Mapping[str, Callable[[], object]], warmup: int = 10,
                     runs: int = 50) -> dict[str, np.ndarray]:
    """Seconds of each of ``runs`` passes per candidate, the passes interleaved across candidates."""
    if warmup < 0 or runs < 1:
        raise ValueError("warmup must be >= 0 and runs >= 1")
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(runs):
        for name, fn in candidates.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: np.asarray(t) for name, t in times.items()}


def summarize(seconds: Sequence[float] | np.ndarray, batch_size: int = 1) -> dict[str, float]:
    """FPS (images per second) and latency of timed passes: medians and spread."""
    t = np.asarray(seconds, np.float64)
    fps = batch_size / t
    return {
        "fps": float(np.median(fps)),
        "fps_p10": float(np.percentile(fps, 10)),
        "fps_p90": float(np.percentile(fps, 90)),
        "fps_iqr": float(np.percentile(fps, 75) - np.percentile(fps, 25)),
        "ms_median": float(np.median(t) * 1000.0),
        "ms_p10": float(np.percentile(t, 10) * 1000.0),
        "ms_p90": float(np.percentile(t, 90) * 1000.0),
    }
