"""What a model source is, for the runtime and the exporter alike: a registered model name (or ``module:callable``),
a zoo name (``bench.deploy.zoo``), a training run folder, a checkpoint file, or an ``.onnx`` file; ``resolve`` turns
any of them into a ``ModelCard`` (``bench.deploy.card``) and ``load_torch_model`` a card into its PyTorch model.

This sits below ``bench.deploy.runtime`` and ``bench.deploy.export`` so that the runtime can export a PyTorch source
for an ONNX back end while the exporter reads sources, without an import cycle.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from bench.data.preprocess import Preprocess
from bench.defaults import INPUT_SIZE, NUM_CLASSES
from bench.deploy.backends import BackendError, NotInstalled
from bench.deploy.card import EXPORTED, PUBLISHED, TRAINED, UNTRAINED, ModelCard, Provenance, Weights
from bench.deploy.refine import Refine
from bench.deploy.zoo import (
    ZooEntry,
    entries,
    entry_of_file,
    get_entry,
    is_zoo_name,
    load_zoo_model,
    storage_kind,
)
from bench.registry import MODELS, build_model
from bench.runs.checkpoint import CheckpointError, checkpoint_path, load_checkpoint, load_model
from bench.runs.folder import METRICS, RunConfig, percent, read_config, read_json, read_log


def is_onnx_source(source: str | os.PathLike) -> bool:
    return str(source).lower().endswith(".onnx")


def resolve(source: str | os.PathLike | ModelCard) -> ModelCard:
    """The one resolver: whatever a user names, as a ``ModelCard`` (nothing is loaded but records).

    ``source``: a zoo name or the zoo's own weight file (its manifest), a run folder (its ``config.json``) or
    checkpoint file, an ``.onnx`` file (the card ``bench export`` stored in it, or what its graph says), else a
    registered name or ``module:callable`` (random weights at ``INPUT_SIZE``). Raises ``BackendError`` naming what
    was given when it is none of these.
    """
    if isinstance(source, ModelCard):
        return source
    name = str(source)
    if is_zoo_name(name):
        return _zoo_card(get_entry(name))
    if is_onnx_source(name):
        if not Path(name).is_file():
            raise BackendError(f"{name}: no such ONNX file")
        return _onnx_card(name)
    if name in MODELS or (":" in name and not Path(name).exists()):
        return ModelCard(name, name, Preprocess((INPUT_SIZE, INPUT_SIZE)), Provenance(UNTRAINED))
    if not Path(name).exists():
        close = difflib.get_close_matches(name, [*entries(), *MODELS], n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise BackendError(f"{name}: neither a zoo name ({', '.join(entries())}), a registered model "
                           f"({', '.join(MODELS)}), a run folder, a checkpoint nor an .onnx file{hint}")
    entry = entry_of_file(name)
    return _zoo_card(entry) if entry is not None else _run_card(name)


def _zoo_card(entry: ZooEntry) -> ModelCard:
    m = entry.manifest
    if "source" in m:
        prov = Provenance(PUBLISHED, source=m["source"]["repository"], licence=m.get("licence"))
    else:
        prov = Provenance(TRAINED, run=m.get("run"), commit=m.get("commit"), profile=m.get("profile"),
                          licence=m.get("licence"))
    return ModelCard(entry.name, entry.model, entry.preprocess, prov, Weights(str(entry.path), entry.sha256,
                     storage_kind(m.get("storage", ""))), int(m.get("num_classes", NUM_CLASSES)),
                     metrics={k: float(v) for k, v in m.get("metrics", {}).items() if isinstance(v, int | float)},
                     dataset=(m.get("dataset") or {}).get("name"), epochs_trained=m.get("epochs_trained"),
                     zoo=entry.name, refine=Refine.from_settings(m.get("refine")))


def _run_card(name: str) -> ModelCard:
    """A run folder (read from its records) or a checkpoint file (read from the checkpoint's own record)."""
    try:
        ckpt = checkpoint_path(name)
        folder = Path(name) if Path(name).is_dir() else None
        cfg = read_config(folder) if folder is not None else None
        if cfg is None:
            state = load_checkpoint(ckpt)
            cfg, epochs = RunConfig.from_dict(state["config"]), int(state.get("epoch", 0))
        else:
            epochs = len(read_log(folder)) or None
    except CheckpointError as e:
        raise BackendError(str(e)) from e
    scores = (read_json(folder / METRICS) if folder is not None else None) or {}
    return ModelCard(name, cfg.model, Preprocess((cfg.size, cfg.size)),
                     Provenance(TRAINED, run=str(folder or ckpt.parent), commit=cfg.raw.get("commit")),
                     Weights(str(ckpt)), cfg.num_classes,
                     metrics={k: percent(scores[k]) for k in ("miou", "boundary_f") if k in scores},
                     dataset=cfg.dataset_name, training_data=cfg.data or None, epochs_trained=epochs,
                     val_fraction=cfg.val_fraction)


def _onnx_card(path: str) -> ModelCard:
    """An exported file's card (``bench export`` stores it; files exported before cards carried flat keys), or
    for a file written elsewhere what its graph says: a model of unknown name taking its static input size."""
    meta = onnx_metadata(path)
    weights = Weights(path, None, str(meta.get("precision") or "fp32"))
    if "card" in meta:
        card = ModelCard.from_dict(meta["card"])
    else:
        size = meta.get("size") or _graph_size(path) or 0
        pre = Preprocess.from_dict(meta["preprocess"]) if meta.get("preprocess") else Preprocess((size, size))
        trained = meta.get("trained", True)
        card = ModelCard(str(meta.get("source") or path), str(meta.get("model") or ""), pre,
                         Provenance(TRAINED if trained else UNTRAINED), num_classes=int(meta.get("num_classes")
                         or NUM_CLASSES), training_data=meta.get("data"), zoo=meta.get("zoo"),
                         val_fraction=float(meta.get("val_fraction") or 0.0))
    if meta.get("size"):
        card = card.at_size(int(meta["size"]))
    origin = card.provenance.origin if card.provenance.origin == UNTRAINED else EXPORTED
    return replace(card, name=path, weights=weights,
                   provenance=replace(card.provenance, origin=origin, source=card.name, onnx=path))


def _graph_size(path: str) -> int | None:
    dims = load_onnx(path).graph.input[0].type.tensor_type.shape.dim
    h, w = (d.dim_value or None for d in dims[2:4]) if len(dims) == 4 else (None, None)
    return h if h is not None and h == w else None


def load_torch_model(card: ModelCard) -> nn.Module:
    """The card's PyTorch model in eval mode (``model.card`` is the card): its trained weights, or the registry's
    random ones, the same for every call."""
    if card.provenance.onnx:
        raise BackendError(f"{card.name}: an ONNX file runs on onnxruntime, openvino or tensorrt, not PyTorch")
    if card.zoo:
        model = load_zoo_model(card.zoo)
    elif not card.trained:
        with torch.random.fork_rng():  # the same name always gives the same random weights
            torch.manual_seed(0)
            model = build_model(card.architecture).eval()
    else:
        try:
            model = load_model(card.weights.path)
        except CheckpointError as e:
            raise BackendError(str(e)) from e
    model.card = card
    return model


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
