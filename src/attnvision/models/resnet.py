"""ImageNet ResNets (He et al., CVPR 2016) with attention on the residual branch.

The layout and parameter names are torchvision's (``conv1, bn1, layer1..layer4, fc``;
blocks ``conv1..conv3, bn1..bn3, downsample``), so a torchvision ``resnet50`` state
dict loads with ``strict=True`` when no attention is used.

Attention sits where the papers put it:

* SE (Hu et al. 2018, Fig. 3), CBAM (Woo et al. 2018, Fig. 3), ECA (Wang et al. 2020),
  GC, coordinate attention and any callable: on the residual branch after the last
  batch norm and before the addition, as ``block.attn`` (state-dict keys
  ``layer1.0.attn.*``).
* BAM (Park et al. 2018, Fig. 1): at the bottlenecks between stages, after ``layer1``,
  ``layer2`` and ``layer3``, as ``bam1``, ``bam2``, ``bam3``.
* SK (Li et al. 2019) replaces the 3x3 convolution instead: see
  :mod:`attnvision.models.sknet`.

Named variants, one documented function each (as torchvision's ``models/resnet.py``):
``resnet18/34/50/101/152``, ``resnext50_32x4d``, ``resnext101_32x8d``,
``wide_resnet50_2``, ``wide_resnet101_2``; the attention variants (``se_resnet50`` ...)
are in :mod:`attnvision.models.resnet_attention`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
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
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "build_resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "wide_resnet101_2",
]

Attention = str | Callable[..., nn.Module] | None


def conv3x3(
    in_planes: int, out_planes: int, stride: int = 1, groups: int = 1, dilation: int = 1
) -> nn.Conv2d:
    """3x3 convolution with padding and no bias."""
    return nn.Conv2d(
        in_planes,
        out_planes,
        kernel_size=3,
        stride=stride,
        padding=dilation,
        groups=groups,
        bias=False,
        dilation=dilation,
    )


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions (ResNet-18/34), attention after ``bn2``.

    ``forward``: ``(N, inplanes, H, W) -> (N, planes, H / stride, W / stride)``.
    """

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        attn_factory: AttnFactory | None = None,
    ) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(
                f"BasicBlock supports groups=1 and base_width=64, got {groups} and {base_width}"
            )
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes, dilation=dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attn = make_attn(attn_factory, planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attn(self.bn2(self.conv2(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 - 3x3 - 1x1 bottleneck (ResNet-50 and deeper), attention after ``bn3``.

    Stride sits on the 3x3 convolution (torchvision's "ResNet v1.5"). ``conv2_layer``
    (``(in, out, stride, groups, dilation) -> nn.Module``) replaces the 3x3 convolution;
    when it is given, ``bn2`` is an identity (the replacement normalises itself, as
    the selective-kernel unit does).

    ``forward``: ``(N, inplanes, H, W) -> (N, 4 * planes, H / stride, W / stride)``.
    """

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        dilation: int = 1,
        attn_factory: AttnFactory | None = None,
        conv2_layer: Callable[..., nn.Module] | None = None,
    ) -> None:
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        if conv2_layer is None:
            self.conv2 = conv3x3(width, width, stride, groups, dilation)
            self.bn2: nn.Module = nn.BatchNorm2d(width)
        else:
            self.conv2 = conv2_layer(width, width, stride, groups, dilation)
            self.bn2 = nn.Identity()
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.attn = make_attn(attn_factory, planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attn(self.bn3(self.conv3(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    """ResNet for ImageNet-sized input, torchvision's layout, with optional attention.

    Args:
        block: :class:`BasicBlock` or :class:`Bottleneck`.
        layers: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
        num_classes: outputs of the final linear layer.
        attention: ``None``, a name from :func:`attnvision.layers.list_attention` or a
            callable ``channels -> nn.Module`` (called with ``**attention_options``).
            ``"bam"`` goes between stages; every other block on each residual branch.
        attention_options: keyword options for every attention block.
        groups, width_per_group: ResNeXt cardinality and width (``32, 4`` for 32x4d).
        zero_init_residual: start every residual branch's last BN at zero.
        conv2_layer: replacement for the 3x3 convolution of bottlenecks (SKNet).
        in_chans: input channels.

    ``forward``: ``(N, in_chans, H, W) -> (N, num_classes)`` logits.
    Reference: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
    Table 1.
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: Sequence[int],
        num_classes: int = 1000,
        *,
        attention: Attention = None,
        attention_options: Mapping[str, Any] | None = None,
        groups: int = 1,
        width_per_group: int = 64,
        zero_init_residual: bool = False,
        conv2_layer: Callable[..., nn.Module] | None = None,
        in_chans: int = 3,
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"ResNet expected 4 stage depths, got {len(layers)}: {layers}")
        if not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"ResNet expected num_classes >= 1, got {num_classes!r}")
        name = attention_name(attention)
        if name in CONV_ATTENTION:
            raise ValueError(
                f"ResNet: attention {name!r} replaces the 3x3 convolution, it is not placed "
                "after a block; use create_model('sknet50') or 'skresnet50'"
            )
        factory = resolve_attention(attention, attention_options, owner="ResNet")
        block_factory = None if name in STAGE_ATTENTION else factory
        stage_factory = factory if name in STAGE_ATTENTION else None

        self.inplanes = 64
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        self.conv1 = nn.Conv2d(in_chans, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        kw = {"attn_factory": block_factory}
        if conv2_layer is not None:
            if block is not Bottleneck:
                raise ValueError("ResNet: conv2_layer needs the Bottleneck block")
            kw["conv2_layer"] = conv2_layer
        self.layer1 = self._make_layer(block, 64, layers[0], **kw)
        self.bam1 = make_attn(stage_factory, 64 * block.expansion)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2, **kw)
        self.bam2 = make_attn(stage_factory, 128 * block.expansion)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2, **kw)
        self.bam3 = make_attn(stage_factory, 256 * block.expansion)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2, **kw)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)
        self.num_features = 512 * block.expansion

        for name_, m in self.named_modules():
            parts = name_.split(".")
            if "attn" in parts or parts[0].startswith("bam"):
                continue  # attention blocks keep their own initialisation
            if conv2_layer is not None and "conv2" in parts:
                continue  # so does a replacement of the 3x3 convolution
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        planes: int,
        blocks: int,
        stride: int = 1,
        **kw: Any,
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [
            block(
                self.inplanes,
                planes,
                stride,
                downsample,
                self.groups,
                self.base_width,
                self.dilation,
                **kw,
            )
        ]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(
                block(
                    self.inplanes,
                    planes,
                    groups=self.groups,
                    base_width=self.base_width,
                    dilation=self.dilation,
                    **kw,
                )
            )
        return nn.Sequential(*layers)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_chans, H, W) -> (N, num_features, H / 32, W / 32)``."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.bam1(self.layer1(x))
        x = self.bam2(self.layer2(x))
        x = self.bam3(self.layer3(x))
        return self.layer4(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.forward_features(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


_DEPTHS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


def build_resnet(
    depth: int,
    *,
    num_classes: int = 1000,
    attention: Attention = None,
    attention_options: Mapping[str, Any] | None = None,
    default_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> ResNet:
    """ResNet-``depth`` (18, 34, 50, 101, 152) with ``attention``.

    ``default_options`` are the named variant's block options; ``attention_options``
    given by the user override them key by key.
    """
    if depth not in _DEPTHS:
        raise ValueError(f"expected a ResNet depth in {sorted(_DEPTHS)}, got {depth}")
    block, layers = _DEPTHS[depth]
    options = dict(default_options or {})
    options.update(attention_options or {})
    return ResNet(
        block,
        layers,
        num_classes,
        attention=attention,
        attention_options=options or None,
        **kwargs,
    )


# Plain ResNets, ResNeXts and Wide ResNets; ``attention=`` adds a block to every residual
# branch (``"bam"``: between the stages).


@register_model()
def resnet18(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-18 (He et al. 2016, Table 1; 11.69M parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_resnet(18, num_classes=num_classes, **kwargs)


@register_model()
def resnet34(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-34 (He et al. 2016, Table 1; 21.80M parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_resnet(34, num_classes=num_classes, **kwargs)


@register_model()
def resnet50(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-50 (He et al. 2016, Table 1; 25.56M parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_resnet(50, num_classes=num_classes, **kwargs)


@register_model()
def resnet101(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-101 (He et al. 2016, Table 1; 44.55M parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_resnet(101, num_classes=num_classes, **kwargs)


@register_model()
def resnet152(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-152 (He et al. 2016, Table 1; 60.19M parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    return build_resnet(152, num_classes=num_classes, **kwargs)


@register_model()
def resnext50_32x4d(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNeXt-50 32x4d (Xie et al. 2017; 25.03M parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    kwargs = {"groups": 32, "width_per_group": 4, **kwargs}
    return build_resnet(50, num_classes=num_classes, **kwargs)


@register_model()
def resnext101_32x8d(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNeXt-101 32x8d (Xie et al. 2017; 88.79M parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    kwargs = {"groups": 32, "width_per_group": 8, **kwargs}
    return build_resnet(101, num_classes=num_classes, **kwargs)


@register_model()
def wide_resnet50_2(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """Wide ResNet-50-2 (Zagoruyko and Komodakis 2016; bottlenecks twice as wide; 68.88M
    parameters), torchvision's layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    kwargs = {"width_per_group": 128, **kwargs}
    return build_resnet(50, num_classes=num_classes, **kwargs)


@register_model()
def wide_resnet101_2(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """Wide ResNet-101-2 (Zagoruyko and Komodakis 2016; 126.89M parameters), torchvision's
    layout.
    ``**kwargs`` go to :class:`ResNet` (``attention=``, ``attention_options=``, ...)."""
    kwargs = {"width_per_group": 128, **kwargs}
    return build_resnet(101, num_classes=num_classes, **kwargs)
