"""Evaluation and prediction: a trained model over a dataset split, or over images.

Two resolutions, since the paper does not say which it used:

* at the model's input size (the default, the training size): images resized as in training, true masks resized
  nearest, scored at that size;
* ``native=True``: the model still sees the image at its input size, but its logits are upsampled bilinearly to the
  image's own size (600x800 for PFCN) and scored against the original mask, as an application uses them. Boundary
  F's tolerance is then in native pixels.

The metrics themselves (mIoU, boundary F) are defined in ``bench.metrics``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from bench.checkpoint import checkpoint_path, load_model
from bench.data import PortraitTorchDataset, holdout_ids, normalize, resize_image, worker_init
from bench.dataset import PortraitDataset, atomic_write_json, read_dataset
from bench.metrics import BOUNDARY_TOLERANCE, MetricAccumulator
from bench.registry import check_input_size


def _logits(output: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor:
    return output["out"] if isinstance(output, dict) else output


@torch.inference_mode()
def evaluate(
    model: nn.Module,
    data: PortraitDataset | PortraitTorchDataset | str | os.PathLike,
    split: str = "test",
    size: int = 512,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    workers: int = 0,
    tolerance: float = BOUNDARY_TOLERANCE,
    num_classes: int = 2,
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
    model.eval()
    acc = MetricAccumulator(num_classes, tolerance)
    device = torch.device(device)
    for batch in loader:
        x = batch["image"].to(device)
        pred = _logits(model(x)).argmax(1).to(torch.uint8).cpu().numpy()
        acc.update(pred, batch["mask"].numpy())
    out = acc.result()
    out.update({"dataset": ds.data.name, "split": split, "size": size, "resolution": "model"})
    return out


def evaluate_native(
    model: nn.Module,
    data: PortraitDataset | str | os.PathLike,
    split: str = "test",
    size: int = 512,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    tolerance: float = BOUNDARY_TOLERANCE,
    num_classes: int = 2,
    ids: Sequence[str] | None = None,
) -> dict[str, object]:
    """Metrics at each image's own resolution: logits from a ``size`` input, upsampled bilinearly (``predict``).

    ``ids`` restricts the split to those samples (a run's held-out validation part of train).
    """
    ds = data if isinstance(data, PortraitDataset) else read_dataset(Path(data))
    ds.check_split(split)  # as PortraitTorchDataset does for the resized path: empty, bad values or no portrait
    ids = list(ds.ids(split) if ids is None else ids)
    acc = MetricAccumulator(num_classes, tolerance)
    for start in range(0, len(ids), batch_size):
        chunk = ids[start:start + batch_size]
        preds = predict(model, [ds.load_image(i) for i in chunk], size, device, batch_size)
        for sid, pred in zip(chunk, preds, strict=True):
            acc.update(pred, ds.load_mask(sid))
    out = acc.result()
    out.update({"dataset": ds.name, "split": split, "size": size, "resolution": "native"})
    return out


@torch.inference_mode()
def predict(
    model: nn.Module,
    rgb_images: Sequence[np.ndarray],
    size: int = 512,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
) -> list[np.ndarray]:
    """Label maps (uint8, 0/1) for RGB uint8 images of any size, each at its own (H, W).

    Each image is resized to ``size`` x ``size`` as in evaluation; the logits are resized back bilinearly before the
    arg-max, so the maps overlay the inputs.
    """
    model.eval()
    device = torch.device(device)
    out: list[np.ndarray] = []
    for start in range(0, len(rgb_images), batch_size):
        chunk = rgb_images[start:start + batch_size]
        x = torch.stack([normalize(resize_image(np.asarray(im), size)) for im in chunk]).to(device)
        logits = _logits(model(x)).float()
        for im, lg in zip(chunk, logits, strict=True):
            h, w = np.asarray(im).shape[:2]
            lg = torch.nn.functional.interpolate(lg[None], size=(h, w), mode="bilinear", align_corners=False)
            out.append(lg[0].argmax(0).to(torch.uint8).cpu().numpy())
    return out


def evaluate_split(
    model: nn.Module,
    ds: PortraitDataset,
    split: str,
    size: int,
    device: str | torch.device = "cpu",
    batch_size: int = 8,
    tolerance: float = BOUNDARY_TOLERANCE,
    num_classes: int = 2,
    native: bool = False,
    val_fraction: float = 0.0,
    source: str | os.PathLike = "the model",
) -> dict[str, object]:
    """``evaluate`` (or ``evaluate_native``) of a trained model on one split of ``ds``, where ``split="val"`` is the
    part of train its run held out (``val_fraction``; ``source`` names the run in the error when it held out none)."""
    source_split, ids = split, None
    if split == "val":
        if not val_fraction:
            raise ValueError(f"{source}: split 'val' is the part of train a run holds out, and this run held out none "
                             "(trained with --val-fraction 0)")
        source_split, ids = "train", holdout_ids(ds.ids("train"), val_fraction)[1]
    if native:
        metrics = evaluate_native(model, ds, source_split, size, device, batch_size, tolerance, num_classes, ids)
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
    ``split="val"`` is the part of train the run held out (its ``val_fraction``), for calibrating a protocol without
    looking at the test split. A ``size`` the run's model cannot take raises ``ValueError`` before any image is read.
    """
    ckpt = checkpoint_path(run_dir)
    model = load_model(ckpt, device)
    cfg = model.run_config
    data_path = Path(data) if data is not None else Path(cfg["data"])
    ds = read_dataset(data_path)
    eval_size = int(size or cfg["size"])
    check_input_size(cfg["model"], eval_size)
    metrics = evaluate_split(model, ds, split, eval_size, device, batch_size, tolerance, int(cfg.get("num_classes", 2)),
                             native, float(cfg.get("val_fraction") or 0.0), ckpt)
    metrics.update({
        "model": cfg["model"],
        "data": str(data_path.resolve()),
        "checkpoint": str(ckpt.resolve()),
        "epochs_trained": model.trained_epochs,
        "epochs": cfg.get("epochs"),
        "schedule": cfg.get("schedule"),
        "loss": cfg.get("loss"),
    })
    same_data = data is None or data_path.resolve() == Path(cfg["data"]).resolve()
    name = "metrics" if split == "test" and same_data else f"metrics_{ds.name}_{split}"
    name += "_native.json" if native else ".json"
    out = ckpt.parent / name
    atomic_write_json(out, metrics)
    metrics["path"] = str(out)
    return metrics
