"""Apply a trained portrait model to a user's own photos: read, fit to the model, predict, map back, render.

The model is any *predictor*: a callable taking a float32 (N, 3, H, W) ImageNet-normalised batch and returning float32
(N, 2, H, W) logits, with an ``input_size`` attribute (``load_segment_predictor`` gets one for a run, a checkpoint or
an ONNX file from ``bench.deploy.runtime``, the project's one inference runtime). Each photo is fitted to the model's
input the way that model was trained and scored (its ``Preprocess``: for every model here, the whole photo squashed
to the square input), so a user's masks are the ones `bench eval --native` scores, and the prediction is mapped back
onto the photo by ``bench.deploy.predict``, the one prediction path. Everything downstream works on the portrait
probability map (the sigmoid of the portrait-minus-background logit, so ``p > 0.5`` is the arg-max).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bench.data.preprocess import Preprocess
from bench.deploy.refine import NONE, Refine
from bench.deploy.threads import AUTO
from bench.errors import UserError

if TYPE_CHECKING:  # the one predictor type: bench.deploy.runtime's (any callable from batch to logits will do)
    from bench.deploy.card import ModelCard
    from bench.deploy.runtime import Predictor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")
MAX_SIDE = 4096


class SegmentError(UserError):
    """An input, model or option that segment cannot use; the message names the file and the problem."""




# -- models ----------------------------------------------------------------------------------------------------
def load_segment_predictor(source: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                           backend: str = "auto", precision: str = "fp32") -> Predictor:
    """A predictor for a zoo name, a run folder, a checkpoint or an ``.onnx`` file, from the project's one inference
    runtime (``load_predictor``: by default eager PyTorch for a zoo name, run or checkpoint, onnxruntime or OpenVINO
    for ONNX; any back end and precision it offers on request, int8 calibrated on the run's own training images)."""
    from bench.deploy.runtime import load_predictor
    from bench.deploy.sources import resolve
    from bench.deploy.zoo import trained_instead

    card = resolve(source)
    if not card.trained:  # the runtime gives a registered name random weights: segment needs a trained model
        what = "was exported from a registered model" if card.provenance.onnx else "is a registered model"
        raise SegmentError(f"{source} {what}, with random weights, and segment needs trained ones; "
                           f"{trained_instead(card.architecture)}")
    calibration = None
    if precision == "int8":
        calibration = _int8_calibration(source, card)
    threads = AUTO if threads is None else threads  # a user's machine may be busy: use the cores left free
    return load_predictor(card, backend=backend, precision=precision, threads=threads, device=device,
                          calibration=calibration)


def _int8_calibration(source: str | os.PathLike, card: ModelCard) -> str | None:
    """What calibrates int8 for segment, which has no --calib-data: nothing for a quantized .onnx file, a run's own
    training images, else a refusal saying how to make a quantized file with `bench export`."""
    from bench.deploy.export import is_quantized
    from bench.deploy.sources import is_onnx_source

    onnx = card.provenance.onnx
    if onnx and is_quantized(onnx):
        return None
    if not onnx and not card.zoo and card.training_data:
        return card.training_data
    origin = (card.provenance.source if onnx else None) or str(source)
    model = "MODEL" if is_onnx_source(origin) else origin
    what = ("this .onnx file is not quantized" if onnx else "a zoo weight ships no calibration photos" if card.zoo
            else "this run records no training images to calibrate with")
    raise SegmentError(f"{source}: int8 needs a quantized .onnx file and {what}; make one with `bench export --model "
                       f"{model} --precision int8 --calib-data DATA --out model-int8.onnx` and segment with that "
                       "file (it runs int8 without --precision)")


def input_hw(predictor: Predictor, size: int | None = None) -> tuple[int, int]:
    """The (H, W) a photo is fitted into: ``size`` if given, else the predictor's own input size (the one it accepts,
    else the size its model was trained at, from its card). A size the model cannot take is refused here, in one
    line, before any photo is read."""
    fixed = getattr(predictor, "input_size", None)
    if size is not None and fixed is not None and size != fixed:
        raise SegmentError(f"--size {size}: this model takes only {fixed}x{fixed} input (an ONNX file of fixed size)")
    card = getattr(predictor, "card", None)
    s = size if size is not None else fixed or (card.size if card is not None else None)
    if not s:
        raise SegmentError("the model does not fix its input size; give one (--size)")
    h, w = (s, s) if isinstance(s, int | np.integer) else tuple(s)[-2:]
    if int(h) < 8 or int(w) < 8:
        raise SegmentError(f"input size {h}x{w} is too small (at least 8x8)")
    if card is not None and card.architecture:
        from bench.registry import check_input_size

        for side in {int(h), int(w)}:
            check_input_size(card.architecture, side)  # InputSizeError names the multiple the model needs
    return int(h), int(w)


def refinement(predictor: Predictor, spec: str = "auto") -> Refine:
    """The edge refinement to apply (``bench.deploy.refine``): ``auto`` is the one measured to help this model (its
    card's, from the zoo manifest; none for a model without such a measurement), else ``Refine.parse``'s."""
    card = getattr(predictor, "card", None)
    measured = card.refine if card is not None else NONE
    if spec.strip().lower() == "auto":
        return measured
    try:
        return Refine.parse(spec, measured)
    except ValueError as e:
        raise SegmentError(str(e)) from None


def size_warning(predictor: Predictor, hw: tuple[int, int]) -> str | None:
    """A warning when the photos are fitted to another size than the model was trained at (``--size``): it runs,
    but its masks are usually worse, and nothing else would say so."""
    card = getattr(predictor, "card", None)
    if card is None or tuple(hw) == (card.size, card.size):
        return None
    return (f"--size {hw[0]}x{hw[1]}: {card.zoo or card.name} was trained at {card.size}x{card.size}; its masks at "
            "another size are usually worse")


# -- reading ---------------------------------------------------------------------------------------------------
def read_image(path: str | os.PathLike) -> np.ndarray:
    """RGB uint8 (H, W, 3) of any photo OpenCV decodes, upright, at its own size.

    EXIF orientation is applied; greyscale becomes three equal channels, alpha is dropped, 16-bit is scaled to 8-bit
    (all by OpenCV's IMREAD_COLOR).
    """
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise SegmentError(f"{path}: cannot read ({e.strerror or e})") from None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise SegmentError(f"{path}: not a decodable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def shrink(rgb: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """The working copy the model is fed from: ``rgb`` itself, or shrunk (area averaging) to ``max_side`` pixels on
    its long side so the time and memory of fitting a huge photo to the model stay bounded."""
    h, w = rgb.shape[:2]
    if max(h, w) <= max_side:
        return rgb
    scale = max_side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def at_size(prob: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """A probability map stretched (bilinear) to ``hw``, the photo's own size, whatever ``shrink`` did: the outputs
    lie over the photo, not over its working copy."""
    if prob.shape[:2] == tuple(hw):
        return prob
    return cv2.resize(prob, (int(hw[1]), int(hw[0])), interpolation=cv2.INTER_LINEAR)


# -- predicting ------------------------------------------------------------------------------------------------
def predictor_preprocess(predictor: Predictor, hw: tuple[int, int]) -> Preprocess:
    """The predictor's own ``Preprocess`` (its card's: what its zoo manifest, run or ONNX file records) at input
    ``hw``; the training policy (squash, RGB, ImageNet) for a bare callable without a card."""
    card = getattr(predictor, "card", None)
    pre = card.preprocess if card is not None else Preprocess(tuple(hw))
    return replace(pre, size=tuple(int(v) for v in hw))


def predict_probabilities(predictor: Predictor, images: list[np.ndarray], hw: tuple[int, int]) -> list[np.ndarray]:
    """Portrait probability maps (float32, each at its image's size) for RGB uint8 images, in one batch, each photo
    fitted into ``hw`` as its model was trained (``predictor_preprocess``; ``bench.deploy.predict``, the one
    prediction path)."""
    from bench.deploy.predict import probabilities

    return probabilities(predictor, images, predictor_preprocess(predictor, hw), batch_size=max(1, len(images)))


def photo_probability(predictor: Predictor, rgb: np.ndarray, hw: tuple[int, int], max_side: int = MAX_SIDE,
                      refine: Refine = NONE) -> np.ndarray:
    """The portrait probability of one photo at its own size: predicted from its working copy (``shrink``),
    stretched back (``at_size``) and refined along the photo's edges (``refine``)."""
    return refine(rgb, at_size(predict_probabilities(predictor, [shrink(rgb, max_side)], hw)[0], rgb.shape[:2]))


# -- rendering -------------------------------------------------------------------------------------------------
COLOURS = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128),
           "green": (0, 177, 64), "blue": (0, 71, 187), "red": (220, 30, 30)}
