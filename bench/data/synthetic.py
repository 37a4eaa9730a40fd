"""A procedural portrait set: head-and-shoulder figures on textured backgrounds, with exact masks.

``bench run-all`` uses it when no real dataset is given, so that every model goes through the same code path
(the portrait dataset format, training, evaluation) in minutes on a CPU. Each image holds one to three figures
(a head ellipse, maybe a hair cap, a neck, and shoulders drawn as a rounded trapezoid or an ellipse segment), at
different scales and positions, overlapping and sometimes cut by the image border. Every figure is first drawn as a
part-label layer without antialiasing; the colours are painted from that layer, so the mask (the union of the layers)
is exactly the set of pixels the figures cover. Blur and sensor noise are added to the image afterwards only.

Each sample draws from its own generator seeded by ``(seed, index)``: the output is byte-identical for a seed and does
not depend on the order in which samples are made (a resumed build gives the same files).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench.data.format import DatasetWriter, validate

NAME = "synthetic"
CREATED_BY = "bench.data.synthetic"
GENERATOR_VERSION = 1
DEFAULT_SIZE = (160, 208)  # (W, H), 3:4 like PFCN's 600x800
DEFAULT_N_TRAIN, DEFAULT_N_TEST = 80, 20

# Part labels of a figure layer (0 = not the figure). Painted in this order: later parts cover earlier ones.
TORSO, NECK, HEAD, HAIR = 1, 2, 3, 4

_SKIN_TONES = np.array([  # RGB, light to dark
    (255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 134, 96), (161, 102, 70), (120, 74, 50), (84, 52, 36),
], np.float32)
_HAIR_COLOURS = np.array([
    (20, 16, 14), (48, 32, 22), (86, 58, 36), (140, 98, 58), (196, 158, 98), (160, 72, 40), (150, 150, 150),
], np.float32)


@dataclass(frozen=True)
class Figure:
    """One head-and-shoulder figure in pixel units (the head centre may lie outside the image)."""

    cx: float  # head centre x
    cy: float  # head centre y
    head_a: float  # head semi-axis, horizontal
    head_b: float  # head semi-axis, vertical
    tilt: float  # head rotation in degrees
    neck_w: float  # neck half-width
    shoulder_y: float  # y of the shoulder line (top of the torso)
    shoulder_w: float  # torso half-width at the shoulder line
    torso_w: float  # torso half-width at its bottom
    torso_h: float  # torso height below the shoulder line
    torso: str  # "trapezoid" (rounded corners) or "ellipse" (upper half of an ellipse)
    hair: bool  # draw a hair cap over the top of the head
    skin: tuple[int, int, int]
    hair_colour: tuple[int, int, int]
    cloth: tuple[int, int, int]
    cloth_pattern: str  # "plain" or "stripes"


@dataclass
class Sample:
    """One rendered sample: the final image, the image before blur and noise, the mask and the instances."""

    image: np.ndarray  # RGB uint8 (H, W, 3), blurred and noisy
    sharp: np.ndarray  # RGB uint8 (H, W, 3), as painted, before blur and noise
    mask: np.ndarray  # uint8 (H, W), 1 where any figure is drawn
    instances: np.ndarray  # uint8 (H, W), index + 1 of the front-most figure at each pixel, 0 for background
    figures: list[Figure]


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(x)), int(round(y))


def figure_parts(fig: Figure, size: tuple[int, int]) -> np.ndarray:
    """Part labels (H, W) uint8 of one figure, drawn without antialiasing so each pixel is in or out."""
    w, h = size
    layer = np.zeros((h, w), np.uint8)
    line = cv2.LINE_8
    top, bottom = fig.shoulder_y, fig.shoulder_y + fig.torso_h
    if fig.torso == "ellipse":
        # The upper half of a wide ellipse for the shoulders, continued straight down to the torso's bottom.
        ry = 0.6 * fig.shoulder_w
        cv2.ellipse(layer, _pt(fig.cx, top + ry), _pt(fig.torso_w, ry), 0, 180, 360, TORSO, -1, line)
        cv2.rectangle(layer, _pt(fig.cx - fig.torso_w, top + ry), _pt(fig.cx + fig.torso_w, bottom), TORSO, -1, line)
    else:
        r = max(1, int(round(0.35 * fig.shoulder_w)))  # the shoulders' rounding
        poly = np.array([_pt(fig.cx - fig.shoulder_w + r, top), _pt(fig.cx + fig.shoulder_w - r, top),
                         _pt(fig.cx + fig.shoulder_w, top + r), _pt(fig.cx + fig.torso_w, bottom),
                         _pt(fig.cx - fig.torso_w, bottom), _pt(fig.cx - fig.shoulder_w, top + r)], np.int32)
        cv2.fillPoly(layer, [poly], TORSO, line)
        for sx in (-1, 1):
            cv2.circle(layer, _pt(fig.cx + sx * (fig.shoulder_w - r), top + r), r, TORSO, -1, line)
    neck_top = fig.cy + 0.5 * fig.head_b
    cv2.rectangle(layer, _pt(fig.cx - fig.neck_w, neck_top), _pt(fig.cx + fig.neck_w, top + 2), NECK, -1, line)
    cv2.ellipse(layer, _pt(fig.cx, fig.cy), _pt(fig.head_a, fig.head_b), fig.tilt, 0, 360, HEAD, -1, line)
    if fig.hair:
        # The cap: the upper half of a slightly larger ellipse sitting a little higher than the head.
        cap_c = _pt(fig.cx, fig.cy - 0.12 * fig.head_b)
        cv2.ellipse(layer, cap_c, _pt(1.08 * fig.head_a, 1.0 * fig.head_b), fig.tilt, 180, 360, HAIR, -1, line)
    return layer


def _random_colour(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(*sat) * 255, rng.uniform(*val) * 255]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _coords(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    w, h = size
    return np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))


def _mix(c1: np.ndarray, c2: np.ndarray, t: np.ndarray) -> np.ndarray:
    return c1 * (1.0 - t[..., None]) + c2 * t[..., None]


def make_background(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A textured background, float32 RGB (H, W, 3) in [0, 255]: gradient, stripes, blobs, checker or rectangles."""
    w, h = size
    x, y = _coords(size)
    c1, c2 = _random_colour(rng, (0.05, 0.8), (0.2, 0.95)), _random_colour(rng, (0.05, 0.8), (0.2, 0.95))
    kind = rng.choice(["gradient", "stripes", "blobs", "checker", "rectangles"])
    angle = rng.uniform(0, np.pi)
    along = (x * np.cos(angle) + y * np.sin(angle)).astype(np.float32)
    if kind == "gradient":
        t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
        bg = _mix(c1, c2, t)
    elif kind == "stripes":
        period = rng.uniform(6, 40)
        t = 0.5 + 0.5 * np.sin(2 * np.pi * along / period)
        if rng.random() < 0.5:
            t = (t > 0.5).astype(np.float32)
        bg = _mix(c1, c2, t)
    elif kind == "blobs":
        cell = int(rng.integers(8, 40))
        low = rng.random((h // cell + 2, w // cell + 2)).astype(np.float32)
        t = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
        bg = _mix(c1, c2, t)
    elif kind == "checker":
        cell = rng.uniform(8, 36)
        t = ((np.floor(x / cell) + np.floor(y / cell)) % 2).astype(np.float32)
        bg = _mix(c1, c2, t)
    else:
        t = (along - along.min()) / max(float(np.ptp(along)), 1.0)
        bg = _mix(c1, c1 * 0.7 + c2 * 0.3, t)
        for _ in range(int(rng.integers(4, 14))):
            x0, y0 = int(rng.integers(-w // 4, w)), int(rng.integers(-h // 4, h))
            x1, y1 = x0 + int(rng.integers(w // 10, w // 2)), y0 + int(rng.integers(h // 10, h // 2))
            colour = tuple(float(v) for v in _random_colour(rng, (0.0, 0.9), (0.15, 1.0)))
            cv2.rectangle(bg, (x0, y0), (x1, y1), colour, -1, cv2.LINE_8)
    # Soft illumination over the whole scene and a fine grain, so no background is perfectly flat.
    light = 1.0 + rng.uniform(-0.2, 0.2) * (y / h - 0.5) + rng.uniform(-0.2, 0.2) * (x / w - 0.5)
    grain = rng.normal(0, rng.uniform(1, 6), (h, w, 1)).astype(np.float32)
    return np.clip(bg * light[..., None] + grain, 0, 255).astype(np.float32)


def random_figure(rng: np.random.Generator, size: tuple[int, int], scale: float, cx: float) -> Figure:
    """A figure whose head is ``scale`` times the image width wide, centred near ``cx``."""
    w, h = size
    head_a = scale * w / 2 * rng.uniform(0.9, 1.1)
    head_b = head_a * rng.uniform(1.15, 1.4)
    cy = rng.uniform(0.25, 0.5) * h if scale > 0.3 else rng.uniform(0.2, 0.6) * h
    shoulder_y = cy + head_b * rng.uniform(1.05, 1.35)
    shoulder_w = head_a * rng.uniform(1.9, 2.8)
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.9, 1.08) + rng.normal(0, 6, 3)
    hair = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))] * rng.uniform(0.85, 1.15) + rng.normal(0, 5, 3)
    cloth = _random_colour(rng, (0.1, 1.0), (0.15, 1.0))
    return Figure(
        cx=float(cx), cy=float(cy), head_a=float(head_a), head_b=float(head_b), tilt=float(rng.uniform(-12, 12)),
        neck_w=float(head_a * rng.uniform(0.4, 0.6)), shoulder_y=float(shoulder_y), shoulder_w=float(shoulder_w),
        torso_w=float(shoulder_w * rng.uniform(1.0, 1.25)), torso_h=float(max(h - shoulder_y, 0) + head_b * 2),
        torso=str(rng.choice(["trapezoid", "ellipse"], p=[0.6, 0.4])), hair=bool(rng.random() < 0.75),
        skin=_rgb(skin), hair_colour=_rgb(hair), cloth=_rgb(cloth),
        cloth_pattern=str(rng.choice(["plain", "stripes"], p=[0.7, 0.3])),
    )


def _rgb(c: np.ndarray) -> tuple[int, int, int]:
    r, g, b = np.clip(np.round(c), 0, 255).astype(int).tolist()
    return r, g, b


def paint_figure(canvas: np.ndarray, parts: np.ndarray, fig: Figure, rng: np.random.Generator | None = None) -> None:
    """Paint one figure's parts onto ``canvas`` (float32 RGB, in place); with ``rng``, add shading and texture."""
    h, w = parts.shape
    palette = np.zeros((5, 3), np.float32)
    palette[TORSO], palette[NECK], palette[HEAD], palette[HAIR] = fig.cloth, fig.skin, fig.skin, fig.hair_colour
    colour = palette[parts]
    inside = parts > 0
    if rng is not None:
        x, y = _coords((w, h))
        if fig.cloth_pattern == "stripes":
            period = rng.uniform(4, 12)
            stripe = (np.sin(2 * np.pi * (y - fig.shoulder_y) / period) > 0)[..., None]
            other = np.array(_random_colour(rng, (0.0, 1.0), (0.1, 1.0)), np.float32)
            colour = np.where((parts == TORSO)[..., None] & stripe, other, colour)
        # Light falling from one side: brighter on one half, darker on the other, plus a little noise.
        side = rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.3)
        shade = 1.0 + side * np.clip((x - fig.cx) / max(fig.shoulder_w, 1.0), -1, 1)
        colour = colour * shade[..., None] + rng.normal(0, 3, (h, w, 1)).astype(np.float32)
    canvas[inside] = colour[inside]


def _layout(rng: np.random.Generator, size: tuple[int, int]) -> list[Figure]:
    """One to three figures, back to front: the largest (nearest) is drawn last."""
    w, _ = size
    n = int(rng.choice([1, 2, 3], p=[0.5, 0.32, 0.18]))
    if n == 1:
        scales = [rng.uniform(0.28, 0.5)]
        centres = [rng.uniform(0.3, 0.7) * w]
    else:
        scales = sorted(rng.uniform(0.14, 0.36, n).tolist())
        # Spread the figures across the width; the outer ones may be cut by the border.
        slots = (np.arange(n) + rng.uniform(0.2, 0.8, n)) / n
        centres = (rng.permutation(slots) * 1.2 - 0.1) * w
    return [random_figure(rng, size, float(s), float(c)) for s, c in zip(scales, centres, strict=True)]


def render_sample(seed: int, index: int, size: tuple[int, int] = DEFAULT_SIZE) -> Sample:
    """Render sample ``index`` of the set with ``seed``: the same arguments always give the same arrays."""
    w, h = size
    rng = np.random.default_rng([int(seed), int(index), GENERATOR_VERSION])
    canvas = make_background(rng, size)
    figures = _layout(rng, size)
    layers = [figure_parts(f, size) for f in figures]
    instances = np.zeros((h, w), np.uint8)
    for i, layer in enumerate(layers):
        instances[layer > 0] = i + 1
    # A figure hidden (almost) entirely behind a nearer one, or outside the image, is not a figure of this image.
    visible = np.bincount(instances.ravel(), minlength=len(figures) + 1)[1:]
    keep = [i for i in range(len(figures)) if visible[i] >= 0.004 * w * h]
    if not keep:  # cannot happen with the layout above (the nearest figure is large and central), but be safe
        keep = [int(np.argmax(visible))]
    figures, layers = [figures[i] for i in keep], [layers[i] for i in keep]
    instances[:] = 0
    for i, (fig, layer) in enumerate(zip(figures, layers, strict=True)):
        paint_figure(canvas, layer, fig, rng)
        instances[layer > 0] = i + 1
    sharp = np.clip(np.round(canvas), 0, 255).astype(np.uint8)
    sigma = rng.uniform(0.3, 0.9)
    blurred = cv2.GaussianBlur(canvas, (0, 0), sigmaX=sigma)
    noisy = blurred + rng.normal(0, rng.uniform(0.5, 3.0), blurred.shape).astype(np.float32)
    image = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
    mask = (instances > 0).astype(np.uint8)
    return Sample(image=image, sharp=sharp, mask=mask, instances=instances, figures=figures)


def synthetic_params(n_train: int, n_test: int, size: tuple[int, int], seed: int) -> dict[str, object]:
    """The parameters that identify a build (stored in ``dataset.json``)."""
    return {"seed": int(seed), "n_train": int(n_train), "n_test": int(n_test), "width": int(size[0]),
            "height": int(size[1]), "generator_version": GENERATOR_VERSION}


def is_finished(root: str | os.PathLike, params: dict[str, object]) -> bool:
    """True if ``root`` holds a finished, structurally valid synthetic set built with ``params``."""
    meta_path = Path(root) / "dataset.json"
    if not meta_path.exists():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same = (isinstance(meta, dict) and meta.get("name") == NAME and meta.get("params") == params
            and meta.get("image_format") == "jpg")
    return bool(same) and not validate(root, full=False)


def make_synthetic(
    root: str | os.PathLike,
    n_train: int = DEFAULT_N_TRAIN,
    n_test: int = DEFAULT_N_TEST,
    size: tuple[int, int] = DEFAULT_SIZE,
    seed: int = 0,
) -> Path:
    """Build (or finish, or find) the synthetic portrait set in ``root``; returns ``root``.

    A folder that already holds the finished set with these parameters is returned untouched; an interrupted build
    continues where it stopped; a folder holding a different dataset raises ``DatasetError``.
    """
    if n_train < 1 or n_test < 1:
        raise ValueError(f"n_train and n_test must be at least 1, got {n_train} and {n_test}")
    w, h = (int(v) for v in size)
    if w < 32 or h < 32:
        raise ValueError(f"size must be at least 32x32 pixels, got {w}x{h}")
    root = Path(root)
    params = synthetic_params(n_train, n_test, (w, h), seed)
    if is_finished(root, params):
        return root
    writer = DatasetWriter(root, NAME, CREATED_BY, params=params, fields=("n_figures", "fg_fraction"),
                           image_format="jpg")
    with writer:
        for index in range(n_train + n_test):
            split = "train" if index < n_train else "test"
            sample_id = f"{split}-{index:05d}"
            if writer.done(sample_id):
                continue
            s = render_sample(seed, index, (w, h))
            writer.add(sample_id, s.image, s.mask, split, source=f"seed={seed} index={index}",
                       n_figures=len(s.figures), fg_fraction=round(float(s.mask.mean()), 4))
        writer.finalize()
    return root
