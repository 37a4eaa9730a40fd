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
Each image's counts are kept too (``per_image_rows``, ``PER_IMAGE_FIELDS``): summed over any subset of images they
give that subset's split-level scores, which is what a bootstrap over images (``bench.eval.bootstrap``) resamples.
``portrait_iou_mean`` is the other convention, PortraitNet's: the mean over images of each image's portrait IoU,
an image with portrait in neither truth nor prediction counting 1.0.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

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


BOUNDARY_FIELDS = ("b_matched_pred", "b_pred", "b_matched_true", "b_true")  # boundary_counts' order


def class_names(num_classes: int) -> tuple[str, ...]:
    return CLASS_NAMES if num_classes == 2 else tuple(str(i) for i in range(num_classes))


def per_image_fields(num_classes: int = 2) -> tuple[str, ...]:
    """The per-image CSV's columns: id, IoU per class, boundary F, then the raw counts (cm_<true><pred>, b_*)."""
    cm = tuple(f"cm_{t}{p}" for t in range(num_classes) for p in range(num_classes))
    return ("id", *(f"iou_{n}" for n in class_names(num_classes)), "boundary_f", *cm, *BOUNDARY_FIELDS)


PER_IMAGE_FIELDS = per_image_fields(2)


def image_iou(cm: np.ndarray) -> np.ndarray:
    """One image's IoU per class, a class in neither truth nor prediction counting 1.0 (PortraitNet's calcIOU)."""
    return np.nan_to_num(iou_per_class(cm), nan=1.0)


def per_image_csv(rows: Sequence[dict[str, object]]) -> str:
    """``MetricAccumulator.rows`` as CSV text, floats written exactly (Python's repr)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else PER_IMAGE_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


class MetricAccumulator:
    """Sums the confusion matrix and the boundary counts over a split, batch by batch, and keeps each image's."""

    def __init__(self, num_classes: int = 2, tolerance: float = BOUNDARY_TOLERANCE) -> None:
        self.num_classes = num_classes
        self.tolerance = tolerance
        self.cm = np.zeros((num_classes, num_classes), np.int64)
        self.bcounts = np.zeros(4, np.int64)
        self.images = 0
        self.rows: list[dict[str, object]] = []  # one per image, PER_IMAGE_FIELDS

    def update(self, pred: np.ndarray, target: np.ndarray, ids: Sequence[str] | None = None) -> None:
        """``pred`` and ``target`` (N, H, W) or (H, W) label maps; ``ids`` name the N images (default: their
        running number)."""
        pred, target = np.asarray(pred), np.asarray(target)
        if pred.shape != target.shape:
            raise ValueError(f"prediction {pred.shape} and target {target.shape} differ in shape")
        if pred.ndim == 2:
            pred, target = pred[None], target[None]
        if isinstance(ids, str):
            ids = [ids]
        ids = [str(self.images + k) for k in range(len(pred))] if ids is None else [str(i) for i in ids]
        if len(ids) != len(pred):
            raise ValueError(f"{len(ids)} ids for {len(pred)} images")
        names = class_names(self.num_classes)
        for sid, p, t in zip(ids, pred, target, strict=True):
            cm = confusion_matrix(p, t, self.num_classes)
            b = boundary_counts(p, t, self.tolerance)
            self.cm += cm
            self.bcounts += b
            iou = image_iou(cm)
            row: dict[str, object] = {"id": sid}
            row.update({f"iou_{n}": float(v) for n, v in zip(names, iou, strict=True)})
            row["boundary_f"] = boundary_f(b)["f"]
            row.update({f"cm_{i}{j}": int(cm[i, j]) for i in range(self.num_classes)
                        for j in range(self.num_classes)})
            row.update(zip(BOUNDARY_FIELDS, (int(v) for v in b), strict=True))
            self.rows.append(row)
        self.images += len(pred)

    def add_row(self, row: Mapping[str, object]) -> None:
        """Count again an image scored earlier, from its per-image row (its confusion matrix and boundary counts):
        a resumed evaluation sums exactly what an unbroken one would."""
        n = self.num_classes
        self.cm += np.array([[int(row[f"cm_{i}{j}"]) for j in range(n)] for i in range(n)], np.int64)
        self.bcounts += np.array([int(row[f]) for f in BOUNDARY_FIELDS], np.int64)
        self.rows.append(dict(row))
        self.images += 1

    def result(self) -> dict[str, object]:
        iou = iou_per_class(self.cm)
        names = class_names(self.num_classes)
        bf = boundary_f(self.bcounts)
        total = self.cm.sum()
        portrait = [float(r[f"iou_{names[1]}"]) for r in self.rows]
        return {
            "miou": mean_iou(self.cm),
            "portrait_iou_mean": float(np.mean(portrait)) if portrait else None,
            "iou": {n: (None if np.isnan(v) else float(v)) for n, v in zip(names, iou, strict=True)},
            "pixel_accuracy": float(np.trace(self.cm) / total) if total else None,
            "boundary_f": bf["f"],
            "boundary_precision": bf["precision"],
            "boundary_recall": bf["recall"],
            "boundary_tolerance_px": self.tolerance,
            "confusion_matrix": self.cm.tolist(),
            "images": self.images,
        }
