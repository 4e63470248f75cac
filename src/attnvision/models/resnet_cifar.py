"""ResNets for 32x32 input (He et al., CVPR 2016, Sec. 4.2) with attention.

``6n + 2`` layers: a 3x3 convolution with 16 filters, three stages of ``n`` basic blocks
with 16, 32 and 64 filters on 32x32, 16x16 and 8x8 maps, global average pooling and a
linear layer. Shortcuts use **option A** of the paper: the identity, and where the
shape changes a parameter-free shortcut that subsamples by 2 and pads the new channels
with zeros. The parameter counts (resnet20 0.27M, resnet32 0.46M, resnet44 0.66M,
resnet56 0.85M, resnet110 1.7M) are the paper's (Table 6).

Attention goes on the residual branch after the second batch norm and before the
addition (``block.attn``; state-dict keys ``layer1.0.attn.*``); ``"bam"`` goes between
the stages (``bam1``, ``bam2``). Named variants ``se_resnet20`` ... ``eca_resnet110``
exist for every depth and for SE, CBAM and ECA, one documented function each. They use
each block's defaults (SE: ``rd_divisor=8``, a hidden width of 8 for 16, 32 and 64
channels where ``C / 16`` would leave 1 to 4; CBAM: ``C / 16``; ECA: its adaptive kernel
size); ``attention_options=`` overrides them, e.g. ``{"rd_divisor": 1}`` for SE's exact ``C / 16``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._common import (
    CONV_ATTENTION,
    STAGE_ATTENTION,
    AttnFactory,
    attention_name,
    make_attn,
    resolve_attention,
)
from .registry import register_model

__all__ = [
    "CifarBasicBlock",
    "CifarResNet",
    "PadShortcut",
    "build_cifar_resnet",
    "cbam_resnet110",
    "cbam_resnet20",
    "cbam_resnet32",
    "cbam_resnet44",
    "cbam_resnet56",
    "eca_resnet110",
    "eca_resnet20",
    "eca_resnet32",
    "eca_resnet44",
    "eca_resnet56",
    "resnet110",
    "resnet20",
    "resnet32",
    "resnet44",
    "resnet56",
    "se_resnet110",
    "se_resnet20",
    "se_resnet32",
    "se_resnet44",
    "se_resnet56",
]

Attention = str | Callable[..., nn.Module] | None


class PadShortcut(nn.Module):
    """Option-A shortcut: ``x[:, :, ::stride, ::stride]`` padded with zero channels.

    ``forward``: ``(N, in_channels, H, W) -> (N, out_channels, ceil(H / s), ceil(W / s))``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"PadShortcut expected out_channels >= in_channels, got {out_channels} < "
                f"{in_channels}"
            )
        self.stride = stride
        self.pad = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.pad:
            front = self.pad // 2
            x = F.pad(x, (0, 0, 0, 0, front, self.pad - front))
        return x

    def extra_repr(self) -> str:
        return f"stride={self.stride}, pad={self.pad}"


