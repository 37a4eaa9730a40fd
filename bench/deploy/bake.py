"""A model with its preprocessing baked in: uint8 RGB photos of any size in, the portrait probability at each photo's
own size out, so that a deployment needs no resize, normalisation or softmax of its own (``bench export
--bake-preprocess``, ``docs/deploy.md``).

The steps are ``bench.deploy.predict``'s, written in torch ops so they export with the model: the photo squashed to the
network's input (bilinear; with ``interpolation="auto"`` antialiased when shrinking, ONNX ``Resize`` with
``antialias=1``, which approximates OpenCV's area averaging), the channel order and ``(pixel / 255 - mean) / std`` of
the source's ``Preprocess``, the network, the portrait-minus-background logit resized back bilinearly, its sigmoid.
Only torch's dynamo exporter handles the antialiased resize (the TorchScript one has no symbolic for it), and it
takes dynamic height and width here because the network itself runs at a fixed size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from bench.data.preprocess import Preprocess, standardise


class BakedPortrait(nn.Module):
    """``image`` uint8 (N, H, W, 3) RGB -> ``probability`` float32 (N, H, W); ``model`` returns 2-class logits."""

    def __init__(self, model: nn.Module, pre: Preprocess) -> None:
        super().__init__()
        if pre.resize != "squash":
            raise ValueError(f"a baked graph squashes the photo; this Preprocess says {pre.resize!r}")
        self.model, self.size = model, tuple(int(v) for v in pre.size)
        self.bgr, self.antialias = pre.channels == "BGR", pre.interpolation == "auto"
        self.register_buffer("mean", torch.tensor(pre.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(pre.std, dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        h, w = image.shape[1], image.shape[2]
        x = image.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=self.size, mode="bilinear", align_corners=False, antialias=self.antialias)
        if self.bgr:
            x = x.flip(1)
        logits = self.model(standardise(x, self.mean, self.std))
        logits = logits["out"] if isinstance(logits, dict) else logits
        if logits.shape[1] != 2:
            raise ValueError(f"a portrait model returns 2 classes, this one {logits.shape[1]}")
        d = logits[:, 1:2] - logits[:, 0:1]
        if tuple(d.shape[2:]) != self.size:  # an output below the input resolution, as predict.portrait_logit
            d = F.interpolate(d, size=self.size, mode="bilinear", align_corners=False)
        d = F.interpolate(d, size=(h, w), mode="bilinear", align_corners=False)
        return torch.sigmoid(d[:, 0])


def export_baked(model: nn.Module, pre: Preprocess, opset: int, dynamic_batch: bool = True) -> object:
    """The ONNX proto of ``BakedPortrait(model, pre)``: input ``image``, output ``probability``, height and width
    dynamic (named ``height`` and ``width``), the batch too unless ``dynamic_batch`` is off."""
    wrapped = BakedPortrait(model.eval().float().cpu(), pre).eval()
    h, w = pre.size
    sample = torch.zeros(2, h + 37, w + 21, 3, dtype=torch.uint8)  # sizes the exporter would not specialise to
    dims = {1: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC}
    if dynamic_batch:
        dims[0] = torch.export.Dim.DYNAMIC
    program = torch.onnx.export(wrapped, (sample,), None, dynamo=True, opset_version=opset, input_names=["image"],
                                output_names=["probability"], dynamic_shapes=(dims,), optimize=True, verbose=False)
    proto = program.model_proto
    _name_dims(proto, ["batch", "height", "width", None] if dynamic_batch else [None, "height", "width", None])
    return proto


def _name_dims(proto: object, names: list[str | None]) -> None:
    """The exporter's symbols (``s40``) renamed after the input's axes, in every shape of the graph that uses them."""
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    rename = {d.dim_param: n for d, n in zip(dims, names, strict=True) if n and d.dim_param}
    for info in (*proto.graph.input, *proto.graph.output, *proto.graph.value_info):
        for d in info.type.tensor_type.shape.dim:
            if d.dim_param in rename:
                d.dim_param = rename[d.dim_param]
