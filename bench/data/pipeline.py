"""The training and evaluation input pipeline: a torch ``Dataset`` over the portrait format (``bench.data.format``).

Training samples follow Section 3.2 of the paper: resize to the training size, horizontal flip with p = 0.5,
brightness and contrast factors drawn from [0.8, 1.2], then ImageNet normalisation (``bench.data.preprocess``);
a recipe may add the robustness stages of ``bench.data.augment`` (off by default). The boundary weight map of the
adaptive loss is computed on the final mask (after every augmentation), so it always matches what the model sees.

Every random draw of a sample comes from a generator seeded with (seed, epoch, index): a run repeats exactly, whatever
the number of DataLoader workers, and an interrupted run resumed at epoch k draws what it would have drawn.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from bench.data.augment import Augment, augment_sample
from bench.data.format import PortraitDataset
from bench.data.pack import Pack, open_data
from bench.data.preprocess import normalize, resize_image, resize_mask
from elb.boundary import boundary_weight_map


def holdout_ids(ids: Sequence[str], fraction: float) -> tuple[list[str], list[str]]:
    """Split ids into (train, validation): an id is held out when its SHA-1 falls in the first ``fraction``.

    Hash-based, so the validation set depends only on the ids and the fraction: the same images are held out whatever
    the training seed, the order of the list, or how many ids the split gained or lost since.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    keep, held = [], []
    for sid in ids:
        h = int.from_bytes(hashlib.sha1(sid.encode()).digest()[:8], "big") / 2.0**64
        (held if h < fraction else keep).append(sid)
    return keep, held


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one sample's random draws, independent of worker count and iteration order."""
    return np.random.default_rng([int(seed), int(epoch), int(index)])


class PortraitTorchDataset(Dataset):
    """One split of a portrait dataset as tensors: ``{"image", "mask", "index"}`` plus ``"weight"`` if asked.

    ``image`` (3, S, S) float32 normalised, ``mask`` (S, S) int64 with 0, 1 and 255 (ignore), ``weight`` (S, S)
    float32, the adaptive loss's w = 1 + g (0 on ignore). With ``augment=None`` (evaluation) samples are only resized
    and normalised. Opening a whole split checks its masks (``PortraitDataset.check_split``). Call ``set_epoch``
    before iterating an epoch (the DataLoader must not keep persistent workers).

    ``cache=True`` decodes and resizes every sample once, up front (threads; OpenCV releases the GIL), and keeps the
    uint8 arrays in memory: a 600x800 JPEG decoded and shrunk to 256 px costs more than the augmentation and the
    weight map together, and would otherwise be repeated every epoch. Forked DataLoader workers share the cache.
    ``data`` may be a pack (``bench.data.pack``): its samples are already at the training size, so resizing is a
    no-op; training from a pack normally takes ``bench.data.device_batches`` instead, and evaluation this class.
    """

    def __init__(
        self,
        data: PortraitDataset | Pack | str | os.PathLike,
        split: str,
        size: int,
        augment: Augment | None = None,
        seed: int = 0,
        weights: bool = False,
        max_distance: float | None = None,
        ids: Sequence[str] | None = None,
        cache: bool = False,
    ) -> None:
        self.data = data if isinstance(data, PortraitDataset | Pack) else open_data(Path(data))
        self.split = split
        if ids is None:
            self.data.check_split(split)  # empty split, bad mask values or no portrait: fail now, not mid-training
        self.ids = list(ids) if ids is not None else list(self.data.ids(split))
        self.size = int(size)
        self.augment = augment
        self.seed = int(seed)
        self.weights = weights
        self.max_distance = max_distance
        self.epoch = 0
        self._cache: list[tuple[np.ndarray, np.ndarray]] | None = None
        if cache:
            with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
                self._cache = list(pool.map(self._resized, range(len(self.ids))))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ids)

    def _resized(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The sample decoded and resized to the training size: RGB uint8 (S, S, 3) and the uint8 mask."""
        sid = self.ids[index]
        rgb = self.data.load_image(sid)
        mask = self.data.load_mask(sid)
        if rgb.shape[:2] != mask.shape[:2]:
            raise ValueError(f"{self.data.image_path(sid)}: image {rgb.shape[:2]} and mask {mask.shape[:2]} differ")
        return resize_image(rgb, self.size), resize_mask(mask, self.size)

    def resized(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The sample at the training size before augmentation (from the cache when kept): what evaluation scores."""
        return self._cache[index] if self._cache is not None else self._resized(index)

    def arrays(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The transformed sample before normalisation: RGB float32 (S, S, 3) in 0-255 and the uint8 mask."""
        rgb, mask = self.resized(index)
        if self.augment is None:
            return rgb.astype(np.float32), mask
        key = (self.seed, self.epoch, index)
        return augment_sample(self.augment, rgb, mask, sample_rng(*key), key)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        rgb, mask = self.arrays(index)
        item: dict[str, torch.Tensor | int] = {
            "image": torch.from_numpy(normalize(rgb)),
            "mask": torch.from_numpy(mask.astype(np.int64)),
            "index": index,
        }
        if self.weights:
            item["weight"] = torch.from_numpy(boundary_weight_map(mask, self.max_distance))
        return item


def worker_init(_worker_id: int) -> None:
    """Run OpenCV sequentially in each DataLoader worker (the workers already run in parallel).

    0 turns OpenCV's thread pool off. ``setNumThreads(1)`` would instead resize the pool inherited through fork,
    whose threads do not exist in the child, and hangs forever once the parent has used the pool.
    """
    cv2.setNumThreads(0)
