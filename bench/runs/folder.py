"""The run folder: the one module that names its files and reads and writes the record of a run.

A training run folder holds (``docs/runs.md``)::

    config.json          the run's record: every TrainConfig field plus what was resolved (loss, device, amp, ...)
    train_log.csv        one row per epoch (LOG_FIELDS)
    checkpoint.pt        the state after the last finished epoch (``bench.runs.checkpoint``)
    metrics*.json        what ``bench eval`` measured (``metrics_name``)
    metrics*_per_image.csv   the same, image by image (``per_image_name``)

``RunConfig`` is the typed view of ``config.json`` that readers use, so a default (``num_classes``, ``val_fraction``)
is filled in once, here, and records written by older versions of the toolkit read the same way.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.data.io import atomic_write_json, atomic_write_text
from bench.defaults import NUM_CLASSES

CONFIG = "config.json"
TRAIN_LOG = "train_log.csv"
CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"
METRICS_NATIVE = "metrics_native.json"
METRICS_PER_IMAGE = "metrics_per_image.csv"  # per_image_name(METRICS)
METRICS_NATIVE_PER_IMAGE = "metrics_native_per_image.csv"
# The small files of a finished run that a report folder keeps (never the checkpoint).
RECORDED_FILES = (CONFIG, TRAIN_LOG, METRICS, METRICS_NATIVE, METRICS_PER_IMAGE, METRICS_NATIVE_PER_IMAGE)
# train_log.csv's columns. ``test_miou`` and ``test_boundary_f`` hold the scores of ``eval_split`` (the test split
# unless a calibration run evaluated its held-out validation part): the names are kept so older logs read the same.
LOG_FIELDS = ("epoch", "loss", "lr", "seconds", "elapsed_s", "images_per_s", "eval_split", "test_miou",
              "test_boundary_f")
# The settings that decide what a run computes: a resumed or repeated run must agree with the checkpoint on them.
# ("augment": the augmentation beyond the paper's; records older than it lack the key and read None, the paper's.)
RESULT_FIELDS = ("model", "data", "epochs", "batch_size", "size", "lr", "weight_decay", "betas", "schedule",
                 "poly_power", "exp_gamma", "loss", "seed", "max_iters_per_epoch", "boundary_max_distance",
                 "num_classes", "val_fraction", "augment")
# What a recorded run (reports/<profile>/runs/) must share with a job to stand for it: the result fields, with the
# dataset matched by its name instead of its path (paths differ between machines), and its EXECUTION_FIELDS.
RECORD_FIELDS = tuple(f for f in RESULT_FIELDS if f != "data")
# How a run computed, beside what it was set to compute: the same settings end at other weights on another device
# type or precision (other kernels, other rounding), and from a pack (decoded, possibly lossy, and augmented on the
# device) rather than a dataset folder. A CPU record must not stand for a CUDA job, nor the reverse (``execution``).
EXECUTION_FIELDS = ("device_type", "amp", "data_format")


def record_settings(cfg: object) -> dict[str, object]:
    """A training config's RECORD_FIELDS as its config.json stores them (tuples as lists), to compare with a record."""
    return json.loads(json.dumps({k: getattr(cfg, k) for k in RECORD_FIELDS}))


def execution(device: object, amp: object, pack: Mapping[str, object] | None) -> dict[str, str | None]:
    """EXECUTION_FIELDS of a run on ``device`` ("cpu", "cuda:0") with ``amp`` as resolved ("bf16", "none") from
    ``pack`` (config.json's ``pack``: size, codec, quality) or, when None, a dataset folder.

    Read from the keys config.json has always had ("device", "amp"; "pack" since packs exist), so every older record
    keeps the identity it was trained with; a key a record lacks is None, which matches no job.
    """
    data_format = "folder"
    if pack is not None:
        quality = pack.get("quality")
        data_format = f"pack {pack.get('codec')}" + ("" if quality is None else f" q{quality}")
    return {"device_type": str(device).split(":")[0] if device else None, "amp": str(amp) if amp else None,
            "data_format": data_format}


