"""How a model sees a photo: the one home of the normalisation, the channel order and the resize policies.

Every model here was trained on RGB photos squashed to a square (``squash``: resized to the input size whatever their
aspect ratio) and normalised with the ImageNet mean and standard deviation (``bench.data.pipeline``). Training,
evaluation, ``segment``, the gallery and export all read those facts from here, so what a model is scored on and what
a user's photo goes through cannot drift apart. ``letterbox`` (scaled to fit, centred on a mean-colour pad) is the
other policy: ``Fit`` records where the photo sits so the prediction is cropped back to it.

numpy and OpenCV only: the exporter writes these facts into ONNX files and a standalone user needs nothing more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import cv2
import numpy as np

from bench.errors import ModelOutputError

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
RESIZE_POLICIES = ("squash", "letterbox")
INTERPOLATIONS = ("auto", "linear")  # auto: area averaging when shrinking, bilinear when enlarging
_PAD = np.round(IMAGENET_MEAN * 255).astype(np.uint8)  # the letterbox pad: zero after normalisation


def resize_image(rgb: np.ndarray, hw: int | tuple[int, int], interpolation: str = "auto") -> np.ndarray:
    """Resize an RGB image to ``hw`` (a side, or (H, W)): area averaging when shrinking and bilinear when enlarging
    (``auto``, how every model here was trained), or bilinear always (``linear``, as other projects' code does)."""
    th, tw = (hw, hw) if isinstance(hw, int | np.integer) else hw
    h, w = rgb.shape[:2]
    if (h, w) == (th, tw):
        return rgb
    interp = cv2.INTER_AREA if interpolation == "auto" and th <= h and tw <= w else cv2.INTER_LINEAR
    return cv2.resize(rgb, (int(tw), int(th)), interpolation=interp)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a label mask to size x size with nearest neighbour (labels are never blended)."""
    if mask.shape[:2] == (size, size):
        return mask
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_NEAREST)


def standardise(pixels, mean, std):
    """``(pixel / 255 - mean) / std``, the one normalisation: numpy arrays here, torch tensors in the baked graph
    and the batches made on the device, ``mean`` and ``std`` broadcast over the channel axis."""
    return (pixels / 255.0 - mean) / std


def normalize(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 or float in [0, 255], (H, W, 3) -> ImageNet-normalised float32 (3, H, W)."""
    x = standardise(np.asarray(rgb, np.float32), IMAGENET_MEAN, IMAGENET_STD)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


@dataclass(frozen=True)
class Fit:
    """Where a photo of ``shape`` sits inside a model input of ``canvas``."""

    shape: tuple[int, int]  # the photo's (H, W)
    canvas: tuple[int, int]  # the model input's (H, W)
    top: int
    left: int
    height: int  # the scaled photo's size inside the input
    width: int


def squash(rgb: np.ndarray, hw: tuple[int, int], interpolation: str = "auto") -> tuple[np.ndarray, Fit]:
    """The photo resized to ``hw`` whatever its aspect ratio, as every model here was trained."""
    h, w = rgb.shape[:2]
    return resize_image(rgb, hw, interpolation), Fit((h, w), tuple(hw), 0, 0, hw[0], hw[1])


def letterbox(rgb: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, Fit]:
    """Scale ``rgb`` to fit inside ``hw`` keeping its aspect ratio, centred on a mean-colour canvas."""
    h, w = rgb.shape[:2]
    th, tw = hw
    scale = min(th / h, tw / w)
    nh, nw = min(th, max(1, round(h * scale))), min(tw, max(1, round(w * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = rgb if (nh, nw) == (h, w) else cv2.resize(rgb, (nw, nh), interpolation=interp)
    canvas = np.empty((th, tw, 3), np.uint8)
    canvas[:] = _PAD
    top, left = (th - nh) // 2, (tw - nw) // 2
    canvas[top:top + nh, left:left + nw] = resized
    return canvas, Fit((h, w), (th, tw), top, left, nh, nw)


@dataclass(frozen=True)
class Preprocess:
    """What a model expects of a photo: its input (H, W), the resize policy and interpolation, the channel order the
    network sees and the normalisation ``(pixel / 255 - mean) / std``, ``mean`` and ``std`` in that channel order.

    Photos always enter as RGB uint8; ``channels="BGR"`` (models trained on ``cv2.imread`` arrays) reverses them.
    """

    size: tuple[int, int]
    resize: Literal["squash", "letterbox"] = "squash"
    channels: Literal["RGB", "BGR"] = "RGB"
    mean: tuple[float, float, float] = tuple(float(v) for v in IMAGENET_MEAN)
    std: tuple[float, float, float] = tuple(float(v) for v in IMAGENET_STD)
    interpolation: Literal["auto", "linear"] = "auto"

    def __post_init__(self) -> None:
        if self.resize not in RESIZE_POLICIES:
            raise ValueError(f"unknown resize policy {self.resize!r}; expected one of {RESIZE_POLICIES}")
        if self.channels not in ("RGB", "BGR") or self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"channels must be RGB or BGR and interpolation one of {INTERPOLATIONS}")

    def to_dict(self) -> dict[str, object]:
        """Plain JSON types, for a manifest, a run record or an ONNX file's metadata."""
        d = asdict(self)
        d.update(size=list(self.size), mean=list(self.mean), std=list(self.std), scale=255.0,
                 layout="NCHW float32, (pixel / scale - mean) / std")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        """The inverse of ``to_dict`` (its descriptive keys ignored)."""
        return cls(tuple(int(v) for v in d["size"]), d.get("resize", "squash"), d.get("channels", "RGB"),
                   tuple(float(v) for v in d["mean"]), tuple(float(v) for v in d["std"]),
                   d.get("interpolation", "auto"))

    def fit(self, rgb: np.ndarray) -> tuple[np.ndarray, Fit]:
        """The photo as the model input (RGB uint8 at ``size``) and where it sits there."""
        if self.resize == "squash":
            return squash(rgb, self.size, self.interpolation)
        return letterbox(rgb, self.size)

    def batch(self, images: list[np.ndarray]) -> tuple[np.ndarray, list[Fit]]:
        """A normalised float32 (N, 3, H, W) batch of RGB uint8 photos of any sizes, and each one's ``Fit``."""
        fitted = [self.fit(np.asarray(im)) for im in images]
        canvases = np.stack([c for c, _ in fitted])
        if self.channels == "BGR":
            canvases = canvases[..., ::-1]
        x = standardise(canvases.astype(np.float32), np.asarray(self.mean, np.float32),
                        np.asarray(self.std, np.float32))
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2)), [f for _, f in fitted]


def portrait_logit(logits: np.ndarray, fit: Fit) -> np.ndarray:
    """The portrait-minus-background logit of one (2, h, w) output, mapped back onto the photo (H, W).

    Resizing the logit difference bilinearly and thresholding at 0 equals the arg-max of the resized logits.
    """
    logits = np.asarray(logits, np.float32)
    if logits.ndim != 3 or logits.shape[0] != 2:
        raise ModelOutputError(f"the model returned logits of shape {logits.shape}; a portrait model has 2 classes "
                               "(C, H, W)")
    d = logits[1] - logits[0]
    if d.shape != fit.canvas:  # an output below the input resolution: bring it to the input first
        d = cv2.resize(d, fit.canvas[::-1], interpolation=cv2.INTER_LINEAR)
    d = d[fit.top:fit.top + fit.height, fit.left:fit.left + fit.width]
    h, w = fit.shape
    return d if d.shape == (h, w) else cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)


def probability(logit: np.ndarray) -> np.ndarray:
    """Sigmoid, float32, without overflow warnings for large logits: 0.5 tanh(x / 2) + 0.5, in place on one float32
    copy (a whole photo's map in a fraction of a millisecond; part of every photo `segment` returns)."""
    p = np.multiply(logit, np.float32(0.5), dtype=np.float32)
    np.tanh(p, out=p)
    p *= np.float32(0.5)
    p += np.float32(0.5)
    return p
