"""From photos to portrait maps: the one prediction path behind evaluation (``bench.eval.loop``), ``segment``, the
gallery and the report's figures.

A photo goes through its model's ``Preprocess`` (``bench.data.preprocess``: resize policy, channel order,
normalisation) into a batch, the predictor (``bench.deploy.runtime``: any back end, or a module as it is) returns
logits, and the portrait-minus-background logit is mapped back onto the photo: ``> 0`` is the mask (the arg-max), its
sigmoid the probability.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn

from bench.data.preprocess import Fit, Preprocess, portrait_logit, probability
from bench.deploy.runtime import ModulePredictor, Predictor
from bench.errors import ModelOutputError


def as_predictor(model: Predictor | nn.Module, device: str | torch.device = "cpu") -> Predictor:
    """A module wrapped as it is; anything else is taken as a predictor (a callable from batch to logits)."""
    return ModulePredictor(model, device=device) if isinstance(model, nn.Module) else model


def batch_logits(model: Predictor | nn.Module, images: Sequence[np.ndarray], preprocess: Preprocess,
                 device: str | torch.device = "cpu") -> tuple[np.ndarray, list[Fit]]:
    """One batch of photos fitted as ``preprocess`` says: the model's logits (N, C, h, w) and each photo's ``Fit``."""
    x, fits = preprocess.batch(list(images))
    logits = np.asarray(as_predictor(model, device)(x))
    if logits.ndim != 4 or len(logits) != len(fits):
        raise ModelOutputError(f"the model returned logits of shape {logits.shape} for a batch of {len(fits)}")
    return logits, fits


def portrait_logits(model: Predictor | nn.Module, images: Sequence[np.ndarray], preprocess: Preprocess,
                    batch_size: int = 8, device: str | torch.device = "cpu",
                    shapes: Sequence[tuple[int, int]] | None = None) -> list[np.ndarray]:
    """The portrait-minus-background logit (float32, each at its photo's own (H, W)) of RGB uint8 photos.

    ``shapes`` maps each one onto that (H, W) instead: a packed photo, stored already squashed to the input, onto
    its mask at the photo's own resolution (``bench.data.pack``)."""
    out: list[np.ndarray] = []
    for start in range(0, len(images), batch_size):
        logits, fits = batch_logits(model, images[start:start + batch_size], preprocess, device)
        if shapes is not None:
            fits = [replace(f, shape=tuple(s)) for f, s in zip(fits, shapes[start:start + batch_size], strict=True)]
        out += [portrait_logit(lg, fit) for lg, fit in zip(logits, fits, strict=True)]
    return out


def probabilities(model: Predictor | nn.Module, images: Sequence[np.ndarray], preprocess: Preprocess,
                  batch_size: int = 8, device: str | torch.device = "cpu") -> list[np.ndarray]:
    """Portrait probability maps (float32 in [0, 1], each at its photo's size)."""
    return [probability(d) for d in portrait_logits(model, images, preprocess, batch_size, device)]


def labels(model: Predictor | nn.Module, images: Sequence[np.ndarray], preprocess: Preprocess,
           batch_size: int = 8, device: str | torch.device = "cpu",
           shapes: Sequence[tuple[int, int]] | None = None) -> list[np.ndarray]:
    """Label maps (uint8: 0 background, 1 portrait), each at its photo's size (or ``shapes``'): the arg-max of the
    mapped logits."""
    return [(d > 0).astype(np.uint8) for d in portrait_logits(model, images, preprocess, batch_size, device, shapes)]
