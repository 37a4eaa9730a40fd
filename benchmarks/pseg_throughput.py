"""PSEG build throughput on a generated LV-MHP-v2 tree of realistic sizes (1024x683 images, 2-3 persons each).

Prints persons/s (candidate persons, kept or skipped, per second of wall time) for 1 and 2 worker processes,
output 600x800 JPEG q95 + PNG mask as in a real build; the issue's target is at least 20 persons/s per core.
Usage:

    .venv/bin/python benchmarks/pseg_throughput.py [--images 60] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from pseg.build import BuildOptions, build_pseg
from pseg.fake_mhp import random_scenes, write_tree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=60)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--keep", action="store_true", help="keep the generated tree and outputs")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pseg-bench-"))
    try:
        t0 = time.perf_counter()
        write_tree(tmp, random_scenes(args.images, 1024, 683, persons=(2, 3), seed=0), "v2", seed=0)
        print(f"generated {args.images} images of 1024x683 in {time.perf_counter() - t0:.1f} s ({tmp})")
        for w in args.workers:
            t0 = time.perf_counter()
            s = build_pseg(tmp, tmp / f"out-w{w}", BuildOptions(), workers=w, progress=False)
            dt = time.perf_counter() - t0
            kept = sum(s.counts.values())
            print(f"workers={w}: {s.candidates} persons ({kept} kept) in {dt:.2f} s -> "
                  f"{s.candidates / dt:.1f} persons/s ({s.candidates / dt / w:.1f} per worker)")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
