"""A tiny ResNet-shaped image backbone for `--policy act --size tiny`, registered as torchvision's
`resnet_tiny` so that lerobot's ACT builds and reloads it by name.

lerobot's ACT takes its backbone by torchvision name (`getattr(torchvision.models, vision_backbone)`), must
be a "resnet*", and reads only `layer4` (its feature map) and `fc.in_features` (its width). The smallest
torchvision ResNet (resnet18) is 11.2M parameters: a "tiny" ACT was then 99.5% backbone, and with AdamW's
two moments a tiny checkpoint weighed 129 MB. This one keeps ResNet's shape (stem, four stages of one
BasicBlock, total stride 32) at widths 8/16/32/32: about 25k parameters. It has no pretrained weights.
Our loaders (`policy_ft.policies`, `policy_ft serve`, `robosuite_eval rollout`) register it; lerobot's own
scripts load a tiny ACT checkpoint after `import policy_ft.act_tiny`.
"""

from __future__ import annotations

import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock

NAME = "resnet_tiny"
WIDTHS = (8, 16, 32, 32)


class TinyResNet(nn.Module):
    def __init__(
        self, widths: tuple[int, ...] = WIDTHS, replace_stride_with_dilation=None, weights=None, norm_layer=None
    ):
        super().__init__()
        if weights is not None:
            raise ValueError(f"{NAME} has no pretrained weights (pass pretrained_backbone_weights=None)")
        norm_layer = norm_layer or nn.BatchNorm2d
        final_stride = 1 if (replace_stride_with_dilation or [False] * 3)[-1] else 2
        self.conv1 = nn.Conv2d(3, widths[0], kernel_size=3, stride=2, padding=1, bias=False)  # (B, 8, H/2, W/2)
        self.bn1 = norm_layer(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)  # H/4
        stages, cin = [], widths[0]
        for cout, stride in zip(widths, (1, 2, 2, final_stride)):  # H/4, H/8, H/16, H/32
            down = None
            if stride != 1 or cin != cout:
                down = nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1, stride=stride, bias=False), norm_layer(cout))
            stages.append(BasicBlock(cin, cout, stride=stride, downsample=down, norm_layer=norm_layer))
            cin = cout
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[-1], 1)  # only its in_features is read (the feature map's width)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet_tiny(**kwargs) -> TinyResNet:
    return TinyResNet(**kwargs)


if not hasattr(torchvision.models, NAME):
    setattr(torchvision.models, NAME, resnet_tiny)
