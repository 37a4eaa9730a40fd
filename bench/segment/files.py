"""Segment many photos: expand the inputs, then decode, predict and write with the reading and writing overlapped.

Decoding and encoding run in a small thread pool (OpenCV releases the GIL) while the model predicts the current photo,
so end-to-end throughput approaches the model's own. A photo that cannot be read is reported and skipped; the rest
continue.
"""

from __future__ import annotations

import glob
import os
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bench.data.io import atomic_write_bytes, make_dir
from bench.deploy.refine import NONE, Refine
from bench.segment.photos import (
    IMAGE_SUFFIXES,
    MAX_SIDE,
    VIDEO_SUFFIXES,
    Background,
    SegmentError,
    at_size,
    predict_probabilities,
    read_image,
    render,
    shrink,
)

if TYPE_CHECKING:
    from bench.deploy.runtime import Predictor

# file name of each output: <stem>_<output>.<ext>; the mask and the cut-out must be lossless
MEDIA_SUFFIXES = IMAGE_SUFFIXES + VIDEO_SUFFIXES
SUFFIX = {"mask": "_mask.png", "cutout": "_cutout.png", "background": "_background.jpg", "preview": "_preview.jpg"}


def expand_inputs(specs: Iterable[str]) -> list[Path]:
    """Files named by ``specs``: a file, a folder (its images and videos, not recursive) or a glob pattern."""
    found: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in MEDIA_SUFFIXES)
        elif p.is_file():
            found.append(p)
        elif glob.has_magic(spec):
            matches = sorted(Path(q) for q in glob.glob(spec, recursive=True) if Path(q).is_file())
            if not matches:
                raise SegmentError(f"{spec}: the pattern matches no file")
            found += matches
        else:
            raise SegmentError(f"{spec}: no such file or folder")
    unique = list(dict.fromkeys(found))
    if not unique:
        raise SegmentError(f"no image or video among {', '.join(specs)}")
    return unique


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """The stem each input's outputs are named by; two inputs that would overwrite each other are refused."""
    stems: dict[str, Path] = {}
    for p in paths:
        if p.stem in stems:
            raise SegmentError(f"{p} and {stems[p.stem]} would write the same outputs ({p.stem}_*); "
                               f"segment them into different --out folders")
        stems[p.stem] = p
    return {p: s for s, p in stems.items()}


def encode(name: str, image: np.ndarray) -> bytes:
    """PNG for the mask and the cut-out (lossless, alpha), JPEG quality 95 for the pictures."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    ext = SUFFIX[name].rsplit(".", 1)[1]
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == "jpg" else [cv2.IMWRITE_PNG_COMPRESSION, 1]
    ok, buf = cv2.imencode("." + ext, image, params)
    if not ok:
        raise SegmentError(f"OpenCV could not encode the {name} output")
    return buf.tobytes()


@dataclass
class Outcome:
    written: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _read(path: Path, max_side: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo and its working copy (``shrink``), decoded and shrunk in the reading thread."""
    rgb = read_image(path)
    return rgb, shrink(rgb, max_side)


def _write(out_dir: Path, stem: str, rgb: np.ndarray, prob: np.ndarray, outputs: tuple[str, ...],
           background: Background | None, refine: Refine) -> list[Path]:
    """Render at the photo's own size (the working copy's map stretched back, then refined along the photo's edges)
    and write, in the writing thread."""
    paths = []
    for name, image in render(rgb, refine(rgb, at_size(prob, rgb.shape[:2])), outputs, background).items():
        path = out_dir / f"{stem}{SUFFIX[name]}"
        atomic_write_bytes(path, encode(name, image))
        paths.append(path)
    return paths


def segment_images(
    paths: list[Path],
    predictor: Predictor,
    hw: tuple[int, int],
    out_dir: str | os.PathLike,
    outputs: tuple[str, ...],
    background: Background | None = None,
    max_side: int = MAX_SIDE,
    on_skip: Callable[[Path, str], None] | None = None,
    on_done: Callable[[Path], None] | None = None,
    prefetch: int = 4,
    refine: Refine = NONE,
) -> Outcome:
    """Segment ``paths`` (photos) into ``out_dir``; unreadable photos are skipped and passed to ``on_skip``;
    ``refine``: the edge refinement of each probability map (``bench.segment.photos.refinement``)."""
    out_dir = make_dir(out_dir)
    stems = output_stems(paths)
    outcome = Outcome()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="segment-io") as pool:
        reads: deque[tuple[Path, Future]] = deque()
        writes: deque[Future] = deque()
        todo = iter(paths)

        def refill() -> None:
            while len(reads) < prefetch:
                p = next(todo, None)
                if p is None:
                    return
                reads.append((p, pool.submit(_read, p, max_side)))

        refill()
        while reads:
            path, fut = reads.popleft()
            refill()
            try:
                rgb, work = fut.result()
            except SegmentError as e:
                outcome.skipped.append((path, str(e)))
                if on_skip:
                    on_skip(path, str(e))
                continue
            prob = predict_probabilities(predictor, [work], hw)[0]
            writes.append(pool.submit(_write, out_dir, stems[path], rgb, prob, outputs, background, refine))
            while len(writes) > prefetch or (writes and writes[0].done()):
                outcome.written += writes.popleft().result()
            if on_done:
                on_done(path)
        for w in writes:
            outcome.written += w.result()
    return outcome
