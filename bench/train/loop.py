"""Training with the paper's recipe (Section 3.2), for any registered model, resumable and optionally distributed.

Recipe: Adam (betas 0.9, 0.999), weight decay 1e-4, global batch 16, lr 5e-4, 100 epochs at 512x512, flip and
brightness/contrast augmentation (``bench.data.pipeline``). The lr changes once per epoch: ``poly`` (ERFNet's
lr0 * (1 - epoch / epochs) ** 0.9, the default) or ``exp`` (lr0 * 0.9 ** epoch, the literal reading of "decayed by 0.9
each epoch"). Loss: the model's default (``adaptive`` for ELB, ``ce`` plus auxiliary heads for the baselines, see
``bench.train.losses``) unless ``loss`` overrides it.

A run folder holds ``config.json`` (every choice), ``train_log.csv`` (one row per epoch) and ``checkpoint.pt``
(``bench.runs.checkpoint``), written atomically after every epoch; ``docs/runs.md`` describes the layout. Training again
into a folder whose run finished does nothing; ``resume=True`` continues an unfinished one, and on CPU ends with
exactly the weights of a run that never stopped. Each step's loss stays on the device and the epoch reads them in one
sync (no per-step host sync, which would stall a GPU's queue every step); a NaN or inf loss among them stops the run
before that epoch's checkpoint, leaving the last good checkpoint in place.

Launched by ``torchrun`` (WORLD_SIZE > 1) the run is data-parallel (DDP; NCCL on CUDA, gloo on CPU): ``batch_size`` is
the global batch, split evenly over the processes by a distributed sampler, and only rank 0 writes. On CUDA, batch
norm is synchronised across processes so every step sees the statistics of the whole global batch; on CPU (gloo)
SyncBatchNorm is unavailable and each process normalises its own share. Each process's loss is a mean over its own
labelled pixels, and DDP averages the gradients, which equals the single-process mean when the shares hold equally
many labelled pixels (no ignore labels).

The model is a registry name, or ``"module:callable"`` for a factory taking ``num_classes`` (``bench.registry``; its
default loss is then ``ce``). Every setting and its default is ``TrainConfig`` (``bench.train.config``).

``data`` is a portrait dataset folder or a pack file (``bench pack``, ``bench.data.pack``). From a folder, batches come
from a DataLoader over ``PortraitTorchDataset``; from a pack, the split is decoded once onto the device and augmented
there (``bench.data.device_batches``), with the same sampler and the same per-sample draws. That is the only seam: the
model, loss, schedule, checkpoint, run folder and evaluation are this module's either way, and ``config.json`` records
the pack's codec under ``pack``. A pack holds one training size, so a run at another size is refused before its folder
is made.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from bench.data.augment import make_augment
from bench.data.device_batches import DeviceBatches
from bench.data.pack import Pack, open_data
from bench.data.pipeline import PortraitTorchDataset, holdout_ids, worker_init
from bench.data.preprocess import Preprocess
from bench.deploy.predict import as_predictor
from bench.devices import resolve_device
from bench.eval.loop import ModelPredictions, score
from bench.machine import git_commit
from bench.progress import Progress
from bench.registry import build_model, cpu_channels_last, default_loss
from bench.runs.checkpoint import CheckpointError, load_checkpoint, save_training_state, set_rng_state
from bench.runs.folder import CHECKPOINT, RESULT_FIELDS, write_config, write_log
from bench.train.config import TrainConfig, TrainError
from bench.train.losses import compute_loss

log = logging.getLogger("bench.train.loop")

class NonFiniteLossError(TrainError):
    """The loss became NaN or inf; the last good checkpoint is kept."""


# -- schedules -------------------------------------------------------------------------------------------------
class _LrLambda:
    """The lr multiplier during an epoch (0-based), for ``LambdaLR``; its state is the config's numbers only."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.schedule, self.epochs = cfg.schedule, cfg.epochs
        self.poly_power, self.exp_gamma = cfg.poly_power, cfg.exp_gamma

    def __call__(self, epoch: int) -> float:
        if self.schedule == "poly":
            return max(0.0, 1.0 - epoch / self.epochs) ** self.poly_power
        return self.exp_gamma ** epoch


