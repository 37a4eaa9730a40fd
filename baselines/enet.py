"""ENet (Paszke et al., 2016, Table 1 and Fig. 2): the efficient neural network for real-time segmentation.

Layout (Table 1): initial block (3x3 stride-2 conv with 13 filters concatenated with a 2x2 max-pool: 16
channels); stage 1: bottleneck1.0 downsampling to 64, 4 x bottleneck1.x; stage 2: bottleneck2.0 downsampling
to 128, then regular, dilated 2, asymmetric 5, dilated 4, regular, dilated 8, asymmetric 5, dilated 16; stage
3: stage 2 without bottleneck2.0; stage 4: bottleneck4.0 upsampling to 64 (max-unpooling with the indices of
bottleneck2.0), 2 regular; stage 5: bottleneck5.0 upsampling to 16 (indices of bottleneck1.0), 1 regular;
fullconv: a 2x2 stride-2 transposed convolution to the classes.

Each bottleneck (Fig. 2b) is a 1x1 projection to a quarter of the output width (a 2x2 stride-2 conv when
downsampling), the main convolution, a 1x1 expansion, spatial dropout (0.01 in stage 1, 0.1 after) and the sum
with the main branch (max-pool and zero channel padding when downsampling, 1x1 conv and max-unpool when
upsampling). The encoder uses PReLU and the decoder ReLU, as the authors' Torch code does.

At 512x512 with 2 classes: 0.36 M parameters and 1.89 GMACs (paper Table 1: 0.4 M, 2.1 G). No auxiliary
outputs. Input sides must be divisible by 8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.shapes import check_input_size

STAGE1_DROPOUT = 0.01
LATER_DROPOUT = 0.1
PROJECTION_RATIO = 4
# Bottlenecks 2.1 .. 2.8 (and 3.1 .. 3.8): ("regular" | "dilated" | "asymmetric", dilation or kernel size).
STAGE23_SEQUENCE = (
    ("regular", 1),
    ("dilated", 2),
    ("asymmetric", 5),
    ("dilated", 4),
    ("regular", 1),
    ("dilated", 8),
    ("asymmetric", 5),
    ("dilated", 16),
)


def _bn_act(channels: int, prelu: bool) -> list[nn.Module]:
    return [nn.BatchNorm2d(channels, eps=1e-3), nn.PReLU(channels) if prelu else nn.ReLU(inplace=True)]


class InitialBlock(nn.Module):
    """3x3 stride-2 convolution (13 filters) concatenated with a 2x2 max-pool of the RGB input (Fig. 2a)."""

    def __init__(self, out_channels: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, out_channels - 3, 3, stride=2, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2, stride=2)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(torch.cat([self.conv(x), self.pool(x)], dim=1)))


class Bottleneck(nn.Module):
    """Regular, dilated or asymmetric bottleneck with an identity main branch (Fig. 2b)."""

    def __init__(
        self,
        channels: int,
        kind: str = "regular",
        size: int = 1,
        dropout: float = LATER_DROPOUT,
        prelu: bool = True,
    ) -> None:
        super().__init__()
        inner = channels // PROJECTION_RATIO
        if kind == "asymmetric":  # a 5x1 then 1x5 convolution in place of the 3x3
            main: list[nn.Module] = [
                nn.Conv2d(inner, inner, (size, 1), padding=(size // 2, 0), bias=False),
                nn.Conv2d(inner, inner, (1, size), padding=(0, size // 2), bias=False),
            ]
        elif kind in ("regular", "dilated"):
            main = [nn.Conv2d(inner, inner, 3, padding=size, dilation=size, bias=False)]
        else:
            raise ValueError(f"unknown ENet bottleneck kind {kind!r}")
        self.branch = nn.Sequential(
            nn.Conv2d(channels, inner, 1, bias=False),
            *_bn_act(inner, prelu),
            *main,
            *_bn_act(inner, prelu),
            nn.Conv2d(inner, channels, 1, bias=False),
            nn.BatchNorm2d(channels, eps=1e-3),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(channels) if prelu else nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.branch(x))


class DownsamplingBottleneck(nn.Module):
    """Bottleneck with a 2x2 stride-2 projection; main branch: max-pool (indices kept), zero padding."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        inner = out_channels // PROJECTION_RATIO
        self.pool = nn.MaxPool2d(2, stride=2, return_indices=True)
        self.pad_channels = out_channels - in_channels
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, inner, 2, stride=2, bias=False),
            *_bn_act(inner, True),
            nn.Conv2d(inner, inner, 3, padding=1, bias=False),
            *_bn_act(inner, True),
            nn.Conv2d(inner, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, eps=1e-3),
            nn.Dropout2d(dropout),
        )
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        main, indices = self.pool(x)
        main = F.pad(main, (0, 0, 0, 0, 0, self.pad_channels))
        return self.act(main + self.branch(x)), indices


class UpsamplingBottleneck(nn.Module):
    """Bottleneck with a 3x3 stride-2 transposed conv; main branch: 1x1 conv, BN, max-unpool."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float = LATER_DROPOUT) -> None:
        super().__init__()
        inner = out_channels // PROJECTION_RATIO
        self.main_conv = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels, eps=1e-3)
        )
        self.unpool = nn.MaxUnpool2d(2, stride=2)
        self.branch = nn.Sequential(
            nn.Conv2d(in_channels, inner, 1, bias=False),
            *_bn_act(inner, False),
            nn.ConvTranspose2d(inner, inner, 3, stride=2, padding=1, output_padding=1, bias=False),
            *_bn_act(inner, False),
            nn.Conv2d(inner, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels, eps=1e-3),
            nn.Dropout2d(dropout),
        )

    def forward(self, x: torch.Tensor, indices: torch.Tensor, size: torch.Size) -> torch.Tensor:
        main = self.unpool(self.main_conv(x), indices, output_size=size)
        return F.relu(main + self.branch(x))


class ENet(nn.Module):
    """ENet: (N, 3, H, W) -> (N, num_classes, H, W) logits in train and eval mode."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        self.initial = InitialBlock(16)
        self.bottleneck1_0 = DownsamplingBottleneck(16, 64, STAGE1_DROPOUT)
        self.stage1 = nn.Sequential(*[Bottleneck(64, dropout=STAGE1_DROPOUT) for _ in range(4)])
        self.bottleneck2_0 = DownsamplingBottleneck(64, 128, LATER_DROPOUT)
        self.stage2 = nn.Sequential(*[Bottleneck(128, kind, size) for kind, size in STAGE23_SEQUENCE])
        self.stage3 = nn.Sequential(*[Bottleneck(128, kind, size) for kind, size in STAGE23_SEQUENCE])
        self.bottleneck4_0 = UpsamplingBottleneck(128, 64)
        self.stage4 = nn.Sequential(*[Bottleneck(64, prelu=False) for _ in range(2)])
        self.bottleneck5_0 = UpsamplingBottleneck(64, 16)
        self.stage5 = Bottleneck(16, prelu=False)
        self.fullconv = nn.ConvTranspose2d(16, num_classes, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, 8, "ENet")
        x1 = self.initial(x)
        x2, indices1 = self.bottleneck1_0(x1)
        x2 = self.stage1(x2)
        x3, indices2 = self.bottleneck2_0(x2)
        x3 = self.stage3(self.stage2(x3))
        y = self.stage4(self.bottleneck4_0(x3, indices2, x2.shape))
        y = self.stage5(self.bottleneck5_0(y, indices1, x1.shape))
        return self.fullconv(y)
