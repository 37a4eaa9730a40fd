"""The robustness suite's perturbations: what photos from real cameras do that PFCN's clean, centred portraits do not.

Each is a small pure function of an RGB uint8 photo, its mask and a seeded ``numpy`` generator (numpy and OpenCV over
whole arrays, no per-pixel Python), returning the perturbed photo and its truth: the same mask for the photometric
ones, the mask moved with the photo for the geometric ones (``bench.robustness.frame``: the frame outside the moved
photo is a person-free background plate, so the truth there is background). Their parameters per severity (1, 2, 3)
are in one table, ``SEVERITIES``; lengths in pixels are for a photo whose long side is ``REFERENCE_SIDE`` and scale
with the photo. Exposure and colour act in linear light (sRGB approximated by a 2.2 gamma), as a sensor would.

``perturb(kind, severity, rgb, mask, seed, sample_id)`` draws its generator from (seed, kind, sample id), so the same
inputs give the same bytes, whatever other photos or kinds are run beside them.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from bench.robustness.frame import place, similarity

REFERENCE_SIDE = 800  # lengths in SEVERITIES are pixels of a photo with this long side (PFCN: 600x800)
GAMMA = 2.2
LANDSCAPE = 16 / 9


# -- photometric ---------------------------------------------------------------------------------------------------
def to_linear(rgb: np.ndarray) -> np.ndarray:
    return (rgb.astype(np.float32) / 255.0) ** GAMMA


def from_linear(lin: np.ndarray) -> np.ndarray:
    return (np.clip(lin, 0.0, 1.0) ** (1.0 / GAMMA) * 255.0 + 0.5).astype(np.uint8)


def _scaled(length: float, rgb: np.ndarray) -> float:
    return float(length) * max(rgb.shape[:2]) / REFERENCE_SIDE


def sensor_noise(rgb: np.ndarray, rng: np.random.Generator, read: float, shot: float) -> np.ndarray:
    """Read noise plus shot noise, independent per pixel and channel: std = sqrt(read^2 + shot * value), 8-bit
    units (brighter pixels are noisier, as on a sensor)."""
    x = rgb.astype(np.float32)
    std = np.sqrt(read * read + shot * x)
    return np.clip(x + std * rng.standard_normal(x.shape, dtype=np.float32) + 0.5, 0, 255).astype(np.uint8)


def gaussian_blur(rgb: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Defocus: a Gaussian of ``sigma`` pixels."""
    return cv2.GaussianBlur(rgb, (0, 0), _scaled(sigma, rgb))


def motion_blur(rgb: np.ndarray, rng: np.random.Generator, length: float) -> np.ndarray:
    """Camera shake during the exposure: a line kernel ``length`` pixels long at a random angle."""
    n = max(3, round(_scaled(length, rgb)) | 1)
    angle = rng.uniform(0.0, np.pi)
    kernel = np.zeros((n, n), np.float32)
    c, dx, dy = n // 2, np.cos(angle) * (n // 2), np.sin(angle) * (n // 2)
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1, cv2.LINE_AA)
    return cv2.filter2D(rgb, -1, kernel / kernel.sum(), borderType=cv2.BORDER_REFLECT_101)


def jpeg(rgb: np.ndarray, rng: np.random.Generator, quality: int) -> np.ndarray:
    """A JPEG round trip at ``quality`` (messaging apps, web uploads)."""
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def low_light(rgb: np.ndarray, rng: np.random.Generator, exposure: float, read: float, shot: float) -> np.ndarray:
    """A dim room: the light scaled by ``exposure``, then the sensor's noise, which the dark image shows more."""
    return sensor_noise(from_linear(to_linear(rgb) * exposure), rng, read, shot)


def over_exposure(rgb: np.ndarray, rng: np.random.Generator, gain: float) -> np.ndarray:
    """Too much light: linear light times ``gain``, highlights clipped (blown skin and sky)."""
    return from_linear(to_linear(rgb) * gain)


def low_contrast(rgb: np.ndarray, rng: np.random.Generator, contrast: float) -> np.ndarray:
    """Haze or a washed-out screen capture: every value pulled towards the photo's mean, keeping ``contrast``."""
    x = rgb.astype(np.float32)
    mean = x.mean(axis=(0, 1), keepdims=True)
    return np.clip(mean + contrast * (x - mean) + 0.5, 0, 255).astype(np.uint8)


def colour_cast(rgb: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A wrong white balance: per-channel gains in linear light, exp(strength * cos(hue - k 120 deg)) at a random
    hue, normalised to keep the mean gain 1."""
    hue = rng.uniform(0.0, 2 * np.pi)
    gains = np.exp(strength * np.cos(hue - np.arange(3) * 2 * np.pi / 3)).astype(np.float32)
    return from_linear(to_linear(rgb) * (gains / gains.mean()))


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
