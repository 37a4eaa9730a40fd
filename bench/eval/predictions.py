"""A folder of predicted masks from any model, ported to this harness or not, as a source for the one evaluation loop
(``bench.eval.loop.score``): scored with the harness's metrics at the dataset's own resolution.

The folder holds ``<id>.png`` for every id of the split: 8-bit, one channel (or three equal ones), values 0/1 or 0/255
(portrait = 1 or 255). Masks are compared with the dataset's at the dataset's own resolution (no resizing), with the
same confusion matrix and boundary F as a model's. No torch: it reads PNGs only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from bench.errors import UserError
from bench.eval.records import NATIVE


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


class MaskFolder:
    """``<id>.png`` masks in ``folder``, scored as given: at each photo's own resolution only."""

    size = None  # no model input: never scored at one

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def check(self, data: object, split: str, ids: Sequence[str], resolution: str) -> None:
        if resolution != NATIVE:
            raise PredictionError(f"{self.folder}: predicted masks are scored at the dataset's resolution only")
        if not self.folder.is_dir():
            raise PredictionError(f"{self.folder}: no such predictions folder")
        missing = [i for i in ids if not (self.folder / f"{i}.png").is_file()]
        if missing:
            more = f" (and {len(missing) - 1} more of {len(ids)})" if len(missing) > 1 else ""
            raise PredictionError(f"{self.folder / (missing[0] + '.png')}: missing{more}; "
                                  f"one <id>.png per {split} id is needed")

    def labels(self, ids: Sequence[str], photos: Callable[[], list[np.ndarray]],
               shapes: Sequence[tuple[int, int]], resolution: str) -> list[np.ndarray]:
        out = []
        for sid, (h, w) in zip(ids, shapes, strict=True):
            path = self.folder / f"{sid}.png"
            pred = read_prediction(path)
            if pred.shape != (h, w):
                raise PredictionError(f"{path}: {pred.shape[1]}x{pred.shape[0]} but the dataset's mask is {w}x{h} "
                                      "(predictions are scored at the dataset's resolution)")
            out.append(pred)
        return out

    def describe(self, resolution: str) -> dict[str, object]:
        return {"size": "native"}
