"""ICNet (Zhao et al., ECCV 2018, Fig. 2): the image cascade network, in its half-width ("pruned") release.

Three branches share work (Fig. 2):

* sub4 (low resolution): the input at 1/2 goes through the PSPNet50 stem (conv1_1 .. conv1_3, max-pool),
  conv2_x and conv3_1 (stride 2, 1/16 of the input); that map is shrunk by 2 (1/32) and finishes conv3_2 ..
  conv5_3 with dilations 2 and 4, the pyramid pooling module (bins 1, 2, 3, 6; a parameter-free sum as in the
  released model) and conv5_4_k1 (1x1, 1024 -> 256).
* sub2 (medium): the conv3_1 output itself (256 channels, 1/16), shared with sub4 so it costs nothing extra.
* sub1 (high): three 3x3 stride-2 convolutions on the full input (32, 32, 64 channels, 1/8).

Two cascade feature fusion units (Fig. 3) merge them: the coarser map is upsampled x2 to the finer map's size,
goes through a 3x3 dilation-2 conv + BN, the finer map through a 1x1 conv + BN, the sum through ReLU (128
channels). The result at 1/8 is upsampled x2, classified (conv6_cls) and upsampled x4 to the input size. All
resizing uses the actual tensor shapes, so any input side that is a multiple of 8 works (the registry's size step;
512x512 included).

Cascade label guidance: in training the model returns ``{"out", "sub4", "sub24"}``: the main logits at input
size, and the logits of each CFF unit's classifier on its upsampled coarse input (1/16 and 1/8 of the input).
``aux_losses`` weights them 0.4 each (the main branch has 1). Source of the weights: the configurations that
reproduce ICNet in mmsegmentation (``icnet_r50-d8``: auxiliary heads at loss weight 0.4 each) and GluonCV
(``ICNetLoss``: 0.4 for every cascade output); hellochick's TensorFlow port uses 0.16 and 0.4 instead. Pass
``aux_weights`` to change them.

At 512x512 with 2 classes: 6.70 M parameters and 3.59 GMACs in eval mode. The paper's Table 1 gives 7.7 M and
3.5 G. The 7.7 M is what the model has when its pyramid pooling uses PSPNet's four 1x1 (1024 -> 256)
convolutions (+1.05 M, 7.75 M in all); the released ICNet sums the pooled maps without parameters, as here.
The paper's 3.5 G is 2.5 % below this count. The reference range (``docs/models.md``) at 512x512 is
3.9-4.0 G; this layout, with the strides on the 1x1 reduce convolutions as in the caffe model, counts 8 % less,
inside the 10 % tolerance.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import ConvBNReLU

PYRAMID_BINS = (1, 2, 3, 6)
CASCADE_AUX_WEIGHTS = (0.4, 0.4)


def _resize(x: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


def _half(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    return _resize(x, ((h + 1) // 2, (w + 1) // 2))


class ResidualBottleneck(nn.Module):
    """PSPNet's bottleneck unit: 1x1 reduce (carrying the stride, as in the caffe model), 3x3 (dilated),
    1x1 increase, plus the identity or a 1x1 projection."""

    def __init__(
        self, in_channels: int, inner: int, out_channels: int, stride: int = 1, dilation: int = 1
    ) -> None:
        super().__init__()
        self.reduce = ConvBNReLU(in_channels, inner, 1, stride)
        self.conv3x3 = nn.Sequential(
            nn.Conv2d(inner, inner, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(inner),
            nn.ReLU(inplace=True),
        )
        self.increase = nn.Sequential(
            nn.Conv2d(inner, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.proj: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.proj = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.proj(x) + self.increase(self.conv3x3(self.reduce(x))))


def _stage(
    in_channels: int, inner: int, out_channels: int, blocks: int, stride: int = 1, dilation: int = 1
) -> nn.Sequential:
    units = [ResidualBottleneck(in_channels, inner, out_channels, stride, dilation)]
    units += [ResidualBottleneck(out_channels, inner, out_channels, 1, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*units)


class PyramidPoolingSum(nn.Module):
    """Average-pool to each bin size, upsample back and add to the input (no parameters)."""

    def __init__(self, bins: tuple[int, ...] = PYRAMID_BINS) -> None:
        super().__init__()
        self.bins = bins

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for b in self.bins:
            out = out + _resize(F.adaptive_avg_pool2d(x, b), x.shape[-2:])
        return out


class CascadeFeatureFusion(nn.Module):
    """CFF unit (Fig. 3): fuse a coarse map F1 with a map F2 at twice its resolution; in training also
    classify the upsampled F1 for cascade label guidance."""

    def __init__(self, low_channels: int, high_channels: int, out_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv_low = nn.Sequential(
            nn.Conv2d(low_channels, out_channels, 3, padding=2, dilation=2, bias=False),
            nn.BatchNorm2d(out_channels),
        )
        self.conv_high = nn.Sequential(
            nn.Conv2d(high_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)
        )
        self.classifier = nn.Conv2d(low_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        low = _resize(low, high.shape[-2:])
        fused = F.relu(self.conv_low(low) + self.conv_high(high))
        return fused, (self.classifier(low) if self.training else None)


class ICNet(nn.Module):
    """ICNet: eval (N, 3, H, W) -> (N, num_classes, H, W); train -> dict with "out", "sub4", "sub24"."""

    def __init__(self, num_classes: int = 2, aux_weights: tuple[float, float] = CASCADE_AUX_WEIGHTS) -> None:
        super().__init__()
        # sub1: the light full-resolution branch
        self.sub1 = nn.Sequential(ConvBNReLU(3, 32, 3, 2), ConvBNReLU(32, 32, 3, 2), ConvBNReLU(32, 64, 3, 2))
        # sub2 / sub4: half-width PSPNet50
        self.conv1 = nn.Sequential(ConvBNReLU(3, 32, 3, 2), ConvBNReLU(32, 32), ConvBNReLU(32, 64))
        self.pool1 = nn.MaxPool2d(3, stride=2, padding=1)
        self.conv2 = _stage(64, 32, 128, blocks=3)
        self.conv3_1 = ResidualBottleneck(128, 64, 256, stride=2)
        self.conv3 = _stage(256, 64, 256, blocks=3)  # conv3_2 .. conv3_4, run at 1/32
        self.conv4 = _stage(256, 128, 512, blocks=6, dilation=2)
        self.conv5 = _stage(512, 256, 1024, blocks=3, dilation=4)
        self.pyramid_pooling = PyramidPoolingSum()
        self.conv5_4_k1 = ConvBNReLU(1024, 256, 1)
        # cascade feature fusion
        self.cff_sub24 = CascadeFeatureFusion(256, 256, 128, num_classes)
        self.cff_sub12 = CascadeFeatureFusion(128, 64, 128, num_classes)
        self.conv6_cls = nn.Conv2d(128, num_classes, 1)
        self.aux_losses: dict[str, tuple[str, float]] = {
            "sub4": ("mask", float(aux_weights[0])),
            "sub24": ("mask", float(aux_weights[1])),
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor | dict[str, torch.Tensor]:
        size = x.shape[-2:]
        sub2 = self.conv3_1(self.conv2(self.pool1(self.conv1(_half(x)))))  # 1/16
        sub4 = self.conv3(_half(sub2))  # 1/32
        sub4 = self.conv5_4_k1(self.pyramid_pooling(self.conv5(self.conv4(sub4))))
        sub1 = self.sub1(x)  # 1/8
        sub24, aux_sub4 = self.cff_sub24(sub4, sub2)
        sub12, aux_sub24 = self.cff_sub12(sub24, sub1)
        logits = self.conv6_cls(_resize(sub12, (2 * sub12.shape[-2], 2 * sub12.shape[-1])))  # 1/4
        out = _resize(logits, size)
        if not self.training:
            return out
        return {"out": out, "sub4": aux_sub4, "sub24": aux_sub24}
