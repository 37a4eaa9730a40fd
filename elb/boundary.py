"""Boundary weight maps for the adaptive weight loss (Section 2.2, Fig. 4).

The portrait boundary is every labelled pixel with a 4-neighbour of the other class (portrait next to background, on
both sides of the edge). ``g`` is 1 on the boundary and falls linearly with the Euclidean distance ``d`` to it::

    g = 1 - min(d, D) / D,   D = max_distance if given, else the largest d in the image

Normalisation: per image, by the largest distance, as the paper says ("normalizing the distance of each pixel to
[0, 1]"); Fig. 4 shows the weight fading over the whole image rather than a thin band. No cap by default, so the
map follows the paper; ``max_distance`` (in pixels) gives a fixed-width band instead, which makes the emphasis
independent of image size. Pixels labelled ignore (255) take no part in the boundary and get weight 0, so the loss
skips them. A mask with no boundary (all background or all portrait) gives g = 0, i.e. w = 1.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

IGNORE = 255
_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def boundary(mask: np.ndarray) -> np.ndarray:
    """Boolean (H, W): pixels of class 0 or 1 that touch the other class through a 4-neighbour."""
    fg = (mask == 1).astype(np.uint8)
    bg = (mask == 0).astype(np.uint8)
    return ((cv2.dilate(fg, _CROSS) & bg) | (cv2.dilate(bg, _CROSS) & fg)).astype(bool)


def _distance_map_into(mask: np.ndarray, out: np.ndarray, max_distance: float | None) -> None:
    """Write g for ``mask`` into the float32 buffer ``out`` (no other large allocation)."""
    edge = boundary(mask)
    if not edge.any():
        out.fill(0.0)
        return
    # distanceTransform measures the distance to the nearest zero pixel: the boundary pixels are the zeros.
    cv2.distanceTransform((~edge).view(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_5, dst=out)
    scale = float(max_distance) if max_distance else float(out.max())
    if scale <= 0:  # every pixel is a boundary pixel
        out.fill(1.0)
        return
    if max_distance:
        np.minimum(out, scale, out=out)
    # 1 - d / D in place, in float32: no temporaries (see benchmarks/boundary_weights.py)
    cv2.addWeighted(out, -1.0 / scale, out, 0.0, 1.0, dst=out)
    np.clip(out, 0.0, 1.0, out=out)  # rounding may leave -1e-8 at the farthest pixel


def _check_mask(mask: np.ndarray) -> np.ndarray:
    if mask.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {mask.shape}")
    return np.ascontiguousarray(mask, dtype=np.uint8)


def boundary_distance_map(mask: np.ndarray, max_distance: float | None = None) -> np.ndarray:
    """g in [0, 1], float32 (H, W): 1 on the portrait boundary, falling linearly with the distance to it."""
    mask = _check_mask(mask)
    g = np.empty(mask.shape, np.float32)
    _distance_map_into(mask, g, max_distance)
    return g


def _weights_into(mask: np.ndarray, out: np.ndarray, max_distance: float | None) -> None:
    _distance_map_into(mask, out, max_distance)
    out += 1.0
    np.putmask(out, mask == IGNORE, 0.0)


def boundary_weight_map(mask: np.ndarray, max_distance: float | None = None) -> np.ndarray:
    """w = 1 + g for the loss, float32 (H, W); 0 on ignore pixels."""
    mask = _check_mask(mask)
    w = np.empty(mask.shape, np.float32)
    _weights_into(mask, w, max_distance)
    return w


def boundary_weight_maps(masks: np.ndarray, max_distance: float | None = None) -> np.ndarray:
    """``boundary_weight_map`` for a batch (N, H, W) -> (N, H, W) float32, written straight into one array."""
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {masks.shape}")
    masks = np.ascontiguousarray(masks, dtype=np.uint8)
    out = np.empty(masks.shape, np.float32)
    for m, w in zip(masks, out, strict=True):  # one OpenCV pass per image; no loop over pixels
        _weights_into(m, w, max_distance)
    return out


# -- the same maps for a batch of masks on any torch device --------------------------------------------------------
def boundary_weight_maps_torch(masks: torch.Tensor, max_distance: float | None = None,
                               chunk_elements: int = 1 << 25) -> torch.Tensor:
    """``boundary_weight_maps`` for an (N, H, W) integer tensor, computed where it lies (a GPU batch stays there).

    The boundary is the same 4-neighbour rule (a dilation by shifts, nothing outside the image). The distance is the
    exact Euclidean distance to the nearest boundary pixel, in two separable passes: along each column the distance to
    the nearest boundary pixel (running maxima of their row indices), then along each row the minimum over columns k
    of (j - k)^2 + column distance^2, in chunks of at most ``chunk_elements`` terms. OpenCV's ``DIST_MASK_5`` (the
    CPU maps) is a 5x5 chamfer approximation of the same distance, within about 1% of it, so g differs by at most a
    hundredth or so (``tests/bench/test_gpu_run.py`` measures it on portrait-like masks). Normalisation, the
    ``max_distance`` cap and the ignore label follow the CPU maps exactly.
    """
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W), got shape {tuple(masks.shape)}")
    n, h, w = masks.shape
    fg, bg = masks == 1, masks == 0

    def dilate(x: torch.Tensor) -> torch.Tensor:
        y = x.clone()
        y[:, 1:] |= x[:, :-1]
        y[:, :-1] |= x[:, 1:]
        y[:, :, 1:] |= x[:, :, :-1]
        y[:, :, :-1] |= x[:, :, 1:]
        return y

    edge = (dilate(fg) & bg) | (dilate(bg) & fg)
    inf = torch.tensor(float("inf"), device=masks.device)
    rows = torch.arange(h, device=masks.device, dtype=torch.float32).view(1, h, 1)
    above = torch.where(edge, rows, -inf).cummax(dim=1).values
    below = torch.where(edge, rows, inf).flip(1).cummin(dim=1).values.flip(1)
    col2 = torch.minimum(rows - above, below - rows).square().reshape(n * h, w)  # inf where a column has no boundary
    cols = torch.arange(w, device=masks.device, dtype=torch.float32)
    offsets2 = (cols.view(w, 1) - cols.view(1, w)).square()  # (j, k)
    d2 = torch.empty_like(col2)
    step = max(1, chunk_elements // (w * w))
    for start in range(0, n * h, step):
        part = col2[start:start + step]
        d2[start:start + step] = (part[:, None, :] + offsets2[None]).amin(dim=2)
    d = d2.sqrt().view(n, h, w)
    has_edge = edge.flatten(1).any(1)
    if max_distance:
        scale = torch.full((n,), float(max_distance), device=masks.device)
        d = d.clamp(max=float(max_distance))
    else:
        scale = torch.where(has_edge, d.flatten(1).amax(1), torch.zeros((), device=masks.device))
    safe = torch.where(scale > 0, scale, torch.ones_like(scale)).view(n, 1, 1)
    g = (1.0 - d / safe).clamp(0.0, 1.0)
    g = torch.where((scale <= 0).view(n, 1, 1), torch.ones_like(g), g)  # every pixel on the boundary
    g = torch.where(has_edge.view(n, 1, 1), g, torch.zeros_like(g))  # no boundary: g = 0, w = 1
    return (1.0 + g).masked_fill(masks == IGNORE, 0.0)
