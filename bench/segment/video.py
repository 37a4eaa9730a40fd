"""Segment a video frame by frame: frames are streamed from OpenCV's reader to its writer, never all held in memory.

Flicker between frames comes from small changes of the probabilities near the decision boundary; ``smooth`` > 0 keeps
an exponential moving average of the probability map (p_t = (1 - s) * new + s * p_{t-1}) before anything is rendered.
Outputs are MPEG-4 Part 2 (``mp4v``) in an ``.mp4`` container, without audio, at the input's frame rate, each written
under a temporary name and renamed once complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from bench.data.io import make_dir
from bench.deploy.refine import NONE, Refine
from bench.segment.photos import Background, SegmentError, predict_probabilities, render

if TYPE_CHECKING:
    from bench.deploy.runtime import Predictor

VIDEO_OUTPUTS = ("mask", "background", "preview")
FALLBACK_FPS = 25.0


class Smoother:
    """The exponential moving average of probability maps; a change of frame size starts it again."""

    def __init__(self, weight: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise SegmentError(f"smoothing must be in [0, 1), got {weight}")
        self.weight, self.state = float(weight), None

    def __call__(self, prob: np.ndarray) -> np.ndarray:
        if self.weight and self.state is not None and self.state.shape == prob.shape:
            prob = (1.0 - self.weight) * prob + self.weight * self.state
        self.state = prob
        return prob


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
) -> list[Path]:
    """Write one ``<stem>_<output>.mp4`` per output; ``progress(done, total)`` after every frame (total 0: unknown)."""
    path = Path(path)
    bad = [o for o in outputs if o not in VIDEO_OUTPUTS]
    if bad:
        raise SegmentError(f"{path}: a video has no {', '.join(bad)} output (videos: {', '.join(VIDEO_OUTPUTS)})")
    smoother = Smoother(smooth)
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
            prob = refine(rgb, smoother(predict_probabilities(predictor, [rgb], hw)[0]))
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
