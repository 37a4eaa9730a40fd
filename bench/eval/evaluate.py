"""``bench eval``: a source scored by the one loop (``bench.eval.loop.score``) and written where its kind keeps it.

``model_source`` turns whatever ``--model`` names (a zoo name, a run folder, a checkpoint, an ``.onnx`` file) into a
predictor on any back end carrying its card, whose ``Preprocess`` the loop feeds; a folder of masks is a
``bench.eval.predictions.MaskFolder``. ``evaluate`` scores either and writes the metrics file with its per-image
CSV (``bench.eval.records.write_metrics``) under ``bench.runs.folder``'s names:

* a run or checkpoint in PyTorch eager fp32: beside the checkpoint, ``metrics.json`` for the test split of the
  training dataset, ``metrics_<dataset>_<split>.json`` otherwise, ``_native`` before ``.json`` at ``NATIVE``;
* a zoo entry in PyTorch eager fp32: ``runs/zoo/<name>/metrics_<dataset>_<split>[_native].json``;
* anything else (an ONNX file, another back end or precision): ``metrics_<source>_<backend>_<precision>_<dataset>_
  <split>[_native].json`` beside the source (``source``: the ONNX file's stem, else ``run``);
* a mask folder: ``<folder>/metrics_<dataset>_<split>.json``.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.deploy.backends import BackendError
from bench.deploy.card import ModelCard
from bench.deploy.runtime import load_predictor
from bench.deploy.sources import is_onnx_source, resolve
from bench.eval.loop import AT_INPUT, NATIVE, Data, ModelPredictions, PredictionSource, held_out, open_split, score
from bench.eval.metrics import BOUNDARY_TOLERANCE
from bench.eval.predictions import MaskFolder, PredictionError
from bench.eval.records import write_metrics
from bench.registry import check_input_size
from bench.runs.folder import RunConfig, backend_metrics_name, metrics_name

ZOO_RECORDS = Path("runs") / "zoo"  # a zoo entry's evaluations, under the working folder


def model_source(model: str | os.PathLike | ModelCard, data: str | os.PathLike | None = None, *,
                 size: int | None = None, backend: str = "eager", precision: str = "fp32", device: str = "cpu",
                 threads: int | None = None, calibration: str | os.PathLike | None = None) -> ModelPredictions:
    """``model`` (anything ``bench.deploy.sources.resolve`` takes) on ``backend`` at ``precision``, fed at ``size``
    (default: its card's). int8 is calibrated on ``calibration`` (default: ``data``, else its training dataset).
    A size the model cannot take raises ``InputSizeError`` before anything is loaded."""
    card = resolve(model)
    if size:
        card = card.at_size(size)
    if not card.size:
        raise BackendError(f"{card.name}: takes any input size; give --size")
    if card.architecture:
        check_input_size(card.architecture, card.size)
    calibration = calibration or (data or card.training_data if precision == "int8" else None)
    # eager keeps the layout a run was always evaluated in (contiguous), so its metrics files agree with earlier ones
    predictor = load_predictor(card, backend=backend, precision=precision, threads=threads, device=device,
                               size=card.size, calibration=calibration,
                               channels_last=False if backend == "eager" else None)
    return ModelPredictions(predictor, card.preprocess)


def evaluate(source: PredictionSource, data: Data | None = None, split: str = "test", resolution: str = AT_INPUT, *,
             batch_size: int = 8, tolerance: float = BOUNDARY_TOLERANCE) -> dict[str, object]:
    """``score`` of ``source`` on ``split`` of ``data`` (default: a model's training dataset) at ``resolution``,
    written as the module docstring says; returns the metrics with ``path`` and ``per_image_path``.
    ``split="val"`` of a model is the part of train its run held out."""
    if isinstance(source, MaskFolder):
        if data is None:
            raise PredictionError(f"{source.folder}: give the dataset its masks are scored against")
        ds = open_split(data)
        m = score(source, ds, split, NATIVE, batch_size=batch_size, tolerance=tolerance)
        m.update(model=source.folder.name, data=str(ds.root.resolve()), predictions=str(source.folder.resolve()))
        return write_metrics(source.folder / metrics_name(m["dataset"], split), m)
    card = source.predictor.card
    given, data = data, data or card.training_data
    if not data:
        raise BackendError(f"{card.name}: no record of its training dataset; give --data")
    ds = open_split(data)
    m = score(source, ds, split, resolution, ids=held_out(ds, split, card.val_fraction, card.weights.path),
              batch_size=batch_size, tolerance=tolerance, num_classes=card.num_classes)
    m["data"] = str(ds.root.resolve())
    native = resolution == NATIVE
    p = source.predictor
    if card.provenance.onnx or (p.backend, p.precision) != ("eager", "fp32"):
        src = Path(card.name)
        folder = ZOO_RECORDS / card.zoo if card.zoo else src.parent if src.is_file() else src
        stem = src.stem if src.is_file() and is_onnx_source(src) else "run"
        m.update(model=card.architecture or None, source=str(src.resolve()), backend=p.backend,
                 precision=p.precision, calibration=p.calibration)
        return write_metrics(folder / backend_metrics_name(stem, p.backend, p.precision, ds.name, split, native), m)
    if card.zoo:
        m.update(model=card.architecture, zoo=card.zoo, sha256=card.weights.sha256,
                 preprocess=source.preprocess.to_dict())
        return write_metrics(ZOO_RECORDS / card.zoo / metrics_name(ds.name, split, native), m)
    module = p.module  # the run's model as the checkpoint gave it: its record and epochs ride along
    cfg, ckpt = RunConfig.from_dict(module.run_config), Path(card.weights.path)
    m.update(model=cfg.model, checkpoint=str(ckpt.resolve()), epochs_trained=module.trained_epochs,
             epochs=cfg.epochs, schedule=cfg.schedule, loss=cfg.loss)
    same_data = given is None or Path(given).resolve() == Path(cfg.data).resolve()
    return write_metrics(ckpt.parent / metrics_name(None if same_data else ds.name, split, native), m)