@dataclass(frozen=True)
class RunConfig:
    """The fields of ``config.json`` that readers act on, defaults filled in; ``raw`` is the whole record."""

    model: str
    data: str
    size: int
    epochs: int | None = None
    num_classes: int = NUM_CLASSES
    loss: str | None = None
    schedule: str | None = None
    val_fraction: float = 0.0
    dataset_name: str | None = None
    raw: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, record: Mapping[str, object]) -> RunConfig:
        epochs = record.get("epochs")
        return cls(model=str(record["model"]), data=str(record.get("data", "")), size=int(record["size"]),
                   epochs=None if epochs is None else int(epochs),
                   num_classes=int(record.get("num_classes") or NUM_CLASSES), loss=record.get("loss"),
                   schedule=record.get("schedule"), val_fraction=float(record.get("val_fraction") or 0.0),
                   dataset_name=(record.get("dataset") or {}).get("name"), raw=dict(record))

    @property
    def execution(self) -> dict[str, str | None]:
        """How this run computed (``execution``): device type, precision, data format."""
        return execution(self.raw.get("device"), self.raw.get("amp"), self.raw.get("pack"))

    def same_result(self, wanted: Mapping[str, object], dataset_name: str) -> bool:
        """Whether this record computes what ``wanted`` (RECORD_FIELDS and EXECUTION_FIELDS of a job) asks, on the
        dataset of that name."""
        return (all(self.raw.get(k) == wanted[k] for k in RECORD_FIELDS) and self.execution == {
            k: wanted[k] for k in EXECUTION_FIELDS} and self.dataset_name == dataset_name)


def run_file(run_dir: str | os.PathLike, name: str) -> Path:
    return Path(run_dir) / name


def read_json(path: str | os.PathLike) -> dict | None:
    """A JSON record, or None when the file is not there."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_config(run_dir: str | os.PathLike) -> RunConfig | None:
    record = read_json(run_file(run_dir, CONFIG))
    return None if record is None else RunConfig.from_dict(record)


def write_config(run_dir: str | os.PathLike, record: Mapping[str, object]) -> None:
    atomic_write_json(run_file(run_dir, CONFIG), dict(record))


def read_log(run_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a run's ``train_log.csv`` (none when the folder has no log)."""
    path = run_file(run_dir, TRAIN_LOG)
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8")))) if path.is_file() else []


def write_log(run_dir: str | os.PathLike, rows: list[Mapping[str, object]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=LOG_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in LOG_FIELDS})
    atomic_write_text(run_file(run_dir, TRAIN_LOG), buf.getvalue())


def train_minutes(run_dir: str | os.PathLike) -> float | str:
    """Training wall time of a run (evaluation excluded), from the last row of its log; "" without one."""
    rows = read_log(run_dir)
    elapsed = rows[-1].get("elapsed_s") if rows else None
    return round(float(elapsed) / 60.0, 2) if elapsed else ""


def percent(fraction: object, missing: object = None) -> object:
    """A metrics file's fraction as the tables, manifests and cards quote it: percent to 3 decimals (``missing``
    for None)."""
    return missing if fraction is None else round(100.0 * float(fraction), 3)


def metrics_name(dataset: str | None = None, split: str = "test", native: bool = False) -> str:
    """``bench eval``'s file: ``metrics.json`` for the test split of the training dataset (``dataset`` None),
    ``metrics_<split>.json`` for another split of it (a held-out ``val``), ``metrics_<dataset>_<split>.json``
    otherwise; ``_native`` before ``.json`` at each image's own resolution."""
    if dataset is None:
        stem = "metrics" if split == "test" else f"metrics_{split}"
    else:
        stem = f"metrics_{dataset}_{split}"
    return stem + ("_native.json" if native else ".json")


def per_image_name(metrics_file: str) -> str:
    """The per-image scores beside a metrics file: ``metrics_native.json`` -> ``metrics_native_per_image.csv``."""
    return f"{Path(metrics_file).stem}_per_image.csv"


def backend_metrics_name(source_stem: str, backend: str, precision: str, dataset: str, split: str,
                         native: bool = False) -> str:
    """``bench eval --backend/--precision`` (or ``--onnx``): ``metrics_<source>_<backend>_<precision>_<dataset>_
    <split>[_native].json``, ``source`` being ``run`` for a run folder or the ONNX file's stem."""
    return f"metrics_{source_stem}_{backend}_{precision}_{dataset}_{split}{'_native' if native else ''}.json"


def finished_metrics(run_dir: str | os.PathLike, name: str, epochs: int) -> dict | None:
    """The run's metrics file if it scores the finished run (all ``epochs`` trained), else None."""
    metrics = read_json(run_file(run_dir, name))
    return metrics if metrics and metrics.get("epochs_trained") == epochs else None
