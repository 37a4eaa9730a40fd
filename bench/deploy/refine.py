"""Edge-aware refinement of a portrait probability map, guided by the photo it was predicted for.

A small model predicts at 224-512 px with a 1/8-stride output, so at a photo's own size its probability map is a
bilinear stretch of a 28-64 px grid: hair is cut off and a cut-out carries a halo some 10-25 px wide. The guided filter
(He, Sun and Tang, "Guided Image Filtering", TPAMI 2013) makes the map follow the photo's own edges: inside each
window the output is an affine function of the photo's colours fitted to the map, so where the photo has an edge the
map gets one, and where the photo is flat the map is smoothed. The colour version is used (hair against a background
of the same brightness differs in colour), computed on a copy of at most ``work_side`` pixels and its coefficients
upsampled (the "fast guided filter", He and Sun 2015), so a 24-megapixel photo costs what a 400 px one does.

numpy and OpenCV only, no per-pixel Python: box filters are ``cv2.boxFilter``, the per-pixel 3x3 systems solved in
closed form over whole arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Refine:
    """How a probability map is refined: ``radius`` (in pixels of a photo whose long side is ``reference_side``,
    scaled with the photo) and ``eps`` (the regularisation: larger keeps the map smoother where the photo's colours
    vary little). ``radius`` 0 is no refinement."""

    radius: int = 0
    eps: float = 1e-3
    reference_side: int = 800
    # the filter's own resolution: at 400 px it takes a third of the time at 800 and scored the same on validation
    # and test (reports/zoo/edges/: sinet-eg1800's boundary F 61.77 against 61.89)
    work_side: int = 400

    def __call__(self, rgb: np.ndarray, prob: np.ndarray) -> np.ndarray:
        if self.radius <= 0:
            return prob
        h, w = prob.shape
        radius = max(1, round(self.radius * max(h, w) / self.reference_side))
        return guided_filter(rgb, prob, radius, self.eps, self.work_side)

    def settings(self) -> dict[str, float]:
        """Plain JSON (a card, a manifest's ``refine``); ``from_settings`` reads it back."""
        return {"radius": self.radius, "eps": self.eps, "reference_side": self.reference_side,
                "work_side": self.work_side}

    @classmethod
    def from_settings(cls, d: dict | None) -> Refine:
        """``settings()`` read back, ignoring other keys (a manifest's record and figures); None: no refinement."""
        if not d:
            return NONE
        return cls(int(d["radius"]), float(d["eps"]), int(d.get("reference_side", 800)), int(d.get("work_side", 400)))

    @classmethod
    def parse(cls, spec: str, default: Refine) -> Refine:
        """``none``, ``guided`` (``default``'s settings, else radius 32 and eps 1e-3) or ``guided:RADIUS[:EPS]``."""
        kind, _, rest = spec.strip().lower().partition(":")
        if kind == "none" and not rest:
            return NONE
        if kind == "guided":
            base = default if default.radius > 0 else cls(32, 1e-3)
            if not rest:
                return base
            parts = rest.split(":")
            try:
                radius, eps = int(parts[0]), float(parts[1]) if len(parts) > 1 else base.eps
            except ValueError:
                radius, eps = -1, -1.0
            if len(parts) <= 2 and radius > 0 and eps > 0:
                return cls(radius, eps, base.reference_side, base.work_side)
        raise ValueError(f"refinement {spec!r}: expected auto, none, guided or guided:RADIUS[:EPS] (positive numbers)")

    def describe(self) -> str:
        return "none" if self.radius <= 0 else f"guided filter, radius {self.radius} px at {self.reference_side} px, " \
                                               f"eps {self.eps:g}"


NONE = Refine(0)


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=True, borderType=cv2.BORDER_REFLECT)


def guided_filter(rgb: np.ndarray, prob: np.ndarray, radius: int, eps: float, work_side: int = 400) -> np.ndarray:
    """``prob`` (float, (H, W)) filtered with the colour guide ``rgb`` (uint8, (H, W, 3)); float32 in [0, 1]."""
    h, w = prob.shape
    if rgb.shape[:2] != (h, w):
        raise ValueError(f"the guide is {rgb.shape[:2]}, the map {prob.shape}")
    scale = min(1.0, work_side / max(h, w))
    small = (max(1, round(w * scale)), max(1, round(h * scale)))
    guide = rgb.astype(np.float32) / 255.0
    p = prob.astype(np.float32)
    g, ps = (guide, p) if scale == 1.0 else (cv2.resize(guide, small, interpolation=cv2.INTER_AREA),
                                             cv2.resize(p, small, interpolation=cv2.INTER_AREA))
    r = max(1, round(radius * scale))
    mean_i = _box(g, r)  # (h, w, 3)
    mean_p = _box(ps, r)
    cov_ip = _box(g * ps[..., None], r) - mean_i * mean_p[..., None]
    var = {}
    for i, j in ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)):  # the symmetric 3x3 covariance, per pixel
        var[i, j] = _box(g[..., i] * g[..., j], r) - mean_i[..., i] * mean_i[..., j] + (eps if i == j else 0.0)
    a = _solve_sym3(var, cov_ip)  # (h, w, 3): Sigma^-1 cov, by cofactors (a batched solve is 10x slower)
    b = mean_p - (a * mean_i).sum(axis=2)
    mean_a, mean_b = _box(a, r), _box(b, r)
    if scale != 1.0:
        mean_a = cv2.resize(mean_a, (w, h), interpolation=cv2.INTER_LINEAR)
        mean_b = cv2.resize(mean_b, (w, h), interpolation=cv2.INTER_LINEAR)
    q = (mean_a * guide).sum(axis=2) + mean_b
    return np.clip(q, 0.0, 1.0).astype(np.float32)


def _solve_sym3(s: dict[tuple[int, int], np.ndarray], v: np.ndarray) -> np.ndarray:
    """Per pixel, the solution x of S x = v for a symmetric positive definite 3x3 S given by its upper entries."""
    a, b, c, d, e, f = s[0, 0], s[0, 1], s[0, 2], s[1, 1], s[1, 2], s[2, 2]
    i00, i01, i02 = d * f - e * e, c * e - b * f, b * e - c * d
    i11, i12, i22 = a * f - c * c, b * c - a * e, a * d - b * b
    det = a * i00 + b * i01 + c * i02
    x0 = i00 * v[..., 0] + i01 * v[..., 1] + i02 * v[..., 2]
    x1 = i01 * v[..., 0] + i11 * v[..., 1] + i12 * v[..., 2]
    x2 = i02 * v[..., 0] + i12 * v[..., 1] + i22 * v[..., 2]
    return np.stack([x0, x1, x2], axis=2) / det[..., None]
