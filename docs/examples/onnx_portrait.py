"""A portrait mask from an ONNX file written by `bench export`, with numpy, OpenCV and onnxruntime only.

    python docs/examples/onnx_portrait.py model.onnx photo.jpg mask.png

A plain file takes the network's input, so the photo is prepared as the file's metadata says (input_size, resize,
interpolation, channel_order, mean, std, scale) and the mask is where logit 1 exceeds logit 0. A file exported with
--bake-preprocess (metadata baked = true) takes the uint8 RGB photo as it is and returns the portrait probability.
The mask is written 0 (background) / 255 (portrait) at the photo's size. docs/deploy.md explains each step.
"""

import json
import sys

import cv2
import numpy as np
import onnxruntime as ort


def network_input(rgb, meta):
    """The photo as a plain file's network sees it: float32 (1, 3, h, w)."""
    h, w = (int(v) for v in meta["input_size"].split(","))
    if meta["resize"] != "squash":
        raise SystemExit(f"this example squashes photos; the file asks for {meta['resize']}")
    shrinking = h <= rgb.shape[0] and w <= rgb.shape[1]
    area = meta["interpolation"].split()[0] == "auto" and shrinking
    x = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA if area else cv2.INTER_LINEAR)
    if meta["channel_order"] == "BGR":
        x = x[..., ::-1]
    mean = np.array(json.loads(meta["mean"]), np.float32)
    std = np.array(json.loads(meta["std"]), np.float32)
    x = (x.astype(np.float32) / np.float32(meta["scale"]) - mean) / std
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def portrait_logit(session, meta, rgb):
    """Logit 1 minus logit 0 of a plain file, resized bilinearly to the photo: > 0 is portrait."""
    logits = session.run(None, {session.get_inputs()[0].name: network_input(rgb, meta)})[0][0]
    d = logits[1] - logits[0]
    h, w = (int(v) for v in meta["input_size"].split(","))
    if d.shape != (h, w):  # an output below the input resolution: to the input first
        d = cv2.resize(d, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(d, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)


def portrait_mask(model_path, rgb):
    """uint8 0/1 mask of an RGB uint8 photo (H, W, 3), at its size."""
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get("baked") == "true":
        probability = session.run(None, {session.get_inputs()[0].name: rgb[None]})[0][0]
        return (probability > 0.5).astype(np.uint8)
    return (portrait_logit(session, meta, rgb) > 0).astype(np.uint8)


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: onnx_portrait.py model.onnx photo.jpg mask.png")
    model_path, photo, out = argv
    bgr = cv2.imread(photo, cv2.IMREAD_COLOR)
    if bgr is None:
        raise SystemExit(f"{photo}: not an image OpenCV can read")
    mask = portrait_mask(model_path, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    if not cv2.imwrite(out, mask * 255):
        raise SystemExit(f"{out}: cannot write it")
    print(f"{out}: {mask.mean():.1%} portrait")


if __name__ == "__main__":
    main(sys.argv[1:])
