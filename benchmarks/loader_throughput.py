"""Samples/s of the training input pipeline (bench.data.pipeline) at 512x512 for 0, 1 and 2 DataLoader workers.

    python benchmarks/loader_throughput.py [--data DIR] [--size 512] [--workers 0 1 2] [--samples 96]

Each sample is decoded, resized, flipped, jittered, normalised and given its boundary weight map (the adaptive
loss's), as in ELB training. Without --data the synthetic portrait set of ``bench.data.synthetic`` is written at 600x800
(PFCN's size) to a temporary folder. The first batch (worker start-up) is not timed.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from bench.data.pipeline import Augment, PortraitTorchDataset, worker_init
from bench.data.synthetic import make_synthetic


def loader_rate(data: Path, size: int, workers: int, samples: int, batch_size: int = 16) -> float:
    ds = PortraitTorchDataset(data, "train", size, Augment(), seed=0, weights=True)
    ds.ids = (ds.ids * (samples // len(ds.ids) + 1))[:samples]
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers,
                        worker_init_fn=worker_init if workers else None)
    it = iter(loader)
    next(it)  # start-up
    t0, n = time.perf_counter(), 0
    for batch in it:
        n += len(batch["image"])
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=96)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or make_synthetic(Path(tmp) / "data", n_train=32, n_test=1, size=(600, 800))
        print(f"loader throughput at {args.size}x{args.size}, batch 16, flip + jitter + boundary weights "
              f"({data}); torch {torch.__version__}, {torch.get_num_threads()} threads")
        for workers in args.workers:
            rate = loader_rate(data, args.size, workers, args.samples)
            print(f"  workers {workers}: {rate:7.1f} samples/s")


if __name__ == "__main__":
    main()
