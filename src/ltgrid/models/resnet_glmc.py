"""GLMC's network (Du et al., CVPR 2023): a backbone with two classifiers and a SimSiam-style head.

Facts from the authors' code (ynu-yangpeng/GLMC, GLMC-2023/model/ResNet_cifar.py `ResNet_modify`,
`resnet32`): their CIFAR "ResNet-32" is the option-A ResNet-32 at stage widths 64/128/256 (`nf=64`),
four times the usual 16/32/64, so about 7.4M parameters instead of 0.46M. On the 256-d pooled
feature f sit `fc` (the uniform branch's classifier), `fc_cb` (the re-balanced branch's, the one
used for prediction), a projection z = `projection_head`(f) (Linear 256 -> 128) and a predictor
p = `contrast_head`(z) (Linear 128 -> 128); every conv and linear weight Kaiming-normal.

Here the four heads are the model's `classifier`, and `forward` returns them as ONE tensor,
[fc(f), fc_cb(f), z, p] along dim 1, width 2C + 2h (`split_outputs` takes it apart): one static
shape in training and evaluation, so CUDA graphs and the trainer's plain `model(x)` work as they
are; the GLMC loss's `joint_logits` picks fc_cb for prediction and training accuracy.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ltgrid.models.base import Classifier
from ltgrid.models.resnet_cifar import ResNetCifar
from ltgrid.models.small import DigitsCNN

GLMC_WIDTHS = (64, 128, 256)  # ResNet_modify(nf=64): 1 * nf, 2 * nf, 4 * nf
GLMC_HIDDEN = 128  # `hidden_dim` of their CIFAR ResNet_modify (256 in their ImageNet-style ResNet)


class GlmcHeads(nn.Module):
    """f -> [fc(f), fc_cb(f), z, p], z = proj(f), p = pred(z) (see the module docstring)."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = GLMC_HIDDEN) -> None:
        super().__init__()
        if in_features < 1 or num_classes < 1 or hidden < 1:
            raise ValueError(f"GLMC heads need positive sizes, got in_features={in_features}, "
                             f"num_classes={num_classes}, hidden={hidden}")
        self.num_classes, self.hidden = num_classes, hidden
        self.fc = nn.Linear(in_features, num_classes)
        self.fc_cb = nn.Linear(in_features, num_classes)
        self.projection = nn.Linear(in_features, hidden)
        self.predictor = nn.Linear(hidden, hidden)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, features: Tensor) -> Tensor:
        z = self.projection(features)
        return torch.cat([self.fc(features), self.fc_cb(features), z, self.predictor(z)], dim=1)


def split_outputs(outputs: Tensor, num_classes: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(logits of fc, logits of fc_cb, z, p) from the model's (N, 2C + 2h) output."""
    extra = outputs.shape[1] - 2 * num_classes
    if outputs.dim() != 2 or extra < 2 or extra % 2:
        raise ValueError(f"GLMC outputs must have shape (N, 2 * {num_classes} + 2h), got {tuple(outputs.shape)}: "
                         "train the glmc loss with a GLMC model (resnet32_glmc, digits_cnn_glmc)")
    c, h = num_classes, extra // 2
    return outputs[:, :c], outputs[:, c : 2 * c], outputs[:, 2 * c : 2 * c + h], outputs[:, 2 * c + h :]


def with_glmc_heads(net: Classifier, in_features: int, num_classes: int, normed_classifier: bool) -> Classifier:
    """The backbone with its classifier replaced by the GLMC heads."""
    if normed_classifier:
        raise ValueError("GLMC models have linear classifiers; a cosine-classifier loss (LDAM) cannot train them")
    net.classifier = GlmcHeads(in_features, num_classes)
    return net


def resnet32_glmc(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> Classifier:
    """The authors' CIFAR network: ResNet-32 at widths 64/128/256 with the GLMC heads."""
    net = ResNetCifar(num_classes, in_channels, depth=32, widths=GLMC_WIDTHS)
    return with_glmc_heads(net, net.feature_dim, num_classes, normed_classifier)


def digits_cnn_glmc(num_classes: int, in_channels: int = 1, normed_classifier: bool = False) -> Classifier:
    """The digits CNN with the GLMC heads: the digits-LT grid's stand-in for resnet32_glmc."""
    net = DigitsCNN(num_classes, in_channels)
    return with_glmc_heads(net, net.classifier.in_features, num_classes, normed_classifier)
