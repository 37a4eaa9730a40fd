"""A zoo entry made from a finished training run or from another project's published weights: the weights stored as
the zoo stores them, re-scored as stored on the test split by the one loop (``bench.eval.loop``), and a manifest
that says what they are (``docs/zoo.md``). ``bench eval --model NAME`` scores an entry as it scores any model
(``bench.eval.evaluate``)."""

from __future__ import annotations

import os
from pathlib import Path

from torch import nn

from bench.data.pack import open_data
from bench.data.preprocess import Preprocess
from bench.deploy.predict import as_predictor
from bench.deploy.published import PUBLISHED, load_published_model, published_preprocess
from bench.deploy.zoo import (
    FOLDER,
    STORAGE,
    ZooEntry,
    model_from_state,
    storage_state,
    write_entry,
)
from bench.errors import UserError
from bench.eval.loop import AT_INPUT, NATIVE, ModelPredictions, score
from bench.registry import get_spec
from bench.runs.checkpoint import load_model
from bench.runs.folder import METRICS, METRICS_NATIVE, RESULT_FIELDS, RunConfig, percent, read_json

# What the photos behind each training set are, for the manifest and the README (docs/datasets.md has the facts).
PHOTOS = {
    "pfcn-official": "PFCN (Shen et al., Eurographics 2016): 600x800 portrait crops of Flickr photos with hand-made "
                     "masks, released for research; the official split as recovered here (1,291 train of the "
                     "paper's 1,277)",
    "pfcn-eg1800": "EG1800 (PortraitNet's split of the PFCN Flickr photos, released for research): PFCN's train "
                   "plus the 51 photos in neither PFCN list",
}
TRAINING_KEYS = (*(k for k in RESULT_FIELDS if k != "data"), "amp", "channels_last", "augmentation", "optimizer",
                 "torch")


class ZooEntryError(UserError):
    """A run that cannot become a zoo entry (unfinished, or no dataset to score it on)."""


def manifest_metrics(model: nn.Module, data: str | os.PathLike, preprocess: Preprocess,
                     device: str = "cpu") -> dict:
    """Test-split figures (percent) of ``model`` seen through ``preprocess``: at the input size and native."""
    ds = open_data(Path(data))
    source = ModelPredictions(as_predictor(model, device), preprocess)
    at_input, native = (score(source, ds, "test", r) for r in (AT_INPUT, NATIVE))
    out = {"dataset": ds.name, "split": "test", "images": native["images"],
           "miou": percent(at_input["miou"]), "boundary_f": percent(at_input["boundary_f"]),
           "miou_native": percent(native["miou"]), "boundary_f_native": percent(native["boundary_f"])}
    if "portrait_iou_mean" in native:
        out["portrait_iou_mean_native"] = percent(native["portrait_iou_mean"])
    return out


def add_run(run_dir: str | os.PathLike, name: str, profile: str, folder: str | os.PathLike = FOLDER,
            data: str | os.PathLike | None = None, device: str = "cpu", storage: str = "float16") -> ZooEntry:
    """The finished run at ``run_dir`` as zoo entry ``name`` (trained under ``profile``), stored as ``storage``
    (``STORAGE``) and scored as stored on ``data`` (default: the dataset it trained on)."""
    model = load_model(run_dir)
    cfg = RunConfig.from_dict(model.run_config)
    if cfg.epochs is not None and model.trained_epochs < cfg.epochs:
        raise ZooEntryError(f"{run_dir}: trained {model.trained_epochs} of {cfg.epochs} epochs; finish it first")
    data = Path(data or cfg.data)
    if not (data / "dataset.json").is_file() and not data.is_file():
        raise ZooEntryError(f"{data}: no dataset to score the run on (give --data)")
    state = storage_state(model, storage)
    preprocess = Preprocess((cfg.size, cfg.size))
    recorded = {k: read_json(Path(run_dir) / f) for k, f in (("model", METRICS), ("native", METRICS_NATIVE))}
    manifest = {
        "name": name, "model": cfg.model, "paper_name": get_spec(cfg.model).paper_name,
        "num_classes": cfg.num_classes, "params": sum(p.numel() for p in model.parameters()),
        "origin": "trained here", "profile": profile,
        "dataset": {"name": cfg.dataset_name, "counts": (cfg.raw.get("dataset") or {}).get("counts")},
        "training_photos": PHOTOS.get(cfg.dataset_name or "", cfg.dataset_name),
        "training": {k: cfg.raw.get(k) for k in TRAINING_KEYS}, "epochs_trained": model.trained_epochs,
        "commit": cfg.raw.get("commit"), "preprocess": preprocess.to_dict(),
        "storage": STORAGE[storage],
        "metrics": manifest_metrics(model_from_state(cfg.model, state, cfg.num_classes), data, preprocess, device),
        "metrics_recorded": {"miou": percent((recorded["model"] or {}).get("miou")),
                             "miou_native": percent((recorded["native"] or {}).get("miou")),
                             "boundary_f": percent((recorded["model"] or {}).get("boundary_f"))},
        "licence": "MIT (this repository); the training photos are for research use",
    }
    return write_entry(folder, manifest, state)


def add_published(weights: str | os.PathLike, model_name: str, name: str, data: str | os.PathLike,
                  folder: str | os.PathLike = FOLDER, device: str = "cpu") -> ZooEntry:
    """Another project's published weights (``bench.deploy.published``) as zoo entry ``name``, stored in float32 (they
    are small) and scored on the test split of ``data`` as the authors' code feeds a photo."""
    model = load_published_model(weights, model_name)
    facts = PUBLISHED[model_name]
    preprocess = published_preprocess(model_name)
    state = storage_state(model, "float32")
    manifest = {
        "name": name, "model": model_name, "paper_name": get_spec(model_name).paper_name, "num_classes": 2,
        "params": sum(p.numel() for p in model.parameters()),
        "origin": "published weights, re-scored here",
        "profile": "published", "dataset": {"name": "eg1800", "counts": None},
        "training_photos": "EG1800 (PortraitNet's Flickr portraits, released for research) with the authors' "
                           "augmentation; trained by the authors, not here",
        "source": {"repository": facts.source, "commit": facts.commit, "file": facts.file,
                   "sha256": facts.sha256, "published_miou": facts.paper_miou},
        "preprocess": preprocess.to_dict(), "storage": STORAGE["float32"],
        "metrics": manifest_metrics(model_from_state(model_name, state), data, preprocess, device),
        "licence": facts.licence + " (bench/weights/LICENSE-ext_portrait_segmentation.txt)",
    }
    return write_entry(folder, manifest, state)
