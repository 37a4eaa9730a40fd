"""Other projects' trained weights for models written here (the authors' SINet and ExtremeC3Net), on this harness.

``baselines.published`` holds the facts of each published file (its key map onto our modules, sha256, source commit,
licence, and how the authors' code feeds a photo). This module turns those facts into what the harness uses: the
model with the weights loaded (weights-only), and the ``Preprocess`` (``bench.data.preprocess``) that sees a photo
as the authors' code does, so evaluation, ``segment`` and export treat a published model like one of ours.
"""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from baselines.published import PUBLISHED, PublishedWeightsError, load_published
from bench.data.preprocess import Preprocess
from bench.deploy.zoo import sha256_file
from bench.errors import UserError


class PublishedError(UserError):
    """A published weights file that cannot be used; the message names the file and the key."""


def published_names() -> list[str]:
    return sorted(PUBLISHED)


def published_preprocess(name: str) -> Preprocess:
    """The authors' input: ``(bgr - mean) / std * post_scale`` on the 0-255 scale, bilinear resize of the whole photo
    (aspect ratio not kept), written as this harness's ``(pixel / 255 - mean') / std'`` in the same channel order.

    (b - m) / s * k == (b / 255 - m / 255) / (s / (255 k)), and resizing commutes with that per-channel affine map
    (bilinear weights sum to one), so the two differ only by the rounding of the resized uint8 photo.
    """
    p = PUBLISHED[name].preprocessing
    return Preprocess(tuple(p.size), "squash", channels=p.channel_order, mean=tuple(m / 255.0 for m in p.mean),
                      std=tuple(s / (255.0 * p.post_scale) for s in p.std), interpolation="linear")


def load_published_model(path: str | os.PathLike, name: str, verify_sha256: bool = True) -> nn.Module:
    """The model ``name`` in eval mode with the published weights at ``path`` (checked byte for byte by default)."""
    if name not in PUBLISHED:
        raise PublishedError(f"{name!r}: no published weights are known for it; known: {', '.join(PUBLISHED)}")
    spec = PUBLISHED[name]
    if verify_sha256 and Path(path).is_file() and (digest := sha256_file(path)) != spec.sha256:
        raise PublishedError(f"{path}: sha256 {digest[:12]}... is not the published {spec.file}'s")
    try:
        return load_published(path, name)
    except PublishedWeightsError as e:
        raise PublishedError(str(e)) from e
