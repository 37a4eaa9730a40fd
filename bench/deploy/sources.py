"""What a model source is, for the runtime and the exporter alike: a registered model name (or ``module:callable``),
a zoo name (``bench.deploy.zoo``), a training run folder, a checkpoint file, or an ``.onnx`` file.

This sits below ``bench.deploy.runtime`` and ``bench.deploy.export`` so that the runtime can export a PyTorch source
for an ONNX back end while the exporter reads sources, without an import cycle.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import torch
from torch import nn

from bench.data.preprocess import Preprocess
from bench.defaults import INPUT_SIZE, NUM_CLASSES
from bench.deploy.backends import BackendError, NotInstalled
from bench.deploy.zoo import get_entry, is_zoo_name, load_zoo_model
from bench.registry import MODELS, build_model
from bench.runs.checkpoint import CheckpointError, load_model
from bench.runs.folder import RunConfig


def is_onnx_source(source: str | os.PathLike) -> bool:
    return str(source).lower().endswith(".onnx")


def load_torch_source(source: str | os.PathLike) -> tuple[nn.Module, dict[str, object]]:
    """A PyTorch model in eval mode and its facts (model name, size, num_classes, trained or not, data; a zoo entry's
    also the ``Preprocess`` it expects as a dict under ``preprocess``, which ``source_preprocess`` reads).

    ``source``: a zoo name, a run folder or checkpoint file (trained weights), else a registered name or
    ``module:callable`` (random weights, the same for every call, at ``INPUT_SIZE``).
    """
    name = str(source)
    if is_zoo_name(name):
        entry = get_entry(name)
        return load_zoo_model(name), {"model": entry.model, "size": entry.size,
                                      "num_classes": int(entry.manifest.get("num_classes", NUM_CLASSES)),
                                      "trained": True, "source": name, "zoo": name, "data": None,
                                      "preprocess": entry.manifest["preprocess"]}
    try:
        if name in MODELS or (":" in name and not Path(name).exists()):
            with torch.random.fork_rng():  # the same name always gives the same random weights
                torch.manual_seed(0)
                model = build_model(name).eval()
            return model, {"model": name, "size": INPUT_SIZE, "num_classes": NUM_CLASSES, "trained": False,
                           "source": name}
        if not Path(name).exists():
            raise BackendError(f"{name}: neither a registered model ({', '.join(MODELS)}), a zoo name (`bench zoo`), "
                               "a run folder, a checkpoint nor an .onnx file")
        model = load_model(name)
    except CheckpointError as e:
        raise BackendError(str(e)) from e
    cfg = RunConfig.from_dict(model.run_config)
    return model, {"model": cfg.model, "size": cfg.size, "num_classes": cfg.num_classes, "trained": True,
                   "source": name, "data": cfg.data or None, "epochs_trained": model.trained_epochs,
                   "val_fraction": cfg.raw.get("val_fraction")}


def source_preprocess(info: dict) -> Preprocess:
    """How a source's model sees a photo: what its facts record (a zoo manifest, an exported file's metadata), else
    the training policy at its size (squash, RGB, ImageNet mean and std)."""
    if info.get("preprocess"):
        return Preprocess.from_dict(info["preprocess"])
    size = int(info.get("size") or INPUT_SIZE)
    return Preprocess((size, size))


def load_onnx(path: str | os.PathLike) -> object:
    """The ONNX model proto of a file (weights kept external); ``BackendError`` if onnx is missing or the file is not
    ONNX."""
    if importlib.util.find_spec("onnx") is None:
        raise NotInstalled("reading ONNX files needs onnx: pip install -e .[speed]")
    import onnx

    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as e:  # protobuf raises its own types for files that are not ONNX
        raise BackendError(f"{path}: not a readable ONNX file ({type(e).__name__})") from e


def onnx_metadata(path: str | os.PathLike) -> dict[str, object]:
    """The facts ``bench export`` stored in an ONNX file (empty for a file written elsewhere)."""
    props = {p.key: p.value for p in load_onnx(path).metadata_props}
    return json.loads(props["bench"]) if "bench" in props else {}
