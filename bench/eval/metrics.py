"""Segmentation metrics (numpy and OpenCV, no torch): mIoU from one confusion matrix over a whole split, per-class
IoU and a boundary F-score.

* IoU of class c = TP / (TP + FP + FN), counted over every labelled pixel of the split at once (one confusion matrix,
  not a mean of per-image scores); mIoU is the mean over the two classes. Pixels labelled 255 are left out.
* Boundary F-score: the mask boundary is every portrait pixel with a background 4-neighbour (one pixel thick, inside
  the portrait). A predicted boundary pixel is correct if a true boundary pixel lies within ``tolerance`` pixels
  (Euclidean, at the evaluated size; default 3 px, i.e. 0.6 % of a 512 image side), and vice versa for recall.
  Matches and totals are summed over the split before precision, recall and F are formed; with no boundary on either
  side, precision (or recall) counts as 1. Predicted boundary pixels on ignore pixels of the truth are not counted.

Counts are kept apart from ratios (``MetricAccumulator``) so that a split is scored as a whole, batch by batch.
"""

from __future__ import annotations

import cv2
import numpy as np

from bench.data.format import IGNORE

CLASS_NAMES = ("background", "portrait")
BOUNDARY_TOLERANCE = 3.0
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


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
            "pixel_accuracy": float(np.trace(self.cm) / total) if total else None,
            "boundary_f": bf["f"],
            "boundary_precision": bf["precision"],
            "boundary_recall": bf["recall"],
            "boundary_tolerance_px": self.tolerance,
            "confusion_matrix": self.cm.tolist(),
            "images": self.images,
        }
