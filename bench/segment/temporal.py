"""Against flicker in videos and frame streams: blending each frame's portrait probabilities with the previous ones'.

* ``ema`` (``Smoother``): an exponential moving average, p_t = (1 - s) new_t + s p_{t-1}. Steady where nothing
  moves, but where the subject moves the average trails it: the mask lags by about s / (1 - s) frames.
* ``flow`` (``FlowSmoother``): the previous smoothed map is first carried to where each pixel is now. OpenCV's DIS
  optical flow is computed from each pixel of the current frame back to the previous frame (grey, at most
  ``work_side`` pixels long, so a 1080p frame costs what a small one does), the previous map is sampled there
  (``cv2.remap``), and blended with weight s. Where the previous frame carried along does not match the current one
  (occlusion, a flow that failed, a cut) the blend trusts the new frame: the weight is
  s * exp(-(e / tolerance)^2), e the absolute grey difference (0-1) of the current frame and the previous one carried
  along, blurred a little.

A frame of another size starts either one again. ``make_smoother(method, s)`` is how ``segment --temporal`` and the
Python API's ``stream(method=...)`` choose.
"""

from __future__ import annotations

import cv2
import numpy as np

from bench.segment.photos import SegmentError

TEMPORAL = ("ema", "flow")


class Smoother:
    """The exponential moving average of probability maps; a change of frame size starts it again."""

    def __init__(self, weight: float) -> None:
        if not 0.0 <= weight < 1.0:
            raise SegmentError(f"smoothing must be in [0, 1), got {weight}")
        self.weight, self.state = float(weight), None

    def __call__(self, prob: np.ndarray, rgb: np.ndarray | None = None) -> np.ndarray:
        """The frame's smoothed map (``rgb``, the frame itself, is what ``FlowSmoother`` needs; unused here)."""
        if self.weight and self.state is not None and self.state.shape == prob.shape:
            prob = (1.0 - self.weight) * prob + self.weight * self.state
        self.state = prob
        return prob


class FlowSmoother(Smoother):
    """The moving average with the previous map carried along the optical flow before blending (module doc)."""

    def __init__(self, weight: float, work_side: int = 320, tolerance: float = 0.08) -> None:
        super().__init__(weight)
        self.work_side, self.tolerance = int(work_side), float(tolerance)
        self.grey: np.ndarray | None = None
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_FAST)

    def _small_grey(self, rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        scale = min(1.0, self.work_side / max(h, w))
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        return grey if scale == 1.0 else cv2.resize(grey, (max(8, round(w * scale)), max(8, round(h * scale))),
                                                    interpolation=cv2.INTER_AREA)

    def __call__(self, prob: np.ndarray, rgb: np.ndarray | None = None) -> np.ndarray:
        if rgb is None or rgb.shape[:2] != prob.shape:
            raise SegmentError("flow-guided smoothing needs each frame with its probability map, of the same size")
        grey = self._small_grey(rgb)
        if (self.weight and self.state is not None and self.state.shape == prob.shape
                and self.grey is not None and self.grey.shape == grey.shape):
            prob = self._blend(prob, grey)
        self.state, self.grey = prob, grey
        return prob

    def _blend(self, prob: np.ndarray, grey: np.ndarray) -> np.ndarray:
        flow = self.dis.calc(grey, self.grey, None)  # current -> previous: grey(x) ~ previous(x + flow(x))
        sh, sw = grey.shape
        xs, ys = np.meshgrid(np.arange(sw, dtype=np.float32), np.arange(sh, dtype=np.float32))
        carried = cv2.remap(self.grey, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
        err = cv2.GaussianBlur(np.abs(grey.astype(np.float32) - carried.astype(np.float32)) / 255.0, (0, 0), 1.5)
        h, w = prob.shape
        fx, fy = w / sw, h / sh
        big = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.array([fx, fy], np.float32)
        bx, by = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        warped = cv2.remap(self.state.astype(np.float32), bx + big[..., 0], by + big[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        trust = self.weight * np.exp(-(cv2.resize(err, (w, h), interpolation=cv2.INTER_LINEAR) / self.tolerance) ** 2)
        return ((1.0 - trust) * prob + trust * warped).astype(np.float32)


def make_smoother(method: str, weight: float) -> Smoother:
    """``ema`` or ``flow`` at blend weight ``weight`` (0: none; flow needs a weight > 0 to blend with)."""
    if method not in TEMPORAL:
        raise SegmentError(f"temporal method {method!r}: expected {' or '.join(TEMPORAL)}")
    if method == "flow":
        if weight <= 0.0:
            raise SegmentError("flow-guided smoothing blends with the smoothing weight; give smooth > 0 "
                               "(e.g. --smooth 0.5)")
        return FlowSmoother(weight)
    return Smoother(weight)
