"""Building blocks several baselines share."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias, 'same' padding), batch norm, ReLU: the unit of PSPNet/ICNet and BiSeNet."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )


class BNPReLU(nn.Module):
    """Batch norm (eps 1e-3, as ESPNet and its descendants) and PReLU: ESPNet's, SINet's and ExtremeC3Net's ``BR``."""

    def __init__(self, channels: int, eps: float = 1e-3) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=eps)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class ConvBNPReLU(nn.Module):
    """Convolution (no bias, 'same' padding), batch norm (eps 1e-3) and PReLU: ESPNet's ``CBR``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def upsample_aligned(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Bilinear upsampling with aligned corners (what ``nn.UpsamplingBilinear2d`` does), to an explicit size."""
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=True)
