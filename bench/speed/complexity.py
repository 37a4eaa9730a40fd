"""Parameter and MAC counts, the way the paper's tables count them.

MACs come from ``torch.utils.flop_counter.FlopCounterMode``, which counts convolutions (dilated, grouped, transposed)
and linear layers exactly and reports 2 x MACs; BN, pooling, activations and interpolation are not counted, as in the
literature's "FLOPs" columns.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from bench.registry import build_model


@dataclass
class Complexity:
    model: str
    params: int
    gmacs: float
    input: list[int]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gmacs(model: nn.Module, size: tuple[int, int] = (512, 512)) -> float:
    """GMACs of one eval-mode forward pass of a (1, 3, H, W) input."""
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, *size)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2e9


def measure(name: str, size: int | tuple[int, int] = 512) -> Complexity:
    hw = (size, size) if isinstance(size, int) else tuple(size)
    model = build_model(name)
    return Complexity(name, count_params(model), round(count_gmacs(model, hw), 4), list(hw))
