"""bench.train.losses: the main loss choice and the auxiliary-output contract of the registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.train.losses import (
    EDGE_WEIGHT,
    boundary_band,
    compute_loss,
    edge_target,
    focal_loss,
    lovasz_hinge,
    resize_target,
)
from elb.loss import adaptive_weight_loss


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(0)
    target = torch.zeros(2, 16, 16, dtype=torch.long)
    target[:, 4:12, 5:11] = 1
    target[1, 0, :3] = 255
    weight = 1 + torch.rand(2, 16, 16, generator=g)
    logits = torch.randn(2, 2, 16, 16, generator=g, requires_grad=True)
    return logits, target, weight


def test_main_losses(batch):
    logits, target, weight = batch
    total, parts = compute_loss(logits, target, weight, "adaptive")
    assert torch.allclose(total, adaptive_weight_loss(logits, target, weight))
    ce, _ = compute_loss(logits, target, weight, "ce")
    assert torch.allclose(ce, F.cross_entropy(logits, target, ignore_index=255))
    assert not torch.allclose(total, ce)
    assert set(parts) == {"main"}
    with pytest.raises(ValueError, match="weight"):
        compute_loss(logits, target, None, "adaptive")
    with pytest.raises(ValueError, match="unknown main loss"):
        compute_loss(logits, target, weight, "dice")


def test_boundary_band_by_hand():
    t = torch.zeros(1, 1, 10, dtype=torch.long)
    t[0, 0, 5:] = 1
    t[0, 0, 0] = 255
    band = boundary_band(t, radius=2)[0, 0].tolist()
    # columns 3..6 lie within 2 px of both classes; column 0 is ignore
    assert band == [255, 0, 0, 1, 1, 1, 1, 0, 0, 0]


def test_focal_loss_reduces_to_ce_at_gamma_zero_and_down_weights_easy_pixels(batch):
    logits, target, _ = batch
    t = target.clamp(max=1)
    assert torch.allclose(focal_loss(logits, t, gamma=0.0), F.cross_entropy(logits, t))
    assert focal_loss(logits, t, gamma=2.0) < F.cross_entropy(logits, t)
    one_channel = logits[:, 1:] - logits[:, :1]  # sigmoid of the logit difference = softmax of class 1
    assert torch.allclose(focal_loss(one_channel, t), focal_loss(logits, t), atol=1e-6)


def test_dict_output_adds_each_declared_aux_loss(batch):
    logits, target, weight = batch
    g = torch.Generator().manual_seed(1)
    aux = torch.randn(2, 2, 8, 8, generator=g, requires_grad=True)
    edge = torch.randn(2, 2, 16, 16, generator=g, requires_grad=True)
    declared = {"aux": ("mask", 0.4), "edge": ("boundary", 0.1)}
    total, parts = compute_loss({"out": logits, "aux": aux, "edge": edge}, target, weight, "adaptive", declared)
    small = target[:, ::2, ::2]  # nearest resize of 16 -> 8 takes every other pixel
    assert torch.equal(resize_target(target, (8, 8)), small)
    expected = (adaptive_weight_loss(logits, target, weight)
                + 0.4 * F.cross_entropy(aux, small, ignore_index=255)
                + 0.1 * focal_loss(edge, boundary_band(target)))
    assert torch.allclose(total, expected)
    assert set(parts) == {"main", "aux", "edge"}
    total.backward()
    assert aux.grad is not None and edge.grad is not None and logits.grad is not None


def test_undeclared_aux_output_and_missing_out_are_errors(batch):
    logits, target, weight = batch
    with pytest.raises(ValueError, match="aux_losses"):
        compute_loss({"out": logits, "extra": logits}, target, weight, "ce", {})
    with pytest.raises(ValueError, match="'out'"):
        compute_loss({"aux": logits}, target, weight, "ce", {"aux": ("mask", 1.0)})
    with pytest.raises(ValueError, match="unknown auxiliary"):
        compute_loss({"out": logits, "aux": logits}, target, weight, "ce", {"aux": ("dice", 1.0)})


def test_tiny_model_through_the_loss():
    from tests.bench.helpers import TinyNet

    model = TinyNet().train()
    x = torch.randn(2, 3, 16, 16)
    target = (torch.rand(2, 16, 16) > 0.5).long()
    total, parts = compute_loss(model(x), target, None, "ce", model.aux_losses)
    assert torch.isfinite(total) and set(parts) == {"main", "aux", "edge"}
    model.eval()
    assert model(x).shape == (2, 2, 16, 16)


def _jaccard_loss_of_mistakes(target: torch.Tensor, mistakes: torch.Tensor) -> float:
    """Berman et al.'s set function: |M| / |{y = 1} u M| for the mispredicted pixels M."""
    return float(mistakes.sum() / ((target == 1) | mistakes).sum())


def test_lovasz_hinge_equals_the_jaccard_loss_on_binary_errors():
    # with hinge errors of exactly 0 (right, margin 1) or 1 (z = 0), the Lovász extension is the set function itself
    g = torch.Generator().manual_seed(3)
    for _ in range(5):
        target = (torch.rand(2, 9, 7, generator=g) < 0.4).long()
        mistakes = torch.rand(2, 9, 7, generator=g) < 0.3
        z = torch.where(mistakes, torch.zeros(()), 2.0 * target - 1.0)
        assert lovasz_hinge(z, target).item() == pytest.approx(_jaccard_loss_of_mistakes(target, mistakes))
    # ignored pixels take no part, whatever their logit
    target[0, 0, :] = 255
    z2 = z.clone()
    z2[0, 0, :] = 100.0
    valid = target != 255
    expected = _jaccard_loss_of_mistakes(target[valid], mistakes[valid])
    assert lovasz_hinge(z2, target).item() == pytest.approx(expected)
    assert lovasz_hinge(z, torch.full_like(target, 255)).item() == 0.0


def test_lovasz_hinge_is_zero_when_every_margin_is_met_and_grows_with_the_error():
    target = torch.tensor([[[0, 1, 1, 0]]])
    right = 3.0 * (2.0 * target - 1.0)
    assert lovasz_hinge(right, target).item() == 0.0
    assert lovasz_hinge(-right, target) > lovasz_hinge(-0.5 * right, target) > 0


def test_edge_target_keeps_the_labels_near_the_boundary_only():
    t = torch.zeros(1, 1, 30, dtype=torch.long)
    t[0, 0, 15:] = 1
    e = edge_target(t)[0, 0]
    assert e[8:22].tolist() == [0] * 7 + [1] * 7  # 7 px each side: the released 15 px dilation minus erosion
    assert (e[:8] == 255).all() and (e[22:] == 255).all()


def test_edge_losses_add_half_the_loss_on_the_edge_band(batch):
    logits, target, _ = batch
    edge = edge_target(target)
    ce = F.cross_entropy(logits, target, ignore_index=255)
    expected = ce + EDGE_WEIGHT * F.cross_entropy(logits, edge, ignore_index=255)
    assert torch.allclose(compute_loss(logits, target, None, "ce-edge")[0], expected)
    z = logits[:, 1] - logits[:, 0]
    lovasz, _ = compute_loss(logits, target, None, "lovasz-edge")
    assert torch.allclose(lovasz, lovasz_hinge(z, target) + EDGE_WEIGHT * lovasz_hinge(z, edge))
    lovasz.backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    single, _ = compute_loss(z[:, None].detach(), target, None, "lovasz-edge")  # a one-logit model: the same loss
    assert torch.allclose(single, lovasz.detach())
