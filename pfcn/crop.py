"""Turn a raw Flickr JPEG into the 600x800 PFCN portrait: stored pixels, crop box, antialiased resize."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bench.data.format import DatasetError, decode_image

from .release import CropBox

OUT_W, OUT_H = 600, 800
# A box may overrun its image by this many pixels (00371: 0 1024 0 768 on a 768x1023 file) and is clamped;
# a larger overrun means the file is not the rendition the box was drawn on.
CLAMP_TOLERANCE = 2


class BadImage(Exception):
    """The raw image cannot give this portrait (undecodable, or smaller than its crop box)."""


@dataclass
class Crop:
    """The 600x800 RGB portrait and how it was obtained."""

    rgb: np.ndarray
    width: int  # of the raw image
    height: int
    clamped: bool


def crop_portrait(data: bytes, box: CropBox, name: str = "<bytes>") -> Crop:
    """Decode ``data`` without EXIF rotation (greyscale becomes RGB), take ``img[y0:y1, x0:x1]``, resize to 600x800.

    INTER_AREA is the antialiased filter (the reference used MATLAB's bicubic imresize, which antialiases).
    """
    try:
        rgb = decode_image(data, name)
    except DatasetError as e:
        raise BadImage(str(e)) from e
    h, w = rgb.shape[:2]
    over = max(box.y1 - h, box.x1 - w)
    if over > CLAMP_TOLERANCE:
        raise BadImage(f"{name}: image {w}x{h} is smaller than its crop box {box} (y0 y1 x0 x1)")
    y1, x1 = min(box.y1, h), min(box.x1, w)
    if box.y0 >= y1 or box.x0 >= x1:
        raise BadImage(f"{name}: crop box {box} lies outside the {w}x{h} image")
    region = rgb[box.y0:y1, box.x0:x1]
    out = cv2.resize(region, (OUT_W, OUT_H), interpolation=cv2.INTER_AREA)
    return Crop(rgb=np.ascontiguousarray(out), width=w, height=h, clamped=over > 0)
