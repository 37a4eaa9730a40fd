"""bench.train.losses: the main loss choice and the auxiliary-output contract of the registry."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bench.train.losses import boundary_band, compute_loss, focal_loss, resize_target
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
