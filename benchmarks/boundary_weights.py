"""Time boundary weight maps at 512x512 on one core (target: under 2 ms per map).

    python benchmarks/boundary_weights.py [--runs 200]

Masks are the synthetic portrait set's silhouettes (``bench.data.synthetic``), not noise. Two figures: one map per
call (``boundary_weight_map``, each result dropped at once, the worst case for the allocator) and a batch of 16
(``boundary_weight_maps``, written into one array, per map).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from bench.data.synthetic import render_sample
from elb.boundary import boundary_weight_map, boundary_weight_maps


def portrait_mask(size: int = 512, seed: int = 0) -> np.ndarray:
    """A ``bench.data.synthetic`` portrait mask with a small ignore (255) patch, as real masks have."""
    m = render_sample(seed, 0, (size, size)).mask.copy()
    m[size - 20 :, :10] = 255
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    masks = [portrait_mask(args.size, s) for s in range(8)]
    for m in masks:
        boundary_weight_map(m)  # warm-up
    times = []
    for i in range(args.runs):
        t0 = time.perf_counter()
        boundary_weight_map(masks[i % len(masks)])
        times.append((time.perf_counter() - t0) * 1e3)
    q = statistics.quantiles(times, n=10)
    print(f"boundary_weight_map {args.size}x{args.size}, 1 OpenCV thread, {args.runs} runs: "
          f"median {statistics.median(times):.3f} ms, p10 {q[0]:.3f} ms, p90 {q[-1]:.3f} ms (target < 2 ms)")
    batch = np.stack(masks * 2)  # 16 masks
    boundary_weight_maps(batch)
    per_map = []
    for _ in range(max(1, args.runs // 16)):
        t0 = time.perf_counter()
        boundary_weight_maps(batch)
        per_map.append((time.perf_counter() - t0) * 1e3 / len(batch))
    print(f"boundary_weight_maps, batch of {len(batch)}: median {statistics.median(per_map):.3f} ms per map")

if __name__ == "__main__":
    main()
