"""The checkpoint format of a training run: one file, ``checkpoint.pt``, in the run folder.

The file is a dict: ``model``, ``optimizer``, ``scheduler``, ``scaler`` (state dicts), ``rng`` (this module's
``rng_state``), ``epoch`` (epochs finished), ``config`` (the run's ``config.json`` record) and ``history`` (the rows
of ``train_log.csv``). Everything in it is a tensor or a plain JSON type, so it loads with
``torch.load(weights_only=True)``: reading a checkpoint never runs code. Written atomically after every epoch. The
layout of a run folder is described in ``docs/runs.md``.
"""

from __future__ import annotations

import os
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench.errors import UserError
from bench.registry import build_model
from bench.runs.folder import CHECKPOINT, RunConfig

STATE_KEYS = ("model", "optimizer", "scheduler", "scaler", "rng", "epoch", "config", "history")


class CheckpointError(UserError):
    """A checkpoint is missing or unreadable; the message names the file and the problem."""


def checkpoint_path(path: str | os.PathLike) -> Path:
    """A run folder's ``checkpoint.pt``, or the checkpoint file itself; it must exist."""
    p = Path(path)
    ckpt = p / CHECKPOINT if p.is_dir() else p
    if not ckpt.is_file():
        raise CheckpointError(f"{ckpt}: no checkpoint (not a training run folder, or its first epoch did not finish)")
    return ckpt


def save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` through a temporary file and a rename: a kill never leaves half a checkpoint."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_training_state(path: Path, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                        scheduler: torch.optim.lr_scheduler.LRScheduler, scaler: torch.amp.GradScaler, epoch: int,
                        config: dict, history: list[dict]) -> None:
    """A training run's checkpoint after ``epoch`` finished epochs, with the RNG states (``STATE_KEYS``)."""
    save_checkpoint(path, {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_state(),
        "epoch": epoch,
        "config": config,
        "history": history,
    })


def read_weights_only(path: Path, error: type[Exception], what: str,
                      map_location: str | torch.device = "cpu") -> object:
    """``torch.load(path, weights_only=True)``: the one reader of this project's own torch files (checkpoints, the
    zoo's weights), so reading one never runs code; a damaged file raises ``error`` naming it and ``what`` it is."""
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickle protocols: the error below says it all
            warnings.simplefilter("ignore")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises several types for truncated or foreign files
        # torch's own message advises weights_only=False, which would run arbitrary code: never repeat it
        raise error(f"{path}: not a readable {what} (truncated, not written by torch.save, or holding objects other "
                    f"than tensors and plain data; {type(e).__name__})") from e


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """The state of a run folder's (or a file's) checkpoint, loaded with ``weights_only=True``."""
    ckpt = checkpoint_path(path)
    state = read_weights_only(ckpt, CheckpointError, "checkpoint", map_location)
    if not isinstance(state, dict) or "model" not in state or "config" not in state:
        raise CheckpointError(f"{ckpt}: not a bench.train.loop checkpoint (no model/config entries)")
    return state


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """The trained model of a run folder (or checkpoint file), in eval mode.

    The run's configuration is attached as ``model.run_config`` and the epochs trained as ``model.trained_epochs``.
    """
    state = load_checkpoint(path, device)
    cfg = state["config"]
    model = build_model(cfg["model"], RunConfig.from_dict(cfg).num_classes)
    model.load_state_dict(state["model"])
    model.to(device).eval()
    model.run_config = cfg
    model.trained_epochs = int(state.get("epoch", 0))
    return model


# -- RNG states as tensors and lists, so checkpoints load with weights_only=True --------------------------------
def rng_state() -> dict[str, object]:
    """The torch, numpy, Python (and CUDA) generator states, so a resumed run draws what an unbroken one would."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, mt, gauss_next = random.getstate()
    state: dict[str, object] = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": version, "state": list(mt), "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what ``rng_state`` recorded (CUDA states only on a machine with as many devices)."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
