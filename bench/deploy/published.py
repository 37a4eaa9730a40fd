"""Other projects' trained weights for models written here (the authors' SINet and ExtremeC3Net), on this harness.

The facts of each published file live here, with everything else about weight files: where it is published
(``github.com/clovaai/ext_portrait_segmentation``, MIT, at ``SOURCE_COMMIT``), its sha256 and published score, and
how the authors' code feeds a photo (``Preprocessing``). Only the key map onto our modules stays with the
architectures (``baselines.published``). This module turns the facts into what the harness uses: the model with the
weights loaded (weights-only, checked byte for byte), and the ``Preprocess`` (``bench.data.preprocess``) that sees a
photo as the authors' code does, so evaluation, ``segment`` and export treat a published model like one of ours.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from baselines.published import PublishedWeightsError, load_published
from bench.data.preprocess import Preprocess
from bench.deploy.zoo import sha256_file
from bench.errors import UserError

SOURCE = "https://github.com/clovaai/ext_portrait_segmentation"
SOURCE_COMMIT = "9bc1bada1cb7bd17a3a80a2964980f4b4befef5b"  # the snapshot the sha256 sums below were taken from
LICENCE = "MIT, Copyright (c) 2019-present NAVER Corp."
# The authors' mean and std of their training photos (EG1800 train + their Baidu augmentation), per BGR channel
# on the 0-255 scale: data/loadData.py computes them, etc/Visualize_video.py and Visualize_webCam.py hard-code them.
MEAN_BGR = (107.304565, 115.69884, 132.35703)
STD_BGR = (63.97182, 65.1337, 68.29726)


@dataclass(frozen=True)
class Preprocessing:
    """How the authors' test code (``data/dataloader.py`` val transforms, ``data/CVTransforms.py``) feeds a photo.

    The photo is read with ``cv2.imread`` (BGR, uint8); as float32, each channel has ``mean`` subtracted and is
    divided by ``std`` (0-255 scale), the result is ``cv2.resize``d (INTER_LINEAR, no antialiasing) to ``size``
    regardless of its aspect ratio, and ``ToTensor`` then divides it by 255 once more: the network sees
    ``(bgr - mean) / std / 255``. The authors score the prediction at ``size`` against the mask resized there
    (nearest); mapping it back to the photo is the caller's choice.
    """

    size: tuple[int, int] = (224, 224)  # (height, width)
    channel_order: str = "BGR"
    mean: tuple[float, float, float] = MEAN_BGR  # in channel_order, 0-255 scale
    std: tuple[float, float, float] = STD_BGR
    post_scale: float = 1 / 255  # applied after (x - mean) / std
    resize: str = "cv2.resize INTER_LINEAR of the normalised photo to size, aspect ratio not kept"


@dataclass(frozen=True)
class PublishedFile:
    """One published weights file: where it is, what it is, and how its authors feed it a photo."""

    model: str  # the registry name (its key map: baselines.published.LAYOUTS)
    file: str  # the path inside the source repository
    sha256: str
    paper_miou: float  # EG1800 test, as the paper and the source README report it
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    source: str = SOURCE
    commit: str = SOURCE_COMMIT
    licence: str = LICENCE


PUBLISHED: dict[str, PublishedFile] = {
    "sinet": PublishedFile("sinet", "result/SINet/SINet.pth",
                           "d164a9643c6e6765fc6dd4ec73f6018ad2526c21336911b4484715f33e6981a4", paper_miou=95.2),
    "extremec3net": PublishedFile("extremec3net", "result/ExtremeC3/ExtremeC3.pth",
                                  "52ff1681c7f65899f203106a64562c3a709172f3a65aa1ad5bef7bb9a22a39db", paper_miou=94.98),
}


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
