"""How steady a video's masks are, frame by frame against the truth: one clip's scores for one method.

* mIoU: each frame's mIoU (``bench.eval.metrics``: both classes, from that frame's confusion matrix; mask = p > 0.5),
  averaged over the frames.
* dtSSD, as RVM (Lin et al., "Robust High-Resolution Video Matting with Temporal Guidance", 2022) defines it for
  alpha mattes, here on the portrait probability p against the true mask g (0/1): for every frame t > 0,
  100 * sqrt(mean over pixels of ((p_t - p_{t-1}) - (g_t - g_{t-1}))^2), averaged over the frames. It is 0 when the
  prediction changes exactly as the truth does, whatever its per-frame error, and grows with flicker and lag.
  Pixels ignored (255) in either frame are left out.
* Flips: the share (percent) of pixels whose predicted mask changes between consecutive frames where the truth does
  not, pooled over the clip: sum over t > 0 of #(mask_t != mask_{t-1} and g_t == g_{t-1}) / #(g_t == g_{t-1}).
"""

from __future__ import annotations

import numpy as np

from bench.data.format import IGNORE
from bench.eval.metrics import confusion_matrix, mean_iou

FIELDS = ("miou", "dtssd", "flips")


class TemporalScore:
    """Frames of one clip fed in order (``update``); ``result()`` gives mIoU and flips in percent, and dtSSD."""

    def __init__(self) -> None:
        self.mious: list[float] = []
        self.dtssd: list[float] = []
        self.flipped = self.stable = 0
        self._prev: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    def update(self, prob: np.ndarray, truth: np.ndarray) -> None:
        """One frame: its portrait probability (float, (H, W)) and its true mask (0/1/255)."""
        prob = np.asarray(prob, np.float32)
        if prob.shape != truth.shape:
            raise ValueError(f"prediction {prob.shape} and truth {truth.shape} differ in shape")
        valid, g, mask = truth != IGNORE, (truth == 1).astype(np.float32), prob > 0.5
        self.mious.append(mean_iou(confusion_matrix(mask.astype(np.uint8), truth)))
        if self._prev is not None and self._prev[0].shape == prob.shape:
            p0, g0, m0, v0 = self._prev
            both = valid & v0
            d = (prob - p0) - (g - g0)
            self.dtssd.append(100.0 * float(np.sqrt(np.mean(d[both] ** 2))) if both.any() else 0.0)
            steady = both & (g == g0)
            self.flipped += int(np.count_nonzero(steady & (mask != m0)))
            self.stable += int(np.count_nonzero(steady))
        self._prev = (prob, g, mask, valid)

    def result(self) -> dict[str, float]:
        return {"miou": 100.0 * float(np.nanmean(self.mious)) if self.mious else float("nan"),
                "dtssd": float(np.mean(self.dtssd)) if self.dtssd else 0.0,
                "flips": 100.0 * self.flipped / self.stable if self.stable else 0.0,
                "frames": len(self.mious)}
