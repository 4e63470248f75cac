"""Helpers shared by the model families: turning ``attention=`` into a block factory, and
cropping fixed-size windows (RAM's glimpses, the DCN's fine-network windows)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.registry import create_attention, list_attention

#: ``channels -> nn.Module``: what every model calls to build one attention block.
AttnFactory = Callable[[int], nn.Module]

#: Blocks that do not sit on the residual branch of a block (see each family's docstring).
STAGE_ATTENTION = frozenset({"bam"})
#: Blocks that replace a convolution instead of following it (SK: see ``sknet.py``).
CONV_ATTENTION = frozenset({"sk"})


def attention_name(attention: str | Callable[..., nn.Module] | None) -> str | None:
    """The lower-case registry name of ``attention``, or ``None`` for a callable / no block."""
    if attention is None:
        return None
    if isinstance(attention, str):
        key = attention.lower()
        return None if key == "none" else key
    return None


def resolve_attention(
    attention: str | Callable[..., nn.Module] | None,
    options: Mapping[str, Any] | None = None,
    *,
    owner: str = "model",
) -> AttnFactory | None:
    """Turn ``attention=`` into a factory ``channels -> nn.Module`` (or ``None``).

    Args:
        attention: ``None`` / ``"none"`` (no block), a name from
            :func:`attnvision.layers.list_attention`, or a callable called as
            ``attention(channels, **options)`` that returns an ``nn.Module`` mapping
            ``(N, C, H, W)`` to the same shape.
        options: keyword options passed to every block (``attention_options=``).
        owner: how the caller names itself in error messages.

    Raises:
        ValueError: unknown attention name.
        TypeError: ``attention`` is neither ``None``, a string nor a callable, or
            ``options`` is not a mapping.
    """
    if options is not None and not isinstance(options, Mapping):
        raise TypeError(
            f"{owner} expected attention_options to be a dict, got {type(options).__name__}"
        )
    opts = dict(options or {})
    if attention is None:
        if opts:
            raise ValueError(f"{owner} got attention_options {opts} but no attention block")
        return None
    if isinstance(attention, str):
        key = attention.lower()
        if key == "none":
            return None
        known = list_attention()
        if key not in known:
            # create_attention raises the registry's message with close matches
            create_attention(key, 1)

        def factory(channels: int) -> nn.Module:
            return create_attention(key, channels, **opts)

        return factory
    if callable(attention):

        def call(channels: int) -> nn.Module:
            block = attention(channels, **opts)
            if not isinstance(block, nn.Module):
                raise TypeError(
                    f"{owner} expected attention({channels}) to return an nn.Module, "
                    f"got {type(block).__name__}"
                )
            return block

        return call
    raise TypeError(
        f"{owner} expected attention to be None, a name from list_attention() or a callable "
        f"channels -> nn.Module, got {type(attention).__name__}"
    )


def make_attn(factory: AttnFactory | None, channels: int) -> nn.Module:
    """``factory(channels)``, or :class:`torch.nn.Identity` when there is no factory."""
    return nn.Identity() if factory is None else factory(channels)


def gather_grid(
    x: torch.Tensor, batch: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
) -> torch.Tensor:
    """``x[batch[i], :, rows[i, a], cols[i, b]]`` for every ``i, a, b``: ``(N, C, H, W)``,
    ``(M,)``, ``(M, A)``, ``(M, B)`` (int64, inside ``x``) -> ``(M, C, A, B)``.

    One ``index_select`` on the flattened images (per channel), which reads only the
    gathered pixels (``benchmarks/ram_sensor.py`` times the glimpse sensor built on it
    against cropping by advanced indexing)."""
    n, channels, height, width = x.shape
    lin = (batch * (height * width))[:, None, None] + rows[:, :, None] * width + cols[:, None, :]
    flat = x.transpose(0, 1).reshape(channels, n * height * width)
    out = flat.index_select(1, lin.flatten()).view(channels, *lin.shape)
    return out.transpose(0, 1)


def crop_windows(
    x: torch.Tensor, batch: torch.Tensor, top: torch.Tensor, left: torch.Tensor, size: int
) -> torch.Tensor:
    """``size`` x ``size`` integer-pixel crops of ``x`` ``(N, C, H, W)``: crop ``i`` is taken
    from image ``batch[i]`` with its top-left pixel at ``(top[i], left[i])`` (``(M,)`` int64
    each, may lie outside the image), zeros outside the image -> ``(M, C, size, size)``.
    Corners further than ``size`` outside are clamped to that (the crop is all zeros
    either way)."""
    _, _, height, width = x.shape
    padded = F.pad(x, (size, size, size, size))
    top = (top + size).clamp(0, height + size)
    left = (left + size).clamp(0, width + size)
    offsets = torch.arange(size, device=x.device)
    return gather_grid(padded, batch, top[:, None] + offsets, left[:, None] + offsets)
