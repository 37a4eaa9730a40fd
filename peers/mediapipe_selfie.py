"""MediaPipe Selfie Segmentation as an off-the-shelf peer: masks for one split of a portrait dataset, and CPU latency.

Runs in the peers environment (``make peers``; ``.venv-peers/bin/python peers/mediapipe_selfie.py``), never in the
main one, and imports no torch. It reads the dataset through ``bench.data.format`` (numpy and OpenCV only) and writes

* ``<out>/<id>.png``: the mask at the photo's resolution, 0 background / 255 portrait (MediaPipe's probability > 0.5);
* ``<out>/peer.json``: what ran (model file, input size, versions) and its latency.

Latency follows ``bench speed``'s protocol (``bench.speed.timing``, which needs no torch): batch 1, ``warmup`` untimed
calls, then ``runs`` calls each timed with ``time.perf_counter``; the median and the 10th/90th percentiles and IQR of
FPS. It is measured twice, interleaved: on an input at the model's own size (the model alone, as ``bench speed`` times
our models) and on the split's first photo at its resolution (MediaPipe's resizing in and out included).
``bench eval --predictions <out> --data ...`` then scores the masks, and ``bench record-peer <out>`` adds the row
to ``reports/peers.csv``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.data.format import DatasetError, read_dataset  # noqa: E402
from bench.data.io import atomic_write_bytes, atomic_write_json, utc_now  # noqa: E402
from bench.machine import cpu_name  # noqa: E402
from bench.speed.timing import summarize, time_interleaved  # noqa: E402

# the two models the 0.10.21 wheel bundles: (model_selection, file, input (H, W))
MODELS = {"general": (0, "selfie_segmentation.tflite", (256, 256)),
          "landscape": (1, "selfie_segmentation_landscape.tflite", (144, 256))}


def peer_facts(model: str, version: str) -> dict[str, object]:
    """What every MediaPipe peer record says of the model that ran and where (this script's and
    ``peers/mediapipe_video.py``'s ``peer.json``): the bundled file, its input size, the runtime, the CPU."""
    _selection, model_file, (mh, mw) = MODELS[model]
    return {"kind": "off-the-shelf", "model_file": model_file, "input_size": [mh, mw],
            "runtime": f"mediapipe {version} (TFLite, XNNPACK, its own thread count)",
            "device": "cpu", "device_name": cpu_name(), "cpu_count": os.cpu_count()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="A portrait dataset folder.")
    ap.add_argument("--split", default="test")
    ap.add_argument("--out", required=True, help="Folder for <id>.png masks and peer.json.")
    ap.add_argument("--model", choices=sorted(MODELS), default="general")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--runs", type=int, default=50)
    args = ap.parse_args(argv)
    if args.warmup < 0 or args.runs < 1:
        ap.error("--warmup must be >= 0 and --runs >= 1")

    import mediapipe as mp
    from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation

    try:
        ds = read_dataset(args.data)
        ids = ds.ids(args.split)
    except DatasetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not ids:
        print(f"error: {args.data}: split {args.split} is empty", file=sys.stderr)
        return 1
    selection, _file, (mh, mw) = MODELS[args.model]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with SelfieSegmentation(model_selection=selection) as seg:
        def predict(rgb: np.ndarray) -> np.ndarray:
            return seg.process(rgb).segmentation_mask  # float32 (H, W) in [0, 1] at the input's size

        first = ds.load_image(ids[0])
        rng = np.random.default_rng(0)
        at_input = rng.integers(0, 256, (mh, mw, 3), dtype=np.uint8)
        times = time_interleaved({"model": lambda: predict(at_input), "photo": lambda: predict(first)},
                                 args.warmup, args.runs)
        at_model, at_photo = summarize(times["model"]), summarize(times["photo"])
        for i, sid in enumerate(ids, 1):
            rgb = ds.load_image(sid)
            mask = np.where(predict(rgb) > 0.5, np.uint8(255), np.uint8(0))
            ok, buf = cv2.imencode(".png", mask)
            if not ok:
                raise RuntimeError(f"OpenCV could not encode the mask of {sid}")
            atomic_write_bytes(out / f"{sid}.png", buf.tobytes())
            if i % 50 == 0 or i == len(ids):
                print(f"{i}/{len(ids)} masks", file=sys.stderr)
    info = {
        "peer": f"mediapipe-selfie-{args.model}",
        "paper_name": f"MediaPipe Selfie Segmentation ({args.model})",
        **peer_facts(args.model, mp.__version__),
        "threshold": 0.5,
        "dataset": ds.name,
        "data": str(Path(args.data).resolve()),
        "split": args.split,
        "images": len(ids),
        "latency": {"at_model_input": at_model, "at_photo": at_photo, "photo_size": list(first.shape[:2]),
                    "batch_size": 1, "warmup": args.warmup, "runs": args.runs, "timer": "perf_counter"},
        "date": utc_now(),
    }
    atomic_write_json(out / "peer.json", info)
    print(f"{info['peer']}: {len(ids)} masks in {out}; {at_model['fps']:.1f} FPS median at {mh}x{mw} "
          f"({at_model['ms_median']:.2f} ms), {at_photo['fps']:.1f} FPS on a {first.shape[1]}x{first.shape[0]} photo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
