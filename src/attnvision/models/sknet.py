"""SKNet (Li et al., "Selective Kernel Networks", CVPR 2019).

SKNet-50 is ResNeXt-50 (32x4d) whose grouped 3x3 convolution in every bottleneck is
replaced by a selective-kernel unit (:class:`attnvision.layers.SelectiveKernel`) with
``M = 2`` paths (3x3 and 5x5-as-dilated-3x3), ``G = 32`` groups, reduction ``r = 16``
and minimum width ``L = 32`` (Table 1 of the paper; 27.5M parameters). Both paths see
the whole input (``split_input=False``), as in the paper and in timm's
``skresnext50_32x4d``, whose parameters (27,479,784) and logits ours match. The unit
normalises and activates each path itself, so the bottleneck's ``bn2`` is an identity.
Names: ``sknet50`` (also ``skresnet50`` and ``skresnext50_32x4d``, the same network)
and ``sknet101`` (ResNeXt-101 32x4d with SK units).

``attention=`` may add another block on every residual branch (as in
:mod:`attnvision.models.resnet`); ``sk_options=`` are passed to every SK unit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from torch import nn

from ..layers.registry import get_attention_class
from .registry import register_model
from .resnet import ResNet, build_resnet

__all__ = ["sk_conv_factory", "sknet50", "sknet101", "skresnet50", "skresnext50_32x4d"]

#: The paper's SK settings (Li et al. 2019, Sec. 3.3 / Table 1): r = 16, L = 32, whole input.
SK_DEFAULTS: dict[str, Any] = {"rd_ratio": 1.0 / 16, "min_rd_channels": 32, "split_input": False}


def sk_conv_factory(options: Mapping[str, Any] | None = None) -> Callable[..., nn.Module]:
    """A ``conv2_layer`` for :class:`attnvision.models.resnet.Bottleneck` building SK units.

    Args:
        options: keyword options of :class:`attnvision.layers.SelectiveKernel` that
            override :data:`SK_DEFAULTS`.

    Returns:
        ``(in_channels, out_channels, stride, groups, dilation) -> SelectiveKernel``.
    """
    opts = {**SK_DEFAULTS, **dict(options or {})}
    cls = get_attention_class("sk")

    def make(
        in_channels: int, out_channels: int, stride: int, groups: int, dilation: int
    ) -> nn.Module:
        extra = {} if dilation == 1 else {"dilation": dilation}
        return cls(in_channels, out_channels, stride=stride, groups=groups, **extra, **opts)

    return make


def _build(
    depth: int,
    num_classes: int,
    attention: str | Callable[..., nn.Module] | None,
    attention_options: Mapping[str, Any] | None,
    sk_options: Mapping[str, Any] | None,
    kwargs: dict[str, Any],
) -> ResNet:
    if isinstance(attention, str) and attention.lower() == "sk":
        attention = None  # SK is already there
    kwargs.setdefault("groups", 32)
    kwargs.setdefault("width_per_group", 4)
    return build_resnet(
        depth,
        num_classes=num_classes,
        attention=attention,
        attention_options=attention_options,
        conv2_layer=sk_conv_factory(sk_options),
        **kwargs,
    )


@register_model()
def sknet50(
    num_classes: int = 1000,
    attention: str | Callable[..., nn.Module] | None = None,
    attention_options: Mapping[str, Any] | None = None,
    sk_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> ResNet:
    """SKNet-50 (Li et al. 2019, Table 1; 27.48M parameters): ResNeXt-50 32x4d with a
    selective-kernel unit in place of every grouped 3x3 convolution."""
    return _build(50, num_classes, attention, attention_options, sk_options, kwargs)


@register_model()
def skresnet50(
    num_classes: int = 1000,
    attention: str | Callable[..., nn.Module] | None = None,
    attention_options: Mapping[str, Any] | None = None,
    sk_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> ResNet:
    """Another name of :func:`sknet50` (the same network)."""
    return _build(50, num_classes, attention, attention_options, sk_options, kwargs)


@register_model()
def skresnext50_32x4d(
    num_classes: int = 1000,
    attention: str | Callable[..., nn.Module] | None = None,
    attention_options: Mapping[str, Any] | None = None,
    sk_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> ResNet:
    """Another name of :func:`sknet50` (timm's name of the same network)."""
    return _build(50, num_classes, attention, attention_options, sk_options, kwargs)


@register_model()
def sknet101(
    num_classes: int = 1000,
    attention: str | Callable[..., nn.Module] | None = None,
    attention_options: Mapping[str, Any] | None = None,
    sk_options: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> ResNet:
    """SKNet-101 (Li et al. 2019; 48.74M parameters): ResNeXt-101 32x4d with
    selective-kernel units."""
    return _build(101, num_classes, attention, attention_options, sk_options, kwargs)
