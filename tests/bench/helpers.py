"""Shared by the harness tests: a tiny portrait dataset on disk, a tiny model with auxiliary outputs and a segment
predictor whose right answer is known."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from bench.data.format import DatasetWriter
from bench.eval.metrics import MetricAccumulator, per_image_csv


def make_portrait_dataset(root: Path, n_train: int = 8, n_test: int = 4, size: int = 64, seed: int = 0,
                          ignore_in_test: bool = True) -> Path:
    """Noisy images with a bright ellipse 'portrait'; masks 0/1, test masks with a small ignore (255) patch."""
    rng = np.random.default_rng(seed)
    w = DatasetWriter(root, name="tiny", created_by="tests", params={"seed": seed}, image_format="png")
    for i in range(n_train + n_test):
        split = "train" if i < n_train else "test"
        h, wd = size + int(rng.integers(0, 17)), size + int(rng.integers(0, 17))  # sizes vary: resize is exercised
        mask = np.zeros((h, wd), np.uint8)
        center = (int(rng.integers(wd // 3, 2 * wd // 3)), int(rng.integers(h // 3, 2 * h // 3)))
        axes = (int(rng.integers(wd // 6, wd // 3)), int(rng.integers(h // 5, h // 2)))
        cv2.ellipse(mask, center, axes, float(rng.integers(0, 180)), 0, 360, 1, -1)
        img = rng.integers(0, 90, (h, wd, 3), dtype=np.uint8)
        img[mask == 1] += np.array([120, 100, 80], np.uint8)
        if split == "test" and ignore_in_test:
            mask[:4, :4] = 255
        w.add(f"s{i:03d}", img, mask, split)
    w.finalize()
    return root


class TinyNet(nn.Module):
    """No batch norm, no dropout: its training is independent of how a batch is split over processes."""

    aux_losses = {"aux": ("mask", 0.4), "edge": ("boundary", 0.1)}

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, num_classes, 1)
        self.aux = nn.Conv2d(8, num_classes, 1)
        self.edge = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        f = F.relu(self.conv1(x))
        out = self.conv2(f)
        if not self.training:
            return out
        half = F.avg_pool2d(f, 2)
        return {"out": out, "aux": self.aux(half), "edge": self.edge(f)}


class BrightPredictor:
    """Portrait = bright: the logit difference is the normalised red channel, optionally at a lower resolution."""

    def __init__(self, input_size=32, stride: int = 1) -> None:
        self.input_size, self.stride, self.batches = input_size, stride, []

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.batches.append(x.shape)
        d = 4.0 * x[:, :1, ::self.stride, ::self.stride]
        return np.concatenate([np.zeros_like(d), d], axis=1).astype(np.float32)


def broken_factory(num_classes: int = 2) -> nn.Module:
    """A model factory with a bug in it: what it raises is ours to fix, not the user's to read as one line."""
    raise ZeroDivisionError("a bug inside the model factory")


def synthetic_masks(n=40, size=24, seed=0):
    """``n`` true masks: a portrait rectangle of random extent in each."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, size, size), np.uint8)
    for k in range(n):
        top, left = rng.integers(2, size // 2, 2)
        truth[k, top:, left:size - 2] = 1
    return truth


def model_csv(path, truth, flip, seed, ids=None):
    """A model that flips each pixel with probability ``flip``, scored image by image into a per-image CSV."""
    rng = np.random.default_rng(seed)
    pred = np.where(rng.random(truth.shape) < flip, 1 - truth, truth).astype(np.uint8)
    acc = MetricAccumulator()
    acc.update(pred, truth, ids or [f"img{k:03d}" for k in range(len(truth))])
    path.write_text(per_image_csv(acc.rows))
    return acc.result()
