"""The robustness suite's perturbations: what photos from real cameras do that PFCN's clean, centred portraits do not.

Each is a small pure function of an RGB uint8 photo, its mask and a seeded ``numpy`` generator (numpy and OpenCV over
whole arrays, no per-pixel Python), returning the perturbed photo and its truth: the same mask for the photometric
ones, the mask moved with the photo for the geometric ones (``bench.data.framing``: the frame outside the moved
photo is a person-free background plate, so the truth there is background). Their parameters per severity (1, 2, 3)
are in one table, ``SEVERITIES``; lengths in pixels are for a photo whose long side is ``REFERENCE_SIDE`` and scale
with the photo. The photometric functions live in ``bench.data.photometric``, shared with the training augmentation.

``perturb(kind, severity, rgb, mask, seed, sample_id)`` draws its generator from (seed, kind, sample id), so the same
inputs give the same bytes, whatever other photos or kinds are run beside them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.data.framing import place, similarity
from bench.data.photometric import (
    colour_cast,
    gaussian_blur,
    jpeg,
    low_contrast,
    low_light,
    motion_blur,
    over_exposure,
    sensor_noise,
)

LANDSCAPE = 16 / 9


# -- geometric -------------------------------------------------------------------------------------------------------
def _bottom_centre(rgb: np.ndarray) -> tuple[float, float]:
    h, w = rgb.shape[:2]
    return (w - 1) / 2.0, float(h - 1)


def rotation(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
             angle: float) -> tuple[np.ndarray, np.ndarray]:
    """A tilted camera: the photo turned by ``angle`` degrees (random sign) about its centre, same frame."""
    h, w = mask.shape
    centre = ((w - 1) / 2.0, (h - 1) / 2.0)
    return place(rgb, mask, similarity(1.0, angle * rng.choice((-1.0, 1.0)), centre, centre), (h, w))


def zoom_out(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
             scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The subject further away: the photo shrunk by ``scale`` in the same frame, on the bottom edge at the centre
    (the body still runs out of the frame's bottom, as in the photo)."""
    h, w = mask.shape
    anchor = _bottom_centre(rgb)
    return place(rgb, mask, similarity(scale, 0.0, anchor, anchor), (h, w))


def off_centre(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
               shift: float) -> tuple[np.ndarray, np.ndarray]:
    """The subject to one side: the photo moved sideways by ``shift`` of its width (random side), part of it
    leaving the frame."""
    h, w = mask.shape
    anchor = _bottom_centre(rgb)
    dst = (anchor[0] + shift * w * rng.choice((-1.0, 1.0)), anchor[1])
    return place(rgb, mask, similarity(1.0, 0.0, anchor, dst), (h, w))


def landscape(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
              height: float) -> tuple[np.ndarray, np.ndarray]:
    """A webcam's view: a 16:9 frame as tall as the photo, the portrait in its middle on the bottom edge, scaled to
    ``height`` of the frame's height."""
    h, _ = mask.shape
    fw = round(h * LANDSCAPE)
    anchor = _bottom_centre(rgb)
    return place(rgb, mask, similarity(height, 0.0, anchor, ((fw - 1) / 2.0, anchor[1])), (h, fw))


