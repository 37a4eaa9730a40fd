"""PortraitNet (Zhang et al., Computers & Graphics 2019, Fig. 2 and 3): real-time portrait segmentation for
mobiles.

Encoder: MobileNetV2, width 1.0 (``baselines.mobilenetv2``), read at strides 4 (24 ch), 8 (32 ch), 16 (96 ch)
and 32 (320 ch). Decoder: five stages, each a D-Block (Fig. 3b: two depthwise separable convolutions on one
branch, a 1x1 conv matching the channels on the other, summed) followed by a 4x4 stride-2 transposed
convolution. Channels 320 -> 96 -> 32 -> 24 -> 16 -> 8; after each of the first three upsamplings the encoder
feature of the same stride is added (1/16, 1/8, 1/4), as in the authors' code. Two 3x3 heads on the
full-resolution 8-channel map: the mask (``num_classes`` logits) and the boundary (2 logits: not boundary /
boundary).

Training returns ``{"out", "boundary"}``; ``aux_losses = {"boundary": ("boundary", 0.1)}``: the boundary head
is trained with the focal loss (gamma 2) against the mask's boundary band, weighted lambda = 0.1 as in the
paper's total loss. The paper's consistency-constraint loss compares two augmented copies of an image; it
belongs to the training procedure, not to the model, and is not part of this contract. Eval returns the mask
logits only.

With 2 classes: 2.08 M parameters; 0.35 GMACs at the native 224x224 and 1.82 GMACs at 512x512 (reference: 2.08
M, 0.36 G, 1.9 G). The ELB paper's Table 1 quotes 0.51 G at 224x224, 46 % above this count: the encoder is
0.28 G (0.30 G for the whole ImageNet MobileNetV2, whose 1280-channel last layer PortraitNet does not use) and
the decoder 0.07 G. Input sides divisible by 32. ``pretrained_backbone=PATH`` loads a local torchvision
MobileNetV2 state dict; the default trains from scratch.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from baselines.mobilenetv2 import MobileNetV2
from baselines.shapes import check_input_size

DECODER_CHANNELS = (96, 32, 24, 16, 8)
# Indices into MobileNetV2.features after which the encoder feature of each stride is read.
STRIDE4_END, STRIDE8_END, STRIDE16_END = 4, 7, 14
BOUNDARY_WEIGHT = 0.1


def _depthwise_separable(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, in_channels, 3, padding=1, groups=in_channels, bias=False),
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.BatchNorm2d(out_channels),
    ]


class DBlock(nn.Module):
    """Decoder block (Fig. 3b): two depthwise separable convs + a 1x1 channel-matching shortcut, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            *_depthwise_separable(in_channels, out_channels),
            nn.ReLU(inplace=True),
            *_depthwise_separable(out_channels, out_channels),
        )
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
            )
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.branch(x) + self.shortcut(x))


class PortraitNet(nn.Module):
    """PortraitNet: eval (N, 3, H, W) -> (N, num_classes, H, W); train -> dict with "out" and "boundary"."""

    def __init__(
        self, num_classes: int = 2, pretrained_backbone: str | os.PathLike[str] | None = None
    ) -> None:
        super().__init__()
        self.backbone = MobileNetV2()
        in_channels = (self.backbone.out_channels, *DECODER_CHANNELS[:-1])
        self.dblocks = nn.ModuleList(DBlock(i, o) for i, o in zip(in_channels, DECODER_CHANNELS, strict=True))
        self.upsamples = nn.ModuleList(
            nn.ConvTranspose2d(c, c, 4, stride=2, padding=1, bias=False) for c in DECODER_CHANNELS
        )
        self.mask_head = nn.Conv2d(DECODER_CHANNELS[-1], num_classes, 3, padding=1, bias=False)
        self.boundary_head = nn.Conv2d(DECODER_CHANNELS[-1], 2, 3, padding=1, bias=False)
        self.aux_losses: dict[str, tuple[str, float]] = {"boundary": ("boundary", BOUNDARY_WEIGHT)}
        if pretrained_backbone is not None:
            self.backbone.load_torchvision_weights(pretrained_backbone)

    def _encode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features at strides 32, 16, 8 and 4 (deepest first)."""
        features = self.backbone.features
        f4 = features[:STRIDE4_END](x)
        f8 = features[STRIDE4_END:STRIDE8_END](f4)
        f16 = features[STRIDE8_END:STRIDE16_END](f8)
        f32 = features[STRIDE16_END:](f16)
        return [f32, f16, f8, f4]

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        check_input_size(x, 32, "PortraitNet")
        f32, *skips = self._encode(x)
        y = f32
        for stage, (dblock, upsample) in enumerate(zip(self.dblocks, self.upsamples, strict=True)):
            y = upsample(dblock(y))
            if stage < len(skips):
                y = y + skips[stage]
        out = self.mask_head(y)
        if not self.training:
            return out
        return {"out": out, "boundary": self.boundary_head(y)}
