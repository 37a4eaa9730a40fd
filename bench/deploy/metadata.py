"""The plain keys ``bench export`` writes into an ONNX file's ``metadata_props`` beside its ``bench`` JSON, so that a
user without this package (C++, another language, ``docs/examples/onnx_portrait.py``) can feed the file a photo.

Every value is a string and every fact is read from the source's ``Preprocess`` (``bench.data.preprocess``), so the
file says what the model was trained on, not what someone typed here. ``docs/deploy.md`` lists the keys.
"""

from __future__ import annotations

import json

import numpy as np

from bench.data.preprocess import Preprocess

# what each Preprocess.interpolation means in OpenCV's words; a reader takes the first word
INTERPOLATION_TEXT = {
    "auto": "auto (area averaging, OpenCV INTER_AREA, when both sides shrink; else bilinear, INTER_LINEAR)",
    "linear": "linear (bilinear, OpenCV INTER_LINEAR, whether shrinking or enlarging)",
}
LOGITS = ("logits (N, 2, H, W); channel 1 minus channel 0 > 0 is portrait; softmax channel 1 is the portrait "
          "probability")
PROBABILITY = ("probability (N, H, W) float32, the portrait probability (softmax channel 1) at the photo's own size; "
               "> 0.5 is portrait")
BAKED_INPUT = "uint8 RGB (N, H, W, 3), any size"


def readable_metadata(pre: Preprocess, baked: bool = False, dynamic_size: bool = False) -> dict[str, str]:
    """The plain keys for a file whose network sees photos as ``pre`` says (``baked``: the graph does it itself)."""
    d = pre.to_dict()
    h, w = pre.size
    if baked:
        graph_input = f"image: {BAKED_INPUT}; the graph resizes, reorders and normalises as the keys below say"
    else:
        sizes = f"any H, W (trained at {h}x{w})" if dynamic_size else f"H, W = {h}, {w}"
        graph_input = (f"image: float32 (N, 3, H, W), {sizes}: the photo resized to input_size ({d['resize']}, "
                       "interpolation), channels in channel_order, (pixel / scale - mean) / std")
    return {
        "baked": "true" if baked else "false",
        "input": graph_input,
        "output": PROBABILITY if baked else LOGITS,
        "input_size": f"{h},{w}",
        "resize": str(d["resize"]),
        "interpolation": INTERPOLATION_TEXT[pre.interpolation],
        "channel_order": str(d["channels"]),
        "mean": _floats(d["mean"]),
        "std": _floats(d["std"]),
        "scale": f"{float(d['scale']):g}",
        "layout": "NHWC uint8" if baked else "NCHW float32",
    }


def _floats(values: list[float]) -> str:
    """A JSON list in float32's shortest form (0.485, not 0.48500001430511475): the precision the network computes in,
    so reading it back as float32 gives the very values ``Preprocess.batch`` uses."""
    return json.dumps([float(str(np.float32(v))) for v in values])
