"""The clips of ``bench video-stability`` as files, for peers that run in their own environment (MediaPipe,
``peers/``): numpy, OpenCV, ``bench.data.io`` and ``bench.errors`` only, no torch, so both environments read and write
them the same way.

``--write-clips DIR`` writes each clip's frames as ``DIR/<clip>/<t:03d>.png`` (lossless RGB, so a peer sees the very
pixels our models see) and ``DIR/clips.json`` (the seed, settings and photos, enough to make the same clips again). A
peer writes each frame's portrait probability as ``OUT/<clip>/<t:03d>.png``, 16-bit grey (``round(p * 65535)``: a
soft map, not a mask, so the ema and flow methods blend what the peer returned), and ``--peer NAME=OUT`` scores it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from bench.data.io import atomic_write_bytes, atomic_write_json
from bench.errors import UserError

CLIPS_JSON = "clips.json"
PROB_MAX = 65535  # a probability's 16-bit PNG code at 1.0


def frame_path(root: str | os.PathLike, clip: int, t: int) -> Path:
    """Where frame ``t`` of clip ``clip`` lives under a clip folder or a peer's folder."""
    return Path(root) / str(clip) / f"{t:03d}.png"


def _encode(image: np.ndarray, path: Path) -> None:
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise UserError(f"{path}: OpenCV could not encode the image")
    atomic_write_bytes(path, buf.tobytes())


def write_frame(path: Path, rgb: np.ndarray) -> None:
    """A frame (RGB uint8) as a lossless PNG."""
    _encode(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), path)


def read_frame(path: Path) -> np.ndarray:
    """A frame written by ``write_frame``, as RGB uint8."""
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UserError(f"{path}: missing or not a PNG; write the clips again with --write-clips")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_probability(path: Path, prob: np.ndarray) -> None:
    """A portrait probability map (float in [0, 1], clipped) as a 16-bit grey PNG: 1/65535 steps, far below any
    difference the scores can see, where 8 bits would add a visible quantisation step to dtSSD."""
    code = np.rint(np.clip(np.asarray(prob, np.float32), 0.0, 1.0) * PROB_MAX).astype(np.uint16)
    _encode(code, path)


def read_probability(path: Path) -> np.ndarray:
    """A probability map as float32 in [0, 1]: 16-bit PNGs over 65535, 8-bit ones (a peer that gives masks) over
    255. Anything else is a ``UserError`` naming the file."""
    m = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if m is None:
        raise UserError(f"{path}: not a decodable PNG")
    if m.ndim != 2 or m.dtype not in (np.uint8, np.uint16):
        raise UserError(f"{path}: a probability map must be one grey channel of 8 or 16 bits, got {m.dtype} "
                            f"{m.shape}")
    return m.astype(np.float32) / (PROB_MAX if m.dtype == np.uint16 else 255.0)


def write_clips_record(root: str | os.PathLike, record: dict[str, object]) -> None:
    """``clips.json``, written after the frames: its presence says the folder is complete."""
    atomic_write_json(Path(root) / CLIPS_JSON, record)


def read_clips_record(root: str | os.PathLike) -> dict[str, object]:
    """A clip folder's ``clips.json``; a missing or unreadable one is one line naming it."""
    path = Path(root) / CLIPS_JSON
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: missing; write the clips with bench video-stability --write-clips "
                            f"{root}") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not readable as JSON ({e})") from None
    if not isinstance(record, dict) or not isinstance(record.get("clips"), list):
        raise UserError(f"{path}: not a clips record (no list of clips)")
    return record
