"""A small CNN sized for the embedded 8x8 digits (about 30k parameters)."""

from __future__ import annotations

from torch import Tensor, nn

from ltgrid.models.base import Classifier, make_classifier


class DigitsCNN(Classifier):
    def __init__(self, num_classes: int, in_channels: int = 1, width: int = 32, normed_classifier: bool = False) -> None:
        super().__init__()
        w = width
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, w, 3, padding=1, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.Conv2d(w, 2 * w, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(2 * w, 2 * w, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.classifier = make_classifier(2 * w, num_classes, normed_classifier)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.body(x)
