"""MediaPipe Selfie Segmentation in video mode over the clips of ``bench video-stability``, for its --peer scores.

Runs in the peers environment (``make peers``; ``.venv-peers/bin/python peers/mediapipe_video.py``) and imports no
torch. It reads the clips ``bench video-stability --write-clips DIR`` wrote (``DIR/clips.json`` and
``DIR/<clip>/<t:03d>.png``, RGB) and writes

* ``<out>/<clip>/<t:03d>.png``: MediaPipe's ``segmentation_mask`` of each frame, the soft portrait probability (float
  in [0, 1] at the frame's size) as a 16-bit grey PNG, ``round(p * 65535)``, so the scores' ema and flow methods
  blend what MediaPipe returned, as they do our models' probabilities;
* ``<out>/peer.json``: what ran (model file, input size, versions, date) and the clips record it ran over, which
  ``bench video-stability --peer`` checks against the clips it scores.

Video mode. The legacy solutions API (``mediapipe.python.solutions``, the one that bundles the selfie models) has no
running mode to choose: a video app keeps one ``SelfieSegmentation`` object and calls ``process`` on every frame in
order, and so does this script, one object per clip. What that object carries between frames was read from the
installed 0.10.21 wheel: ``mediapipe/python/solution_base.py`` keeps one started graph for the object's life and
stamps each frame 33333 us after the last (a simulated 30 fps stream); the graph,
``mediapipe/modules/selfie_segmentation/selfie_segmentation_cpu.binarypb`` (``SelfieSegmentationCpu``), is
feed-forward: ImageToTensor (the frame squeezed to 256x256, or 144x256 for landscape, aspect not kept), the TFLite
model on XNNPACK, TensorsToSegmentation (activation NONE, resized back to the frame's size). It has no
``SegmentationSmoothingCalculator`` (which the pose and holistic graphs add for ``smooth_segmentation``) and feeds no
previous mask back into the model, so each frame's mask depends on that frame alone: MediaPipe's selfie video mode
is the model applied frame by frame, and its flicker is the model's own. (A frame processed after others gives the
same map bit for bit as in a fresh object; checked on 0.10.21.)
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.data.io import atomic_write_json, utc_now  # noqa: E402
from bench.errors import UserError  # noqa: E402
from bench.robustness.clip_files import (  # noqa: E402
    frame_path,
    read_clips_record,
    read_frame,
    write_probability,
)
from peers.mediapipe_selfie import MODELS, peer_facts  # noqa: E402


def run_clip(segment: Callable[[np.ndarray], np.ndarray], clip_dir: Path, out: Path, clip: int, frames: int) -> float:
    """One clip's frames through ``segment`` in order; the seconds MediaPipe took (reading and writing excluded)."""
    took = 0.0
    for t in range(frames):
        rgb = read_frame(frame_path(clip_dir, clip, t))
        start = time.perf_counter()
        prob = segment(rgb)
        took += time.perf_counter() - start
        write_probability(frame_path(out, clip, t), prob)
    return took


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clips", required=True, help="A folder bench video-stability --write-clips wrote.")
    ap.add_argument("--out", required=True, help="Folder for <clip>/<t:03d>.png probability maps and peer.json.")
    ap.add_argument("--model", choices=sorted(MODELS), default="general")
    args = ap.parse_args(argv)

    import mediapipe as mp
    from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation

    try:
        record = read_clips_record(args.clips)
        selection = MODELS[args.model][0]
        out, seconds, count = Path(args.out), 0.0, 0
        (out / "peer.json").unlink(missing_ok=True)  # an older run's record must not vouch for a half-done new one
        for c, clip in enumerate(record["clips"]):
            with SelfieSegmentation(model_selection=selection) as seg:  # one stream per clip, as a video app keeps
                seconds += run_clip(lambda rgb: seg.process(rgb).segmentation_mask, Path(args.clips), out, c,
                                    clip["frames"])
            count += clip["frames"]
            print(f"clip {c + 1}/{len(record['clips'])}: {clip['frames']} frames", file=sys.stderr)
    except UserError as e:
        print(f"error: {e.one_line()}", file=sys.stderr)
        return 1
    info = {
        "peer": f"mediapipe-selfie-{args.model}-video",
        "paper_name": f"MediaPipe Selfie Segmentation ({args.model}, video mode)",
        **peer_facts(args.model, mp.__version__),
        "api": "mediapipe.python.solutions.selfie_segmentation.SelfieSegmentation, one object per clip, frames in "
               "order (no temporal smoothing in its graph)",
        "output": "segmentation_mask, 16-bit PNG round(p * 65535)",
        "clips": record,
        "frames": count,
        "ms_per_frame_mean": 1000.0 * seconds / max(count, 1),  # process() alone, at each frame's size
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "date": utc_now(),
    }
    atomic_write_json(out / "peer.json", info)
    print(f"{info['peer']}: {count} probability maps in {out} ({info['ms_per_frame_mean']:.1f} ms a frame)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
