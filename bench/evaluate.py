"""Evaluation: mIoU from one confusion matrix over the whole split, per-class IoU and a boundary F-score.

* IoU of class c = TP / (TP + FP + FN), counted over every labelled pixel of the split at once (one confusion matrix,
  not a mean of per-image scores); mIoU is the mean over the two classes. Pixels labelled 255 are left out.
* Boundary F-score: the mask boundary is every portrait pixel with a background 4-neighbour (one pixel thick, inside
  the portrait). A predicted boundary pixel is correct if a true boundary pixel lies within ``tolerance`` pixels
  (Euclidean, at the evaluated size; default 3 px, i.e. 0.6 % of a 512 image side), and vice versa for recall.
  Matches and totals are summed over the split before precision, recall and F are formed; with no boundary on either
  side, precision (or recall) counts as 1. Predicted boundary pixels on ignore pixels of the truth are not counted.

Everything is evaluated at the training size (images resized as in training, true masks resized nearest), and reported
at that size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from bench.checkpoint import checkpoint_path, load_model
from bench.data import PortraitTorchDataset, normalize, resize_image, worker_init
from bench.dataset import IGNORE, PortraitDataset, atomic_write_text, read_dataset

CLASS_NAMES = ("background", "portrait")
BOUNDARY_TOLERANCE = 3.0
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


# -- metrics ---------------------------------------------------------------------------------------------------
def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int = 2) -> np.ndarray:
    """(C, C) int64 counts, rows = true class, columns = predicted class; target pixels equal to 255 are skipped."""
    pred = np.asarray(pred).reshape(-1).astype(np.int64)
    target = np.asarray(target).reshape(-1).astype(np.int64)
    valid = target != IGNORE
    if np.any((target[valid] < 0) | (target[valid] >= num_classes)):
        raise ValueError(f"target has labels outside 0..{num_classes - 1} and {IGNORE}")
    if np.any((pred[valid] < 0) | (pred[valid] >= num_classes)):
        raise ValueError(f"prediction has labels outside 0..{num_classes - 1}")
    idx = target[valid] * num_classes + pred[valid]
    return np.bincount(idx, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(cm: np.ndarray) -> np.ndarray:
    """TP / (TP + FP + FN) per class; NaN for a class absent from both truth and prediction."""
    cm = np.asarray(cm, np.float64)
    tp = np.diag(cm)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def mean_iou(cm: np.ndarray) -> float:
    iou = iou_per_class(cm)
    return float(np.nanmean(iou)) if np.any(~np.isnan(iou)) else float("nan")


def mask_boundary(labels: np.ndarray) -> np.ndarray:
    """Boolean (H, W): portrait pixels (1) with a background (0) 4-neighbour."""
    fg = (labels == 1).astype(np.uint8)
    bg = (labels == 0).astype(np.uint8)
    return (fg & cv2.dilate(bg, _CROSS)).astype(bool)


def _distance_to(edge: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest True pixel of ``edge`` (inf where there is none)."""
    if not edge.any():
        return np.full(edge.shape, np.inf, np.float32)
    return cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def boundary_counts(pred: np.ndarray, target: np.ndarray, tolerance: float = BOUNDARY_TOLERANCE) -> np.ndarray:
    """[matched predicted, predicted, matched true, true] boundary pixel counts of one (H, W) image."""
    pb = mask_boundary(pred) & (target != IGNORE)
    tb = mask_boundary(target)
    matched_pred = int(np.count_nonzero(pb & (_distance_to(tb) <= tolerance)))
    matched_true = int(np.count_nonzero(tb & (_distance_to(pb) <= tolerance)))
    return np.array([matched_pred, int(pb.sum()), matched_true, int(tb.sum())], np.int64)


def boundary_f(counts: np.ndarray) -> dict[str, float]:
    """Precision, recall and F from summed ``boundary_counts``."""
    mp, np_, mt, nt = (int(v) for v in counts)
    precision = mp / np_ if np_ else 1.0
    recall = mt / nt if nt else 1.0
    f = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"precision": precision, "recall": recall, "f": f}


