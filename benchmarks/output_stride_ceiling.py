"""What a coarse output costs before any learning: the ground truth itself, squeezed through an output stride.

    python benchmarks/output_stride_ceiling.py --data data/pfcn [--split test] [--sizes 256 512] [--strides 1 4 8]

ELB predicts at 1/8 of its input and upsamples bilinearly x8; ICNet at 1/4; ENet and ERFNet decode to full
resolution. For each input size S and stride s, every test mask is resized to S (as evaluation does), its portrait
share is area-averaged to (S/s)^2 cells (the best a stride-s map can hold with no knowledge finer than a cell),
upsampled bilinearly back to S and thresholded at 0.5, then scored like a prediction (bench.eval.metrics). The mIoU and
boundary F printed are an oracle's at that stride: not a strict bound (a learned logit map can place an edge inside
a cell better than an average can), but the size of what the decoder alone gives away at that resolution.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from bench.data.format import read_dataset
from bench.data.preprocess import resize_mask
from bench.eval.metrics import MetricAccumulator


def through_stride(target: np.ndarray, stride: int) -> np.ndarray:
    """The 0/1 prediction an area-averaged (S/stride)^2 portrait map gives once upsampled bilinearly to S."""
    size = target.shape[0]
    portrait = (target == 1).astype(np.float32)
    if stride == 1:
        return portrait.astype(np.uint8)
    cells = cv2.resize(portrait, (size // stride, size // stride), interpolation=cv2.INTER_AREA)
    return (cv2.resize(cells, (size, size), interpolation=cv2.INTER_LINEAR) > 0.5).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="A portrait dataset folder (pfcn fetch / pseg build).")
    ap.add_argument("--split", default="test")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    ap.add_argument("--strides", type=int, nargs="+", default=[1, 4, 8])
    args = ap.parse_args()
    data = read_dataset(args.data)
    ids = data.ids(args.split)
    with ThreadPoolExecutor() as pool:
        masks = list(pool.map(data.load_mask, ids))
    print(f"{data.name} {args.split}: {len(ids)} masks; oracle through each output stride (percent)")
    print(f"{'size':>5} {'stride':>6} {'map':>9} {'mIoU':>7} {'boundary F':>11}")
    for size in args.sizes:
        targets = [resize_mask(m, size) for m in masks]
        for stride in args.strides:
            acc = MetricAccumulator()
            for t in targets:
                acc.update(through_stride(t, stride), t)
            r = acc.result()
            cells = f"{size // stride}x{size // stride}"
            print(f"{size:5d} {stride:6d} {cells:>9} {100 * r['miou']:7.2f} {100 * r['boundary_f']:11.2f}")


if __name__ == "__main__":
    main()