# -- the suite -------------------------------------------------------------------------------------------------------
Photo = Callable[..., np.ndarray]
Geometry = Callable[..., tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Perturbation:
    """One kind: its function, whether it moves the subject (then the mask moves too) and what it models."""

    fn: Photo | Geometry
    geometric: bool
    what: str


PERTURBATIONS: dict[str, Perturbation] = {
    "noise": Perturbation(sensor_noise, False, "sensor noise, std sqrt(read^2 + shot * value)"),
    "gaussian_blur": Perturbation(gaussian_blur, False, "defocus, Gaussian sigma (px)"),
    "motion_blur": Perturbation(motion_blur, False, "camera shake, line kernel length (px), random angle"),
    "jpeg": Perturbation(jpeg, False, "JPEG quality"),
    "low_light": Perturbation(low_light, False, "linear light x exposure, then sensor noise"),
    "over_exposure": Perturbation(over_exposure, False, "linear light x gain, clipped"),
    "low_contrast": Perturbation(low_contrast, False, "values pulled to the mean, contrast kept"),
    "colour_cast": Perturbation(colour_cast, False, "white balance off: channel gains exp(strength cos), random hue"),
    "rotation": Perturbation(rotation, True, "camera tilt, degrees (random sign)"),
    "zoom_out": Perturbation(zoom_out, True, "subject scaled in the same frame, bottom-centred"),
    "off_centre": Perturbation(off_centre, True, "subject moved sideways, share of the width (random side)"),
    "landscape": Perturbation(landscape, True, "16:9 frame as tall as the photo, subject's share of its height"),
}

# The parameters of each kind at severity 1, 2, 3 (lengths in px at REFERENCE_SIDE).
SEVERITIES: dict[str, tuple[dict[str, float], dict[str, float], dict[str, float]]] = {
    "noise": ({"read": 4, "shot": 0.3}, {"read": 8, "shot": 0.8}, {"read": 14, "shot": 2.0}),
    "gaussian_blur": ({"sigma": 1.5}, {"sigma": 3.0}, {"sigma": 6.0}),
    "motion_blur": ({"length": 9}, {"length": 17}, {"length": 33}),
    "jpeg": ({"quality": 30}, {"quality": 15}, {"quality": 7}),
    "low_light": ({"exposure": 0.35, "read": 3, "shot": 0.3}, {"exposure": 0.2, "read": 5, "shot": 0.6},
                  {"exposure": 0.1, "read": 8, "shot": 1.0}),
    "over_exposure": ({"gain": 1.8}, {"gain": 2.8}, {"gain": 4.5}),
    "low_contrast": ({"contrast": 0.6}, {"contrast": 0.4}, {"contrast": 0.25}),
    "colour_cast": ({"strength": 0.15}, {"strength": 0.3}, {"strength": 0.5}),
    "rotation": ({"angle": 8}, {"angle": 16}, {"angle": 30}),
    "zoom_out": ({"scale": 0.8}, {"scale": 0.65}, {"scale": 0.5}),
    "off_centre": ({"shift": 0.15}, {"shift": 0.25}, {"shift": 0.35}),
    "landscape": ({"height": 1.0}, {"height": 0.8}, {"height": 0.6}),
}
KINDS = tuple(PERTURBATIONS)
LEVELS = (1, 2, 3)


def set_name(kind: str, severity: int) -> str:
    """A perturbed set's name (its records' and written dataset's): ``<kind>-<severity>``."""
    return f"{kind}-{severity}"


def generator(seed: int, kind: str, sample_id: str) -> np.random.Generator:
    """The generator of one photo's perturbation, from stable hashes (crc32, not Python's salted ``hash``). The
    severity is not in it: a photo's three severities draw the same direction, side, hue and noise pattern, and
    differ only in how much."""
    return np.random.default_rng([int(seed), zlib.crc32(kind.encode()), zlib.crc32(sample_id.encode())])


def perturb(kind: str, severity: int, rgb: np.ndarray, mask: np.ndarray, seed: int = 0,
            sample_id: str = "") -> tuple[np.ndarray, np.ndarray]:
    """The photo (RGB uint8) and its truth (uint8 0/1/255) under ``kind`` at ``severity`` (1-3)."""
    p = PERTURBATIONS[kind]
    params = SEVERITIES[kind][severity - 1]
    rng = generator(seed, kind, sample_id)
    if p.geometric:
        return p.fn(rgb, mask, rng, **params)
    return p.fn(rgb, rng, **params), mask


def table_markdown() -> str:
    """The suite as a Markdown table: each kind, what it models and its three severities' parameters."""
    lines = ["| perturbation | what | severity 1 | severity 2 | severity 3 |", "|---|---|---|---|---|"]
    for kind, p in PERTURBATIONS.items():
        cells = [", ".join(f"{k} {v:g}" for k, v in level.items()) for level in SEVERITIES[kind]]
        lines.append(f"| {kind} | {p.what} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
