"""Segment a video frame by frame: frames are streamed from OpenCV's reader to its writer, never all held in memory.

Flicker between frames comes from small changes of the probabilities near the decision boundary; ``smooth`` > 0 blends
each frame's probability map with the previous ones' before anything is rendered (``bench.segment.temporal``:
``temporal="ema"`` a moving average, ``"flow"`` the previous map carried along the optical flow first).
Outputs are MPEG-4 Part 2 (``mp4v``) in an ``.mp4`` container, without audio, at the input's frame rate, each written
under a temporary name and renamed once complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2

from bench.data.io import make_dir
from bench.deploy.refine import NONE, Refine
from bench.segment.photos import Background, SegmentError, predict_probabilities, render
from bench.segment.temporal import Smoother, make_smoother

if TYPE_CHECKING:
    from bench.deploy.runtime import Predictor

__all__ = ["VIDEO_OUTPUTS", "Smoother", "segment_video"]  # Smoother: its home is bench.segment.temporal
VIDEO_OUTPUTS = ("mask", "background", "preview")
FALLBACK_FPS = 25.0


def _writer(path: Path, fps: float, size: tuple[int, int]) -> cv2.VideoWriter:
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size, True)
    if not w.isOpened():
        raise SegmentError(f"{path}: OpenCV cannot write an mp4v video here")
    return w


def segment_video(
    path: str | os.PathLike,
    predictor: Predictor,
    hw: tuple[int, int],
    out_dir: str | os.PathLike,
    outputs: tuple[str, ...],
    background: Background | None = None,
    smooth: float = 0.0,
    stem: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    refine: Refine = NONE,
    temporal: str = "ema",
) -> list[Path]:
    """Write one ``<stem>_<output>.mp4`` per output; ``progress(done, total)`` after every frame (total 0: unknown)."""
    path = Path(path)
    bad = [o for o in outputs if o not in VIDEO_OUTPUTS]
    if bad:
        raise SegmentError(f"{path}: a video has no {', '.join(bad)} output (videos: {', '.join(VIDEO_OUTPUTS)})")
    smoother = make_smoother(temporal, smooth)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SegmentError(f"{path}: not a readable video")
    out_dir = make_dir(out_dir)
    stem = stem or path.stem
    fps = cap.get(cv2.CAP_PROP_FPS) or FALLBACK_FPS
    total = max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    targets = {o: out_dir / f"{stem}_{o}.mp4" for o in outputs}
    # written under a temporary name and renamed when the last frame is in: a kill never leaves half a video
    partial = {o: p.with_name(f".{p.stem}.{os.getpid()}.partial.mp4") for o, p in targets.items()}
    writers: dict[str, cv2.VideoWriter] = {}
    frames = 0
    try:
        while True:
            ok, bgr = cap.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            prob = refine(rgb, smoother(predict_probabilities(predictor, [rgb], hw)[0], rgb))
            for name, image in render(rgb, prob, outputs, background).items():
                frame = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR if image.ndim == 2 else cv2.COLOR_RGB2BGR)
                if name not in writers:
                    writers[name] = _writer(partial[name], fps, (frame.shape[1], frame.shape[0]))
                writers[name].write(frame)
            frames += 1
            if progress:
                progress(frames, total)
        for w in writers.values():
            w.release()
        if frames == 0:
            raise SegmentError(f"{path}: no frame could be decoded")
        for o in outputs:
            os.replace(partial[o], targets[o])
    finally:
        cap.release()
        for w in writers.values():
            w.release()
        for tmp in partial.values():
            tmp.unlink(missing_ok=True)
    return [targets[o] for o in outputs]
