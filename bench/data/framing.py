"""Putting a portrait photo somewhere else in a frame: the geometry shared by the robustness suite's perturbations that
move the subject (rotation, zoom-out, off-centre, a 16:9 frame), the clip maker's camera and the training
augmentation's framing stage.

Where the moved photo no longer covers the frame something must be shown. Reflecting the photo would show mirrored
body parts, and black bars are not what a camera sees; here the frame is filled with a *background plate*: the photo's
own background with the person inpainted out (OpenCV's Telea at a quarter of the size, so large holes stay cheap),
softly blurred, and extended by reflection. It reads as a defocused room around the photo and holds no person, so the
truth outside the moved photo is background (0) everywhere.

A frame is one affine map (``cv2.warpAffine``) of the photo, and the same map (nearest neighbour) of the mask: the
mask follows the photo exactly, ignore pixels (255) included.
"""

from __future__ import annotations

import cv2
import numpy as np

PLATE_SCALE = 0.25  # the plate is inpainted at this fraction of the photo's size
PLATE_BLUR = 0.006  # and blurred with a Gaussian of this sigma, as a fraction of the photo's long side


def background_plate(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo with its person (mask 1, and ignore 255) inpainted out, blurred: uint8 RGB of the photo's size."""
    h, w = mask.shape
    sw, sh = max(8, round(w * PLATE_SCALE)), max(8, round(h * PLATE_SCALE))
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    hole = cv2.resize((mask != 0).astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST)
    hole = cv2.dilate(hole, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    if hole.all():  # nothing to take the background from: a flat plate of the photo's mean colour
        return np.broadcast_to(rgb.reshape(-1, 3).mean(0).astype(np.uint8), rgb.shape).copy()
    filled = cv2.inpaint(small, hole, 3, cv2.INPAINT_TELEA)
    plate = cv2.resize(filled, (w, h), interpolation=cv2.INTER_CUBIC)
    return cv2.GaussianBlur(plate, (0, 0), max(0.5, PLATE_BLUR * max(h, w)))


def similarity(scale: float, angle_deg: float, src_anchor: tuple[float, float],
               dst_anchor: tuple[float, float]) -> np.ndarray:
    """The 2x3 map that scales by ``scale`` and turns by ``angle_deg`` (counter-clockwise on screen) about
    ``src_anchor`` (x, y in the photo) and puts that point at ``dst_anchor`` (x, y in the frame)."""
    m = cv2.getRotationMatrix2D((float(src_anchor[0]), float(src_anchor[1])), float(angle_deg), float(scale))
    m[:, 2] += np.asarray(dst_anchor, np.float64) - np.asarray(src_anchor, np.float64)
    return m


def place(rgb: np.ndarray, mask: np.ndarray, matrix: np.ndarray, frame_hw: tuple[int, int],
          plate: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its mask mapped by ``matrix`` (2x3, photo to frame) into a frame of ``frame_hw``, the frame
    outside the photo filled with the background plate (mapped the same way, extended by reflection)."""
    fh, fw = int(frame_hw[0]), int(frame_hw[1])
    plate = background_plate(rgb, mask) if plate is None else plate
    photo = cv2.warpAffine(rgb, matrix, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    room = cv2.warpAffine(plate, matrix, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    inside = cv2.warpAffine(np.ones(mask.shape, np.float32), matrix, (fw, fh), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT)[..., None]
    # the warped photo is already weighted by ``inside`` along its edge (black beyond it): the plate fills the rest
    out = photo.astype(np.float32) + (1.0 - inside) * room.astype(np.float32)
    moved = cv2.warpAffine(mask, matrix, (fw, fh), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), moved
