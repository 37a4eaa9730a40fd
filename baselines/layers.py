"""Building blocks several baselines share."""

from __future__ import annotations

from torch import nn


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias, 'same' padding), batch norm, ReLU: the unit of PSPNet/ICNet and BiSeNet."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
