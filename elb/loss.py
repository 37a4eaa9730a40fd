"""The adaptive weight loss of Section 2.2: pixel-wise cross-entropy weighted by w = 1 + g.

    L = -(1/M) * sum_i w_i * log softmax(m_i)[p_i]

over the M valid pixels (pixels labelled ``ignore_index`` are left out of both the sum and M). With w = 1 it is the
plain mean cross-entropy, so the boundary term adds to the usual loss instead of rescaling it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def adaptive_weight_loss(
    logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None, ignore_index: int = 255
) -> torch.Tensor:
    """logits (N, C, H, W), target (N, H, W) class ids, weight (N, H, W) per-pixel weights (None means 1)."""
    nll = F.cross_entropy(logits, target.long(), reduction="none", ignore_index=ignore_index)
    valid = target != ignore_index
    if weight is not None:
        nll = nll * weight.to(nll.dtype)
    count = valid.sum()
    if count == 0:  # nothing labelled: a zero that still carries the graph
        return logits.sum() * 0.0
    return nll.masked_fill(~valid, 0.0).sum() / count


class AdaptiveWeightLoss(nn.Module):
    """Module form of :func:`adaptive_weight_loss`."""

    def __init__(self, ignore_index: int = 255) -> None:
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return adaptive_weight_loss(logits, target, weight, self.ignore_index)
