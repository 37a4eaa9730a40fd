"""Evaluation and prediction: a trained model over a dataset split, or over images.

Two resolutions, since the paper does not say which it used:

* at the model's input size (the default, the training size): images resized as in training, true masks resized
  nearest, scored at that size;
* ``native=True``: the model still sees the image at its input size, but its logits are upsampled bilinearly to the
  image's own size (600x800 for PFCN) and scored against the original mask, as an application uses them. Boundary
  F's tolerance is then in native pixels.

A pack (``bench.data.pack``) is scored like its dataset folder: at the input size from its packed test split, and
natively from the packed image (the photo already squashed to the input size, what the model sees at native
evaluation too) with the logits upsampled onto the packed native-resolution mask. Only the pack's codec error differs.

The metrics themselves (mIoU, boundary F) are defined in ``bench.eval.metrics``. Every evaluation's result also
carries its per-image rows (``per_image``, one per sample, with its id), which ``bench.eval.records.write_metrics``
moves to the CSV beside the metrics file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from bench.data.format import PortraitDataset
from bench.data.pack import Pack, open_data
from bench.data.pipeline import PortraitTorchDataset, holdout_ids, worker_init
from bench.data.preprocess import Fit, Preprocess, portrait_logit, resize_mask
from bench.defaults import INPUT_SIZE, NUM_CLASSES
from bench.deploy.predict import as_predictor, labels
from bench.deploy.runtime import Predictor
from bench.errors import UserError
from bench.eval.metrics import BOUNDARY_TOLERANCE, MetricAccumulator
from bench.eval.records import scored, write_metrics
from bench.registry import check_input_size
from bench.runs.checkpoint import checkpoint_path, load_model
from bench.runs.folder import RunConfig, metrics_name


class SplitError(UserError):
    """A split a run cannot be evaluated on."""


def _logits(model: nn.Module | Predictor, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Logits of a module (training's own, or a loaded run) or of any back end's predictor."""
    if isinstance(model, nn.Module):
        out = model(x.to(device))
        return out["out"] if isinstance(out, dict) else out
    return torch.from_numpy(np.asarray(model(np.ascontiguousarray(x.numpy(), np.float32))))


@torch.inference_mode()
def evaluate(
    model: nn.Module | Predictor,
    data: PortraitDataset | PortraitTorchDataset | str | os.PathLike,
    split: str = "test",
    size: int = INPUT_SIZE,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 0,
    tolerance: float = BOUNDARY_TOLERANCE,
    num_classes: int = NUM_CLASSES,
) -> dict[str, object]:
    """Metrics of ``model`` on one split at ``size`` x ``size`` (the model is left in eval mode).

    ``data`` may also be a ready ``PortraitTorchDataset`` without augmentation (a training run's cached validation
    set); its own ids and size are then used.
    """
    if isinstance(data, PortraitTorchDataset):
        ds, split, size = data, data.split, data.size
    else:
        ds = PortraitTorchDataset(data, split, size)
    # its own generator: evaluating must not draw from the global RNG that training's dropout uses
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, num_workers=workers,
                        worker_init_fn=worker_init if workers else None, generator=torch.Generator().manual_seed(0))
    if isinstance(model, nn.Module):
        model.eval()
    acc = MetricAccumulator(num_classes, tolerance)
    device = torch.device(device)
    for batch in loader:
        pred = _logits(model, batch["image"], device).argmax(1).to(torch.uint8).cpu().numpy()
        acc.update(pred, batch["mask"].numpy(), [ds.ids[i] for i in batch["index"].tolist()])
    out = scored(acc)
    out.update({"dataset": ds.data.name, "split": split, "size": size, "resolution": "model"})
    return out