# -- distributed -----------------------------------------------------------------------------------------------
@dataclass
class _Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False


def _setup_distributed(use_cuda: bool) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return _Dist()
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owns = True
    return _Dist(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")), owns)


def _barrier(env: _Dist) -> None:
    if env.world > 1:
        dist.barrier()


def resolve_amp(mode: str, device: torch.device) -> str:
    """The autocast mode a run uses: ``auto`` becomes bf16 where the device has native bf16 arithmetic, else none.

    On CPU, bf16 autocast is a win only with AVX512-BF16 or AMX (oneDNN's bf16 kernels; ELB at 256 px trains 2.1x
    faster than fp32 with channels-last on a 2-core EPYC); elsewhere it is emulated and slower than fp32. fp16
    autocast is for CUDA only.
    """
    if device.type == "cuda":
        if mode == "auto":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return mode
    if mode == "fp16":
        raise TrainError("amp fp16 is for CUDA; on CPU use bf16 or none")
    if mode == "auto":
        native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        return "bf16" if native else "none"
    return mode


def _resolve_device(spec: str, env: _Dist) -> torch.device:
    device = torch.device(resolve_device(spec))
    if device.type == "cuda":
        if env.world > 1:
            device = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(device)
    return device


# -- the run ---------------------------------------------------------------------------------------------------
def _normalised(d: dict) -> dict:
    return json.loads(json.dumps(d))


def _config_record(cfg: TrainConfig, loss: str, data_path: Path, data_meta: dict, device: torch.device,
                   env: _Dist, amp: str, channels_last: bool, pack_meta: dict | None = None) -> dict:
    rec = _normalised(asdict(cfg))
    rec.update({
        "data": str(data_path),
        "loss": loss,
        "loss_default": loss == default_loss(cfg.model),
        "device": str(device),
        "amp": amp,
        "channels_last": channels_last,
        "world_size": env.world,
        "batch_per_process": cfg.batch_size // env.world,
        "sync_batchnorm": env.world > 1 and device.type == "cuda",
        "optimizer": "Adam",
        "schedule_formula": (f"lr0 * (1 - epoch / {cfg.epochs}) ** {cfg.poly_power}" if cfg.schedule == "poly"
                             else f"lr0 * {cfg.exp_gamma} ** epoch"),
        "augmentation": _normalised(asdict(make_augment(cfg.augment))),  # every setting; ``augment`` the changed ones
        "dataset": {"name": data_meta.get("name"), "counts": data_meta.get("counts")},
        "torch": torch.__version__,
        # which code trained the run; not a result field (RESULT_FIELDS), so a resume under newer code is allowed
        # and says so in "earlier_commits" (_previous_state)
        "commit": git_commit(),
    })
    if pack_meta is not None:  # execution, not identity: a pack stands for the dataset it was made from
        rec["pack"] = {k: pack_meta.get(k) for k in ("size", "codec", "quality")}
    rec.pop("resume", None)
    rec.pop("progress", None)
    return _normalised(rec)  # plain JSON types only: the checkpoint must load with weights_only=True


def _check_same_run(old: dict, new: dict, ckpt: Path) -> None:
    diffs = [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in RESULT_FIELDS if old.get(k) != new.get(k)]
    if diffs:
        raise TrainError(f"{ckpt}: this run was made with other settings ({'; '.join(diffs)}); "
                         "use another --out folder or the run's own settings")


def _fits(n: int, size: int, budget_mb: int) -> bool:
    """Whether n resized samples (RGB + mask, uint8) fit the in-memory cache budget."""
    return n * size * size * 4 <= budget_mb * 2**20


def default_run_dir(model: str, data_name: str) -> Path:
    return Path("runs") / re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{model}-{data_name}")


def train(cfg: TrainConfig, stop_after_epoch: int | None = None) -> Path:
    """Train (or resume, or recognise as finished) one run; return its folder.

    ``stop_after_epoch`` ends this call once that epoch (1-based) is checkpointed, as if the process were killed
    there; a later call with ``resume=True`` continues.
    """
    cfg.validate()
    data_path = Path(cfg.data).resolve()
    data = open_data(data_path)
    data.check_split("train")  # before the run folder is made: a bad dataset leaves nothing behind
    if isinstance(data, Pack) and data.size != cfg.size:
        raise TrainError(f"{data_path}: packed at {data.size} px, but the run trains at {cfg.size}; pack the dataset "
                         f"again with --size {cfg.size}")
    use_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    env = _setup_distributed(use_cuda)
    try:
        return _train(cfg, data, data_path, env, stop_after_epoch)
    finally:
        if env.owns_group:
            dist.destroy_process_group()


@dataclass
class _Run:
    """What every step of a run shares: where it runs, what it computes, where it writes."""

    cfg: TrainConfig
    env: _Dist
    device: torch.device
    amp_dtype: torch.dtype | None
    channels_last: bool
    loss_kind: str
    run_dir: Path
    ckpt_path: Path
    record: dict


@dataclass
class _Learner:
    """The model and its optimisation state, and the epochs done so far."""

    model: nn.Module
    net: nn.Module  # the model, or its DDP wrapper
    aux_losses: dict
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    history: list[dict]
    start: int


def _setup(cfg: TrainConfig, data, data_path: Path, env: _Dist) -> _Run:
    device = _resolve_device(cfg.device, env)
    amp = resolve_amp(cfg.amp, device)
    channels_last = cfg.channels_last and (device.type != "cpu" or cpu_channels_last(cfg.model))
    loss_kind = cfg.loss or default_loss(cfg.model)
    if cfg.batch_size % env.world:
        raise TrainError(f"batch size {cfg.batch_size} does not split evenly over {env.world} processes")
    run_dir = Path(cfg.out) if cfg.out else default_run_dir(cfg.model, data.name)
    record = _config_record(cfg, loss_kind, data_path, data.meta, device, env, amp, channels_last,
                            data.pack_meta if isinstance(data, Pack) else None)
    return _Run(cfg, env, device, {"bf16": torch.bfloat16, "fp16": torch.float16}.get(amp), channels_last,
                loss_kind, run_dir, run_dir / CHECKPOINT, record)


def _previous_state(run: _Run) -> dict | None:
    """The checkpoint already in the run folder, checked against this run's settings; None when there is none."""
    if not run.ckpt_path.exists():
        return None
    try:
        state = load_checkpoint(run.ckpt_path)
    except CheckpointError as e:
        raise TrainError(f"{e}; move it away to start the run again") from None
    _check_same_run(state["config"], run.record, run.ckpt_path)
    old = state["config"]
    # the commits a resumed run was trained by before this one ("unknown": code that recorded no commit)
    earlier = [*old.get("earlier_commits", []), old.get("commit", "unknown")]
    earlier = [c for c in dict.fromkeys(earlier) if c != run.record["commit"]]
    if earlier:
        run.record["earlier_commits"] = earlier
    done = int(state["epoch"])
    if done < run.cfg.epochs and not run.cfg.resume:
        raise TrainError(f"{run.ckpt_path}: an unfinished run ({done}/{run.cfg.epochs} epochs) is there; "
                         "pass --resume to continue it or choose another --out folder")
    return state


def _learner(run: _Run, state: dict | None) -> _Learner:
    """A fresh model and optimiser from the seed, or, given a checkpoint's state, the ones it holds."""
    cfg, env = run.cfg, run.env
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    random.seed(cfg.seed)
    model = build_model(cfg.model, cfg.num_classes)
    aux_losses = dict(getattr(model, "aux_losses", None) or {})
    if env.world > 1 and run.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    model.to(run.device)
    if run.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=tuple(cfg.betas),
                                 weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _LrLambda(cfg))
    scaler = torch.amp.GradScaler("cuda", enabled=run.amp_dtype == torch.float16)
    learner = _Learner(model, model, aux_losses, optimizer, scheduler, scaler, [], 0)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        set_rng_state(state["rng"])
        learner.history = list(state.get("history", []))
        learner.start = int(state["epoch"])
        log.info("%s: resuming after epoch %d/%d", run.run_dir, learner.start, cfg.epochs)
    return learner


