"""ELB: the extremely light-weight backbone of Li, Luo and Lyu, with its one-layer decoder (Figures 1b, 2 and 3c).

Encoder (Fig. 2): DSB(3->16), DSB(16->64), 5 x BFB(64), DSB(64->128), 8 x BFB(128) with dilations 2, 4, 8, 16, 2, 4,
8, 16 (the ERFNet encoder [8] with every non-bottleneck-1D block replaced by a BFB). Decoder (Fig. 1b): a single 1x1
convolution to the classes, then bilinear upsampling x8 to the input size.

At 512x512 with 2 classes: reduction 2 ("DR2") has 0.66 M parameters and 3.78 GMACs (paper: 0.6 M, 3.8 G); reduction
4 ("DR4", Table 2) has 0.24 M and 1.4 GMACs (the paper gives no figures).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# ERFNet's dropout rates for the two encoder stages; the ELB paper inherits ERFNet's encoder and states none.
STAGE1_DROPOUT = 0.03
STAGE2_DROPOUT = 0.3
STAGE2_DILATIONS = (2, 4, 8, 16, 2, 4, 8, 16)


class DSB(nn.Module):
    """Downsampler block: a 3x3 stride-2 convolution concatenated with a 2x2 max-pool, then BN and ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels - in_channels, 3, stride=2, padding=1, bias=True)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(torch.cat([self.conv(x), self.pool(x)], dim=1)))


class BFB(nn.Module):
    """Bottleneck-based factorized block (Fig. 3c).

    A 1x1 convolution narrows c channels to c/r, two factorized 3x3 convolutions (3x1 then 1x3, the second pair
    dilated) work at the narrow width, and a 1x1 convolution restores c channels before the residual sum.
    """

    def __init__(self, channels: int, dilation: int = 1, reduction: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        inner = channels // reduction
        self.reduce = nn.Conv2d(channels, inner, 1, bias=True)
        self.bn_reduce = nn.BatchNorm2d(inner, eps=1e-3)
        self.conv3x1_1 = nn.Conv2d(inner, inner, (3, 1), padding=(1, 0), bias=True)
        self.conv1x3_1 = nn.Conv2d(inner, inner, (1, 3), padding=(0, 1), bias=True)
        self.bn1 = nn.BatchNorm2d(inner, eps=1e-3)
        self.conv3x1_2 = nn.Conv2d(inner, inner, (3, 1), padding=(dilation, 0), dilation=(dilation, 1), bias=True)
        self.conv1x3_2 = nn.Conv2d(inner, inner, (1, 3), padding=(0, dilation), dilation=(1, dilation), bias=True)
        self.bn2 = nn.BatchNorm2d(inner, eps=1e-3)
        self.expand = nn.Conv2d(inner, channels, 1, bias=True)
        self.bn_expand = nn.BatchNorm2d(channels, eps=1e-3)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn_reduce(self.reduce(x)))
        y = F.relu(self.conv3x1_1(y))
        y = F.relu(self.bn1(self.conv1x3_1(y)))
        y = F.relu(self.conv3x1_2(y))
        y = F.relu(self.bn2(self.conv1x3_2(y)))
        y = self.dropout(self.bn_expand(self.expand(y)))
        return F.relu(y + x)


class ELBEncoder(nn.Module):
    """The backbone of Fig. 2: output stride 8, 128 channels."""

    def __init__(self, reduction: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [DSB(3, 16), DSB(16, 64)]
        layers += [BFB(64, 1, reduction, STAGE1_DROPOUT) for _ in range(5)]
        layers.append(DSB(64, 128))
        layers += [BFB(128, d, reduction, STAGE2_DROPOUT) for d in STAGE2_DILATIONS]
        self.layers = nn.Sequential(*layers)
        self.out_channels = 128

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ELB(nn.Module):
    """ELB-based portrait segmentation: encoder, one 1x1 convolution, bilinear upsampling to the input size.

    Input (N, 3, H, W) with H and W divisible by 8; output (N, num_classes, H, W) logits, in train and eval mode.
    """

    def __init__(self, num_classes: int = 2, reduction: int = 2) -> None:
        super().__init__()
        self.reduction = reduction
        self.encoder = ELBEncoder(reduction)
        self.decoder = nn.Conv2d(self.encoder.out_channels, num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(self.encoder(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def elb(num_classes: int = 2) -> ELB:
    """ELB with the paper's channel reduction 2 (BFB-DR2)."""
    return ELB(num_classes, reduction=2)


def elb_dr4(num_classes: int = 2) -> ELB:
    """The Table 2 ablation: BFB with channel reduction 4."""
    return ELB(num_classes, reduction=4)
