"""Input checks shared by the baselines whose skips or concatenations need exact sizes."""

from __future__ import annotations

import torch


def check_input_size(x: torch.Tensor, multiple: int, model: str) -> None:
    """Raise a clear error when the input sides are not divisible by ``multiple``."""
    h, w = x.shape[-2:]
    if h % multiple or w % multiple:
        raise ValueError(f"{model} needs input sides divisible by {multiple}, got {h}x{w}")
