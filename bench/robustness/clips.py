"""Synthetic video clips from real photos: a test photo's subject moving against another photo's room, filmed by a
hand-held camera that pans, zooms, rolls and shakes, with the exposure drifting and fresh sensor noise in every frame.
The truth of every frame is the subject's mask moved the same way, so a model's frames can be scored exactly.

The motion is synthetic; the photos are real. Each frame is one affine map of the subject photo (its subject's own
motion, then the camera's) composited, by its mask, over the background plate of the other photo (that photo with
its person inpainted out: ``bench.data.framing``) under the camera's map. The subject photo is extended
downwards by repeating its last rows first, so the body still leaves the frame's bottom when the subject bobs.
Every path is a smooth random curve: the sum of three sines of random frequency (``CYCLES_HZ``), phase and weight,
scaled to the amplitude in ``ClipSettings``; the shake is white noise averaged over three frames. Everything is drawn
from a generator seeded by (seed, clip), so a seed gives the same bytes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from bench.data.framing import background_plate, similarity
from bench.data.photometric import from_linear, sensor_noise, to_linear

CYCLES_HZ = (0.15, 0.7)  # the frequencies of the smooth paths, per second of clip
EXTEND_BELOW = 0.3  # the subject photo is extended down by this share of its height


@dataclass(frozen=True)
class ClipSettings:
    """A clip's length and the amplitudes of its motions: shares of the frame's side, degrees, stops."""

    frames: int = 60
    fps: float = 25.0
    pan: float = 0.04  # camera pan, share of the frame's width (and 0.5 x that vertically)
    zoom: float = 0.05  # camera zoom about base_zoom, relative
    base_zoom: float = 1.08  # the camera sees a little less than the scene, so its edges rarely show
    roll: float = 2.0  # camera roll, degrees
    shake: float = 0.003  # hand-held shake: std of the frame-to-frame jitter, share of the frame's width
    shake_roll: float = 0.25  # and of the roll, degrees
    sway: float = 0.08  # the subject's sideways motion, share of the frame's width
    bob: float = 0.03  # the subject's vertical motion (downwards only), share of the frame's height
    lean: float = 3.0  # the subject's tilt, degrees
    scale: float = 0.04  # the subject coming closer and going back, relative
    exposure: float = 0.35  # exposure drift, stops (linear gain 2^(+-exposure))
    read: float = 4.0  # sensor noise of every frame: read noise, 8-bit units
    shot: float = 0.4  # and shot noise (std sqrt(read^2 + shot * value))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def smooth_path(rng: np.random.Generator, n: int, fps: float, amplitude: float) -> np.ndarray:
    """``n`` values of a smooth random curve within [-amplitude, amplitude]."""
    t = np.arange(n, dtype=np.float64) / fps
    freq = rng.uniform(*CYCLES_HZ, 3)
    phase = rng.uniform(0.0, 2 * np.pi, 3)
    weight = rng.dirichlet(np.ones(3))
    return amplitude * (weight[:, None] * np.sin(2 * np.pi * freq[:, None] * t + phase[:, None])).sum(0)


def shake_path(rng: np.random.Generator, n: int, std: float) -> np.ndarray:
    """Hand-held jitter: white noise averaged over three frames, of standard deviation ``std``."""
    noise = rng.standard_normal(n + 2) * std * np.sqrt(3.0)
    return np.convolve(noise, np.ones(3) / 3.0, mode="valid")


def _affine(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def _cover(rgb: np.ndarray, h: int, w: int) -> np.ndarray:
    """``rgb`` scaled to cover (h, w) and cropped at its centre."""
    s = max(h / rgb.shape[0], w / rgb.shape[1])
    big = cv2.resize(rgb, (max(w, round(rgb.shape[1] * s)), max(h, round(rgb.shape[0] * s))),
                     interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
    return big[y:y + h, x:x + w]


def clip_seed(seed: int, clip: int) -> list[int]:
    return [int(seed), zlib.crc32(b"clip"), int(clip)]


def clip_frames(subject: np.ndarray, subject_mask: np.ndarray, room: np.ndarray, room_mask: np.ndarray,
                seed: int = 0, clip: int = 0, settings: ClipSettings = ClipSettings()
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The clip's frames, one at a time: (RGB uint8 at the subject photo's size, its true mask 0/1/255)."""
    rng = np.random.default_rng(clip_seed(seed, clip))
    s, n = settings, settings.frames
    h, w = subject_mask.shape
    plate = _cover(background_plate(room, room_mask), h, w)
    pad = round(EXTEND_BELOW * h)
    photo = cv2.copyMakeBorder(subject, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
    mask = cv2.copyMakeBorder(subject_mask, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
    alpha_src = (mask != 0).astype(np.float32)
    paths = {
        "pan_x": smooth_path(rng, n, s.fps, s.pan * w) + shake_path(rng, n, s.shake * w),
        "pan_y": smooth_path(rng, n, s.fps, 0.5 * s.pan * h) + shake_path(rng, n, s.shake * w),
        "zoom": s.base_zoom * (1.0 + smooth_path(rng, n, s.fps, s.zoom)),
        "roll": smooth_path(rng, n, s.fps, s.roll) + shake_path(rng, n, s.shake_roll),
        "sway": smooth_path(rng, n, s.fps, s.sway * w),
        "bob": 0.5 * (smooth_path(rng, n, s.fps, s.bob * h) + s.bob * h),
        "lean": smooth_path(rng, n, s.fps, s.lean),
        "scale": 1.0 + smooth_path(rng, n, s.fps, s.scale),
        "stops": smooth_path(rng, n, s.fps, s.exposure),
    }
    centre, foot = ((w - 1) / 2.0, (h - 1) / 2.0), ((w - 1) / 2.0, float(h - 1))
    for t in range(n):
        p = {k: float(v[t]) for k, v in paths.items()}
        camera = similarity(p["zoom"], p["roll"], centre, (centre[0] + p["pan_x"], centre[1] + p["pan_y"]))
        body = similarity(p["scale"], p["lean"], foot, (foot[0] + p["sway"], foot[1] + p["bob"]))
        both = (_affine(camera) @ _affine(body))[:2]
        room_t = cv2.warpAffine(plate, camera, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        subj_t = cv2.warpAffine(photo, both, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        alpha = cv2.warpAffine(alpha_src, both, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        truth = cv2.warpAffine(mask, both, (w, h), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                               borderValue=0)
        a = alpha[..., None]
        lin = (a * to_linear(subj_t) + (1.0 - a) * to_linear(room_t)) * 2.0 ** p["stops"]
        yield sensor_noise(from_linear(lin), rng, s.read, s.shot), truth


def make_clip(subject: np.ndarray, subject_mask: np.ndarray, room: np.ndarray, room_mask: np.ndarray,
              seed: int = 0, clip: int = 0, settings: ClipSettings = ClipSettings()
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """All of a clip's frames and truths (``clip_frames`` collected)."""
    frames, truths = [], []
    for rgb, truth in clip_frames(subject, subject_mask, room, room_mask, seed, clip, settings):
        frames.append(rgb)
        truths.append(truth)
    return frames, truths


def clip_sources(ids: Sequence[str], clips: int, seed: int = 0) -> list[tuple[str, str]]:
    """(subject id, room id) of each clip: distinct subjects in a seeded order, each room another clip's subject."""
    order = [ids[i] for i in np.random.default_rng([int(seed), zlib.crc32(b"sources")]).permutation(len(ids))]
    return [(order[i], order[(i + 1) % len(order)]) for i in range(min(clips, len(order)))]
