"""The one evaluation loop: a source of predictions, a dataset split and a resolution in; the confusion matrix, the
boundary counts and one record per image out (``score``).

Two resolutions, since the paper does not say which it used:

* ``AT_INPUT`` (the default): each photo fitted to the model's input as its card's ``Preprocess`` says (for every
  model trained here the training policy, a squash to the training size), the arg-max at the input scored against
  the true mask resized there (nearest);
* ``NATIVE``: the same input, the logits mapped back bilinearly onto each photo's own size (600x800 for PFCN)
  (``bench.deploy.predict``, as ``segment`` uses them) and scored against the original mask. Boundary F's tolerance
  is then in native pixels.

A source is a model (``ModelPredictions``: any back end's predictor and the ``Preprocess`` it was trained with) or a
folder of another model's masks (``bench.eval.predictions.MaskFolder``, scored at the dataset's resolution). The
data is a dataset folder, a pack (``bench.data.pack``: its photos are stored squashed to the training size, what the
model sees anyway, and its test masks at their own resolution, so only the codec's error separates its scores from
the folder's) or training's own decoded view of a split (``PortraitTorchDataset``, at its size). Writing the result
is ``bench.eval.evaluate``'s.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bench.data.format import PortraitDataset
from bench.data.pack import Pack, open_data
from bench.data.pipeline import PortraitTorchDataset, holdout_ids
from bench.data.preprocess import Preprocess, resize_mask
from bench.defaults import NUM_CLASSES
from bench.deploy.predict import batch_logits, labels
from bench.deploy.runtime import Predictor
from bench.errors import UserError
from bench.eval.metrics import BOUNDARY_TOLERANCE, MetricAccumulator
from bench.eval.records import AT_INPUT, NATIVE, scored

Data = PortraitDataset | Pack | PortraitTorchDataset | str | os.PathLike
Photos = Callable[[], list[np.ndarray]]  # a chunk's photos, read only by a source that looks at them


class SplitError(UserError):
    """A split, or a resolution, a source cannot be scored on."""


class PredictionSource(Protocol):
    """Label maps for a chunk of a split: a model's (``ModelPredictions``) or a folder's (``MaskFolder``)."""

    size: int | None  # the square input the labels come at AT_INPUT; None for a source without one

    def check(self, data: PortraitDataset | Pack | PortraitTorchDataset, split: str, ids: Sequence[str],
              resolution: str) -> None:
        """Raise a ``UserError`` before any image is scored if this source cannot score ``ids`` of ``data``."""

    def labels(self, ids: Sequence[str], photos: Photos, shapes: Sequence[tuple[int, int]],
               resolution: str) -> list[np.ndarray]:
        """uint8 label maps of ``ids``, one of each shape in ``shapes`` (the truth's)."""

    def describe(self, resolution: str) -> dict[str, object]:
        """The fields of the metrics file that say at what size it was scored."""


@dataclass
class ModelPredictions:
    """A model's labels: each photo fitted as ``preprocess`` says (default: the predictor's card's), its logits
    taken at the input or mapped back onto the photo (``bench.deploy.predict``)."""

    predictor: Predictor
    preprocess: Preprocess | None = None

    def __post_init__(self) -> None:
        if self.preprocess is None:
            self.preprocess = self.predictor.card.preprocess

    @property
    def size(self) -> int:
        return int(self.preprocess.size[0])

    def check(self, data: PortraitDataset | Pack | PortraitTorchDataset, split: str, ids: Sequence[str],
              resolution: str) -> None:
        h, w = self.preprocess.size
        if resolution == AT_INPUT and (self.preprocess.resize != "squash" or h != w):
            raise SplitError(f"scoring at the input size needs a square squash input, not {self.preprocess.resize} "
                             f"{h}x{w}")
        if resolution == NATIVE and isinstance(data, PortraitTorchDataset):
            raise SplitError("a training view holds its photos at the input size only; score natively from the "
                             "dataset")
        if resolution == NATIVE and isinstance(data, Pack):  # its photos were squashed as training does
            if self.preprocess != Preprocess((h, h)):
                raise SplitError(f"{data.root}: a pack holds photos already squashed for the training policy; score "
                                 "a model with its own preprocessing on the dataset folder")
            if h != data.size:
                raise SplitError(f"{data.root}: packed at {data.size} px; native scoring from a pack needs the model "
                                 f"input at that size, not {h}")

    def labels(self, ids: Sequence[str], photos: Photos, shapes: Sequence[tuple[int, int]],
               resolution: str) -> list[np.ndarray]:
        if resolution == AT_INPUT:
            return list(batch_logits(self.predictor, photos(), self.preprocess)[0].argmax(1).astype(np.uint8))
        return labels(self.predictor, photos(), self.preprocess, len(ids), shapes=shapes)

    def describe(self, resolution: str) -> dict[str, object]:
        return {"size": self.size, "resolution": resolution}


def held_out(data: PortraitDataset | Pack, split: str, val_fraction: float, source: object) -> list[str] | None:
    """The ids ``split`` means for a trained model: for ``"val"`` the part of train its run held out
    (``val_fraction``; ``source`` names the model when it held out none), else None (the split's own)."""
    if split != "val":
        return None
    if not val_fraction:
        raise SplitError(f"{source}: split 'val' is the part of train a run holds out, and this run held out none "
                         "(trained with --val-fraction 0)")
    return holdout_ids(data.ids("train"), val_fraction)[1]


def open_split(data: Data) -> PortraitDataset | Pack | PortraitTorchDataset:
    """``data`` opened (a dataset folder or a pack file), or as given."""
    return data if isinstance(data, PortraitDataset | Pack | PortraitTorchDataset) else open_data(Path(data))


def _chunks(ds: PortraitDataset | Pack | PortraitTorchDataset, ids: list[str], native: bool,
            batch_size: int) -> Iterator[tuple[list[str], list[np.ndarray], Photos]]:
    """Each chunk's ids, true masks (a pack's at the photo's own resolution when ``native``) and photos (read on
    demand)."""
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        if isinstance(ds, PortraitTorchDataset):  # decoded and resized once, for training's repeated evaluations
            pairs = [ds.resized(k) for k in range(start, start + len(chunk))]
            yield chunk, [m for _, m in pairs], lambda pairs=pairs: [p for p, _ in pairs]
            continue
        native_masks = native and isinstance(ds, Pack)
        masks = [ds.load_native_mask(i) if native_masks else ds.load_mask(i) for i in chunk]
        yield chunk, masks, lambda chunk=chunk: [ds.load_image(i) for i in chunk]


def score(source: PredictionSource, data: Data, split: str = "test", resolution: str = AT_INPUT, *,
          ids: Sequence[str] | None = None, batch_size: int = 8, tolerance: float = BOUNDARY_TOLERANCE,
          num_classes: int = NUM_CLASSES) -> dict[str, object]:
    """Metrics of ``source`` on ``split`` of ``data`` at ``resolution``, with one row per image under
    ``bench.eval.records.PER_IMAGE`` (``write_metrics`` moves them to the CSV).

    ``ids`` restricts the split to those samples (``split`` then only names them: a run's held-out ``"val"``, see
    ``held_out``); a ``PortraitTorchDataset`` brings its own split and ids.
    """
    if resolution not in (AT_INPUT, NATIVE):
        raise ValueError(f"resolution must be {AT_INPUT!r} or {NATIVE!r}, not {resolution!r}")
    ds = open_split(data)
    if isinstance(ds, PortraitTorchDataset):
        split, ids, name = ds.split, ds.ids, ds.data.name
    else:
        if ids is None:
            ds.check_split(split)  # empty, bad mask values or no portrait: fail before scoring
        ids, name = list(ds.ids(split) if ids is None else ids), ds.name
    source.check(ds, split, ids, resolution)
    acc = MetricAccumulator(num_classes, tolerance)
    for chunk, masks, photos in _chunks(ds, ids, resolution == NATIVE, batch_size):
        if resolution == AT_INPUT:
            masks = [resize_mask(m, source.size) for m in masks]
        preds = source.labels(chunk, photos, [m.shape for m in masks], resolution)
        for sid, pred, mask in zip(chunk, preds, masks, strict=True):
            acc.update(pred, mask, [sid])
    return {**scored(acc), "dataset": name, "split": split, **source.describe(resolution)}
