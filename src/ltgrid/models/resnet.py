"""ImageNet-family ResNets (He et al. 2016) for ImageNet-LT and iNaturalist, trained from scratch.

ResNet-50 is torchvision's (bottleneck blocks 3-4-6-3, 25,557,032 parameters with a 1000-way
linear classifier). ResNet-10 is the same family with one basic block per stage (the backbone
of OLTR, Liu et al. 2019, and the BagofTricks-LT tables): 5,418,792 parameters at 1000 classes.
ResNet-34 with a CIFAR stem (`resnet34_cifar`: a 3x3 stride-1 first convolution and no max-pool,
so a 32x32 image reaches the last stage at 4x4; 21,328,292 parameters at 100 classes) is the
backbone LOS trains on CIFAR-100-LT (bilibili/LOS models/resnet.py resnet34(pool_size=4), built by
main_stage1.py / main_stage2.py): basic blocks 3-4-6-3 at 64..512 channels, 1x1-conv shortcuts.
Both are wrapped as a `Classifier` so cRT / tau-norm / LDAM can swap the final layer; the
convolutions keep torchvision's Kaiming-normal (fan-out) init, no pretrained weights.
torchvision is imported when a model is built: importing it costs as much as torch itself,
and every CLI call and Snakefile parse imports this registry.
"""

from __future__ import annotations

from torch import Tensor, nn

from ltgrid.models.base import Classifier, make_classifier

# depth -> (block kind, blocks per stage)
LAYOUTS = {10: ("basic", [1, 1, 1, 1]), 34: ("basic", [3, 4, 6, 3]), 50: ("bottleneck", [3, 4, 6, 3])}


class TorchvisionResNet(Classifier):
    """A torchvision ResNet body (stem, four stages, global pool) and our classifier; `cifar_stem`
    swaps the 7x7 stride-2 convolution and max-pool for one 3x3 stride-1 convolution (32x32 inputs)."""

    def __init__(self, depth: int, num_classes: int, in_channels: int = 3, normed_classifier: bool = False,
                 cifar_stem: bool = False) -> None:
        super().__init__()
        from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

        if depth not in LAYOUTS:
            raise ValueError(f"ResNet depth {depth}: known depths {sorted(LAYOUTS)}")
        if num_classes < 1 or in_channels < 1:
            raise ValueError(f"num_classes ({num_classes}) and in_channels ({in_channels}) must be positive")
        kind, layers = LAYOUTS[depth]
        net = ResNet(BasicBlock if kind == "basic" else Bottleneck, layers, num_classes=num_classes)
        if cifar_stem:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
            net.maxpool = nn.Identity()
        elif in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
            nn.init.kaiming_normal_(net.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.body = nn.Sequential(
            net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4,
            net.avgpool, nn.Flatten(),
        )
        self.feature_dim = net.fc.in_features
        self.classifier = make_classifier(self.feature_dim, num_classes, normed_classifier)

    def forward_features(self, x: Tensor) -> Tensor:
        return self.body(x)


def resnet10(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> TorchvisionResNet:
    return TorchvisionResNet(10, num_classes, in_channels, normed_classifier)


def resnet50(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> TorchvisionResNet:
    return TorchvisionResNet(50, num_classes, in_channels, normed_classifier)


def resnet34_cifar(num_classes: int, in_channels: int = 3, normed_classifier: bool = False) -> TorchvisionResNet:
    return TorchvisionResNet(34, num_classes, in_channels, normed_classifier, cifar_stem=True)
