"""The PSEG crop box: a randomly placed portrait box around one person's head, reaching into the shoulders.

The paper: "cropped around the head region with a randomly [placed] bounding box, which can cover the entire
head and part of shoulders". Its code and ranges were not published; these are ours, in units of the head
height ``h`` (the height of the union of the head classes):

- ``top``: space above the head, drawn from [0.15, 0.45] h. PFCN portraits (the other benchmark, same 3:4
  frame) leave roughly this much room above the hair; less cuts the hair line on resize, more wastes the frame
  on background.
- ``below``: how far the box reaches under the chin, drawn from [0.5, 1.5] h, and never less than 0.15 h past
  the first upper-body row under the head. The neck takes about 0.3-0.4 h and the shoulder line sits 0.5-0.7 h
  below the chin, so 0.5 h always takes in part of the shoulders and 1.5 h stops at the upper chest:
  head-and-shoulders, not a half-body shot. The crop height is then (1 + top + below) h: 1.65-2.95 h, so the
  head fills 34-61 % of it.
- ``x``: horizontal position, uniform over every place that keeps at least 0.1 h of margin beside the head
  (the width is 3:4 of the height, 1.24-2.2 h; a head is about 0.8 h wide). When the head is too wide for
  that, the box grows to head width + 0.2 h.
- The minimal region the box must hold: the head with 0.1 h at the sides, 0.05 h above and the reach below
  (each clipped at the image border). The box is moved inside the image (shift); if it is larger than the
  image it is scaled down about that region, keeping the aspect (shrink); only if the region does not fit is
  the person skipped.

The draw for a person depends only on (seed, image id, person index): ``person_rng`` seeds numpy from a
``SeedSequence`` of a SHA-256 of the image id, so the output is the same whatever the worker count or order.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in source pixels, x1 and y1 exclusive


@dataclass(frozen=True)
class CropRanges:
    """The sampler's ranges, in head heights (see the module docstring for why these values)."""

    top: tuple[float, float] = (0.15, 0.45)
    below: tuple[float, float] = (0.5, 1.5)
    past_shoulder: float = 0.15
    side: float = 0.1
    min_top: float = 0.05


DEFAULT_RANGES = CropRanges()
_PER_IMAGE_STREAM = 0x5E1EC7  # a SeedSequence word that keeps per-image choices apart from per-person draws


def stable_hash(text: str) -> int:
    """A 64-bit hash of ``text`` that is the same in every process and Python run (unlike ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def person_rng(seed: int, image_id: str, person: int) -> np.random.Generator:
    """The random generator of one person's crop: a function of (seed, image id, person index) only."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), stable_hash(image_id), int(person)]))


def image_rng(seed: int, image_id: str) -> np.random.Generator:
    """The random generator of a per-image choice (which eligible person ``--per image`` keeps)."""
    words = [int(seed), stable_hash(image_id), _PER_IMAGE_STREAM]
    return np.random.default_rng(np.random.SeedSequence(words))


def _place(lo: int, hi: int, want: float) -> int:
    return int(min(max(round(want), lo), hi))


def sample_box(head: Box, upper_top: int, width: int, height: int, aspect: float, rng: np.random.Generator,
               ranges: CropRanges = DEFAULT_RANGES) -> Box | None:
    """The crop box for a head box (``upper_top``: first upper-body row under it), or None if none fits.

    ``aspect`` is output width / height (0.75 for 600x800). The box lies inside the ``width`` x ``height``
    image, holds the whole head and the row ``upper_top`` (so some upper body), and has the aspect to within
    a pixel.
    """
    hx0, hy0, hx1, hy1 = head
    h = float(hy1 - hy0)
    w = float(hx1 - hx0)
    top = rng.uniform(*ranges.top)
    need_below = max(ranges.below[0], (upper_top - hy1) / h + ranges.past_shoulder)
    below = rng.uniform(need_below, need_below + ranges.below[1] - ranges.below[0])
    across = rng.uniform(0.0, 1.0)

    side = ranges.side * h
    rx0, rx1 = max(0, math.floor(hx0 - side)), min(width, math.ceil(hx1 + side))
    ry0 = max(0, math.floor(hy0 - ranges.min_top * h))
    ry1 = min(height, math.ceil(hy1 + need_below * h))

    ch = h * (1.0 + top + below)
    if ch * aspect < w + 2 * side:
        ch = (w + 2 * side) / aspect
    scale = min(1.0, height / ch, width / (ch * aspect))  # shrink only what cannot be shifted inside
    box_h = min(height, math.floor(ch * scale + 1e-9))
    box_w = min(width, round(box_h * aspect))
    if box_w < rx1 - rx0 or box_h < ry1 - ry0 or box_w < 1 or box_h < 1:
        return None
    want_y = hy0 - top * h
    want_x = hx0 - side - across * (box_w - w - 2 * side)
    y0 = _place(max(0, ry1 - box_h), min(height - box_h, ry0), want_y)
    x0 = _place(max(0, rx1 - box_w), min(width - box_w, rx0), want_x)
    return x0, y0, x0 + box_w, y0 + box_h