OUTPUTS = ("mask", "cutout", "background", "preview")


@dataclass(frozen=True)
class Background:
    """What replaces the background: a colour, an image (scaled to cover the photo) or the photo blurred."""

    kind: str  # "colour", "image" or "blur"
    colour: tuple[int, int, int] = (0, 0, 0)
    image: np.ndarray | None = None
    sigma: float | None = None  # blur; None: 1/50 of the photo's long side


def parse_colour(spec: str) -> tuple[int, int, int] | None:
    """``#rrggbb``, ``r,g,b`` or a name from ``COLOURS``; None if ``spec`` is none of these."""
    s = spec.strip().lower()
    if s in COLOURS:
        return COLOURS[s]
    if re.fullmatch(r"#[0-9a-f]{6}", s):
        return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))
    m = re.fullmatch(r"(\d{1,3}),(\d{1,3}),(\d{1,3})", s.replace(" ", ""))
    if m and all(int(v) <= 255 for v in m.groups()):
        return tuple(int(v) for v in m.groups())
    return None


def parse_background(spec: str) -> Background:
    """``blur``, ``blur:SIGMA``, a colour (see ``parse_colour``) or the path of an image."""
    s = spec.strip()
    if s.lower() == "blur" or s.lower().startswith("blur:"):
        sigma = s.split(":", 1)[1] if ":" in s else None
        try:
            value = None if sigma is None else float(sigma)
        except ValueError:
            value = -1.0
        if value is not None and not value > 0:
            raise SegmentError(f"background {spec!r}: the blur sigma must be a positive number (blur:15)")
        return Background("blur", sigma=value)
    colour = parse_colour(s)
    if colour is not None:
        return Background("colour", colour=colour)
    if Path(s).is_file():
        return Background("image", image=read_image(s))
    raise SegmentError(f"background {spec!r}: not blur[:SIGMA], a colour (#rrggbb, r,g,b, {', '.join(COLOURS)}) "
                       f"or an existing image file")


