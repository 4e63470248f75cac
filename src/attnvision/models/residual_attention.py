"""Residual Attention Networks (Wang et al., CVPR 2017): Attention-56, Attention-92.

ImageNet networks (Table 2 of the paper), 224x224 input::

    conv 7x7/2, 64 -> max-pool 3x3/2                                   56x56
    residual unit -> 256,  attention stage 1 x m1 (mask depth 3)       56x56
    residual unit -> 512 /2,  attention stage 2 x m2 (mask depth 2)    28x28
    residual unit -> 1024 /2, attention stage 3 x m3 (mask depth 1)    14x14
    residual unit -> 2048 /2, 2 more residual units                    7x7
    BN-ReLU, global average pool, linear

with ``(m1, m2, m3) = (1, 1, 1)`` for Attention-56 and ``(1, 2, 3)`` for Attention-92,
``p = 1, t = 2, r = 1`` in every module (Sec. 4.1). Residual units are pre-activation
bottlenecks. ``residual_attention_92_cifar`` is the CIFAR version for 32x32 input: a
3x3 convolution with 16 filters, stages of 64, 128 and 256 channels on 32x32, 16x16
and 8x8 maps (the widths of the pre-activation ResNet-164 the paper compares with),
mask depths 2, 1, 1, the same module counts as Attention-92 and three final residual
units at 8x8 (still 92 layers).

``naive=True`` builds the naive attention learning variant ``M(x) * T(x)`` of every
module (Sec. 3.1, Table 3).

Parameter counts we get, against the paper (Table 4 and Table 6):

* Attention-56: 31,810,728 (paper 31.9M, -0.3%)
* Attention-92: 52,466,344 (paper 51.3M, +2.3%)
* Attention-92 CIFAR: 2,330,874 (paper 1.9M, +23%)

The ImageNet modules follow the authors' released ``Attention-92-deploy.prototxt``
(fwang91/residual-attention-network) unit for unit: stage-1 mask with 8 residual units
(down 1 + 1 + 2 at the bottom, 2 skip units, 2 up units), stage-3 mask with 2, the
``BN-ReLU-1x1-BN-ReLU-1x1`` head, and three final units. With that structure the
Attention-92 minus Attention-56 difference (one stage-2 and two stage-3 modules) is
20.66M, while the paper's two figures differ by 19.4M, so the paper's counts cannot both
come from this layout; we keep the released layout. (The released Caffe model also uses
``tanh`` for the mask where the paper writes a sigmoid; we follow the paper.) The paper
gives no layout for CIFAR; ours (widths of ResNet-164, see above) is larger than its
1.9M.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers.residual_attention import PreActBottleneck, ResidualAttentionUnit
from .registry import register_model

__all__ = ["ResidualAttentionNet", "residual_attention_56", "residual_attention_92"]


class ResidualAttentionNet(nn.Module):
    """A Residual Attention Network (Wang et al., CVPR 2017, Table 2).

    Args:
        modules_per_stage: attention modules in stages 1-3 (``(1, 1, 1)``: Attention-56,
            ``(1, 2, 3)``: Attention-92).
        num_classes: outputs of the linear layer.
        widths: output channels of stages 1-4 (``(256, 512, 1024, 2048)``).
        mask_depths: max-pool steps of the mask branch in stages 1-3.
        stem: ``"imagenet"`` (7x7/2 conv + max-pool, 224 input) or ``"cifar"`` (3x3
            conv, no pooling, 32 input).
        stem_channels: filters of the first convolution.
        final_units: residual units after stage 3 (the first downsamples when
            ``final_stride=2``).
        final_stride: stride of the first of the final units.
        naive: naive attention learning ``M(x) * T(x)`` in every module.
        upsample: ``"bilinear"`` or ``"nearest"`` in the mask branches.
        in_chans: input channels.

    ``forward``: ``(N, in_chans, H, W) -> (N, num_classes)`` logits.
    """

    def __init__(
        self,
        modules_per_stage: Sequence[int] = (1, 1, 1),
        num_classes: int = 1000,
        *,
        widths: Sequence[int] = (256, 512, 1024, 2048),
        mask_depths: Sequence[int] = (3, 2, 1),
        stem: str = "imagenet",
        stem_channels: int = 64,
        final_units: int = 3,
        final_stride: int = 2,
        naive: bool = False,
        upsample: str = "bilinear",
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if len(modules_per_stage) != 3 or len(mask_depths) != 3:
            raise ValueError(
                "ResidualAttentionNet expected 3 stages, got modules_per_stage="
                f"{tuple(modules_per_stage)} and mask_depths={tuple(mask_depths)}"
            )
        if len(widths) != 4:
            raise ValueError(f"ResidualAttentionNet expected 4 widths, got {tuple(widths)}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"ResidualAttentionNet expected num_classes >= 1, got {num_classes!r}")
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_chans, stem_channels, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(stem_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
            )
        elif stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(in_chans, stem_channels, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(stem_channels),
                nn.ReLU(inplace=True),
            )
        else:
            raise ValueError(
                f"ResidualAttentionNet expected stem 'imagenet' or 'cifar', got {stem!r}"
            )
        stages = []
        in_ch = stem_channels
        for i in range(3):
            stride = 1 if i == 0 else 2
            blocks: list[nn.Module] = [PreActBottleneck(in_ch, widths[i], stride)]
            blocks += [
                ResidualAttentionUnit(
                    widths[i], naive=naive, depth=mask_depths[i], upsample=upsample
                )
                for _ in range(modules_per_stage[i])
            ]
            stages.append(nn.Sequential(*blocks))
            in_ch = widths[i]
        self.stage1, self.stage2, self.stage3 = stages
        final: list[nn.Module] = [PreActBottleneck(in_ch, widths[3], final_stride)]
        final += [PreActBottleneck(widths[3], widths[3]) for _ in range(final_units - 1)]
        self.stage4 = nn.Sequential(*final)
        self.head_norm = nn.Sequential(nn.BatchNorm2d(widths[3]), nn.ReLU(inplace=True))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[3], num_classes)
        self.num_features = widths[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, H, W) -> (N, widths[3], H', W')`` before pooling."""
        x = self.stem(x)
        x = self.stage3(self.stage2(self.stage1(x)))
        return self.head_norm(self.stage4(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.avgpool(self.forward_features(x)), 1))


