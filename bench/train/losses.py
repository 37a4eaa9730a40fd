"""The training loss of every registered model: a main loss plus the auxiliary losses the model declares.

Main loss: ``"adaptive"`` (ELB's boundary-weighted cross-entropy, ``elb.loss``) or ``"ce"`` (plain mean
cross-entropy over the labelled pixels). Auxiliary outputs follow the registry's contract (``bench.registry``): a model
whose training ``forward`` returns a dict declares ``aux_losses = {key: (kind, weight)}`` and each entry adds
``weight * loss`` with

* ``"mask"``: cross-entropy against the target resized (nearest) to that output's size;
* ``"boundary"``: PortraitNet's boundary loss, a focal loss (gamma 2) against the boundary band of the target, the
  band being every labelled pixel within ``BOUNDARY_BAND_RADIUS`` pixels (square neighbourhood, at that output's
  size) of both classes: about 4 pixels wide, like PortraitNet's contours drawn with thickness 4.

Losses are computed in float32 whatever the autocast dtype of the logits.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from bench.data.format import IGNORE
from elb.loss import adaptive_weight_loss

MAIN_LOSSES = ("adaptive", "ce")
AUX_KINDS = ("mask", "boundary")
BOUNDARY_BAND_RADIUS = 2
FOCAL_GAMMA = 2.0


def resize_target(target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(N, H, W) labels -> (N, h, w) by nearest neighbour."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    t = F.interpolate(target[:, None].float(), size=size, mode="nearest")
    return t[:, 0].long()


def boundary_band(target: torch.Tensor, radius: int = BOUNDARY_BAND_RADIUS) -> torch.Tensor:
    """(N, H, W) labels -> (N, H, W) long: 1 for labelled pixels within ``radius`` of both classes, 0 elsewhere,
    ``IGNORE`` where the target is ignore."""
    k = 2 * radius + 1
    fg = (target == 1).float()[:, None]
    bg = (target == 0).float()[:, None]
    near_fg = F.max_pool2d(fg, k, stride=1, padding=radius)[:, 0] > 0
    near_bg = F.max_pool2d(bg, k, stride=1, padding=radius)[:, 0] > 0
    band = (near_fg & near_bg).long()
    return band.masked_fill(target == IGNORE, IGNORE)


def focal_loss(logits: torch.Tensor, target: torch.Tensor, gamma: float = FOCAL_GAMMA) -> torch.Tensor:
    """Mean focal loss over the labelled pixels: -(1 - p_t)^gamma log p_t (Lin et al.; gamma 0 is cross-entropy).

    ``logits`` (N, 2, H, W) (softmax) or (N, 1, H, W) (sigmoid), ``target`` (N, H, W) in {0, 1, IGNORE}.
    """
    logits = logits.float()
    valid = target != IGNORE
    t = target.masked_fill(~valid, 0)
    if logits.shape[1] == 1:
        z = logits[:, 0]
        logp = -F.binary_cross_entropy_with_logits(z, t.float(), reduction="none")
    else:
        logp = F.log_softmax(logits, dim=1).gather(1, t[:, None])[:, 0]
    loss = -((1.0 - logp.exp()) ** gamma) * logp
    count = valid.sum()
    if count == 0:
        return logits.sum() * 0.0
    return loss.masked_fill(~valid, 0.0).sum() / count


def main_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, kind: str) -> torch.Tensor:
    if kind == "adaptive":
        if weight is None:
            raise ValueError("the adaptive loss needs the boundary weight map (dataset built with weights=True)")
        return adaptive_weight_loss(logits.float(), target, weight, IGNORE)
    if kind == "ce":
        return adaptive_weight_loss(logits.float(), target, None, IGNORE)
    raise ValueError(f"unknown main loss {kind!r}; expected one of {MAIN_LOSSES}")


def aux_loss(logits: torch.Tensor, target: torch.Tensor, kind: str) -> torch.Tensor:
    t = resize_target(target, tuple(logits.shape[-2:]))
    if kind == "mask":
        return adaptive_weight_loss(logits.float(), t, None, IGNORE)
    if kind == "boundary":
        return focal_loss(logits, boundary_band(t))
    raise ValueError(f"unknown auxiliary loss kind {kind!r}; expected one of {AUX_KINDS}")


def compute_loss(
    output: torch.Tensor | Mapping[str, torch.Tensor],
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    main: str = "adaptive",
    aux_losses: Mapping[str, tuple[str, float]] | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its detached parts (``"main"`` and one per auxiliary key) for one batch."""
    if isinstance(output, Mapping):
        if "out" not in output:
            raise ValueError(f"a dict model output needs the main logits under 'out' (got keys {sorted(output)})")
        logits, aux = output["out"], {k: v for k, v in output.items() if k != "out"}
    else:
        logits, aux = output, {}
    declared = dict(aux_losses or {})
    undeclared = sorted(set(aux) - set(declared))
    if undeclared:
        raise ValueError(f"auxiliary outputs {undeclared} have no entry in the model's aux_losses {declared}")
    if tuple(logits.shape[-2:]) != tuple(target.shape[-2:]):
        raise ValueError(f"main logits {tuple(logits.shape)} are not at the target size {tuple(target.shape)}")
    total = main_loss(logits, target, weight, main)
    parts = {"main": total.detach()}
    for key in sorted(aux):
        kind, w = declared[key]
        term = aux_loss(aux[key], target, kind)
        parts[key] = term.detach()
        total = total + float(w) * term
    return total, parts