def _train(cfg: TrainConfig, data, data_path: Path, env: _Dist, stop_after_epoch: int | None) -> Path:
    run = _setup(cfg, data, data_path, env)
    state = _previous_state(run)
    if state is not None and int(state["epoch"]) >= cfg.epochs:
        log.info("%s: finished (%d/%d epochs); not training again", run.run_dir, int(state["epoch"]), cfg.epochs)
        return run.run_dir
    learner = _learner(run, state)
    if env.rank == 0:
        run.run_dir.mkdir(parents=True, exist_ok=True)
        write_config(run.run_dir, run.record)
    if env.world > 1:
        learner.net = DistributedDataParallel(learner.model,
                                              device_ids=[run.device.index] if run.device.type == "cuda" else None)
    if cfg.compile:  # the training step only: checkpoints hold the eager module's weights, evaluation runs eager
        learner.net = torch.compile(learner.net)
    train_ids, val_ids = holdout_ids(data.ids("train"), cfg.val_fraction)
    cache = _fits(len(train_ids), cfg.size, cfg.cache_mb)
    batches = DeviceBatches if isinstance(data, Pack) else PortraitTorchDataset
    options = {"device": run.device} if isinstance(data, Pack) else {"cache": cache}
    dataset = batches(data, "train", cfg.size, make_augment(cfg.augment), cfg.seed, weights=run.loss_kind == "adaptive",
                      max_distance=cfg.boundary_max_distance, ids=train_ids, **options)
    eval_set = None  # built on first use, cached like the train split
    if len(dataset) == 0:
        raise TrainError(f"{data_path}: the train split is empty")
    sampler = DistributedSampler(dataset, num_replicas=env.world, rank=env.rank, shuffle=True, seed=cfg.seed)

    for epoch in range(learner.start, cfg.epochs):
        row = _train_epoch(run, learner, dataset, sampler, epoch)
        final = epoch + 1 == cfg.epochs
        if cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or final) and env.rank == 0:
            if eval_set is None:
                held_out = cfg.eval_split == "val"
                eval_set = PortraitTorchDataset(data, "train" if held_out else cfg.eval_split, cfg.size,
                                                ids=val_ids if held_out else None, cache=cache)
            source = ModelPredictions(as_predictor(learner.model, run.device), Preprocess((cfg.size, cfg.size)))
            m = score(source, eval_set, num_classes=cfg.num_classes)  # fp32, as bench eval
            row["eval_split"], row["test_miou"], row["test_boundary_f"] = cfg.eval_split, m["miou"], m["boundary_f"]
        learner.history.append(row)
        if env.rank == 0:
            _save(run, learner, epoch + 1)
            log.info("%s epoch %d/%d: loss %.4f, lr %.3g, %.1f images/s%s", cfg.model, epoch + 1, cfg.epochs,
                     row["loss"], row["lr"], row["images_per_s"],
                     f", {cfg.eval_split} mIoU {row['test_miou']:.4f}" if row["test_miou"] != "" else "")
        _barrier(env)
        if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch and not final:
            log.info("%s: stopping after epoch %d as asked", run.run_dir, epoch + 1)
            break
    return run.run_dir


