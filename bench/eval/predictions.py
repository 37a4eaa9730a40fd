"""Score a folder of predicted masks from any model, ported to this harness or not, with the harness's metrics.

The folder holds ``<id>.png`` for every id of the split: 8-bit, one channel (or three equal ones), values 0/1 or 0/255
(portrait = 1 or 255). Masks are compared with the dataset's at the dataset's own resolution (no resizing), with the
same confusion matrix and boundary F as ``bench eval``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from bench.data.format import PortraitDataset, read_dataset
from bench.errors import UserError
from bench.eval.metrics import BOUNDARY_TOLERANCE, MetricAccumulator
from bench.eval.records import scored, write_metrics
from bench.runs.folder import metrics_name


class PredictionError(UserError):
    """A predictions folder or one of its masks cannot be scored; the message names the file and the problem."""


def read_prediction(path: Path) -> np.ndarray:
    """A predicted mask as 0/1 uint8; anything else is a PredictionError naming the file."""
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise PredictionError(f"{path}: not a decodable PNG")
    if m.dtype != np.uint8:
        raise PredictionError(f"{path}: predicted masks must be 8-bit, got {m.dtype}")
    if m.ndim == 3:
        if m.shape[2] not in (3, 4) or not (np.array_equal(m[..., 0], m[..., 1])
                                            and np.array_equal(m[..., 0], m[..., 2])):
            raise PredictionError(f"{path}: predicted masks must be single-channel (or grey stored as RGB)")
        m = m[..., 0]
    values = set(np.unique(m).tolist())
    if values <= {0, 1}:
        return m
    if values <= {0, 255}:
        return (m == 255).astype(np.uint8)
    raise PredictionError(f"{path}: values {sorted(values)[:6]} are neither 0/1 nor 0/255")


def evaluate_predictions(
    pred_dir: str | os.PathLike,
    data: PortraitDataset | str | os.PathLike,
    split: str = "test",
    tolerance: float = BOUNDARY_TOLERANCE,
    write: bool = True,
) -> dict[str, object]:
    """Metrics of the masks in ``pred_dir`` against ``split`` of ``data``; written to
    ``<pred_dir>/metrics_<dataset>_<split>.json`` and ``..._per_image.csv`` unless ``write`` is false (the rows
    are then returned under ``per_image``)."""
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise PredictionError(f"{pred_dir}: no such predictions folder")
    ds = data if isinstance(data, PortraitDataset) else read_dataset(Path(data))
    ids = ds.ids(split)
    missing = [i for i in ids if not (pred_dir / f"{i}.png").is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more of {len(ids)})" if len(missing) > 1 else ""
        raise PredictionError(f"{pred_dir / (missing[0] + '.png')}: missing{more}; "
                              f"one <id>.png per {split} id is needed")
    acc = MetricAccumulator(2, tolerance)
    for sid in ids:
        path = pred_dir / f"{sid}.png"
        pred, truth = read_prediction(path), ds.load_mask(sid)
        if pred.shape != truth.shape:
            raise PredictionError(f"{path}: {pred.shape[1]}x{pred.shape[0]} but the dataset's mask is "
                                  f"{truth.shape[1]}x{truth.shape[0]} "
                                  "(predictions are scored at the dataset's resolution)")
        acc.update(pred, truth, [sid])
    out = scored(acc)
    out.update({"model": pred_dir.name, "dataset": ds.name, "data": str(ds.root.resolve()), "split": split,
                "size": "native", "predictions": str(pred_dir.resolve())})
    if write:
        write_metrics(pred_dir / metrics_name(ds.name, split), out)
    return out
