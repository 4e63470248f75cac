"""Helpers shared by the attention blocks: reduced widths, input checks, activations and
the ``device`` / ``dtype`` factory arguments."""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

#: what a ``device=`` argument accepts (as in ``torch.nn`` layers)
Device = torch.device | str | int | None


def factory_kwargs(device: Device = None, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """The ``device=`` / ``dtype=`` keyword arguments a block passes to every submodule that
    creates parameters or buffers (``factory_kwargs`` of ``torch.nn``, timm's ``dd``); only
    the ones given, so user-supplied layer classes without these arguments keep working."""
    return {k: v for k, v in (("device", device), ("dtype", dtype)) if v is not None}


def make_divisible(
    value: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9
) -> int:
    """Round ``value`` to a multiple of ``divisor`` (timm's / MobileNet's rule).

    The result is at least ``min_value`` (default ``divisor``) and never below
    ``round_limit * value``.

    Example:
        >>> make_divisible(64 / 16, 8)
        8
        >>> make_divisible(256 / 16, 8)
        16
    """
    min_value = min_value or divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < round_limit * value:
        new_value += divisor
    return int(new_value)


def reduced_channels(
    channels: int,
    rd_ratio: float = 1.0 / 16,
    rd_channels: int | None = None,
    rd_divisor: int = 8,
) -> int:
    """Width of a bottleneck: ``rd_channels`` if given, else ``make_divisible(C * rd_ratio)``."""
    if rd_channels is not None:
        if rd_channels < 1:
            raise ValueError(f"expected rd_channels >= 1, got {rd_channels}")
        return int(rd_channels)
    return make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)


def check_feature_map(x: torch.Tensor, channels: int | None, owner: str) -> None:
    """Raise a clear error unless ``x`` is a floating ``(N, channels, H, W)`` tensor.

    Args:
        x: the input tensor.
        channels: the expected ``C`` (``None`` accepts any).
        owner: how the block names itself in messages, e.g. ``"CBAM(channels=64)"``.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner} expected a torch.Tensor, got {type(x).__name__}")
    if torch.jit.is_scripting() or torch.compiler.is_compiling():
        return
    if x.dim() != 4:
        raise ValueError(
            f"{owner} expected input of shape (N, C, H, W), got {x.dim()}-D shape {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        raise TypeError(f"{owner} expected a floating-point input, got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{owner} got input with {x.shape[1]} channels, expected {channels}")


def check_pooled_batch(x: torch.Tensor, norm: nn.Module, owner: str) -> None:
    """Raise a clear error when a batch norm over pooled ``(N, C)`` features would see one
    value per channel: ``N == 1`` while ``norm`` trains (torch's own message names no block).
    """
    if x.shape[0] == 1 and norm.training and isinstance(norm, nn.modules.batchnorm._BatchNorm):
        raise ValueError(
            f"{owner} in training mode expected a batch of at least 2 (its batch norm over "
            "globally pooled features has one value per channel and image), got batch 1; "
            "use model.eval() for single images"
        )


def has_hooks(module: nn.Module) -> bool:
    """Whether a forward (pre-)hook would see ``module``'s call: its own hooks or global
    ones (``attnvision.explain.capture`` hooks gates). Blocks may skip materialising a map
    that nobody observes."""
    from torch.nn.modules import module as _m

    return bool(
        module._forward_hooks
        or module._forward_pre_hooks
        or _m._global_forward_hooks
        or _m._global_forward_pre_hooks
    )


def create_act(
    layer: type[nn.Module] | nn.Module | str | None,
    default: type[nn.Module],
    **factory: Any,
) -> nn.Module:
    """Instantiate an activation given as a class, an instance, a name or ``None`` (default).

    ``factory`` (``device=`` / ``dtype=``) goes to classes that take it (``nn.PReLU``);
    an instance is used as it is.
    """
    if isinstance(layer, nn.Module):
        return layer
    if isinstance(layer, str):
        table = {
            "relu": nn.ReLU,
            "sigmoid": nn.Sigmoid,
            "hard_sigmoid": nn.Hardsigmoid,
            "silu": nn.SiLU,
            "swish": nn.SiLU,
            "gelu": nn.GELU,
            "tanh": nn.Tanh,
            "identity": nn.Identity,
        }
        if layer.lower() not in table:
            raise ValueError(f"unknown activation {layer!r}; expected one of {sorted(table)}")
        layer = table[layer.lower()]
    cls = default if layer is None else layer
    if factory:
        try:
            accepted = inspect.signature(cls).parameters
        except (TypeError, ValueError):
            accepted = {}
        factory = {k: v for k, v in factory.items() if k in accepted}
    return cls(**factory)
