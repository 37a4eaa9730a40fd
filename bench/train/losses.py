"""The training loss of every registered model: a main loss plus the auxiliary losses the model declares.

Main loss: ``"adaptive"`` (ELB's boundary-weighted cross-entropy, ``elb.loss``), ``"ce"`` (plain mean
cross-entropy over the labelled pixels), or one of the edge-band losses of SINet and ExtremeC3Net's released training
(``clovaai/ext_portrait_segmentation``): ``"ce-edge"`` and ``"lovasz-edge"`` add to the loss on the output
``EDGE_WEIGHT`` (0.5) x the same loss on the target restricted to its edge band (dilation minus erosion of the mask
with a 15x15 kernel, i.e. the labelled pixels within 7 px of both classes; the rest ignored). The band term lies on the
main output, so these are main losses, not auxiliary kinds. ``"lovasz-edge"`` uses the Lovász hinge (Berman et al.,
CVPR 2018) on the portrait logit, over the whole batch, as released.

Auxiliary outputs follow the registry's contract (``bench.registry``): a model whose training ``forward`` returns a
dict declares ``aux_losses = {key: (kind, weight)}`` and each entry adds ``weight * loss`` with

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
from bench.train.config import MAIN_LOSSES
from elb.loss import adaptive_weight_loss

AUX_KINDS = ("mask", "boundary")
BOUNDARY_BAND_RADIUS = 2
FOCAL_GAMMA = 2.0
EDGE_RADIUS = 7  # the released 15x15 dilation/erosion kernel (decoder stage), in pixels of the training input
EDGE_WEIGHT = 0.5


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


def edge_target(target: torch.Tensor, radius: int = EDGE_RADIUS) -> torch.Tensor:
    """The target on its edge band (labelled pixels within ``radius`` of both classes), ``IGNORE`` elsewhere."""
    return target.masked_fill(boundary_band(target, radius) != 1, IGNORE)


def logit_margin(logits: torch.Tensor) -> torch.Tensor:
    """(N, 2, H, W) -> (N, H, W) ``l1 - l0`` (the logit of the 2-way softmax); (N, 1, H, W) -> its one channel."""
    logits = logits.float()
    return logits[:, 0] if logits.shape[1] == 1 else logits[:, 1] - logits[:, 0]


def lovasz_hinge(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The Lovász hinge over every labelled pixel of the batch: the Lovász extension of the portrait Jaccard loss
    applied to the hinge errors ``1 - z * sign``, sorted in decreasing order (Berman et al., Eq. 12 and Alg. 1)."""
    valid = target != IGNORE
    z, y = z[valid], target[valid].float()
    if y.numel() == 0:
        return z.sum() * 0.0
    errors = 1.0 - z * (2.0 * y - 1.0)
    errors, order = torch.sort(errors, descending=True)
    y = y[order]
    positives = y.sum()
    intersection = positives - y.cumsum(0)
    union = positives + (1.0 - y).cumsum(0)
    jaccard = 1.0 - intersection / union
    grad = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])  # the Jaccard loss's gains along the order
    return torch.dot(F.relu(errors), grad)


def _edge_loss(logits: torch.Tensor, target: torch.Tensor, base: str) -> torch.Tensor:
    edge = edge_target(target)
    if base == "lovasz":
        z = logit_margin(logits)
        return lovasz_hinge(z, target) + EDGE_WEIGHT * lovasz_hinge(z, edge)
    ce = adaptive_weight_loss(logits.float(), target, None, IGNORE)
    return ce + EDGE_WEIGHT * adaptive_weight_loss(logits.float(), edge, None, IGNORE)  # 0 for a batch without edges


def main_loss(logits: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None, kind: str) -> torch.Tensor:
    if kind == "adaptive":
        if weight is None:
            raise ValueError("the adaptive loss needs the boundary weight map (dataset built with weights=True)")
        return adaptive_weight_loss(logits.float(), target, weight, IGNORE)
    if kind == "ce":
        return adaptive_weight_loss(logits.float(), target, None, IGNORE)
    if kind in ("ce-edge", "lovasz-edge"):
        return _edge_loss(logits, target, kind.split("-")[0])
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
