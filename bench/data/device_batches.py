"""Training batches made on the device from a pack (``bench.data.pack``): the GPU-batch data path of a training run.

``bench.train.loop`` takes this path when a run's ``data`` is a pack file instead of a dataset folder; everything else
of the run (model, loss, schedule, checkpoint, run folder, evaluation) is the same code. What it does differently,
and why:

* The split is decoded once (CPU threads: a 512 px WebP decodes in about 6 ms, so PFCN's 1,291 photos take under a
  second on 16 cores) and kept on the device as uint8: 1.0 GB for PFCN at 512, against 141 GB of GPU memory. A
  DataLoader would decode, augment and copy every sample again every epoch, which on one GPU training several models
  at once is the CPU work that would bound the run (the CPU pipeline spends most of its time there, see
  ``benchmarks/loader_throughput.py``).
* The paper's augmentation (``bench.data.pipeline``: horizontal flip with p = ``Augment.hflip``, brightness then
  contrast factors from ``Augment.brightness`` / ``contrast``, as ``adjust_brightness_contrast`` defines them: scale,
  clip to 0-255, stretch around the image's mean BT.601 grey, clip) runs on the batch, on the device, then the
  ImageNet normalisation of ``bench.data.preprocess``.
* The random draws are the CPU pipeline's own: each sample's flip, brightness and contrast come from
  ``sample_rng(seed, epoch, index)`` in the same order, and the batches follow the same ``DistributedSampler``, so a
  run from a lossless (PNG) pack sees the batches a run from the folder sees, to float rounding
  (``tests/bench/test_gpu_run.py``). The robustness stages of ``bench.data.augment`` (``Augment.extra``) are not
  written here: a run that turns any on is refused on a pack, in one line, and trains from the dataset folder.
* The adaptive loss's boundary weight map is computed once per sample, on the device, by
  ``elb.boundary.boundary_weight_maps_torch``, and flipped with its sample: the map of a flipped mask is the flipped
  map (the boundary and the Euclidean distance are mirror-symmetric), and brightness and contrast do not touch the
  mask, so this equals computing it on every augmented mask, as the CPU pipeline does, at a fraction of the cost.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from bench.data.augment import LUMA, Augment
from bench.data.format import DatasetError
from bench.data.pack import Pack
from bench.data.pipeline import sample_rng
from bench.data.preprocess import IMAGENET_MEAN, IMAGENET_STD, standardise
from elb.boundary import boundary_weight_maps_torch

WEIGHT_CHUNK = 64  # masks per call of the weight map (its temporaries are a few (chunk, S, S) float tensors)


class DeviceBatches:
    """One split of a pack on ``device``, served as augmented training batches (``{"image", "mask", "index"}`` and
    ``"weight"`` if asked), the same tensors ``PortraitTorchDataset`` and a DataLoader would give, already there."""

    def __init__(self, pack: Pack, split: str, size: int, augment: Augment | None = None, seed: int = 0,
                 weights: bool = False, max_distance: float | None = None, ids: Sequence[str] | None = None,
                 device: str | torch.device = "cpu", workers: int | None = None) -> None:
        if pack.size != size:
            raise DatasetError(f"{pack.root}: packed at {pack.size} px, but the run trains at {size}; pack the "
                               f"dataset again with --size {size}")
        if augment is not None and augment.extra:
            raise DatasetError(f"{pack.root}: the augmentation stages {', '.join(augment.extra)} run in the CPU "
                               "pipeline only; train from the dataset folder, not a pack")
        if ids is None:
            pack.check_split(split)
        self.pack, self.split, self.size = pack, split, int(size)
        self.ids = list(ids) if ids is not None else list(pack.ids(split))
        self.augment, self.seed, self.epoch = augment, int(seed), 0
        self.device = torch.device(device)
        images, masks = pack.decode(self.ids, workers)
        self.images = torch.from_numpy(images).to(self.device)  # uint8 (N, S, S, 3)
        self.masks = torch.from_numpy(masks).to(self.device)  # uint8 (N, S, S)
        self.weights = None
        if weights:
            self.weights = torch.cat([boundary_weight_maps_torch(self.masks[i:i + WEIGHT_CHUNK], max_distance)
                                      for i in range(0, len(self.ids), WEIGHT_CHUNK)])
        self._mean = torch.from_numpy(IMAGENET_MEAN).to(self.device).view(1, 3, 1, 1)
        self._std = torch.from_numpy(IMAGENET_STD).to(self.device).view(1, 3, 1, 1)
        self._luma = torch.from_numpy(LUMA).to(self.device)

    def __len__(self) -> int:
        return len(self.ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def draws(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Each sample's (flip, brightness, contrast) this epoch, drawn as ``PortraitTorchDataset.arrays`` draws."""
        a = self.augment or Augment()
        out = np.empty((3, len(indices)), np.float64)
        for k, i in enumerate(indices):
            rng = sample_rng(self.seed, self.epoch, i)
            out[:, k] = rng.random(), rng.uniform(*a.brightness), rng.uniform(*a.contrast)  # always three draws
        return out[0] < a.hflip, out[1], out[2]

    def batch(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        """The samples ``indices`` augmented (if the split trains) and normalised, on the device."""
        idx = torch.as_tensor(list(indices), dtype=torch.long, device=self.device)
        x = self.images[idx].float()  # (B, S, S, 3), 0-255
        mask = self.masks[idx]
        weight = self.weights[idx] if self.weights is not None else None
        if self.augment is not None:
            flip, b, c = self.draws(indices)
            f = torch.from_numpy(flip).to(self.device)
            x = torch.where(f.view(-1, 1, 1, 1), x.flip(2), x)
            mask = torch.where(f.view(-1, 1, 1), mask.flip(2), mask)
            if weight is not None:
                weight = torch.where(f.view(-1, 1, 1), weight.flip(2), weight)
            bt = torch.from_numpy(b.astype(np.float32)).to(self.device).view(-1, 1, 1, 1)
            ct = torch.from_numpy(c.astype(np.float32)).to(self.device).view(-1, 1, 1, 1)
            x = (x * bt).clamp_(0.0, 255.0)
            grey = (x @ self._luma).mean(dim=(1, 2)).view(-1, 1, 1, 1)
            x = ((x - grey) * ct + grey).clamp_(0.0, 255.0)
        image = standardise(x.permute(0, 3, 1, 2), self._mean, self._std)  # NCHW view of NHWC: channels-last already
        item = {"image": image, "mask": mask.long(), "index": idx}
        if weight is not None:
            item["weight"] = weight
        return item

    def loader(self, order: Sequence[int], batch_size: int, drop_last: bool) -> _Batches:
        """The epoch's batches over ``order`` (a sampler's indices), cut as a DataLoader with that sampler cuts them."""
        return _Batches(self, list(order), batch_size, drop_last)


class _Batches:
    def __init__(self, source: DeviceBatches, order: list[int], batch_size: int, drop_last: bool) -> None:
        self.source, self.order, self.batch_size, self.drop_last = source, order, batch_size, drop_last

    def __len__(self) -> int:
        n = len(self.order)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for k in range(len(self)):
            yield self.source.batch(self.order[k * self.batch_size:(k + 1) * self.batch_size])
