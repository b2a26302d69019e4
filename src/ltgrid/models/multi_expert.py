"""A multi-expert CIFAR ResNet-32 (BalPoE, Sanchez Aimar et al. CVPR 2023): one shared stem, K heads.

The layout of the authors' `ResNet32Model` with `num_experts: 3` (emasa/BalPoE-CalibratedLT,
model/ldam_drw_resnets/expert_resnet_cifar.py `ResNet_s`, itself RIDE's): the 3x3 stem and the
first stage (five 16-channel blocks) are shared; every expert has its own second and third
stages (32 and 64 channels; their CIFAR configs set `reduce_dimension: false`, so the widths are
ResNet-32's, not RIDE's reduced 24/48) and its own classifier, cosine (`use_norm: true`) in their
configs. With three experts and cosine heads the net has 1,342,864 + 192 C parameters
(1,344,784 at C = 10, 1,362,064 at C = 100); a single ResNet-32 has 464,154 at C = 10.

`forward` returns every expert's logits as one (N, K, C) tensor, expert k in row k. The model
never combines them: the loss does (methods/losses/balpoe.py), for training and for prediction.
`forward_features` gives the experts' pooled features (N, K, 64) and `classifier` maps them to
(N, K, C), so `forward = classifier(forward_features(x))` as for every `Classifier`; the
decoupled stage-2 kinds, which retrain one (N, C) classifier, refuse this model
(models/names.py declares its outputs, so params refuse a loss that cannot read them).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ltgrid.models.base import Classifier, make_classifier
from ltgrid.models.resnet_cifar import STAGE_WIDTHS, BasicBlock

RESNET32_BLOCKS = 5


def _stage(in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    return nn.Sequential(*(BasicBlock(in_planes if b == 0 else planes, planes, stride if b == 0 else 1) for b in range(blocks)))


class ExpertHeads(nn.Module):
    """One classifier per expert: (N, K, D) features -> (N, K, C) logits, expert k through head k."""

    def __init__(self, in_features: int, num_classes: int, num_experts: int, normed: bool) -> None:
        super().__init__()
        self.heads = nn.ModuleList(make_classifier(in_features, num_classes, normed) for _ in range(num_experts))

    def forward(self, features: Tensor) -> Tensor:
        return torch.stack([head(features[:, k]) for k, head in enumerate(self.heads)], dim=1)


class ResNet32Experts(Classifier):
    """Shared stem + stage 1; per expert stages 2 and 3, pooling and a classifier (see the module)."""

    def __init__(self, num_classes: int, in_channels: int = 3, normed_classifier: bool = False,
                 num_experts: int = 3, blocks: int = RESNET32_BLOCKS) -> None:
        super().__init__()
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes ({num_classes}) and in_channels ({in_channels}) must be positive")
        if num_experts < 1:
            raise ValueError(f"num_experts must be >= 1, got {num_experts}")
        w1, w2, w3 = STAGE_WIDTHS
        self.num_experts = num_experts
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, w1, 3, stride=1, padding=1, bias=False), nn.BatchNorm2d(w1), nn.ReLU(inplace=True),
        )
        self.shared = _stage(w1, w1, blocks, stride=1)
        self.experts = nn.ModuleList(
            nn.Sequential(_stage(w1, w2, blocks, stride=2), _stage(w2, w3, blocks, stride=2),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten())
            for _ in range(num_experts)
        )
        self.feature_dim = w3
        self.classifier = ExpertHeads(w3, num_classes, num_experts, normed_classifier)
        for m in self.modules():  # the authors' _weights_init: Kaiming normal on conv and linear weights
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, K, 64): each expert's pooled features of the shared stage-1 map."""
        shared = self.shared(self.stem(x))
        return torch.stack([expert(shared) for expert in self.experts], dim=1)


def resnet32_experts(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> ResNet32Experts:
    """BalPoE's CIFAR network: three experts (their configs' `num_experts: 3`)."""
    return ResNet32Experts(num_classes, in_channels, normed_classifier, num_experts=3)


def expert_count(model: nn.Module) -> int | None:
    """K for a multi-expert model, None for a model with one (N, C) output."""
    return getattr(model, "num_experts", None)