class CifarBasicBlock(nn.Module):
    """conv3x3-BN-ReLU-conv3x3-BN, attention, + option-A shortcut, ReLU.

    ``forward``: ``(N, in_planes, H, W) -> (N, planes, H / stride, W / stride)``.
    """

    def __init__(
        self,
        in_planes: int,
        planes: int,
        stride: int = 1,
        attn_factory: AttnFactory | None = None,
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attn = make_attn(attn_factory, planes)
        self.shortcut: nn.Module = (
            PadShortcut(in_planes, planes, stride)
            if stride != 1 or in_planes != planes
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attn(self.bn2(self.conv2(out)))
        return self.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR-sized input, option-A shortcuts, optional attention.

    Args:
        depth: ``6n + 2`` (20, 32, 44, 56, 110, ...).
        num_classes: outputs of the linear layer.
        attention: ``None``, a name from :func:`attnvision.layers.list_attention` or a
            callable ``channels -> nn.Module`` (called with ``**attention_options``).
        attention_options: keyword options for every attention block.
        widths: filters of the three stages (the paper's 16, 32, 64).
        in_chans: input channels (1 for MNIST).

    ``forward``: ``(N, in_chans, H, W) -> (N, num_classes)`` logits; any ``H, W >= 1``
    works (global average pooling), 32x32 is the paper's.
    Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
    Sec. 4.2 and Table 6.
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        *,
        attention: Attention = None,
        attention_options: Mapping[str, Any] | None = None,
        widths: tuple[int, int, int] = (16, 32, 64),
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CifarResNet expected depth = 6n + 2 (20, 32, 56, ...), got {depth}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"CifarResNet expected num_classes >= 1, got {num_classes!r}")
        name = attention_name(attention)
        if name in CONV_ATTENTION:
            raise ValueError(
                f"CifarResNet: attention {name!r} replaces a convolution and is not placed "
                "after a block; pick a block from list_attention() such as 'se' or 'cbam'"
            )
        factory = resolve_attention(attention, attention_options, owner="CifarResNet")
        block_factory = None if name in STAGE_ATTENTION else factory
        stage_factory = factory if name in STAGE_ATTENTION else None
        n = (depth - 2) // 6
        self.depth = depth
        self.conv1 = nn.Conv2d(in_chans, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.in_planes = widths[0]
        self.layer1 = self._make_layer(widths[0], n, 1, block_factory)
        self.bam1 = make_attn(stage_factory, widths[0])
        self.layer2 = self._make_layer(widths[1], n, 2, block_factory)
        self.bam2 = make_attn(stage_factory, widths[1])
        self.layer3 = self._make_layer(widths[2], n, 2, block_factory)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[2], num_classes)
        self.num_features = widths[2]
        for name_, m in self.named_modules():
            parts = name_.split(".")
            if "attn" in parts or parts[0].startswith("bam"):
                continue
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(
        self, planes: int, blocks: int, stride: int, factory: AttnFactory | None
    ) -> nn.Sequential:
        layers = []
        for i in range(blocks):
            layers.append(CifarBasicBlock(self.in_planes, planes, stride if i == 0 else 1, factory))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, H, W) -> (N, widths[2], H / 4, W / 4)``."""
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.bam1(self.layer1(x))
        x = self.bam2(self.layer2(x))
        return self.layer3(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_cifar_resnet(
    depth: int,
    *,
    num_classes: int = 10,
    attention: Attention = None,
    attention_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> CifarResNet:
    """CIFAR ResNet-``depth`` with ``attention`` (see :class:`CifarResNet`)."""
    return CifarResNet(
        depth,
        num_classes,
        attention=attention,
        attention_options=attention_options,
        **kwargs,
    )


def _with_block(
    name: str,
    depth: int,
    attention: str,
    num_classes: int,
    attention_options: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
) -> CifarResNet:
    """Build a named attention variant; another ``attention=`` is refused."""
    if "attention" in kwargs:
        raise TypeError(
            f"{name} has attention={attention!r} built in; "
            f"use create_model('resnet{depth}', attention=...) for another block"
        )
    return build_cifar_resnet(
        depth,
        num_classes=num_classes,
        attention=attention,
        attention_options=attention_options,
        **kwargs,
    )


# Plain CIFAR ResNets; ``attention=`` adds a block to every residual branch.


@register_model()
def resnet20(num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """ResNet-20 for 32x32 input (He et al. 2016, Sec. 4.2 and Table 6; 0.27M
    parameters), option-A shortcuts.
    ``**kwargs`` go to :class:`CifarResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_cifar_resnet(20, num_classes=num_classes, **kwargs)


@register_model()
def resnet32(num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """ResNet-32 for 32x32 input (He et al. 2016, Sec. 4.2 and Table 6; 0.46M
    parameters), option-A shortcuts.
    ``**kwargs`` go to :class:`CifarResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_cifar_resnet(32, num_classes=num_classes, **kwargs)


@register_model()
def resnet44(num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """ResNet-44 for 32x32 input (He et al. 2016, Sec. 4.2 and Table 6; 0.66M
    parameters), option-A shortcuts.
    ``**kwargs`` go to :class:`CifarResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_cifar_resnet(44, num_classes=num_classes, **kwargs)


@register_model()
def resnet56(num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """ResNet-56 for 32x32 input (He et al. 2016, Sec. 4.2 and Table 6; 0.85M
    parameters), option-A shortcuts.
    ``**kwargs`` go to :class:`CifarResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_cifar_resnet(56, num_classes=num_classes, **kwargs)


@register_model()
def resnet110(num_classes: int = 10, **kwargs: Any) -> CifarResNet:
    """ResNet-110 for 32x32 input (He et al. 2016, Sec. 4.2 and Table 6; 1.73M
    parameters), option-A shortcuts.
    ``**kwargs`` go to :class:`CifarResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_cifar_resnet(110, num_classes=num_classes, **kwargs)


# Named attention variants: the block's defaults, ``attention_options=`` overrides them.


@register_model()
def se_resnet20(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-20 with SE (block defaults: a hidden width of 8) on every residual branch
    (Hu et al. 2018; 0.28M parameters)."""
    return _with_block("se_resnet20", 20, "se", num_classes, attention_options, kwargs)


@register_model()
def se_resnet32(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-32 with SE (block defaults: a hidden width of 8) on every residual branch
    (Hu et al. 2018; 0.47M parameters)."""
    return _with_block("se_resnet32", 32, "se", num_classes, attention_options, kwargs)


@register_model()
def se_resnet44(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-44 with SE (block defaults: a hidden width of 8) on every residual branch
    (Hu et al. 2018; 0.67M parameters)."""
    return _with_block("se_resnet44", 44, "se", num_classes, attention_options, kwargs)


@register_model()
def se_resnet56(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-56 with SE (block defaults: a hidden width of 8) on every residual branch
    (Hu et al. 2018; 0.87M parameters)."""
    return _with_block("se_resnet56", 56, "se", num_classes, attention_options, kwargs)


@register_model()
def se_resnet110(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-110 with SE (block defaults: a hidden width of 8) on every residual branch
    (Hu et al. 2018; 1.76M parameters)."""
    return _with_block("se_resnet110", 110, "se", num_classes, attention_options, kwargs)


@register_model()
def cbam_resnet20(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-20 with CBAM (channel ``r = 16``, 7x7 spatial kernel) on every residual branch
    (Woo et al. 2018; 0.27M parameters)."""
    return _with_block("cbam_resnet20", 20, "cbam", num_classes, attention_options, kwargs)


@register_model()
def cbam_resnet32(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-32 with CBAM (channel ``r = 16``, 7x7 spatial kernel) on every residual branch
    (Woo et al. 2018; 0.47M parameters)."""
    return _with_block("cbam_resnet32", 32, "cbam", num_classes, attention_options, kwargs)


@register_model()
def cbam_resnet44(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-44 with CBAM (channel ``r = 16``, 7x7 spatial kernel) on every residual branch
    (Woo et al. 2018; 0.67M parameters)."""
    return _with_block("cbam_resnet44", 44, "cbam", num_classes, attention_options, kwargs)


@register_model()
def cbam_resnet56(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-56 with CBAM (channel ``r = 16``, 7x7 spatial kernel) on every residual branch
    (Woo et al. 2018; 0.86M parameters)."""
    return _with_block("cbam_resnet56", 56, "cbam", num_classes, attention_options, kwargs)


@register_model()
def cbam_resnet110(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-110 with CBAM (channel ``r = 16``, 7x7 spatial kernel) on every residual branch
    (Woo et al. 2018; 1.75M parameters)."""
    return _with_block("cbam_resnet110", 110, "cbam", num_classes, attention_options, kwargs)


@register_model()
def eca_resnet20(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-20 with ECA (its adaptive kernel size) on every residual branch
    (Wang et al. 2020; 0.27M parameters)."""
    return _with_block("eca_resnet20", 20, "eca", num_classes, attention_options, kwargs)


@register_model()
def eca_resnet32(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-32 with ECA (its adaptive kernel size) on every residual branch
    (Wang et al. 2020; 0.46M parameters)."""
    return _with_block("eca_resnet32", 32, "eca", num_classes, attention_options, kwargs)


@register_model()
def eca_resnet44(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-44 with ECA (its adaptive kernel size) on every residual branch
    (Wang et al. 2020; 0.66M parameters)."""
    return _with_block("eca_resnet44", 44, "eca", num_classes, attention_options, kwargs)


@register_model()
def eca_resnet56(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-56 with ECA (its adaptive kernel size) on every residual branch
    (Wang et al. 2020; 0.85M parameters)."""
    return _with_block("eca_resnet56", 56, "eca", num_classes, attention_options, kwargs)


@register_model()
def eca_resnet110(
    num_classes: int = 10, attention_options: Mapping[str, Any] | None = None, **kwargs: Any
) -> CifarResNet:
    """CIFAR ResNet-110 with ECA (its adaptive kernel size) on every residual branch
    (Wang et al. 2020; 1.73M parameters)."""
    return _with_block("eca_resnet110", 110, "eca", num_classes, attention_options, kwargs)