def _cover(image: np.ndarray, h: int, w: int) -> np.ndarray:
    """``image`` scaled to cover (h, w) and centre-cropped to it."""
    ih, iw = image.shape[:2]
    scale = max(h / ih, w / iw)
    nh, nw = max(h, round(ih * scale)), max(w, round(iw * scale))
    big = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    top, left = (nh - h) // 2, (nw - w) // 2
    return big[top:top + h, left:left + w]


def background_for(rgb: np.ndarray, bg: Background) -> np.ndarray:
    """The (H, W, 3) uint8 background that replaces ``rgb``'s."""
    h, w = rgb.shape[:2]
    if bg.kind == "colour":
        return np.broadcast_to(np.array(bg.colour, np.uint8), (h, w, 3))
    if bg.kind == "image":
        return _cover(bg.image, h, w)
    sigma = bg.sigma if bg.sigma is not None else max(h, w) / 50.0
    return cv2.GaussianBlur(rgb, (0, 0), sigmaX=sigma)


def composite(rgb: np.ndarray, prob: np.ndarray, bg: Background) -> np.ndarray:
    """The photo over a new background, the portrait probability as a soft alpha."""
    a = prob[..., None]
    out = rgb.astype(np.float32) * a + background_for(rgb, bg).astype(np.float32) * (1.0 - a)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def mask_image(prob: np.ndarray) -> np.ndarray:
    """The hard mask (arg-max), 0 background and 255 portrait."""
    return np.where(prob > 0.5, np.uint8(255), np.uint8(0))


def cutout(rgb: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """RGBA uint8: the photo with the portrait probability as its alpha channel."""
    alpha = np.clip(prob * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.dstack([rgb, alpha])


def preview(rgb: np.ndarray, prob: np.ndarray, bg: Background | None) -> np.ndarray:
    """Side by side: the photo, the mask, and the background replaced (by ``bg``, or a green screen)."""
    mask3 = np.repeat(mask_image(prob)[..., None], 3, axis=2)
    return np.hstack([rgb, mask3, composite(rgb, prob, bg or Background("colour", colour=COLOURS["green"]))])


def render(rgb: np.ndarray, prob: np.ndarray, outputs: tuple[str, ...], bg: Background | None) -> dict[str, np.ndarray]:
    """The requested outputs of one photo (RGB or RGBA uint8, the mask single-channel)."""
    out: dict[str, np.ndarray] = {}
    for name in outputs:
        if name == "mask":
            out[name] = mask_image(prob)
        elif name == "cutout":
            out[name] = cutout(rgb, prob)
        elif name == "background":
            if bg is None:
                raise SegmentError("the background output needs a background (a colour, an image or blur)")
            out[name] = composite(rgb, prob, bg)
        elif name == "preview":
            out[name] = preview(rgb, prob, bg)
        else:
            raise SegmentError(f"unknown output {name!r}; expected some of {', '.join(OUTPUTS)}")
    return out
