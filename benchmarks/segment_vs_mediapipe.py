"""Photos per second as a user gets them: a zoo model through `segment`'s prediction path against MediaPipe Selfie
Segmentation, on the same whole photos, alternated in one run (issue 21, item 6).

Each side runs in its own environment and process (ours in .venv, MediaPipe in .venv-peers, which has no torch),
with every core. Both decode the photos before timing starts (decoding is excluded for both); a pass is then every
photo, one at a time, from the RGB array to a mask at the photo's own size (resizing in and out included: MediaPipe
does its own, ours is `bench.segment.photos.predict_probabilities`, the path `segment` takes). The parent runs the
passes round-robin (A B, then B A, ...) so load from anything else falls on both alike, and prints the median
photos/s and interquartile range of each side.

    .venv/bin/python benchmarks/segment_vs_mediapipe.py --data data/pfcn [--model elb-pfcn] [--backend openvino]
        [--precision fp32] [--photos 32] [--rounds 15]  # appends to reports/zoo/segment_vs_mediapipe.txt

`--model` takes anything `segment --model` does (a zoo name, a run folder, an .onnx file: int8 comes from an
exported file, `bench export --model elb-pfcn --precision int8 --calib-data data/pfcn`).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _photos(data: str, n: int) -> list[np.ndarray]:
    """The first ``n`` test photos of a portrait dataset, decoded to RGB (numpy and OpenCV only: both sides use it)."""
    from bench.data.format import read_dataset

    ds = read_dataset(data)
    ids = ds.ids("test")[:n]
    return [cv2.cvtColor(cv2.imread(str(ds.image_path(i)), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) for i in ids]


def _ours(args: argparse.Namespace):
    from bench.segment.photos import input_hw, load_segment_predictor, predict_probabilities

    predictor = load_segment_predictor(args.model, backend=args.backend, precision=args.precision)
    hw = input_hw(predictor)

    def one(rgb: np.ndarray) -> np.ndarray:
        return predict_probabilities(predictor, [rgb], hw)[0] > 0.5

    label = f"{args.model} ({predictor.backend} {predictor.precision}, {hw[0]}x{hw[1]} input)"
    return one, label


def _mediapipe(args: argparse.Namespace):
    import mediapipe as mp
    from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation

    seg = SelfieSegmentation(model_selection=0)

    def one(rgb: np.ndarray) -> np.ndarray:
        return seg.process(rgb).segmentation_mask > 0.5

    return one, f"MediaPipe Selfie Segmentation general (mediapipe {mp.__version__}, 256x256 input)"


def worker(args: argparse.Namespace) -> int:
    """Decode, warm up, say "ready <label>", then time one pass over the photos per line read from stdin."""
    photos = _photos(args.data, args.photos)
    one, label = (_ours if args.worker == "ours" else _mediapipe)(args)
    for rgb in photos[:2]:  # warm-up: first-call allocations and compilation
        one(rgb)
    print(f"ready {len(photos)} {label}", flush=True)
    for _ in sys.stdin:
        t0 = time.perf_counter()
        for rgb in photos:
            mask = one(rgb)
            assert mask.shape == rgb.shape[:2]
        print(f"{time.perf_counter() - t0:.6f}", flush=True)
    return 0


def _start(python: str, side: str, args: argparse.Namespace) -> tuple[subprocess.Popen, int, str]:
    cmd = [python, __file__, "--worker", side, "--data", args.data, "--photos", str(args.photos), "--model",
           args.model, "--backend", args.backend, "--precision", args.precision]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"{side} worker ({python}) did not start: {line or 'no output'}")
    _, n, label = line.split(" ", 2)
    return proc, int(n), label


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/pfcn")
    ap.add_argument("--model", default="elb-pfcn")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    ap.add_argument("--out", default=str(ROOT / "reports" / "zoo" / "segment_vs_mediapipe.txt"))
    ap.add_argument("--worker", choices=("ours", "mediapipe"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args)
    sides = {"ours": _start(sys.executable, "ours", args), "mediapipe": _start(args.peers_python, "mediapipe", args)}
    rates: dict[str, list[float]] = {s: [] for s in sides}
    for r in range(args.rounds):
        for side in (("ours", "mediapipe") if r % 2 == 0 else ("mediapipe", "ours")):
            proc, n, _ = sides[side]
            proc.stdin.write("go\n")
            proc.stdin.flush()
            rates[side].append(n / float(proc.stdout.readline()))
    for proc, _, _ in sides.values():
        proc.stdin.close()
        proc.wait()
    from bench.machine import cpu_name

    lines = [f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {cpu_name() or platform.machine()}, "
             f"{os.cpu_count()} logical CPUs; {args.photos} whole {args.data} test photos per pass, decoded "
             f"beforehand, {args.rounds} alternated passes per side, all cores each:"]
    for side, (_, n, label) in sides.items():
        q1, med, q3 = np.percentile(rates[side], [25, 50, 75])
        lines.append(f"  {label}: {med:.1f} photos/s (IQR {q1:.1f}-{q3:.1f}; {n} photos)")
    ratio = np.median(rates["ours"]) / np.median(rates["mediapipe"])
    lines.append(f"  ours / MediaPipe: {ratio:.2f} (goal: >= 1)")
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
