"""ExtremeC3Net (Park et al., 2019, arXiv:1908.03093, Fig. 2-3): extreme lightweight portrait segmentation
with advanced C3 modules.

Coarse branch (an ESPNet-C-like encoder, PReLU throughout):

* a 3x3 stride-2 convolution to 24 channels (1/2), concatenated with the image average-pooled to 1/2 (27);
* a downsampling advanced C3 module to 48 channels (1/4) and one advanced C3 module; concatenated with the
  stage's input and the image pooled to 1/4 (99);
* an advanced C3 module to 56 channels without residual, five more, concatenated (112), still at 1/4.

Fine branch: a 3x3 stride-2 convolution of the image to 24 channels and one advanced C3 module (1/2). The
coarse features are projected to 24 channels (1x1 conv + BN), upsampled to 1/2 and added to the fine ones;
BN-PReLU, upsampling to full size and a 1x1 classifier give the logits. Upsampling is bilinear with aligned
corners, as the released ``nn.UpsamplingBilinear2d``.

An advanced C3 module (Fig. 3) reduces its input with a 1x1 convolution (3x3 stride 2 when downsampling) to a
third of the output width and runs three branches side by side, each a depthwise 3x3 convolution of dilation
``d`` and a pointwise one; for ``d > 1`` the dilated convolution is preceded by a depthwise factorized
``(2d-1) x 1`` / ``1 x (2d-1)`` pair (BN, PReLU between, BN after), which fills the dilation's holes. The branches
are concatenated, added to the input when the widths agree, then BN + PReLU. Dilations per module are
``DILATIONS``. Batch norm eps is 1e-3, except the factorized pairs' and the coarse projection's (PyTorch's
default 1e-5), as released.

Loss: the released training optimises the Lovász hinge loss on a single portrait logit, plus 0.5 x the same loss
restricted to a boundary band of the mask, coarse branch first (with its own 1x1 classifier, dropped after),
then the whole network. The band term lies on the main output, so it is a main loss (``lovasz-edge``,
``bench.train.losses``), ExtremeC3Net's default here, trained in one stage without the coarse classifier; the hinge
takes the portrait logit ``l1 - l0`` of the ``num_classes`` = 2 outputs. ``baselines.published`` loads the published
single-logit weights as two logits (0, z).

With 2 classes: 37,762 parameters and 0.129 GMACs at 224x224; with the released single logit 37,738 (as many as
the published weights hold) and 0.1278 GMACs (paper: 0.038 M, 0.128 G, convolution MACs as counted here). Input
sides divisible by 4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.layers import BNPReLU, ConvBNPReLU, upsample_aligned
from baselines.shapes import check_input_size

BN_EPS = 1e-3
STEM_CHANNELS, STAGE2_CHANNELS, STAGE3_CHANNELS, DECODER_CHANNELS = 24, 48, 56, 24
STAGE2_MODULES, STAGE3_MODULES = 1, 5  # the released configuration: p = 1, q = 5
DILATIONS = {
    "down2": (1, 2, 3),
    "stage2": (1, 3, 4),
    "project3": (1, 3, 5),
    "stage3": (2, 4, 8),
    "fine": (2, 4, 8),
}


class C3Branch(nn.Module):
    """Depthwise 3x3 conv of dilation ``d`` and a pointwise conv; for ``d > 1`` a factorized (2d-1) pair first."""

    def __init__(self, in_channels: int, out_channels: int, dilation: int) -> None:
        super().__init__()
        c, k = in_channels, 2 * dilation - 1
        self.factorized = dilation > 1
        if self.factorized:
            self.sep_v = nn.Conv2d(c, c, (k, 1), padding=(dilation - 1, 0), groups=c, bias=False)
            self.bn_v = nn.BatchNorm2d(c)
            self.act_v = nn.PReLU(c)
            self.sep_h = nn.Conv2d(c, c, (1, k), padding=(0, dilation - 1), groups=c, bias=False)
            self.bn_h = nn.BatchNorm2d(c)
        self.dw = nn.Conv2d(c, c, 3, padding=dilation, dilation=dilation, groups=c, bias=False)
        self.pw = nn.Conv2d(c, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.factorized:
            x = self.bn_h(self.sep_h(self.act_v(self.bn_v(self.sep_v(x)))))
        return self.pw(self.dw(x))


class AdvancedC3(nn.Module):
    """1x1 reduction (3x3 stride 2 when ``downsample``), three C3 branches concatenated, residual, BN-PReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, dilations: tuple[int, int, int], downsample: bool = False
    ) -> None:
        super().__init__()
        width = out_channels // len(dilations)
        extra = out_channels - width * len(dilations)  # the first branch takes the remainder
        if downsample:
            self.reduce = nn.Conv2d(in_channels, width, 3, stride=2, padding=1, bias=False)
        else:
            self.reduce = nn.Conv2d(in_channels, width, 1, bias=False)
        self.branches = nn.ModuleList(
            C3Branch(width, width + (extra if i == 0 else 0), d) for i, d in enumerate(dilations)
        )
        self.residual = in_channels == out_channels and not downsample
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.act = nn.PReLU(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.reduce(x)
        y = torch.cat([branch(y) for branch in self.branches], dim=1)
        if self.residual:
            y = y + x
        return self.act(self.bn(y))


class ExtremeC3Net(nn.Module):
    """ExtremeC3Net: eval and train (N, 3, H, W) -> (N, num_classes, H, W) logits."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        c1, c2, c3, cd = STEM_CHANNELS, STAGE2_CHANNELS, STAGE3_CHANNELS, DECODER_CHANNELS
        self.stem = ConvBNPReLU(3, c1, 3, stride=2)
        self.merge1 = BNPReLU(c1 + 3)
        self.down2 = AdvancedC3(c1 + 3, c2, DILATIONS["down2"], downsample=True)
        self.stage2 = nn.ModuleList(AdvancedC3(c2, c2, DILATIONS["stage2"]) for _ in range(STAGE2_MODULES))
        self.merge2 = BNPReLU(2 * c2 + 3)
        self.project3 = AdvancedC3(2 * c2 + 3, c3, DILATIONS["project3"])
        self.stage3 = nn.ModuleList(AdvancedC3(c3, c3, DILATIONS["stage3"]) for _ in range(STAGE3_MODULES))
        self.merge3 = BNPReLU(2 * c3)
        self.coarse_proj = nn.Conv2d(2 * c3, cd, 1, bias=False)
        self.coarse_bn = nn.BatchNorm2d(cd)
        self.fine_conv = nn.Conv2d(3, cd, 3, stride=2, padding=1, bias=False)
        self.fine_block = AdvancedC3(cd, cd, DILATIONS["fine"])
        self.head_norm = BNPReLU(cd)
        self.head = nn.Conv2d(cd, num_classes, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, 4, "ExtremeC3Net")
        half = F.avg_pool2d(x, 2)
        quarter = F.avg_pool2d(half, 2)
        y1 = self.merge1(torch.cat([self.stem(x), half], dim=1))
        d2 = self.down2(y1)
        y2 = d2
        for module in self.stage2:
            y2 = module(y2)
        p3 = self.project3(self.merge2(torch.cat([y2, d2, quarter], dim=1)))
        y3 = p3
        for module in self.stage3:
            y3 = module(y3)
        coarse = self.coarse_bn(self.coarse_proj(self.merge3(torch.cat([p3, y3], dim=1))))  # 1/4
        fine = self.fine_block(self.fine_conv(x))  # 1/2
        y = self.head_norm(upsample_aligned(coarse, fine.shape[-2:]) + fine)
        return self.head(upsample_aligned(y, x.shape[-2:]))
