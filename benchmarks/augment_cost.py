"""Per-sample cost of the training augmentation: the paper's against a profile's (``robust`` by default).

    OMP_NUM_THREADS=1 nice -n 19 python benchmarks/augment_cost.py [--profile robust] [--size 256] [--samples 64]

Times what the CPU pipeline does per cached sample (``PortraitTorchDataset.arrays``' augmentation, normalisation and
the adaptive loss's boundary weight map) on synthetic photos with a disc for a person, OpenCV sequential (one thread,
as in a DataLoader worker), and prints the extra milliseconds per sample and what they add to a training run of
``--epochs`` epochs of ``--images`` photos (PFCN's 1,291 train photos, 30 epochs: the cpu and robust profiles).
A pipeline figure, not a training run: the model's step is not timed.
"""

from __future__ import annotations

import argparse
import time

import cv2
import numpy as np

from bench.data.augment import Augment, augment_sample, make_augment
from bench.data.pipeline import sample_rng
from bench.data.preprocess import normalize
from bench.runall.profile import load_profile
from elb.boundary import boundary_weight_map


def samples(n: int, size: int) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        rgb = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), 3)
        cx, cy, r = rng.uniform(0.3, 0.7) * size, rng.uniform(0.4, 0.7) * size, rng.uniform(0.2, 0.35) * size
        out.append((rgb, ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r).astype(np.uint8)))
    return out


def ms_per_sample(a: Augment, data: list[tuple[np.ndarray, np.ndarray]], repeats: int) -> float:
    best = float("inf")
    for rep in range(repeats):
        t = time.perf_counter()
        for i, (rgb, mask) in enumerate(data):
            key = (0, rep, i)
            x, m = augment_sample(a, rgb, mask, sample_rng(*key), key)
            normalize(x)
            boundary_weight_map(m)
        best = min(best, (time.perf_counter() - t) / len(data))
    return best * 1e3


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profile", default="robust")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--images", type=int, default=1291)
    p.add_argument("--epochs", type=int, default=30)
    args = p.parse_args()
    cv2.setNumThreads(0)
    data = samples(args.samples, args.size)
    recipe = make_augment(load_profile(args.profile).train.get("augment"))
    paper, robust = ms_per_sample(Augment(), data, args.repeats), ms_per_sample(recipe, data, args.repeats)
    extra_min = (robust - paper) * args.images * args.epochs / 60e3
    print(f"{args.size} px, {args.samples} synthetic samples, best of {args.repeats}: paper {paper:.2f} ms/sample, "
          f"{args.profile} {robust:.2f} ms/sample (+{robust - paper:.2f} ms); over {args.epochs} epochs of "
          f"{args.images} photos: +{extra_min:.1f} minutes")


if __name__ == "__main__":
    main()