class MetricAccumulator:
    """Sums the confusion matrix and the boundary counts over a split, batch by batch."""

    def __init__(self, num_classes: int = 2, tolerance: float = BOUNDARY_TOLERANCE) -> None:
        self.num_classes = num_classes
        self.tolerance = tolerance
        self.cm = np.zeros((num_classes, num_classes), np.int64)
        self.bcounts = np.zeros(4, np.int64)
        self.images = 0

    def update(self, pred: np.ndarray, target: np.ndarray) -> None:
        """``pred`` and ``target`` (N, H, W) or (H, W) label maps."""
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
        if pred.ndim == 2:
            pred, target = pred[None], target[None]
        self.cm += confusion_matrix(pred, target, self.num_classes)
        for p, t in zip(pred, target, strict=True):
            self.bcounts += boundary_counts(p, t, self.tolerance)
        self.images += len(pred)

    def result(self) -> dict[str, object]:
        iou = iou_per_class(self.cm)
        names = CLASS_NAMES if self.num_classes == 2 else tuple(str(i) for i in range(self.num_classes))
        bf = boundary_f(self.bcounts)
        total = self.cm.sum()
        return {
            "miou": mean_iou(self.cm),
            "iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou, strict=True)},
            "pixel_accuracy": float(np.trace(self.cm) / total) if total else float("nan"),
            "boundary_f": bf["f"],
            "boundary_precision": bf["precision"],
            "boundary_recall": bf["recall"],
            "boundary_tolerance_px": self.tolerance,
            "confusion_matrix": self.cm.tolist(),
            "images": self.images,
        }


# -- models ----------------------------------------------------------------------------------------------------
def _logits(output: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    return output["out"] if isinstance(output, dict) else output


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    data: PortraitDataset | str | os.PathLike,
    split: str = "test",
    size: int = 512,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 0,
    tolerance: float = BOUNDARY_TOLERANCE,
    num_classes: int = 2,
) -> dict[str, object]:
    """Metrics of ``model`` on one split at ``size`` x ``size`` (the model is left in eval mode)."""
    ds = PortraitTorchDataset(data, split, size)
    # its own generator: evaluating must not draw from the global RNG that training's dropout uses
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers,
                        worker_init_fn=worker_init if workers else None, generator=torch.Generator().manual_seed(0))
    model.eval()
    acc = MetricAccumulator(num_classes, tolerance)
    device = torch.device(device)
    for batch in loader:
        x = batch["image"].to(device)
        pred = _logits(model(x)).argmax(1).to(torch.uint8).cpu().numpy()
        acc.update(pred, batch["mask"].numpy())
    out = acc.result()
    out.update({"dataset": ds.data.name, "split": split, "size": size})
    return out


@torch.inference_mode()
def predict(
    model: nn.Module,
    rgb_images: Sequence[np.ndarray],
    size: int = 512,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
) -> list[np.ndarray]:
    """Label maps (uint8, 0/1) for RGB uint8 images of any size, each at its own (H, W).

    Each image is resized to ``size`` x ``size`` as in evaluation; the logits are resized back bilinearly before the
    arg-max, so the maps overlay the inputs.
    """
    model.eval()
    device = torch.device(device)
    out: list[np.ndarray] = []
    for start in range(0, len(rgb_images), batch_size):
        chunk = rgb_images[start:start + batch_size]
        x = torch.stack([normalize(resize_image(np.asarray(im), size)) for im in chunk]).to(device)
        logits = _logits(model(x)).float()
        for im, lg in zip(chunk, logits, strict=True):
            h, w = np.asarray(im).shape[:2]
            lg = torch.nn.functional.interpolate(lg[None], size=(h, w), mode="bilinear", align_corners=False)
            out.append(lg[0].argmax(0).to(torch.uint8).cpu().numpy())
    return out


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    split: str = "test",
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    tolerance: float = BOUNDARY_TOLERANCE,
    size: int | None = None,
) -> dict[str, object]:
    """Evaluate a run folder (or checkpoint file) and write the metrics next to the checkpoint.

    ``data`` defaults to the dataset the run trained on and ``size`` to its training size. The file is
    ``metrics.json`` for the test split of the training dataset, ``metrics_<dataset>_<split>.json`` otherwise.
    """
    ckpt = checkpoint_path(run_dir)
    model = load_model(ckpt, device)
    cfg = model.run_config
    data_path = Path(data) if data is not None else Path(cfg["data"])
    ds = read_dataset(data_path)
    eval_size = int(size or cfg["size"])
    metrics = evaluate(model, ds, split, eval_size, device, batch_size, 0, tolerance, int(cfg.get("num_classes", 2)))
    metrics.update({
        "model": cfg["model"],
        "data": str(data_path.resolve()),
        "checkpoint": str(ckpt.resolve()),
        "epochs_trained": model.trained_epochs,
        "epochs": cfg.get("epochs"),
        "schedule": cfg.get("schedule"),
        "loss": cfg.get("loss"),
    })
    same_data = data is None or data_path.resolve() == Path(cfg["data"]).resolve()
    name = "metrics.json" if split == "test" and same_data else f"metrics_{ds.name}_{split}.json"
    out = ckpt.parent / name
    atomic_write_text(out, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    metrics["path"] = str(out)
    return metrics
