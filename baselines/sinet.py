"""SINet (Park et al., WACV 2020, Fig. 2-4): extreme lightweight portrait segmentation with spatial squeeze
modules and an information blocking decoder.

Encoder, PReLU throughout, batch norm eps 1e-3 as released:

* a 3x3 stride-2 convolution to 12 channels (1/2);
* a depthwise separable stride-2 convolution with squeeze-and-excitation to 16 channels (1/4), then two S2
  modules to 48; the stage's input and output are concatenated (64) and normalised;
* the same downsampler to 48 channels (1/8), eight S2 modules to 96, concatenation (144), a 1x1 classifier.

An S2 module (Fig. 3) reduces its input with a 2-group 1x1 convolution to half the output width, shuffles the
channels and runs two S2 blocks side by side on the result; their outputs are concatenated, added to the input
when the widths agree, then BN + PReLU. An S2 block squeezes space: average pooling by ``s``, a depthwise ``k x k``
convolution, BN, PReLU, a pointwise convolution, bilinear upsampling by ``s``, BN. Each module's two ``(k, s)``
pairs are ``STAGE2_BLOCKS`` and ``STAGE3_BLOCKS`` (the released configuration: p = 2, q = 8). The squeeze-and-
excitation gate is a PReLU, not a sigmoid, as in the released model.

Information blocking decoder (Fig. 4): the 1/8 class map is upsampled to 1/4 and normalised; its confidence
(the largest softmax probability per pixel) blocks the 1/4 encoder features where the coarse map is already
sure: a 1x1 conv-BN-PReLU of the stage-2 output, multiplied by ``1 - confidence``, is added to the coarse map,
upsampled to 1/2 and normalised, then upsampled to full size and passed through a 3x3 convolution. Upsampling is
bilinear with aligned corners, as the released ``nn.UpsamplingBilinear2d``.

Loss: the released training adds, to the segmentation loss on the output, 0.5 x the same loss restricted to a
boundary band of the mask (dilation minus erosion, 15 px kernel), first training the encoder alone at 1/8. That
band term lies on the main output, not on an auxiliary head, so it is a main loss (``ce-edge``,
``bench.train.losses``), SINet's default here: cross-entropy, as the published 2-class weights imply, trained in one
stage. The published weights load with ``baselines.published``.

With 2 classes: 86,910 parameters, as many as the published weights hold (paper: 86.9 K), and 0.0639 GMACs at
224x224 (paper 0.064 G; the authors' counter, like ours, counts convolution MACs). Input sides divisible by 32
(the 1/8 map is pooled by 4 and upsampled back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import BNPReLU, ConvBNPReLU, upsample_aligned
from baselines.shapes import check_input_size

BN_EPS = 1e-3
STEM_CHANNELS, STAGE1_CHANNELS, STAGE2_CHANNELS, STAGE3_CHANNELS = 12, 16, 48, 96
# (kernel, pool) of each S2 module's two blocks.
STAGE2_BLOCKS = (((3, 1), (5, 1)), ((3, 1), (3, 1)))
STAGE3_BLOCKS = (
    ((3, 1), (5, 1)),
    ((3, 1), (3, 1)),
    ((5, 1), (3, 2)),
    ((5, 2), (3, 4)),
    ((3, 1), (3, 1)),
    ((5, 1), (5, 1)),
    ((3, 2), (3, 4)),
    ((3, 1), (5, 2)),
)
GROUPS = 2


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)



class SqueezeExcite(nn.Module):
    """Channel gate from the global average: one linear layer (``reduction`` 1) or two, each followed by PReLU."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        if reduction == 1:
            self.layers = nn.Sequential(nn.Linear(channels, channels), nn.PReLU(channels))
        else:
            hidden = channels // reduction
            self.layers = nn.Sequential(
                nn.Linear(channels, hidden), nn.PReLU(hidden), nn.Linear(hidden, channels), nn.PReLU(channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.layers(x.mean((2, 3)))[:, :, None, None]


class SEDownsampler(nn.Module):
    """Depthwise 3x3 stride-2 conv, squeeze-and-excitation, pointwise conv, BN, PReLU."""

    def __init__(self, in_channels: int, out_channels: int, reduction: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(in_channels, in_channels, 3, 2, 1, groups=in_channels, bias=False)
        self.se = SqueezeExcite(in_channels, reduction)
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.pw(self.se(self.dw(x)))))


class S2Block(nn.Module):
    """Pool by ``pool``, depthwise ``kernel`` conv + BN, PReLU, pointwise conv, upsample back, BN."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int, pool: int) -> None:
        super().__init__()
        self.pool = pool
        self.dw = nn.Conv2d(in_channels, in_channels, kernel, 1, kernel // 2, groups=in_channels, bias=False)
        self.dw_bn = nn.BatchNorm2d(in_channels, eps=BN_EPS)
        self.act = nn.PReLU(in_channels)
        self.pw = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.avg_pool2d(x, self.pool) if self.pool > 1 else x
        y = self.pw(self.act(self.dw_bn(self.dw(y))))
        if self.pool > 1:
            y = upsample_aligned(y, x.shape[-2:])
        return self.bn(y)


class S2Module(nn.Module):
    """Grouped 1x1 reduction, channel shuffle, two S2 blocks concatenated, residual when widths agree, BN-PReLU."""

    def __init__(self, in_channels: int, out_channels: int, blocks: tuple[tuple[int, int], ...]) -> None:
        super().__init__()
        width = out_channels // len(blocks)
        self.reduce = nn.Conv2d(in_channels, width, 1, groups=GROUPS, bias=False)
        self.branches = nn.ModuleList(
            S2Block(width, width + (out_channels - width * len(blocks) if i == 0 else 0), k, s)
            for i, (k, s) in enumerate(blocks)
        )
        self.residual = in_channels == out_channels
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = channel_shuffle(self.reduce(x), GROUPS)
        y = torch.cat([branch(y) for branch in self.branches], dim=1)
        if self.residual:
            y = y + x
        return self.act(self.bn(y))


def _stage(in_channels: int, out_channels: int, blocks: tuple) -> nn.ModuleList:
    return nn.ModuleList(
        S2Module(in_channels if i == 0 else out_channels, out_channels, b) for i, b in enumerate(blocks)
    )


class SINet(nn.Module):
    """SINet: eval and train (N, 3, H, W) -> (N, num_classes, H, W) logits."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        c1, c2, c3 = STAGE1_CHANNELS, STAGE2_CHANNELS, STAGE3_CHANNELS
        self.stem = ConvBNPReLU(3, STEM_CHANNELS, 3, stride=2)
        self.down2 = SEDownsampler(STEM_CHANNELS, c1, reduction=1)
        self.stage2 = _stage(c1, c2, STAGE2_BLOCKS)
        self.merge2 = BNPReLU(c1 + c2)
        self.down3 = SEDownsampler(c1 + c2, c2, reduction=2)
        self.stage3 = _stage(c2, c3, STAGE3_BLOCKS)
        self.merge3 = BNPReLU(c2 + c3)
        self.coarse_head = nn.Conv2d(c2 + c3, num_classes, 1, bias=False)
        # information blocking decoder
        self.coarse_bn = nn.BatchNorm2d(num_classes, eps=BN_EPS)
        self.skip_head = ConvBNPReLU(c2, num_classes, 1)
        self.fine_bn = nn.BatchNorm2d(num_classes, eps=BN_EPS)
        self.head = nn.Conv2d(num_classes, num_classes, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, 32, "SINet")
        d2 = self.down2(self.stem(x))
        y2 = d2
        for module in self.stage2:
            y2 = module(y2)
        d3 = self.down3(self.merge2(torch.cat([d2, y2], dim=1)))
        y3 = d3
        for module in self.stage3:
            y3 = module(y3)
        coarse = self.coarse_head(self.merge3(torch.cat([d3, y3], dim=1)))  # 1/8
        coarse = self.coarse_bn(upsample_aligned(coarse, y2.shape[-2:]))  # 1/4
        blocking = 1 - coarse.softmax(dim=1).amax(dim=1, keepdim=True)
        fine = coarse + self.skip_head(y2) * blocking
        fine = self.fine_bn(upsample_aligned(fine, (2 * y2.shape[-2], 2 * y2.shape[-1])))  # 1/2
        return self.head(upsample_aligned(fine, x.shape[-2:]))