def _loader(run: _Run, dataset: PortraitTorchDataset | DeviceBatches, sampler: DistributedSampler, epoch: int):
    """The epoch's batches: a DataLoader over the folder's samples, or the pack's batches made on the device, both
    cut from the same sampler order."""
    cfg, env = run.cfg, run.env
    sampler.set_epoch(epoch)
    dataset.set_epoch(epoch)
    drop_last = len(dataset) >= cfg.batch_size
    if isinstance(dataset, DeviceBatches):
        return dataset.loader(list(sampler), cfg.batch_size // env.world, drop_last)
    return DataLoader(
        dataset, batch_size=cfg.batch_size // env.world, sampler=sampler, num_workers=cfg.workers,
        pin_memory=run.device.type == "cuda", drop_last=drop_last,
        worker_init_fn=worker_init if cfg.workers else None,
        generator=torch.Generator().manual_seed(cfg.seed * 1_000_003 + epoch),
    )


def _train_epoch(run: _Run, learner: _Learner, dataset: PortraitTorchDataset | DeviceBatches,
                 sampler: DistributedSampler, epoch: int) -> dict:
    """One epoch of optimiser steps, then the scheduler's step; returns its ``train_log.csv`` row."""
    cfg, env, device = run.cfg, run.env, run.device
    loader = _loader(run, dataset, sampler, epoch)
    steps = len(loader) if cfg.max_iters_per_epoch is None else min(len(loader), cfg.max_iters_per_epoch)
    optimizer, scaler = learner.optimizer, learner.scaler
    lr = optimizer.param_groups[0]["lr"]
    learner.model.train()
    bar = Progress(steps, f"{cfg.model} epoch {epoch + 1}/{cfg.epochs}", "steps", leave=False,
                   enabled=None if cfg.progress and env.rank == 0 else False)
    t0 = time.perf_counter()
    losses, images = [], 0  # each step's loss, left on the device: read once, after the epoch
    for step, batch in enumerate(loader):
        if step >= steps:
            break
        x = batch["image"].to(device, non_blocking=True)
        if run.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        y = batch["mask"].to(device, non_blocking=True)
        w = batch["weight"].to(device, non_blocking=True) if "weight" in batch else None
        with torch.autocast(device.type, dtype=run.amp_dtype or torch.float32, enabled=run.amp_dtype is not None):
            output = learner.net(x)
        loss, _ = compute_loss(output, y, w, run.loss_kind, learner.aux_losses)
        losses.append(loss.detach().float().reshape(1))
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        images += len(x) * env.world
        shown = {"loss": f"{losses[-1].item():.4f}"} if device.type == "cpu" else {}  # free on the CPU only
        bar.update(1, **shown, lr=f"{lr:.2e}", img_s=f"{images / max(time.perf_counter() - t0, 1e-9):.1f}")
    bar.close()
    if steps == 0:
        raise TrainError(f"{run.record['data']}: no full batch of {cfg.batch_size} in the train split")
    values = _epoch_losses(run, losses, epoch)
    learner.scheduler.step()
    seconds = time.perf_counter() - t0
    elapsed = (float(learner.history[-1].get("elapsed_s") or 0.0) if learner.history else 0.0) + seconds
    return {"epoch": epoch + 1, "loss": sum(values) / steps, "lr": lr, "seconds": round(seconds, 3),
            "elapsed_s": round(elapsed, 3), "images_per_s": round(images / seconds, 3), "eval_split": "",
            "test_miou": "", "test_boundary_f": ""}


def _epoch_losses(run: _Run, losses: list[torch.Tensor], epoch: int) -> list[float]:
    """The epoch's step losses (averaged over the processes), read from the device in one sync rather than one a step:
    on CUDA a per-step read would stall the queue of kernels every step. A NaN or inf loss stops the run here, before
    the epoch's checkpoint, so the last good checkpoint stays in place (the steps after it in this epoch are lost)."""
    stacked = torch.cat(losses)
    if run.env.world > 1:
        dist.all_reduce(stacked)
        stacked /= run.env.world
    values = stacked.tolist()
    bad = next((k for k, v in enumerate(values) if not math.isfinite(v)), None)
    if bad is not None:
        last = f"{run.ckpt_path} (epoch {epoch})" if run.ckpt_path.exists() else "none (no epoch had finished)"
        raise NonFiniteLossError(
            f"loss is {values[bad]} at epoch {epoch + 1}, step {bad + 1}: training stopped; "
            f"last good checkpoint: {last}. Try a lower --lr or --amp none.")
    return values


def _save(run: _Run, learner: _Learner, epochs_done: int) -> None:
    """The checkpoint (``bench.runs.checkpoint``'s format) and the epoch log, after every epoch."""
    save_training_state(run.ckpt_path, model=learner.model, optimizer=learner.optimizer, scheduler=learner.scheduler,
                        scaler=learner.scaler, epoch=epochs_done, config=run.record, history=learner.history)
    write_log(run.run_dir, learner.history)


__all__ = ["NonFiniteLossError", "resolve_amp", "train"]
