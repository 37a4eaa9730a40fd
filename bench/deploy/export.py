"""ONNX export of any model source, and int8 post-training static quantization of the exported file.

Export: the model in eval mode goes through ``torch.onnx.export``, first its TorchScript exporter (a second per
model, and the only one that handles dynamic height and width here: ``torch.export`` cannot prove the shape
constraints of models that downsample and concatenate, such as ELB and ENet), then, at a fixed size, the dynamo
exporter (torch's default; it needs ``onnxscript``) for the models the TorchScript one cannot trace (ENet's
unpooling, ICNet's pyramid pooling). Both fold batch norm into the preceding convolution; what remains is batch norm
after a concatenation (ELB's and ENet's downsamplers), which has no convolution to fold into. The file carries the
model's card (``bench.deploy.card``: name, weights, provenance, its ``Preprocess``) in metadata ``bench``, beside
flat keys that files exported before cards held (model, size, trained, data), and the preprocessing again as
plain keys a user without this package reads (``bench.deploy.metadata``). ``bake=True`` exports the model with its
preprocessing and softmax inside (``bench.deploy.bake``): uint8 photos of any size in, probabilities out.

int8: onnxruntime's ``quantize_static`` in QDQ form, weights int8 per channel, activations uint8 with ranges from
min/max calibration on a handful of training images. QDQ was chosen over NNCF because it needs nothing beyond
onnxruntime, and the same file runs int8 on both onnxruntime and OpenVINO (which reads QDQ ONNX natively).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.data.io import atomic_write_bytes, check_writable
from bench.data.preprocess import Preprocess
from bench.defaults import INPUT_SIZE
from bench.deploy.backends import BackendError, NotInstalled
from bench.deploy.card import UNTRAINED, ModelCard, Provenance
from bench.deploy.metadata import readable_metadata
from bench.deploy.sources import is_onnx_source, load_onnx, load_torch_model, onnx_metadata, resolve
from bench.errors import InputSizeError
from bench.registry import check_input_size

DEFAULT_OPSET = 18
DYNAMO_MIN_OPSET = 18  # the dynamo exporter writes this operator set or a later one, never an earlier
CALIBRATION_IMAGES = 16


class ExportError(BackendError):
    """The model cannot be exported as asked; the message says why."""


def _need(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise NotInstalled(f"export needs {module}: pip install -e .[speed]")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporters and the quantizer print progress and notes, some from C++ (a failed TorchScript trace dumps its
    whole graph there); a command's output is its own, so both Python's streams and file descriptors 1 and 2 are
    silenced meanwhile. Errors still arrive as exceptions."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, null):
            os.close(fd)


def export_onnx(model: nn.Module, out: str | os.PathLike, size: int = INPUT_SIZE, opset: int = DEFAULT_OPSET,
                dynamic_batch: bool = True, dynamic_size: bool = False,
                card: ModelCard | None = None, bake: bool = False) -> Path:
    """Write ``model`` (eval mode, fp32, on the CPU) as ONNX with input ``image`` and output ``logits``; ``bake``:
    input uint8 photos, output ``probability``. The card recorded is ``card`` (default: the model's own
    ``model.card``, else an untrained card of its class) at ``size``."""
    _need("onnx")
    card = card or getattr(model, "card", None)
    if card is None:  # a bare module: nothing is known of it but the training policy
        card = ModelCard("", "", Preprocess((size, size)), Provenance(UNTRAINED))
    card = card.at_size(size)
    pre = card.preprocess
    if bake and dynamic_size:
        raise ExportError("--bake-preprocess takes photos of any size already; --dynamic-size does not apply")
    if bake and pre.resize != "squash":
        raise ExportError(f"--bake-preprocess squashes photos to the input; this source's resize is {pre.resize}")

    model = model.eval().float().cpu()
    x = torch.zeros(1, 3, size, size)
    out = check_writable(out)  # a bad --out is one line before the export, not a traceback after it
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # the exporter logs a warning per torchvision op it cannot register
    what = "dynamic height/width" if dynamic_size else f"{size}x{size}"
    try:
        with warnings.catch_warnings(), _quiet(), torch.no_grad():
            warnings.simplefilter("ignore")
            if bake:
                _need("onnxscript")
                from bench.deploy.bake import export_baked

                proto = export_baked(model, pre, opset, dynamic_batch)
            else:
                try:
                    proto = _torchscript_export(model, x, opset, dynamic_batch, dynamic_size)
                except Exception:  # ENet's unpooling and ICNet's pooling need the dynamo exporter
                    if dynamic_size or opset < DYNAMO_MIN_OPSET:
                        raise
                    proto = _dynamo_export(model, x, opset, dynamic_batch)
    except NotInstalled:
        raise
    except Exception as e:  # the exporters raise many types; the first line says what failed
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        later = f"; try a later --opset (the default is {DEFAULT_OPSET})" if opset < DYNAMO_MIN_OPSET else ""
        raise ExportError(f"{card.architecture or 'model'}: ONNX export at {what}, opset {opset} failed "
                          f"({first}){later}") from e
    finally:
        onnx_log.setLevel(level)
    written = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if written != opset:  # an exporter that cannot write the opset asked for writes its own: never silently
        raise ExportError(f"{card.architecture or 'model'}: the exporter wrote ONNX opset {written}, not the "
                          f"{opset} asked for; use --opset {written}")
    info = {"card": card.to_dict(), "model": card.architecture, "num_classes": card.num_classes,
            "trained": card.trained, "source": card.name, "zoo": card.zoo, "data": card.training_data,
            "val_fraction": card.val_fraction, "size": None if dynamic_size else size, "opset": opset,
            "precision": "fp32", "dynamic_batch": dynamic_batch, "dynamic_size": dynamic_size,
            "torch": torch.__version__, "preprocess": pre.to_dict(), "baked": bake}
    _save_with_meta(proto, out, info)
    return out


def _save_with_meta(proto: object, out: Path, info: dict[str, object]) -> None:
    """Write an ONNX model with its facts as metadata ``bench`` and the plain keys read from its ``Preprocess``,
    atomically (a kill never leaves half a file)."""
    del proto.metadata_props[:]
    proto.metadata_props.add(key="bench", value=json.dumps(info, sort_keys=True))
    plain = readable_metadata(Preprocess.from_dict(info["preprocess"]), bool(info.get("baked")),
                              bool(info.get("dynamic_size")))
    for key, value in plain.items():
        proto.metadata_props.add(key=key, value=value)
    atomic_write_bytes(out, proto.SerializeToString())


def _torchscript_export(model: nn.Module, x: torch.Tensor, opset: int, dynamic_batch: bool,
                        dynamic_size: bool) -> object:
    import onnx

    axes = {0: "batch"} if dynamic_batch else {}
    axes.update({2: "height", 3: "width"} if dynamic_size else {})
    buf = io.BytesIO()
    torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=opset, input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": axes, "logits": axes}, do_constant_folding=True)
    return onnx.load_from_string(buf.getvalue())


def _dynamo_export(model: nn.Module, x: torch.Tensor, opset: int, dynamic_batch: bool) -> object:
    _need("onnxscript")
    shapes = ({0: torch.export.Dim.DYNAMIC},) if dynamic_batch else None
    program = torch.onnx.export(model, (x,), None, dynamo=True, opset_version=opset, input_names=["image"],
                                output_names=["logits"], dynamic_shapes=shapes, optimize=True, verbose=False)
    return program.model_proto


def is_quantized(path: str | os.PathLike) -> bool:
    """Whether an ONNX file holds quantize/dequantize or integer operators (int8)."""
    ops = {n.op_type for n in load_onnx(path).graph.node}
    return bool(ops & {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "ConvInteger"})


def calibration_batches(data: str | os.PathLike, size: int, n_images: int = CALIBRATION_IMAGES,
                        pre: Preprocess | None = None) -> list[np.ndarray]:
    """The first ``n_images`` training images of a portrait dataset as the model sees a photo (``pre`` at ``size``;
    default the training policy: squashed, RGB, ImageNet-normalised), so int8 ranges are those of its real input."""
    from bench.data.format import read_dataset

    pre = replace(pre or Preprocess((size, size)), size=(size, size))
    ds = read_dataset(data)
    ids = ds.ids("train")[:n_images]
    if not ids:
        raise BackendError(f"{data}: no training images to calibrate int8 with")
    return [pre.batch([ds.load_image(i)])[0] for i in ids]


def quantize_int8(fp32: str | os.PathLike, out: str | os.PathLike, data: str | os.PathLike,
                  n_images: int = CALIBRATION_IMAGES, size: int | None = None) -> Path:
    """Statically quantize an fp32 ONNX file to int8 (QDQ), calibrated on ``data``'s training images."""
    _need("onnxruntime")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    meta = onnx_metadata(fp32)
    size = int(size or meta.get("size") or INPUT_SIZE)
    batches = calibration_batches(data, size, n_images, resolve(str(fp32)).preprocess)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(batches)

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self.it, None)
            return None if x is None else {"image": x}

    out = check_writable(out)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial.onnx")  # the quantizer writes its own file
    try:
        with warnings.catch_warnings(), _quiet():
            warnings.simplefilter("ignore")
            quantize_static(str(fp32), str(partial), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        import onnx

        proto = onnx.load(str(partial))
    finally:
        partial.unlink(missing_ok=True)
    meta.update({"precision": "int8", "calibration": {"data": str(Path(data).resolve()), "images": len(batches),
                                                      "size": size, "method": "minmax, QDQ u8 activations / "
                                                                              "s8 per-channel weights"}})
    _save_with_meta(proto, out, meta)
    return out


def export_source(source: str | os.PathLike, out: str | os.PathLike, size: int | None = None,
                  opset: int = DEFAULT_OPSET, dynamic_batch: bool = True, dynamic_size: bool = False,
                  precision: str = "fp32", calibration: str | os.PathLike | None = None,
                  calibration_images: int = CALIBRATION_IMAGES, bake: bool = False) -> Path:
    """``bench export``: a registered name, zoo name, run folder or checkpoint to an ONNX file, int8 on request.

    int8 calibrates on ``calibration``, by default the dataset a run was trained on. ``bake``: the preprocessing and
    softmax inside the graph (``bench.deploy.bake``), fp32 only: int8 calibrates the network's float input.
    """
    if is_onnx_source(source):
        raise ExportError(f"{source}: already an ONNX file")
    if precision not in ("fp32", "int8"):
        raise ExportError(f"precision {precision!r}: export writes fp32 or int8")
    if bake and precision != "fp32":
        raise ExportError("--bake-preprocess writes fp32 only; export int8 without it")
    card = resolve(source)
    size = int(size or card.size)
    try:
        check_input_size(card.architecture, size)
    except InputSizeError as e:
        raise ExportError(str(e)) from None
    model = load_torch_model(card)
    out = Path(out)
    if precision == "fp32":
        return export_onnx(model, out, size, opset, dynamic_batch, dynamic_size, card, bake)
    data = calibration or card.training_data
    if not data:
        raise ExportError(f"{source}: int8 needs calibration images: give --calib-data (a portrait dataset)")
    fp32 = export_onnx(model, out.with_name(out.stem + ".fp32.onnx"), size, opset, dynamic_batch, dynamic_size, card)
    try:
        return quantize_int8(fp32, out, data, calibration_images, size)
    finally:
        fp32.unlink(missing_ok=True)
