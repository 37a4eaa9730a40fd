"""ERFNet (Romera et al., 2017, Table 1): the efficient residual factorized network the ELB encoder is built
from.

Encoder: downsampler block (3->16), downsampler (16->64), 5 x non-bottleneck-1D(64), downsampler (64->128), 8
x non-bottleneck-1D(128) with dilations 2, 4, 8, 16, 2, 4, 8, 16. Decoder: upsampler (3x3 transposed conv,
stride 2) 128->64, 2 x non-bottleneck-1D(64), upsampler 64->16, 2 x non-bottleneck-1D(16), and a 2x2 stride-2
transposed convolution to the classes at the input size. Spatial dropout 0.03 / 0.3 in the two encoder stages,
as in ERFNet.

At 512x512 with 2 classes: 2.06 M parameters and 13.2 GMACs (paper Table 1: 2.1 M, 13.4 G). No auxiliary
outputs: training uses the main logits only. Input sides must be divisible by 8.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from baselines.shapes import check_input_size

# ELB's downsampler block is ERFNet's, and ELB keeps ERFNet's encoder schedule: one implementation serves both.
from elb.model import DSB as DownsamplerBlock
from elb.model import STAGE1_DROPOUT as ENCODER_STAGE1_DROPOUT
from elb.model import STAGE2_DILATIONS as ENCODER_STAGE2_DILATIONS
from elb.model import STAGE2_DROPOUT as ENCODER_STAGE2_DROPOUT


class NonBottleneck1D(nn.Module):
    """Two factorized 3x3 convolutions (3x1 then 1x3; the second pair dilated) with a residual (Fig. 2c)."""

    def __init__(self, channels: int, dilation: int = 1, dropout: float = 0.0) -> None:
        super().__init__()
        d = dilation
        self.conv3x1_1 = nn.Conv2d(channels, channels, (3, 1), padding=(1, 0), bias=True)
        self.conv1x3_1 = nn.Conv2d(channels, channels, (1, 3), padding=(0, 1), bias=True)
        self.bn1 = nn.BatchNorm2d(channels, eps=1e-3)
        self.conv3x1_2 = nn.Conv2d(channels, channels, (3, 1), padding=(d, 0), dilation=(d, 1), bias=True)
        self.conv1x3_2 = nn.Conv2d(channels, channels, (1, 3), padding=(0, d), dilation=(1, d), bias=True)
        self.bn2 = nn.BatchNorm2d(channels, eps=1e-3)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv3x1_1(x))
        y = F.relu(self.bn1(self.conv1x3_1(y)))
        y = F.relu(self.conv3x1_2(y))
        y = self.dropout(self.bn2(self.conv1x3_2(y)))
        return F.relu(y + x)


class UpsamplerBlock(nn.Module):
    """3x3 transposed convolution with stride 2 (doubles the resolution), BN, ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=1, output_padding=1)
        self.bn = nn.BatchNorm2d(out_channels, eps=1e-3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class ERFNet(nn.Module):
    """ERFNet: (N, 3, H, W) -> (N, num_classes, H, W) logits in train and eval mode."""

    def __init__(self, num_classes: int = 2) -> None:
        super().__init__()
        encoder: list[nn.Module] = [DownsamplerBlock(3, 16), DownsamplerBlock(16, 64)]
        encoder += [NonBottleneck1D(64, 1, ENCODER_STAGE1_DROPOUT) for _ in range(5)]
        encoder.append(DownsamplerBlock(64, 128))
        encoder += [NonBottleneck1D(128, d, ENCODER_STAGE2_DROPOUT) for d in ENCODER_STAGE2_DILATIONS]
        self.encoder = nn.Sequential(*encoder)
        self.decoder = nn.Sequential(
            UpsamplerBlock(128, 64),
            NonBottleneck1D(64),
            NonBottleneck1D(64),
            UpsamplerBlock(64, 16),
            NonBottleneck1D(16),
            NonBottleneck1D(16),
        )
        self.output_conv = nn.ConvTranspose2d(16, num_classes, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input_size(x, 8, "ERFNet")
        return self.output_conv(self.decoder(self.encoder(x)))
