"""Photos per second as a user gets them: zoo models through `segment`'s own path against MediaPipe Selfie
Segmentation, on the same whole photos, alternated in one run, and accuracy against photos per second.

Each side runs in its own process (ours in .venv, one per model; MediaPipe in .venv-peers, which has no torch), with
every core. All decode the photos before timing starts (decoding is excluded for all); a pass is then every photo,
one at a time, from the RGB array to a mask at the photo's own size: MediaPipe does its own resizing, ours is
`bench.segment.photos.photo_probability` with the model's default refinement (the path `segment` takes, so a
refined entry pays for its guided filter). The parent runs the passes round-robin, the order reversed every round,
so load from anything else falls on all alike, and prints the median photos/s and interquartile range of each.

    .venv/bin/python benchmarks/segment_vs_mediapipe.py --data data/pfcn [--model all | --model NAME ...]
        [--backend auto] [--photos 32] [--rounds 7]
        # appends to reports/zoo/segment_vs_mediapipe.txt, draws reports/zoo/accuracy_vs_speed.png

`--model` takes anything `segment --model` does, repeatable, or `all` (every zoo entry). Accuracy on the figure: the
native test mIoU of what `segment` returns (a manifest's refined figure where it records one, else its plain one;
MediaPipe's from reports/peers.csv).
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
    from bench.segment.photos import input_hw, load_segment_predictor, photo_probability, refinement

    predictor = load_segment_predictor(args.model, backend=args.backend, precision=args.precision)
    hw, refine = input_hw(predictor), refinement(predictor)

    def one(rgb: np.ndarray) -> np.ndarray:
        return photo_probability(predictor, rgb, hw, refine=refine) > 0.5

    label = (f"{args.model} ({predictor.backend} {predictor.precision}, {hw[0]}x{hw[1]} input, refinement: "
             f"{refine.describe()})")
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


def _start(python: str, side: str, args: argparse.Namespace, model: str) -> tuple[subprocess.Popen, int, str]:
    cmd = [python, __file__, "--worker", side, "--data", args.data, "--photos", str(args.photos), "--model",
           model, "--backend", args.backend, "--precision", args.precision]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline().strip()
    if not line.startswith("ready "):
        proc.kill()
        raise SystemExit(f"{side} worker ({python}) did not start: {line or 'no output'}")
    _, n, label = line.split(" ", 2)
    return proc, int(n), label


def _accuracy(name: str) -> float | None:
    """The native test mIoU of what `segment` returns for a zoo entry (refined where its manifest says)."""
    from bench.deploy.zoo import entries

    entry = entries().get(name)
    if entry is None:
        return None
    refined = entry.manifest.get("refine") or {}
    return float(refined.get("miou_native") or entry.manifest["metrics"]["miou_native"])


def _figure(points: list[tuple[str, float, float]], mediapipe: tuple[float, float] | None, out: Path) -> None:
    from bench.report.figures import agg_figure, save_png

    fig = agg_figure(figsize=(7.5, 5))
    ax = fig.add_subplot()
    for name, rate, miou in points:
        ax.plot(rate, miou, "o", color="tab:blue")
        ax.annotate(name, (rate, miou), textcoords="offset points", xytext=(4, 3), fontsize=7)
    if mediapipe is not None:
        ax.plot(*mediapipe, "s", color="tab:red")
        ax.annotate("MediaPipe (general)", mediapipe, textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.set_xlabel("whole 600x800 photos per second (median, 2 CPU threads, decoding excluded)")
    ax.set_ylabel("test mIoU at 600x800 (PFCN, 264 photos)")
    ax.grid(alpha=0.3)
    save_png(fig, out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="data/pfcn")
    ap.add_argument("--model", action="append", default=None, help="Repeatable; all: every zoo entry.")
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--peers-python", default=str(ROOT / ".venv-peers" / "bin" / "python"))
    ap.add_argument("--out", default=str(ROOT / "reports" / "zoo" / "segment_vs_mediapipe.txt"))
    ap.add_argument("--figure", default=str(ROOT / "reports" / "zoo" / "accuracy_vs_speed.png"))
    ap.add_argument("--worker", choices=("ours", "mediapipe"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        args.model = args.model[0] if args.model else "sinet-eg1800"
        return worker(args)
    from bench.deploy.zoo import entries

    models = args.model or ["all"]
    models = sorted(entries()) if "all" in models else models
    sides = {m: _start(sys.executable, "ours", args, m) for m in models}
    sides["mediapipe"] = _start(args.peers_python, "mediapipe", args, models[0])
    order = list(sides)
    rates: dict[str, list[float]] = {s: [] for s in sides}
    for r in range(args.rounds):
        for side in (order if r % 2 == 0 else order[::-1]):
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
             f"beforehand, {args.rounds} passes each, round-robin over {len(sides)} workers, all cores each:"]
    med = {s: float(np.median(v)) for s, v in rates.items()}
    for side, (_, n, label) in sorted(sides.items(), key=lambda kv: -med[kv[0]]):
        q1, q3 = np.percentile(rates[side], [25, 75])
        ratio = "" if side == "mediapipe" else f"; {med[side] / med['mediapipe']:.2f} of MediaPipe's"
        lines.append(f"  {label}: {med[side]:.1f} photos/s (IQR {q1:.1f}-{q3:.1f}; {n} photos{ratio})")
    best = max((m for m in models), key=lambda m: med[m])
    lines.append(f"  fastest of ours: {best}, {med[best] / med['mediapipe']:.2f} of MediaPipe's photos/s "
                 "(goal: >= 1)")
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a", encoding="utf-8") as f:
        f.write(text + "\n")
    mediapipe_miou = _peer_miou("mediapipe-selfie-general")
    points = [(m, med[m], acc) for m in models if (acc := _accuracy(m)) is not None]
    _figure(points, (med["mediapipe"], mediapipe_miou) if mediapipe_miou is not None else None, Path(args.figure))
    print(f"written: {args.out}, {args.figure}")
    return 0


def _peer_miou(model: str) -> float | None:
    import csv

    path = ROOT / "reports" / "peers.csv"
    rows = [r for r in csv.DictReader(path.open(encoding="utf-8"))] if path.is_file() else []
    return next((float(r["miou"]) for r in rows if r["model"] == model and r["dataset_name"] == "pfcn-official"), None)


if __name__ == "__main__":
    sys.exit(main())
