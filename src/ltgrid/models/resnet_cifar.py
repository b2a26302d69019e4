"""ResNet for 32x32 CIFAR images (He et al. 2016, sec. 4.2), the backbone of the LT-CIFAR papers.

Three stages of n basic blocks at 16/32/64 channels (depth = 6n + 2; ResNet-32: n = 5),
option-A shortcuts (stride-2 subsampling plus zero-padded channels, so no shortcut
parameters) and Kaiming-normal init of convolution and linear weights. ResNet-32 with a
linear 10-way classifier has exactly 464,154 parameters.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ltgrid.models.base import Classifier, make_classifier

STAGE_WIDTHS = (16, 32, 64)


class ShortcutA(nn.Module):
    """Identity shortcut that halves the resolution and zero-pads the new channels."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        extra = out_planes - in_planes
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: Tensor) -> Tensor:
        # F.pad's last pair of the 6-tuple pads dim -3, the channels of an NCHW tensor.
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes_shape = stride != 1 or in_planes != planes
        self.shortcut: nn.Module = ShortcutA(in_planes, planes) if changes_shape else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(Classifier):
    """CIFAR ResNet of a given depth; `forward_features` returns the pooled vector (64-d at the
    standard widths; `widths` widens the stages, e.g. GLMC's 64/128/256 ResNet-32)."""

    def __init__(self, num_classes: int, in_channels: int = 3, depth: int = 32, normed_classifier: bool = False,
                 widths: tuple[int, int, int] = STAGE_WIDTHS) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth must be 6n + 2 with n >= 1 (20, 32, 44, 56, 110), got {depth}")
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes ({num_classes}) and in_channels ({in_channels}) must be positive")
        if len(widths) != 3 or any(w < 1 for w in widths):
            raise ValueError(f"CIFAR ResNet widths must be three positive channel counts, got {widths}")
        blocks = (depth - 2) // 6
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(inplace=True),
        )
        layers: list[nn.Module] = []
        in_planes = widths[0]
        for stage, planes in enumerate(widths):
            for b in range(blocks):
                layers.append(BasicBlock(in_planes, planes, stride=2 if stage > 0 and b == 0 else 1))
                in_planes = planes
        self.stages = nn.Sequential(*layers)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = make_classifier(in_planes, num_classes, normed_classifier)
        self.feature_dim = in_planes
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.pool(self.stages(self.stem(x)))


def resnet20(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> ResNetCifar:
    return ResNetCifar(num_classes, in_channels, depth=20, normed_classifier=normed_classifier)


def resnet32(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> ResNetCifar:
    return ResNetCifar(num_classes, in_channels, depth=32, normed_classifier=normed_classifier)


def resnet44(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> ResNetCifar:
    return ResNetCifar(num_classes, in_channels, depth=44, normed_classifier=normed_classifier)


def resnet56(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> ResNetCifar:
    return ResNetCifar(num_classes, in_channels, depth=56, normed_classifier=normed_classifier)