def evaluate_native(model: nn.Module | Predictor, data: PortraitDataset | Pack | str | os.PathLike, split: str = "test",
                    *, size: int = INPUT_SIZE, device: str | torch.device = "cpu", batch_size: int = 8,
                    tolerance: float = BOUNDARY_TOLERANCE, num_classes: int = NUM_CLASSES,
                    ids: Sequence[str] | None = None, preprocess: Preprocess | None = None) -> dict[str, object]:
    """Metrics at each image's own resolution: logits from a ``size`` input, upsampled bilinearly (``predict``).

    ``ids`` restricts the split to those samples (a run's held-out validation part of train); ``preprocess`` is how
    the model sees a photo when it is not the training policy at ``size`` (a published model's, from its manifest).
    """
    ds = data if isinstance(data, PortraitDataset | Pack) else open_data(Path(data))
    ds.check_split(split)  # as PortraitTorchDataset does for the resized path: empty, bad values or no portrait
    ids = list(ds.ids(split) if ids is None else ids)
    if preprocess is not None and isinstance(ds, Pack):
        raise SplitError(f"{ds.root}: a pack holds photos already squashed for the training policy; score a model "
                         "with its own preprocessing on the dataset folder")
    if isinstance(ds, Pack) and size != ds.size:
        raise SplitError(f"{ds.root}: packed at {ds.size} px; native scoring from a pack needs the model input at "
                         f"that size, not {size}")
    acc = MetricAccumulator(num_classes, tolerance)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        if isinstance(ds, Pack):
            masks = [ds.load_native_mask(i) for i in chunk]
            preds = _packed_labels(model, [ds.load_image(i) for i in chunk], [m.shape for m in masks], device)
        else:
            masks = [ds.load_mask(i) for i in chunk]
            preds = labels(model, [ds.load_image(i) for i in chunk], preprocess or Preprocess((size, size)),
                           batch_size, device)
        for sid, pred, mask in zip(chunk, preds, masks, strict=True):
            acc.update(pred, mask, [sid])
    out = scored(acc)
    out.update({"dataset": ds.name, "split": split, "size": size, "resolution": "native"})
    return out


@torch.inference_mode()
def evaluate_at_input(model: nn.Module | Predictor, data: PortraitDataset | str | os.PathLike, split: str,
                      preprocess: Preprocess, *, device: str | torch.device = "cpu", batch_size: int = 8,
                      tolerance: float = BOUNDARY_TOLERANCE, num_classes: int = NUM_CLASSES) -> dict[str, object]:
    """Metrics at the model's input size for a model with its own ``Preprocess``: each photo fitted as it says, the
    arg-max at the input against the mask resized there (nearest). With the training policy this is ``evaluate``."""
    ds = data if isinstance(data, PortraitDataset) else open_data(Path(data))
    ds.check_split(split)
    ids = list(ds.ids(split))
    h, w = preprocess.size
    if preprocess.resize != "squash" or h != w:
        raise SplitError(f"scoring at the input size needs a square squash input, not {preprocess.resize} {h}x{w}")
    predictor = as_predictor(model, device)
    acc = MetricAccumulator(num_classes, tolerance)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        x, _ = preprocess.batch([ds.load_image(i) for i in chunk])
        pred = np.asarray(predictor(x)).argmax(1).astype(np.uint8)
        acc.update(pred, np.stack([resize_mask(ds.load_mask(i), h) for i in chunk]), chunk)
    out = scored(acc)
    out.update({"dataset": ds.name, "split": split, "size": h, "resolution": "model"})
    return out


def _packed_labels(model: nn.Module | Predictor, images: list[np.ndarray], shapes: list[tuple[int, int]],
                   device: str | torch.device) -> list[np.ndarray]:
    """Labels at each photo's own (H, W) from images already squashed to the input: ``predict``'s path from there."""
    size = images[0].shape[:2]
    x, _ = Preprocess(size, "squash").batch(images)
    logits = np.asarray(as_predictor(model, device)(x))
    return [(portrait_logit(lg, Fit(tuple(shape), size, 0, 0, size[0], size[1])) > 0).astype(np.uint8)
            for lg, shape in zip(logits, shapes, strict=True)]


