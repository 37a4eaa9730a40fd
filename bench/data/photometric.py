"""Photometric degradations of an RGB uint8 photo: what a camera, a room's light and a messaging app do to it.

Shared by the robustness suite (``bench.robustness.perturb``, which sets their severities) and the training
augmentation (``bench.data.augment``, which draws their parameters per sample), so a model is trained and scored on
one definition of each. Pure functions of the photo and a seeded ``numpy`` generator, whole arrays only (numpy and
OpenCV). Lengths are pixels of a photo whose long side is ``REFERENCE_SIDE`` and scale with the photo. Exposure and
colour act in linear light (sRGB approximated by a 2.2 gamma), as a sensor would.
"""

from __future__ import annotations

import cv2
import numpy as np

REFERENCE_SIDE = 800  # lengths are pixels of a photo with this long side (PFCN: 600x800)
GAMMA = 2.2


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
