"""The training augmentation: the paper's (Section 3.2) and, off by default, the robustness stages the field adds.

The paper's: horizontal flip with p = ``hflip``, brightness and contrast factors from their ranges
(``adjust_brightness_contrast``). The extra stages follow PortraitNet's recipe (Zhang et al., 2019: deformation
plus texture augmentation), each with a probability and a range, in a camera's order: the framing (the photo
placed smaller and off-centre in a wider frame) and its jitter (scale, rotation, translation of photo and mask
together), the light's colour (saturation, hue, a white-balance cast), then
the optics (Gaussian or motion blur), the sensor (noise) and the file (JPEG). The photometric ones are the robustness
suite's own functions (``bench.data.photometric``) with drawn parameters, so training and the suite share one
definition of each degradation.

Determinism: the paper's three draws come first from the sample's generator, exactly as before, and every extra
stage draws from its own generator seeded with (seed, epoch, index, stage), and only when its probability is above 0:
with the defaults (every probability 0) a sample's bytes are what they were before these stages existed, and turning
one stage on or off does not change what the others draw. No torch here: ``TrainConfig`` checks these settings
without it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import cv2
import numpy as np

from bench.data.framing import place
from bench.data.photometric import colour_cast, gaussian_blur, jpeg, motion_blur, sensor_noise
from bench.errors import UserError

# ITU-R BT.601 luma, the grey level contrast is scaled around (as torchvision's adjust_contrast does).
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
# The extra stages; each has a probability field ``p_<stage>``. They apply in this order except ``frame``, which
# comes first (a camera frames before it shakes): it was added last, and a stage's place here seeds its generator.
STAGES = ("affine", "colour", "cast", "blur", "motion", "noise", "jpeg", "frame")
GEOMETRIC = ("frame", "affine")


class AugmentError(UserError):
    """An augmentation setting that cannot work (unknown name, a probability outside [0, 1], a reversed range)."""


@dataclass(frozen=True)
class Augment:
    """Every augmentation setting; the defaults are Section 3.2's recipe with every extra stage off.

    Ranges are (low, high), drawn uniformly; lengths (``blur_sigma``, ``motion_length``) are pixels of a photo whose
    long side is 800 and scale with the training size, as in the robustness suite.
    """

    hflip: float = 0.5
    brightness: tuple[float, float] = (0.8, 1.2)
    contrast: tuple[float, float] = (0.8, 1.2)
    # framing: the photo placed in a wider, further-away frame, as a webcam or a group shot sees a person. Its height
    # share of the frame (``frame_height``), its width share relative to that (``frame_narrow``: the photo's aspect
    # over the frame's, 1 for a frame of the photo's shape, 0.42 for a 3:4 photo in 16:9; the sample is the frame
    # squeezed to the training size, as a model sees a wide photo), its centre across the frame (``frame_centre``,
    # share of the width), its bottom on the frame's bottom edge. The rest of the frame is the photo's background
    # with the person inpainted out (``bench.data.framing``, as in the robustness suite), so its truth is background.
    p_frame: float = 0.0
    frame_height: tuple[float, float] = (0.5, 1.0)
    frame_narrow: tuple[float, float] = (0.42, 1.0)
    frame_centre: tuple[float, float] = (0.2, 0.8)
    # geometric jitter: scale factor, rotation (degrees), translation (share of the side); the uncovered border is
    # filled by reflecting the photo, and the mask is reflected with it (the reflected pixels are a mirrored person
    # or background, whose truth is the mirrored mask: no pixel needs an ignore label)
    p_affine: float = 0.0
    scale: tuple[float, float] = (0.75, 1.25)
    rotate: tuple[float, float] = (-30.0, 30.0)
    shift: tuple[float, float] = (-0.15, 0.15)
    # colour: saturation factor (1 keeps the photo) and hue rotation in degrees; a white-balance cast's strength
    p_colour: float = 0.0
    saturation: tuple[float, float] = (0.6, 1.4)
    hue: tuple[float, float] = (-10.0, 10.0)
    p_cast: float = 0.0
    cast: tuple[float, float] = (0.0, 0.3)
    # optics, sensor and file: Gaussian sigma and motion length (px at 800), noise read std and shot gain, JPEG quality
    p_blur: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 3.0)
    p_motion: float = 0.0
    motion_length: tuple[float, float] = (3.0, 17.0)
    p_noise: float = 0.0
    noise_read: tuple[float, float] = (0.0, 8.0)
    noise_shot: tuple[float, float] = (0.0, 0.8)
    p_jpeg: float = 0.0
    jpeg_quality: tuple[float, float] = (15.0, 90.0)
    # a clean tail: the extra stages run in the first ``extra_epochs`` epochs only (0: in every epoch), and the last
    # ones see the paper's recipe, as YOLOX turns its strong augmentation off for its final epochs
    extra_epochs: int = 0

    @property
    def extra(self) -> tuple[str, ...]:
        """The extra stages this recipe turns on (none: the paper's recipe)."""
        return tuple(s for s in STAGES if getattr(self, f"p_{s}") > 0)

    def check(self) -> None:
        """Raise ``AugmentError`` naming the first setting that cannot work."""
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "extra_epochs":
                if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                    raise AugmentError(f"augment extra_epochs is a whole number of epochs, 0 or more, got {v}")
            elif isinstance(v, tuple):
                if len(v) != 2 or not v[0] <= v[1]:
                    raise AugmentError(f"augment {f.name} must be a range [low, high] with low <= high, got {list(v)}")
            elif not 0.0 <= v <= 1.0:
                raise AugmentError(f"augment {f.name} is a probability in [0, 1], got {v}")


def make_augment(overrides: dict[str, object] | None) -> Augment:
    """The recipe from ``TrainConfig.augment`` (the fields that differ from the paper's; None: none), checked."""
    names = [f.name for f in fields(Augment)]
    unknown = sorted(set(overrides or {}) - set(names))
    if unknown:
        raise AugmentError(f"unknown augment setting {unknown[0]!r}; expected one of {', '.join(names)}")
    a = Augment(**{k: tuple(v) if isinstance(v, list | tuple) else v for k, v in (overrides or {}).items()})
    a.check()
    return a


def canonical(overrides: dict[str, object] | None) -> dict[str, object] | None:
    """The settings that differ from the paper's, sorted, as JSON would hold them; None when none do. What a run
    records as ``augment`` and is identified by, so spelling the defaults out names the same run as leaving them."""
    a, base = asdict(make_augment(overrides)), asdict(Augment())
    diff = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(a.items()) if v != base[k]}
    return diff or None


