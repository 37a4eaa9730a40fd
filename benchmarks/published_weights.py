"""The authors' published SINet and ExtremeC3Net weights on our PFCN test photos, fed as the authors' code feeds them.

    python benchmarks/published_weights.py --model sinet --weights PATH/SINet.pth --data data/pfcn --out DIR
    python benchmarks/published_weights.py --model extremec3net --weights PATH/ExtremeC3.pth --data data/pfcn --out DIR

The weights come from github.com/clovaai/ext_portrait_segmentation (``result/SINet/SINet.pth``,
``result/ExtremeC3/ExtremeC3.pth``; their sha256 is checked against ``baselines.published``). Each test photo is
seen as the authors' code sees it (BGR, their mean and std, the whole photo resized bilinearly to 224x224:
``bench.deploy.published.published_preprocess``, a ``bench.data.preprocess.Preprocess``); the portrait probability
at 224x224 is resized back to the photo (bilinear) and thresholded at 0.5 into ``DIR/<id>.png`` (0/1). The folder
is then scored as ``bench eval --predictions DIR --data DATA --split test`` scores it (``bench.eval.predictions``: one
confusion matrix over the split, mIoU of the two classes), and the script also prints

* the mean over photos of the portrait IoU at the photo's resolution (PortraitNet's metric);
* the figure of the authors' released validation code (``etc/help_function.val_edge`` with ``iou_binary``): the
  mean over photos of the portrait IoU at 224x224, the mask resized there with nearest neighbour. It is the one
  their published 95.2 and 94.98 agree with (docs/models.md, "Published weights").

``--size`` and ``--channel-order`` change the feeding, to measure what each choice is worth.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.data.format import read_dataset
from bench.deploy.published import PUBLISHED, load_published_model, published_preprocess
from bench.eval.evaluate import evaluate
from bench.eval.loop import NATIVE
from bench.eval.predictions import MaskFolder

IGNORE = 255


def portrait_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Portrait IoU of one photo, ignore pixels left out; 1.0 when neither has any portrait (as iou_binary)."""
    keep = truth != IGNORE
    p, t = (pred == 1) & keep, truth == 1
    union = (p | t).sum()
    return float((p & t).sum() / union) if union else 1.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, choices=sorted(PUBLISHED))
    ap.add_argument("--weights", required=True, help="The published .pth file.")
    ap.add_argument("--data", required=True, help="A portrait dataset folder (pfcn fetch).")
    ap.add_argument("--out", required=True, help="Folder for the <id>.png masks (created).")
    ap.add_argument("--split", default="test")
    ap.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), default=None,
                    help="Network input size (default: the authors' 224 224).")
    ap.add_argument("--channel-order", choices=("BGR", "RGB"), default="BGR",
                    help="Channel order fed to the network (the authors': BGR).")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = PUBLISHED[args.model]
    pre = published_preprocess(args.model)
    pre = replace(pre, size=tuple(args.size) if args.size else pre.size, channels=args.channel_order)
    size = pre.size
    model = load_published_model(args.weights, args.model)
    data = read_dataset(args.data)
    ids = data.ids(args.split)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    native, authors = [], []
    start = time.perf_counter()
    for sid in ids:
        truth = data.load_mask(sid)
        x, _ = pre.batch([data.load_image(sid)])
        with torch.inference_mode():
            prob = model(torch.from_numpy(x)).softmax(1)[0, 1].numpy()
        authors.append(portrait_iou((prob > 0.5).astype(np.uint8),
                                    cv2.resize(truth, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)))
        full = cv2.resize(prob, (truth.shape[1], truth.shape[0]), interpolation=cv2.INTER_LINEAR)
        pred = (full > 0.5).astype(np.uint8)
        native.append(portrait_iou(pred, truth))
        cv2.imwrite(str(out / f"{sid}.png"), pred)
    seconds = time.perf_counter() - start
    metrics = evaluate(MaskFolder(out), data, args.split, NATIVE)
    print(f"{args.model}: {Path(args.weights).name} (sha256 {spec.sha256[:12]}, {spec.source} @ {spec.commit[:7]}),"
          f" {len(ids)} {data.name} {args.split} photos at {size[0]}x{size[1]} {args.channel_order}, {seconds:.0f} s")
    print(f"  global mIoU (one confusion matrix, 2 classes):    {100 * metrics['miou']:.2f}   "
          f"[bench eval --predictions {out} --data {args.data} --split {args.split}]")
    print(f"  mean per-photo portrait IoU at the photo's size:  {100 * np.mean(native):.2f}")
    print(f"  mean per-photo portrait IoU at {size[0]}x{size[1]} (authors'): {100 * np.mean(authors):.2f}")
    print(f"  published (EG1800 test): {spec.paper_miou}")


if __name__ == "__main__":
    sys.exit(main())
