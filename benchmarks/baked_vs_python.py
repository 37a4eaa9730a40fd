"""How far a baked ONNX file (``bench export --bake-preprocess``) is from the Python prediction path on real photos.

    python benchmarks/baked_vs_python.py --model sinet-eg1800 --photos ../shared/data/pfcn/flickr-sample
    python benchmarks/baked_vs_python.py --model sinet-eg1800 --photos DIR --interpolation auto

The baked graph resizes in float with ONNX Resize (bilinear, antialiased when shrinking under ``interpolation=auto``);
``bench.deploy.predict.probabilities`` resizes the uint8 photo with OpenCV (INTER_AREA when shrinking under ``auto``,
INTER_LINEAR) and rounds it to uint8. Per photo: the fraction of mask pixels (probability > 0.5) that differ, the IoU
of the two portrait masks and the largest probability difference; printed as mean, median and worst over the photos.
``--interpolation`` overrides the source's, to measure antialiased bilinear against area averaging on a trained model.
"""

from __future__ import annotations

import argparse
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from bench.deploy.export import export_onnx
from bench.deploy.predict import probabilities
from bench.deploy.sources import load_torch_model, resolve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="A zoo name, run folder or checkpoint (trained weights).")
    ap.add_argument("--photos", required=True, help="A folder of .jpg/.png photos.")
    ap.add_argument("--limit", type=int, default=60, help="Photos used (the first, by name).")
    ap.add_argument("--interpolation", choices=("auto", "linear"), default=None,
                    help="Override the source's interpolation (both paths follow it).")
    args = ap.parse_args()

    card = resolve(args.model)
    if args.interpolation:
        card = replace(card, preprocess=replace(card.preprocess, interpolation=args.interpolation))
    model, pre = load_torch_model(card), card.preprocess
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "baked.onnx", pre.size[0], card=card, bake=True)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    files = sorted(p for p in Path(args.photos).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    rows = []
    for f in files[:args.limit]:
        rgb = np.ascontiguousarray(cv2.imread(str(f), cv2.IMREAD_COLOR)[..., ::-1])
        baked = session.run(None, {"image": rgb[None]})[0][0]
        python = probabilities(model, [rgb], pre)[0]
        a, b = baked > 0.5, python > 0.5
        union = (a | b).sum()
        rows.append(((a != b).mean(), (a & b).sum() / union if union else 1.0, np.abs(baked - python).max(),
                     rgb.shape[:2]))
    diff, iou, pmax = (np.array([r[i] for r in rows]) for i in range(3))
    sizes = sorted({r[3] for r in rows})
    print(f"{args.model}: {pre.channels}, {pre.size[0]}x{pre.size[1]}, interpolation {pre.interpolation}; "
          f"{len(rows)} photos of {sizes[0]} to {sizes[-1]} (H, W)")
    print(f"  differing mask pixels: mean {diff.mean():.4%}, median {np.median(diff):.4%}, worst {diff.max():.4%}")
    print(f"  mask IoU baked vs Python: mean {iou.mean():.5f}, median {np.median(iou):.5f}, worst {iou.min():.5f}")
    print(f"  largest probability difference: median {np.median(pmax):.4f}, worst {pmax.max():.4f}")


if __name__ == "__main__":
    main()
