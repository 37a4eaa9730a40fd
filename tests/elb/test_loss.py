"""The adaptive weight loss of Section 2.2."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from elb.loss import AdaptiveWeightLoss, adaptive_weight_loss


def _case(seed=0, n=2, h=5, w=6):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, 2, h, w, generator=g, dtype=torch.float64)
    target = torch.randint(0, 2, (n, h, w), generator=g)
    return logits, target


def test_equals_cross_entropy_when_weights_are_one():
    logits, target = _case()
    target[0, 0, :3] = 255
    expected = F.cross_entropy(logits, target, ignore_index=255)
    assert torch.allclose(adaptive_weight_loss(logits, target, torch.ones(target.shape)), expected)
    assert torch.allclose(AdaptiveWeightLoss()(logits, target), expected)


def test_a_boundary_pixel_counts_exactly_twice():
    logits, target = _case()
    nll = F.cross_entropy(logits, target, reduction="none")
    w = torch.ones(target.shape, dtype=torch.float64)
    w[1, 2, 3] = 2.0
    base = adaptive_weight_loss(logits, target)
    assert torch.allclose(adaptive_weight_loss(logits, target, w) - base, nll[1, 2, 3] / target.numel())


def test_ignore_pixels_contribute_nothing():
    logits, target = _case()
    target[:, 0] = 255
    w = torch.full(target.shape, 1.5, dtype=torch.float64)
    loss = adaptive_weight_loss(logits, target, w)
    logits2 = logits.clone()
    logits2[:, :, 0] = 1000.0 * torch.randn_like(logits2[:, :, 0])  # wild logits on ignored pixels change nothing
    assert torch.allclose(adaptive_weight_loss(logits2, target, w), loss)
    valid = target != 255
    nll = F.cross_entropy(logits, target, reduction="none", ignore_index=255)
    assert torch.allclose(loss, (1.5 * nll[valid]).sum() / valid.sum())


def test_all_ignored_gives_zero_with_a_graph():
    logits, target = _case()
    logits.requires_grad_(True)
    loss = adaptive_weight_loss(logits, torch.full_like(target, 255))
    loss.backward()
    assert loss.item() == 0 and torch.all(logits.grad == 0)


def test_gradients_match_finite_differences():
    logits, target = _case(seed=3, n=1, h=3, w=3)
    w = 1 + torch.rand(target.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    target[0, 1, 1] = 255
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: adaptive_weight_loss(z, target, w), (logits,))
