"""The Python API: from an image file or an RGB array to a portrait probability map and a mask, with shipped weights.

    from bench.segment.portrait import PortraitSegmenter
    seg = PortraitSegmenter.from_pretrained()          # the zoo's default; any `bench zoo` name, run folder or .onnx
    prob = seg.probability("photo.jpg")                # float32 (H, W) in [0, 1], at the photo's own size
    mask = seg.mask(rgb_array)                         # uint8 (H, W), 1 = portrait
    rgba = seg.cutout("photo.jpg")                     # uint8 (H, W, 4): the portrait probability as alpha
    out = seg.replace_background("photo.jpg", "beach.jpg")   # or a colour ("#00ff00", (0, 255, 0)) or "blur"
    stream = seg.stream(smooth=0.5)                    # video: one call per frame, state kept between frames
    prob = stream(frame)
    stream = seg.stream(smooth=0.5, method="flow")     # the previous frames carried along the optical flow first

It is ``segment`` without the files: the same predictor (any back end), the same preprocessing (the model's own,
from its manifest) and the same mapping back onto the photo, so a mask here is the one ``segment`` writes.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from bench.segment.photos import (
    Background,
    SegmentError,
    composite,
    cutout,
    input_hw,
    load_segment_predictor,
    parse_background,
    photo_probability,
    read_image,
    refinement,
    size_warning,
)
from bench.segment.temporal import make_smoother


class PortraitSegmenter:
    """A trained portrait model and the way it sees a photo."""

    def __init__(self, predictor: object, size: int | None = None, refine: str = "auto") -> None:
        self.predictor = predictor
        self.input_hw = input_hw(predictor, size)
        self.refine = refinement(predictor, refine)  # auto: the edge refinement measured to help this model
        if (note := size_warning(predictor, self.input_hw)) is not None:
            warnings.warn(note, stacklevel=2)

    @property
    def card(self) -> object:
        """The model's ``ModelCard`` (``bench.deploy.card``): weights, provenance, preprocessing, metrics."""
        return getattr(self.predictor, "card", None)

    @classmethod
    def from_pretrained(cls, name: str | os.PathLike | None = None, *, device: str = "cpu", backend: str = "auto",
                        precision: str = "fp32", threads: int | None = None,
                        refine: str = "auto") -> PortraitSegmenter:
        """A zoo name (default: ``bench.deploy.zoo.DEFAULT``), a run folder, a checkpoint or an ``.onnx`` file;
        ``refine`` as ``segment --refine`` (auto, none, guided, guided:RADIUS[:EPS])."""
        from bench.deploy.zoo import DEFAULT

        return cls(load_segment_predictor(name or DEFAULT, device=device, threads=threads, backend=backend,
                                          precision=precision), refine=refine)

    def probability(self, image: str | os.PathLike | np.ndarray) -> np.ndarray:
        """The portrait probability (float32 in [0, 1]) of each pixel of an image file or an RGB uint8 array."""
        return photo_probability(self.predictor, _rgb(image), self.input_hw, refine=self.refine)

    def mask(self, image: str | os.PathLike | np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """uint8 (H, W): 1 where the portrait probability exceeds ``threshold`` (0.5 is the model's arg-max)."""
        return (self.probability(image) > threshold).astype(np.uint8)

    def cutout(self, image: str | os.PathLike | np.ndarray) -> np.ndarray:
        """RGBA uint8 (H, W, 4): the photo with the portrait probability as its alpha (soft edges kept)."""
        rgb = _rgb(image)
        return cutout(rgb, self.probability(rgb))

    def replace_background(self, image: str | os.PathLike | np.ndarray,
                           background: str | os.PathLike | tuple[int, int, int] | np.ndarray) -> np.ndarray:
        """RGB uint8: the portrait over ``background``, blended by its probability. ``background``: an image (a
        file or an RGB array, scaled to cover the photo), a colour (``(r, g, b)``, ``"#rrggbb"``, a name) or
        ``"blur"`` / ``"blur:SIGMA"`` (the photo's own background blurred)."""
        rgb = _rgb(image)
        return composite(rgb, self.probability(rgb), _background(background))

    def stream(self, smooth: float = 0.0, method: str = "ema") -> FrameStream:
        """A per-frame call for a video or camera stream that keeps its state between frames (``FrameStream``);
        ``method`` as ``segment --temporal``: ``ema`` or ``flow`` (``bench.segment.temporal``)."""
        return FrameStream(self, smooth, method)


class FrameStream:
    """Frames of one stream, in order: ``stream(frame)`` gives each frame's portrait probability, blended with the
    previous frames' against flicker (weight ``smooth``, as ``segment --smooth``): a moving average (``ema``) or the
    previous map carried along the optical flow first (``flow``, as ``segment --temporal flow``). A frame of another
    size starts again."""

    def __init__(self, segmenter: PortraitSegmenter, smooth: float = 0.0, method: str = "ema") -> None:
        self.segmenter, self.smoother = segmenter, make_smoother(method, smooth)

    def __call__(self, frame: str | os.PathLike | np.ndarray) -> np.ndarray:
        seg, rgb = self.segmenter, _rgb(frame)  # smoothed as predicted, then refined on this frame (as segment does)
        return seg.refine(rgb, self.smoother(photo_probability(seg.predictor, rgb, seg.input_hw), rgb))

    def mask(self, frame: str | os.PathLike | np.ndarray, threshold: float = 0.5) -> np.ndarray:
        """The frame's mask (uint8, 1 = portrait) from its smoothed probability."""
        return (self(frame) > threshold).astype(np.uint8)


def _background(spec: str | os.PathLike | tuple[int, int, int] | np.ndarray) -> Background:
    if isinstance(spec, np.ndarray):
        return Background("image", image=_rgb(spec))
    if isinstance(spec, tuple | list):
        if len(spec) != 3 or not all(isinstance(v, int | np.integer) and 0 <= v <= 255 for v in spec):
            raise SegmentError(f"background colour {spec!r}: expected (r, g, b) with values 0-255")
        return Background("colour", colour=tuple(int(v) for v in spec))
    return parse_background(str(spec))


def _rgb(image: str | os.PathLike | np.ndarray) -> np.ndarray:
    if isinstance(image, str | os.PathLike | Path):
        return read_image(image)
    a = np.asarray(image)
    if a.dtype != np.uint8 or not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise SegmentError(f"an image array must be uint8 (H, W, 3) RGB (or greyscale (H, W)), got {a.dtype} "
                           f"{a.shape}")
    return np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else np.ascontiguousarray(a[..., :3])
