"""MobileNetV2 (Sandler et al., 2018), width 1.0, as a feature extractor: PortraitNet's encoder.

Parameter names follow torchvision's ``mobilenet_v2`` (``features.0`` the stem conv-BN-ReLU6, ``features.1``
.. ``features.17`` the inverted residual blocks with ``conv.N`` inside), so a local torchvision ImageNet state
dict loads with ``load_torchvision_weights``. The final 1x1 conv to 1280 channels (``features.18``) and the
classifier are not part of the extractor because PortraitNet's decoder starts from the 320-channel block 17
output; their keys are ignored when loading. 1,811,712 parameters (torchvision's 3,504,872 less those two
layers).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from baselines.pretrained import load_torchvision_state_dict

# (expansion t, output channels c, repeats n, first stride s): Table 2 of the MobileNetV2 paper, without
# the last 1x1 conv and the pooling/classifier rows.
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


class ConvBNReLU6(nn.Sequential):
    """Convolution, BN, ReLU6 (indices 0, 1, 2 as in torchvision's ``Conv2dNormActivation``)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1
    ):
        super().__init__(
            nn.Conv2d(
                in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False
            ),
            nn.BatchNorm2d(out_channels),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    """1x1 expansion (none when t = 1), 3x3 depthwise, linear 1x1 projection; residual when shapes match."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = [] if expansion == 1 else [ConvBNReLU6(in_channels, hidden, 1)]
        layers += [
            ConvBNReLU6(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """The 18 ``features`` modules (stem + 17 inverted residuals): output stride 32, 320 channels."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU6(3, 32, 3, 2)]
        channels = 32
        for expansion, out_channels, repeats, stride in INVERTED_RESIDUAL_SETTING:
            for i in range(repeats):
                layers.append(InvertedResidual(channels, out_channels, stride if i == 0 else 1, expansion))
                channels = out_channels
        self.features = nn.Sequential(*layers)
        self.out_channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def load_torchvision_weights(self, path: str | os.PathLike[str]) -> None:
        """Load a torchvision ``mobilenet_v2`` state dict (``features.18`` and ``classifier`` are ignored)."""
        load_torchvision_state_dict(self, path, unused_prefixes=("features.18.", "classifier."))
