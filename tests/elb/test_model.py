"""ELB reads like the paper and has the paper's complexity."""

from __future__ import annotations

import pytest
import torch

from bench.registry import build_model
from bench.speed.complexity import count_gmacs, count_params
from elb import BFB, DSB, ELB, adaptive_weight_loss


@pytest.mark.parametrize("hw", [(64, 64), (72, 48), (40, 96)])
def test_output_is_two_class_logits_at_input_size(hw):
    model = ELB().eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, *hw))
    assert y.shape == (2, 2, *hw)
    model.train()
    assert model(torch.randn(2, 3, *hw)).shape == (2, 2, *hw)


def test_layout_follows_figure_2():
    layers = list(ELB().encoder.layers)
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["DSB", "DSB"] + ["BFB"] * 5 + ["DSB"] + ["BFB"] * 8
    assert [m.conv3x1_2.dilation[0] for m in layers[8:]] == [2, 4, 8, 16, 2, 4, 8, 16]
    assert all(m.reduce.out_channels == 32 for m in layers[2:7])  # 64 / r with r = 2


def test_dsb_concatenates_conv_and_pool():
    dsb = DSB(16, 64)
    assert dsb.conv.out_channels == 48 and dsb(torch.randn(1, 16, 32, 32)).shape == (1, 64, 16, 16)


def test_bfb_is_residual_with_a_narrow_factorized_core():
    bfb = BFB(64, dilation=4, reduction=4)
    assert bfb.reduce.out_channels == 16 and bfb.expand.in_channels == 16
    assert bfb.conv3x1_1.kernel_size == (3, 1) and bfb.conv1x3_2.kernel_size == (1, 3)
    assert bfb(torch.randn(1, 64, 16, 16)).shape == (1, 64, 16, 16)


def test_dr2_complexity_matches_the_paper():
    model = build_model("elb")
    params, gmacs = count_params(model), count_gmacs(model, (512, 512))
    print(f"ELB DR2: {params / 1e6:.3f} M params, {gmacs:.3f} GMACs at 512x512 (paper: 0.6 M, 3.8 G)")
    assert 0.60e6 <= params <= 0.70e6
    assert 3.7 <= gmacs <= 3.9


def test_dr4_complexity():
    model = build_model("elb-dr4")
    params, gmacs = count_params(model), count_gmacs(model, (512, 512))
    print(f"ELB DR4: {params / 1e6:.3f} M params, {gmacs:.3f} GMACs at 512x512")
    assert params < 0.3e6 and gmacs < 1.6


def test_a_few_steps_reduce_the_loss():
    torch.manual_seed(0)
    model = ELB()
    x = torch.randn(4, 3, 32, 32)
    y = torch.zeros(4, 32, 32, dtype=torch.long)
    y[:, 8:24, 8:24] = 1
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = adaptive_weight_loss(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