def _no_attention(name: str, attention: object) -> None:
    if attention not in (None, "residual_attention"):
        raise TypeError(
            f"{name} has residual attention built in; got attention={attention!r}. "
            "Use create_model('resnet50', attention=...) for other blocks."
        )


@register_model("residual_attention_56")
def residual_attention_56(
    num_classes: int = 1000, naive: bool = False, attention: object = None, **kwargs
) -> ResidualAttentionNet:
    """Attention-56 for 224x224 ImageNet input (Wang et al. 2017, Table 2)."""
    _no_attention("residual_attention_56", attention)
    return ResidualAttentionNet((1, 1, 1), num_classes, naive=naive, **kwargs)


@register_model("residual_attention_92")
def residual_attention_92(
    num_classes: int = 1000, naive: bool = False, attention: object = None, **kwargs
) -> ResidualAttentionNet:
    """Attention-92 for 224x224 ImageNet input (Wang et al. 2017, Table 2)."""
    _no_attention("residual_attention_92", attention)
    return ResidualAttentionNet((1, 2, 3), num_classes, naive=naive, **kwargs)


@register_model("residual_attention_92_cifar")
def residual_attention_92_cifar(
    num_classes: int = 10, naive: bool = False, attention: object = None, **kwargs
) -> ResidualAttentionNet:
    """Attention-92 for 32x32 CIFAR input (Wang et al. 2017, Sec. 4.1 and Table 6)."""
    _no_attention("residual_attention_92_cifar", attention)
    options = {
        "widths": (64, 128, 256, 256),
        "mask_depths": (2, 1, 1),
        "stem": "cifar",
        "stem_channels": 16,
        "final_units": 3,
        "final_stride": 1,
    }
    options.update(kwargs)
    return ResidualAttentionNet((1, 2, 3), num_classes, naive=naive, **options)