def predict(
    model: nn.Module | Predictor,
    rgb_images: Sequence[np.ndarray],
    size: int = INPUT_SIZE,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
) -> list[np.ndarray]:
    """Label maps (uint8, 0/1) for RGB uint8 images of any size, each at its own (H, W): each image squashed to
    ``size`` x ``size`` as in training, the logits mapped back bilinearly before the arg-max
    (``bench.deploy.predict``)."""
    return labels(model, rgb_images, Preprocess((size, size), "squash"), batch_size, device)


def evaluate_split(
    model: nn.Module | Predictor,
    ds: PortraitDataset | Pack,
    split: str,
    size: int,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    tolerance: float = BOUNDARY_TOLERANCE,
    num_classes: int = NUM_CLASSES,
    native: bool = False,
    val_fraction: float = 0.0,
    source: str | os.PathLike = "the model",
) -> dict[str, object]:
    """``evaluate`` (or ``evaluate_native``) of a trained model on one split of ``ds``, where ``split="val"`` is the
    part of train its run held out (``val_fraction``; ``source`` names the run in the error when it held out none)."""
    source_split, ids = split, None
    if split == "val":
        if not val_fraction:
            raise SplitError(f"{source}: split 'val' is the part of train a run holds out, and this run held out none "
                             "(trained with --val-fraction 0)")
        source_split, ids = "train", holdout_ids(ds.ids("train"), val_fraction)[1]
    if native:
        metrics = evaluate_native(model, ds, source_split, size=size, device=device, batch_size=batch_size,
                                  tolerance=tolerance, num_classes=num_classes, ids=ids)
    else:
        tensors = PortraitTorchDataset(ds, source_split, size, ids=ids)
        metrics = evaluate(model, tensors, device=device, batch_size=batch_size, tolerance=tolerance,
                           num_classes=num_classes)
    metrics["split"] = split
    return metrics


def evaluate_run(
    run_dir: str | os.PathLike,
    data: str | os.PathLike | None = None,
    split: str = "test",
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    tolerance: float = BOUNDARY_TOLERANCE,
    size: int | None = None,
    native: bool = False,
) -> dict[str, object]:
    """Evaluate a run folder (or checkpoint file) and write the metrics next to the checkpoint.

    ``data`` defaults to the dataset the run trained on and ``size`` to its training size. The file is
    ``metrics.json`` for the test split of the training dataset, ``metrics_<dataset>_<split>.json`` otherwise;
    ``native=True`` (``evaluate_native``) writes ``metrics_native.json`` / ``metrics_<dataset>_<split>_native.json``.
    Each comes with its per-image scores, ``<stem>_per_image.csv`` (``write_metrics``).
    ``split="val"`` is the part of train the run held out (its ``val_fraction``), for calibrating a protocol without
    looking at the test split. A ``size`` the run's model cannot take raises ``InputSizeError`` before any image
    is read.
    """
    ckpt = checkpoint_path(run_dir)
    model = load_model(ckpt, device)
    cfg = RunConfig.from_dict(model.run_config)
    data_path = Path(data) if data is not None else Path(cfg.data)
    ds = open_data(data_path)
    eval_size = int(size or cfg.size)
    check_input_size(cfg.model, eval_size)
    metrics = evaluate_split(model, ds, split, eval_size, device, batch_size, tolerance, cfg.num_classes, native,
                             cfg.val_fraction, ckpt)
    metrics.update({
        "model": cfg.model,
        "data": str(data_path.resolve()),
        "checkpoint": str(ckpt.resolve()),
        "epochs_trained": model.trained_epochs,
        "epochs": cfg.epochs,
        "schedule": cfg.schedule,
        "loss": cfg.loss,
    })
    same_data = data is None or data_path.resolve() == Path(cfg.data).resolve()
    out = ckpt.parent / metrics_name(None if same_data else ds.name, split, native)
    return write_metrics(out, metrics)
