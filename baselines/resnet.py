"""ResNet18 (He et al., 2016) as a feature extractor: BiSeNet's context path.

Parameter names follow torchvision's ``resnet18`` (``conv1``, ``bn1``, ``layer1`` .. ``layer4`` of
``BasicBlock`` with ``conv1/bn1/conv2/bn2/downsample``), so a local torchvision ImageNet state dict loads with
``load_torchvision_weights``. The 1000-way ``fc`` layer is not part of the extractor (its ``fc.*`` keys are
ignored when loading): 11,176,512 parameters, torchvision's 11,689,512 less the classifier.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from baselines.pretrained import load_torchvision_state_dict

STAGE_CHANNELS = (64, 128, 256, 512)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual; a strided 1x1 projection when the shape changes."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + identity)


class ResNet18(nn.Module):
    """ResNet18 trunk; ``forward`` returns the four stage outputs at strides 4, 8, 16 and 32."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        channels = 64
        for index, out_channels in enumerate(STAGE_CHANNELS, start=1):
            stride = 1 if index == 1 else 2
            stage = nn.Sequential(
                BasicBlock(channels, out_channels, stride), BasicBlock(out_channels, out_channels)
            )
            self.add_module(f"layer{index}", stage)
            channels = out_channels
        self.out_channels = STAGE_CHANNELS

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        features = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features

    def load_torchvision_weights(self, path: str | os.PathLike[str]) -> None:
        """Load a torchvision ``resnet18`` state dict (the ``fc`` classifier is ignored)."""
        load_torchvision_state_dict(self, path, unused_prefixes=("fc.",))
