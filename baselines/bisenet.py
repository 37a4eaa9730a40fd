"""BiSeNet (Yu et al., ECCV 2018, Fig. 2) with the ResNet18 context path, the variant the ELB paper re-trains.

* Spatial Path: three 3x3 stride-2 conv-BN-ReLU layers (64, 64, 128 channels): 1/8 of the input, wide and
  shallow.
* Context Path: ResNet18 (``baselines.resnet``); an Attention Refinement Module (ARM) on the 1/16 (256 ch) and
  1/32 (512 ch) stage outputs; the global average pool of the last stage added to the 1/32 branch as global
  context. Each branch is upsampled to the next finer one and refined by a 3x3 conv, giving 128 channels at
  1/8. The ARM's 3x3 conv to 128 channels before the attention, and the refine convs, follow the authors' own
  implementation (TorchSeg); the paper's figure draws only the attention.
* Feature Fusion Module (FFM): concatenate the two paths, 1x1 conv-BN-ReLU to 256, then a channel attention
  (global pool, 1x1, ReLU, 1x1, sigmoid) that reweights the features and is added back.
* Output: 3x3 conv-BN-ReLU to 64, 1x1 to the classes, bilinear x8 to the input size.

Auxiliary loss (Eq. 2): two heads of the same form supervise the context path's two refined outputs
(``"aux_16"`` at 1/16 and ``"aux_8"`` at 1/8) with weight alpha = 1, as in the paper. They run only in
training; eval returns the main logits. Training mode needs a batch of at least 2 (the ARM and global-context
BN layers see pooled 1x1 maps).

At 512x512 with 2 classes: 12.96 M parameters (0.15 M of them in the two auxiliary heads) and 12.58 GMACs in
eval mode (paper Table 1: 12.8 M, 14.5 G; reference implementations count 12-14.8 G). The paper gives no
widths for the spatial path and the heads, which account for the difference: a 64/128/256-channel spatial path
would count 14.2 G. ``pretrained_backbone=PATH`` loads a local torchvision ResNet18 state dict into the
context path; the default trains from scratch.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import ConvBNReLU
from baselines.resnet import ResNet18

CONTEXT_CHANNELS = 128
FUSION_CHANNELS = 256
HEAD_CHANNELS = 64
FFM_REDUCTION = 4
AUX_WEIGHT = 1.0


def _resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class SpatialPath(nn.Sequential):
    """Three stride-2 conv-BN-ReLU layers: output stride 8."""

    def __init__(self, channels: tuple[int, int, int] = (64, 64, CONTEXT_CHANNELS)) -> None:
        super().__init__(
            ConvBNReLU(3, channels[0], 3, 2),
            ConvBNReLU(channels[0], channels[1], 3, 2),
            ConvBNReLU(channels[1], channels[2], 3, 2),
        )


class AttentionRefinementModule(nn.Module):
    """3x3 conv-BN-ReLU, then reweight channels by sigmoid(BN(1x1 conv(global average pool)))."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels, 3)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * self.attention(y)


class FeatureFusionModule(nn.Module):
    """Concatenate spatial and context features, 1x1 conv-BN-ReLU, add the attention-weighted features."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int = FFM_REDUCTION) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_channels, out_channels, 1)
        self.attention = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(out_channels, out_channels // reduction, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels // reduction, out_channels, 1),
            nn.Sigmoid(),
        )

    def forward(self, spatial: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        y = self.conv(torch.cat([spatial, context], dim=1))
        return y + y * self.attention(y)


class ContextPath(nn.Module):
    """ResNet18 with ARMs on its 1/16 and 1/32 stages and global context; refined maps at 1/16 and 1/8."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = ResNet18()
        c16, c32 = self.backbone.out_channels[2], self.backbone.out_channels[3]
        self.global_context = nn.Sequential(nn.AdaptiveAvgPool2d(1), ConvBNReLU(c32, CONTEXT_CHANNELS, 1))
        self.arm32 = AttentionRefinementModule(c32, CONTEXT_CHANNELS)
        self.arm16 = AttentionRefinementModule(c16, CONTEXT_CHANNELS)
        self.refine32 = ConvBNReLU(CONTEXT_CHANNELS, CONTEXT_CHANNELS, 3)
        self.refine16 = ConvBNReLU(CONTEXT_CHANNELS, CONTEXT_CHANNELS, 3)

    def forward(self, x: torch.Tensor, out_size: torch.Size) -> tuple[torch.Tensor, torch.Tensor]:
        _, _, c16, c32 = self.backbone(x)
        y = self.arm32(c32) + self.global_context(c32)
        context16 = self.refine32(_resize(y, c16.shape[-2:]))
        context8 = self.refine16(_resize(self.arm16(c16) + context16, out_size))
        return context16, context8


class SegmentationHead(nn.Sequential):
    """3x3 conv-BN-ReLU then a 1x1 classifier (the main output and the auxiliary heads)."""

    def __init__(self, in_channels: int, num_classes: int, mid_channels: int = HEAD_CHANNELS) -> None:
        super().__init__(ConvBNReLU(in_channels, mid_channels, 3), nn.Conv2d(mid_channels, num_classes, 1))


class BiSeNet(nn.Module):
    """BiSeNet: eval (N, 3, H, W) -> (N, num_classes, H, W); train -> dict with "out", "aux_16", "aux_8"."""

    def __init__(
        self, num_classes: int = 2, pretrained_backbone: str | os.PathLike[str] | None = None
    ) -> None:
        super().__init__()
        self.spatial_path = SpatialPath()
        self.context_path = ContextPath()
        self.ffm = FeatureFusionModule(2 * CONTEXT_CHANNELS, FUSION_CHANNELS)
        self.head = SegmentationHead(FUSION_CHANNELS, num_classes)
        self.aux_head16 = SegmentationHead(CONTEXT_CHANNELS, num_classes)
        self.aux_head8 = SegmentationHead(CONTEXT_CHANNELS, num_classes)
        self.aux_losses: dict[str, tuple[str, float]] = {
            "aux_16": ("mask", AUX_WEIGHT),
            "aux_8": ("mask", AUX_WEIGHT),
        }
        if pretrained_backbone is not None:
            self.context_path.backbone.load_torchvision_weights(pretrained_backbone)

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        spatial = self.spatial_path(x)
        context16, context8 = self.context_path(x, spatial.shape[-2:])
        out = _resize(self.head(self.ffm(spatial, context8)), x.shape[-2:])
        if not self.training:
            return out
        return {"out": out, "aux_16": self.aux_head16(context16), "aux_8": self.aux_head8(context8)}
