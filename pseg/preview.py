"""``pseg preview``: a contact sheet of random crops with their masks overlaid, for a person to look at."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from bench.data.format import IGNORE, DatasetError, read_dataset
from bench.data.io import atomic_write_bytes

PORTRAIT_RGB = (40, 255, 120)  # overlay colour of mask == 1
IGNORE_RGB = (60, 160, 255)  # hatched overlay of mask == 255


def overlay(rgb: np.ndarray, mask: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """The crop with the portrait tinted, ignore pixels hatched, and the mask outline drawn."""
    out = rgb.astype(np.float32)
    person = mask == 1
    out[person] = (1 - alpha) * out[person] + alpha * np.array(PORTRAIT_RGB, np.float32)
    yy, xx = np.indices(mask.shape)
    hatch = (mask == IGNORE) & (((xx + yy) // 6) % 2 == 0)
    out[hatch] = 0.5 * out[hatch] + 0.5 * np.array(IGNORE_RGB, np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(person.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(out, contours, -1, (255, 255, 0), thickness=max(1, round(mask.shape[1] / 150)))
    return out


def contact_sheet(root: str | os.PathLike, out: str | os.PathLike, n: int = 24, cols: int = 6,
                  thumb_width: int = 160, seed: int = 0, split: str | None = None) -> Path:
    """Write a PNG sheet of ``n`` random crops of a portrait dataset (ids under each), and return its path."""
    ds = read_dataset(root)
    splits = [split] if split else sorted(ds.splits)
    ids = sorted({i for s in splits for i in ds.ids(s)})
    if not ids:
        raise DatasetError(f"{ds.root}: no kept crops to show")
    rng = np.random.default_rng(seed)
    chosen = sorted(rng.choice(len(ids), size=min(n, len(ids)), replace=False).tolist())
    thumbs = []
    for idx in chosen:
        sid = ids[idx]
        rgb, mask = ds.load_image(sid), ds.load_mask(sid)
        thumb_h = round(thumb_width * rgb.shape[0] / rgb.shape[1])
        view = overlay(rgb, mask)
        view = cv2.resize(view, (thumb_width, thumb_h), interpolation=cv2.INTER_AREA)
        label = np.full((18, thumb_width, 3), 255, np.uint8)
        cv2.putText(label, sid, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        thumbs.append(np.vstack([view, label]))
    cell_h = max(t.shape[0] for t in thumbs)
    cols = max(1, min(cols, len(thumbs)))
    rows = -(-len(thumbs) // cols)
    pad = 4
    sheet = np.full((rows * (cell_h + pad) + pad, cols * (thumb_width + pad) + pad, 3), 235, np.uint8)
    for i, t in enumerate(thumbs):
        r, c = divmod(i, cols)
        y, x = pad + r * (cell_h + pad), pad + c * (thumb_width + pad)
        sheet[y:y + t.shape[0], x:x + thumb_width] = t
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    if not ok:
        raise DatasetError("OpenCV could not encode the contact sheet")
    out = Path(out)
    try:
        atomic_write_bytes(out, buf.tobytes())
    except OSError as e:
        raise DatasetError(f"{out}: cannot write ({e.strerror or e})") from e
    return out