def adjust_brightness_contrast(rgb: np.ndarray, brightness: float, contrast: float) -> np.ndarray:
    """Scale intensities by ``brightness``, then stretch around the mean grey level by ``contrast``; float32 0-255."""
    x = rgb.astype(np.float32) * np.float32(brightness)
    np.clip(x, 0.0, 255.0, out=x)
    grey = float((x.reshape(-1, 3) @ LUMA).mean())
    x = (x - grey) * np.float32(contrast) + grey
    return np.clip(x, 0.0, 255.0, out=x)


def affine(rgb: np.ndarray, mask: np.ndarray, scale: float, angle: float, dx: float,
           dy: float) -> tuple[np.ndarray, np.ndarray]:
    """Photo and mask scaled and turned about the centre and moved by (dx, dy) of the side, borders reflected."""
    h, w = mask.shape
    m = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), angle, scale)
    m[:, 2] += (dx * w, dy * h)
    out = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return out, cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)


def reframe(rgb: np.ndarray, mask: np.ndarray, height: float, narrow: float,
            centre: float) -> tuple[np.ndarray, np.ndarray]:
    """Photo and mask as seen in a wider frame squeezed back to their size (``Augment.p_frame``): scaled by
    ``height`` down and ``height * narrow`` across, bottom-centre moved to ``centre`` of the width on the bottom
    edge, the uncovered frame a person-free background plate."""
    h, w = mask.shape
    sx, sy = height * narrow, height
    x0, y0 = (w - 1) / 2.0, float(h - 1)
    m = np.array([[sx, 0.0, centre * (w - 1) - sx * x0], [0.0, sy, y0 - sy * y0]], np.float64)
    return place(rgb, mask, m, (h, w))


def colour(rgb: np.ndarray, saturation: float, hue: float) -> np.ndarray:
    """Saturation scaled around each pixel's grey (as torchvision's adjust_saturation), then the hue turned by
    ``hue`` degrees (OpenCV's 8-bit HSV, where hue runs 0-179)."""
    x = rgb.astype(np.float32)
    grey = (x @ LUMA)[..., None]
    x = np.clip(grey + np.float32(saturation) * (x - grey) + 0.5, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(x, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + round(hue / 2.0)) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def _stage_rng(seed: int, epoch: int, index: int, stage: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(epoch), int(index), STAGES.index(stage) + 1])


def augment_sample(a: Augment, rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                   key: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """One training sample (RGB uint8, uint8 mask) augmented: float32 0-255 RGB and the uint8 mask.

    ``rng`` is the sample's generator (``bench.data.pipeline.sample_rng``), ``key`` its (seed, epoch, index), from
    which each extra stage seeds its own; epochs count from 0.
    """
    flip, b, c = rng.random(), rng.uniform(*a.brightness), rng.uniform(*a.contrast)  # always three draws
    if flip < a.hflip:
        rgb, mask = rgb[:, ::-1], mask[:, ::-1]
    on = a.extra if not a.extra_epochs or key[1] < a.extra_epochs else ()
    if "frame" in on:
        g = _stage_rng(*key, "frame")
        if g.random() < a.p_frame:
            hs, nr, cx = g.uniform(*a.frame_height), g.uniform(*a.frame_narrow), g.uniform(*a.frame_centre)
            rgb, mask = reframe(np.ascontiguousarray(rgb), np.ascontiguousarray(mask), hs, nr, cx)
    if "affine" in on:
        g = _stage_rng(*key, "affine")
        if g.random() < a.p_affine:
            s, r, dx, dy = g.uniform(*a.scale), g.uniform(*a.rotate), g.uniform(*a.shift), g.uniform(*a.shift)
            rgb, mask = affine(np.ascontiguousarray(rgb), np.ascontiguousarray(mask), s, r, dx, dy)
    x = adjust_brightness_contrast(rgb, b, c)
    photometric = [s for s in on if s not in GEOMETRIC]
    if not photometric:
        return x, np.ascontiguousarray(mask)
    img = (x + 0.5).astype(np.uint8)
    steps = {"colour": lambda g: colour(img, g.uniform(*a.saturation), g.uniform(*a.hue)),
             "cast": lambda g: colour_cast(img, g, g.uniform(*a.cast)),
             "blur": lambda g: gaussian_blur(img, g, g.uniform(*a.blur_sigma)),
             "motion": lambda g: motion_blur(img, g, g.uniform(*a.motion_length)),
             "noise": lambda g: sensor_noise(img, g, g.uniform(*a.noise_read), g.uniform(*a.noise_shot)),
             "jpeg": lambda g: jpeg(img, g, round(g.uniform(*a.jpeg_quality)))}
    for stage in photometric:  # each step reads ``img`` as the previous one left it
        g = _stage_rng(*key, stage)
        if g.random() < getattr(a, f"p_{stage}"):
            img = steps[stage](g)
    return img.astype(np.float32), np.ascontiguousarray(mask)
