"""Accuracy on any back end: ``bench eval`` of an ONNX file, or of a run on onnxruntime / OpenVINO / int8.

A quantized or exported model is only a win if it keeps its accuracy, so it is measured exactly as the PyTorch model
is (``bench.eval.evaluate.evaluate_split``: the same data pipeline, splits, confusion matrix and boundary F), the
back end's predictor standing in for the module.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.data.format import read_dataset
from bench.deploy.backends import BackendError
from bench.deploy.runtime import load_predictor
from bench.deploy.sources import is_onnx_source, resolve
from bench.eval.evaluate import evaluate_split
from bench.eval.metrics import BOUNDARY_TOLERANCE
from bench.eval.records import write_metrics
from bench.registry import check_input_size
from bench.runs.folder import backend_metrics_name


def evaluate_on_backend(source: str | os.PathLike, data: str | os.PathLike | None = None, split: str = "test",
                        backend: str = "auto", precision: str = "fp32", size: int | None = None,
                        threads: int | None = None, calibration: str | os.PathLike | None = None,
                        batch_size: int = 8, tolerance: float = BOUNDARY_TOLERANCE, device: str = "cpu",
                        native: bool = False) -> dict[str, object]:
    """Metrics of a run, checkpoint or ONNX file on ``backend``; written as JSON beside the source.

    ``data`` defaults to the dataset the model was trained on (for an ONNX file: as recorded by ``bench export``),
    ``size`` to its training size, and int8 ``calibration`` to that dataset's training images. ``split`` and
    ``native`` are ``evaluate_run``'s (``bench.eval.evaluate.evaluate_split``). Raises ``BackendError``, or
    ``InputSizeError`` for a size the model cannot take.
    """
    src = Path(source)
    card = resolve(source)
    data = data or card.training_data
    if not data:
        raise BackendError(f"{source}: no record of its training dataset; give --data")
    eval_size = int(size or card.size or 0) or None
    if eval_size is not None and card.architecture:
        check_input_size(card.architecture, eval_size)
    predictor = load_predictor(card, backend=backend, precision=precision, threads=threads, device=device,
                               size=eval_size, calibration=calibration or (data if precision == "int8" else None))
    eval_size = predictor.input_size or eval_size
    if eval_size is None:
        raise BackendError(f"{source}: takes any input size; give --size")
    ds = read_dataset(data)
    metrics = evaluate_split(predictor, ds, split, eval_size, "cpu", batch_size, tolerance, card.num_classes, native,
                             card.val_fraction, src)
    metrics.update({"model": card.architecture or None, "data": str(Path(data).resolve()),
                    "source": str(src.resolve()), "backend": predictor.backend, "precision": predictor.precision,
                    "calibration": predictor.calibration})
    folder = src.parent if src.is_file() else src
    stem = src.stem if src.is_file() and is_onnx_source(src) else "run"
    out = folder / backend_metrics_name(stem, predictor.backend, predictor.precision, ds.name, split, native)
    return write_metrics(out, metrics)
