"""The settings of a training run: one dataclass whose defaults are the paper's recipe (Section 3.2).

``bench train``'s options, the ``[train]`` table of a ``bench run-all`` profile and ``config.json`` in a run folder
are all this dataclass, so a default is set in one place. No torch here: the CLI reads the defaults without it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from bench.data.augment import AugmentError, canonical
from bench.defaults import INPUT_SIZE, NUM_CLASSES
from bench.errors import UserError

SCHEDULES = ("poly", "exp")
AMP_MODES = ("auto", "bf16", "fp16", "none")
MAIN_LOSSES = ("adaptive", "ce", "ce-edge", "lovasz-edge")  # bench.train.losses says what each is


class TrainError(UserError):
    """A run cannot start or continue; the message says why and what to do."""


@dataclass
class TrainConfig:
    """Every choice of a training run (written to ``config.json``)."""

    model: str
    data: str
    out: str | None = None  # run folder; default runs/<model>-<dataset name>
    epochs: int = 100
    batch_size: int = 16  # global batch, over all processes
    size: int = INPUT_SIZE
    lr: float = 5e-4
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: str = "poly"
    poly_power: float = 0.9
    exp_gamma: float = 0.9
    loss: str | None = None  # None: the model's default (registry)
    device: str = "auto"  # auto, cpu, cuda, cuda:N
    amp: str = "auto"  # auto: bf16 where the device computes it natively (CUDA, CPUs with AVX512-BF16/AMX), else none
    channels_last: bool = True
    compile: bool = False  # torch.compile the training step's model (inductor); execution only, not a run's identity
    cache_mb: int = 4096  # decode and resize the train split once into memory when it fits in this many MB (0: never)
    workers: int = 2
    seed: int = 0
    max_iters_per_epoch: int | None = None  # None: whole epochs; a number caps the steps (smoke runs)
    eval_every: int = 0  # evaluate eval_split every k epochs and at the end (0: never during training)
    eval_split: str = "test"  # or "val": the part of train held out by val_fraction
    val_fraction: float = 0.0  # hold this share of train out (bench.data.pipeline.holdout_ids), for calibration
    # the augmentation settings that differ from the paper's (bench.data.augment.Augment's fields; None: the paper's
    # flip, brightness and contrast only), held in canonical form: a run's identity (RESULT_FIELDS)
    augment: dict[str, object] | None = None
    boundary_max_distance: float | None = None  # None: the paper's per-image normalisation (elb.boundary)
    num_classes: int = NUM_CLASSES
    resume: bool = False
    progress: bool = True

    def __post_init__(self) -> None:
        try:
            self.augment = canonical(self.augment)
        except AugmentError as e:
            raise TrainError(str(e)) from None

    def validate(self) -> None:
        """Raise ``TrainError`` naming the first setting that cannot work."""
        # imported here: they pull in torch, and the CLI's defaults do not need it
        from bench.registry import check_input_size, get_spec

        if self.schedule not in SCHEDULES:
            raise TrainError(f"unknown schedule {self.schedule!r}; expected one of {SCHEDULES}")
        if self.loss is not None and self.loss not in MAIN_LOSSES:
            raise TrainError(f"unknown loss {self.loss!r}; expected one of {MAIN_LOSSES}")
        if self.amp not in AMP_MODES:
            raise TrainError(f"unknown amp mode {self.amp!r}; expected one of {AMP_MODES}")
        for name in ("epochs", "batch_size", "size"):
            if getattr(self, name) < 1:
                raise TrainError(f"{name} must be at least 1, got {getattr(self, name)}")
        try:
            if ":" not in self.model:
                get_spec(self.model)
            check_input_size(self.model, self.size)
        except UserError as e:
            raise TrainError(str(e)) from None
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise TrainError(f"lr must be a positive number, got {self.lr}")
        if not (self.weight_decay >= 0 and math.isfinite(self.weight_decay)):
            raise TrainError(f"weight_decay must be 0 or more, got {self.weight_decay}")
        for name in ("workers", "eval_every"):
            if getattr(self, name) < 0:
                raise TrainError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise TrainError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.eval_split == "val" and not self.val_fraction:
            raise TrainError("eval_split 'val' needs a val_fraction above 0")
        if self.cache_mb < 0:
            raise TrainError(f"cache_mb must be 0 or more, got {self.cache_mb}")
        if self.max_iters_per_epoch is not None and self.max_iters_per_epoch < 1:
            raise TrainError("max_iters_per_epoch must be at least 1 (or None for whole epochs)")


def train_defaults() -> dict[str, object]:
    """Each setting's default, by field name (the required ``model`` and ``data`` have none)."""
    return {f.name: f.default for f in fields(TrainConfig) if f.name not in ("model", "data")}
