"""Name -> attention block factory.

Every block is built as ``create_attention(name, channels, **options)`` with timm's
option names (``rd_ratio``, ``rd_channels``, ``rd_divisor``, ``act_layer``,
``gate_layer``, ``kernel_size``). Family modules are imported lazily, so listing the
names costs nothing.

Example:
    >>> from attnvision.layers import create_attention, list_attention
    >>> "cbam" in list_attention()
    True
    >>> block = create_attention("se", channels=64, rd_ratio=1 / 4, rd_divisor=1)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torch import nn

from .._utils import close_matches

# name -> "module:attribute" inside attnvision.layers (imported on first use).
_BUILTIN: dict[str, str] = {
    "se": "se:SqueezeExcite",
    "eca": "eca:EfficientChannelAttn",
    "sk": "sk:SelectiveKernel",
    "cbam": "cbam:CBAM",
    "channel_gate": "cbam:ChannelGate",
    "spatial_gate": "cbam:SpatialGate",
    "bam": "bam:BAM",
    "coordatt": "coordatt:CoordAttention",
    "gc": "gc:GlobalContext",
    "residual_attention": "residual_attention:ResidualAttentionUnit",
    "stn": "stn:SpatialTransformer",
}

_USER: dict[str, Callable[..., nn.Module]] = {}


def builtin_classes() -> dict[str, str]:
    """Public class name -> family module of every built-in block (from the one table above;
    ``attnvision.layers`` exports these names and imports each module on first use)."""
    return {attr: module for module, attr in (spec.split(":") for spec in _BUILTIN.values())}


def register_attention(name: str, factory: Callable[..., nn.Module]) -> None:
    """Register ``factory(channels, **options) -> nn.Module`` under ``name``.

    Raises:
        ValueError: if ``name`` is already taken.
    """
    key = name.lower()
    if key in _BUILTIN or key in _USER or key == "none":
        raise ValueError(f"attention name {name!r} is already registered")
    _USER[key] = factory


def list_attention() -> list[str]:
    """All registered attention names, sorted (``"none"`` is accepted but not listed)."""
    return sorted([*_BUILTIN, *_USER])


def get_attention_class(name: str) -> Callable[..., nn.Module]:
    """The class (or factory) registered under ``name``."""
    key = name.lower()
    if key in _USER:
        return _USER[key]
    if key not in _BUILTIN:
        known = list_attention()
        raise ValueError(
            f"unknown attention {name!r}{close_matches(key, known)}; expected one of: "
            + ", ".join(known)
        )
    module_name, attr = _BUILTIN[key].split(":")
    module = importlib.import_module(f"{__package__}.{module_name}")
    return getattr(module, attr)


def create_attention(name: str | None, channels: int, **options: Any) -> nn.Module:
    """Build the attention block ``name`` for a feature map with ``channels`` channels.

    Args:
        name: a name from :func:`list_attention`; ``None`` or ``"none"`` gives
            :class:`torch.nn.Identity`.
        channels: number of input channels ``C`` of the ``(N, C, H, W)`` input.
        **options: block options with timm's names (``rd_ratio``, ``rd_divisor``, ...).

    Returns:
        An ``nn.Module`` mapping ``(N, C, H, W)`` to the same shape.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if name is None or (isinstance(name, str) and name.lower() == "none"):
        return nn.Identity()
    if not isinstance(name, str):
        raise TypeError(f"expected an attention name (str) or None, got {type(name).__name__}")
    return get_attention_class(name)(channels, **options)
