"""Loading a local torchvision ImageNet state dict into a backbone written here.

No weights are ever downloaded: a user passes the path of a file they already have (e.g. torchvision's
``resnet18-f37072fd.pth`` or ``mobilenet_v2-b0353104.pth``). The file is read with ``weights_only=True`` and
every key and shape is checked before anything is copied, so a wrong file fails with the file and the key
named instead of half-loading.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn


class BackboneWeightsError(ValueError):
    """A backbone weights file that cannot be loaded (missing, unreadable, wrong keys or shapes)."""


def read_state_dict(path: Path, error: type[Exception] = BackboneWeightsError,
                    what: str = "backbone weights") -> Mapping[str, torch.Tensor]:
    """A state dict (name -> tensor) read weights-only, or ``error`` naming the file (``what`` says what it is)."""
    if not path.is_file():
        raise error(f"{path}: {what} file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise error(f"{path}: not a readable torch weights file ({exc})") from exc
    if isinstance(state, Mapping) and isinstance(state.get("state_dict"), Mapping):
        state = state["state_dict"]
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise error(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
    return state


def load_torchvision_state_dict(
    module: nn.Module, path: str | os.PathLike[str], unused_prefixes: tuple[str, ...] = ()
) -> None:
    """Copy a torchvision state dict into ``module`` after checking every key and shape.

    Keys under ``unused_prefixes`` (the ImageNet classifier and layers the segmentation model does not use)
    are ignored; any other extra or missing key, or any shape difference, raises ``BackboneWeightsError``
    naming the file and the key. ``num_batches_tracked`` buffers absent from older files keep their value.
    """
    path = Path(path)
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(unused_prefixes)}
    own = module.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    unexpected = sorted(k for k in state if k not in own)
    if missing or unexpected:
        raise BackboneWeightsError(
            f"{path}: keys do not match {type(module).__name__}: "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''} ({len(missing)}), "
            f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''} ({len(unexpected)})"
        )
    for key, value in state.items():
        if value.shape != own[key].shape:
            raise BackboneWeightsError(
                f"{path}: shape mismatch for {key!r}: file has {tuple(value.shape)}, "
                f"{type(module).__name__} expects {tuple(own[key].shape)}"
            )
    module.load_state_dict({**own, **state})
