"""Coordinate Attention.

Reference:
    Q. Hou, D. Zhou, J. Feng, "Coordinate Attention for Efficient Mobile Network Design",
    CVPR 2021, arXiv:2103.02907, Eq. 4-9 (official code: houqb/CoordAttention):

        z^h = mean_w x, z^w = mean_h x                      (Eq. 4, 5)
        f = h_swish(BN(F1([z^h, z^w])))                     (Eq. 6)
        g^h = sigmoid(F_h(f^h)), g^w = sigmoid(F_w(f^w))   (Eq. 7, 8)
        y = x * g^h * g^w                                   (Eq. 9)

Same math and parameter names as timm's ``timm.layers.coord_attn.CoordAttn`` when that is
built with the official width and biases (``rd_channels=mip, bias=True``), so timm
weights load directly.
"""

from __future__ import annotations

import torch
from torch import nn

from ._utils import (
    Device,
    check_feature_map,
    create_act,
    factory_kwargs,
    has_hooks,
    make_divisible,
)

__all__ = ["CoordAttention", "CoordGate", "coordatt_channels"]


def coordatt_channels(
    channels: int,
    rd_ratio: float = 1.0 / 32,
    rd_channels: int | None = None,
    rd_divisor: int = 1,
    min_rd_channels: int = 8,
) -> int:
    """Bottleneck width ``mip`` of coordinate attention.

    The official rule is ``mip = max(8, C // 32)`` (``reduction = 32``); with the default
    ``rd_divisor=1`` this is exactly ``max(min_rd_channels, floor(C * rd_ratio))``. With
    ``rd_divisor > 1`` the width is ``max(min_rd_channels, make_divisible(C * rd_ratio,
    rd_divisor))``. An explicit ``rd_channels`` wins.

    Example:
        >>> coordatt_channels(64), coordatt_channels(1280)
        (8, 40)
    """
    if rd_channels is not None:
        if rd_channels < 1:
            raise ValueError(f"CoordAttention expected rd_channels >= 1, got {rd_channels}")
        return int(rd_channels)
    if rd_divisor > 1:
        width = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
    else:
        width = int(channels * rd_ratio + 1e-9)  # floor, as C // reduction
    return max(int(min_rd_channels), width)


class CoordGate(nn.Module):
    """The coordinate-attention map ``g^h * g^w`` (CoordAttention, Eq. 7-9).

    Takes the logits ``(N, C, H, 1)`` and ``(N, C, 1, W)``, applies the gate activation to
    each and returns their broadcast product ``(N, C, H, W)``: the factor the input is
    multiplied by. This is the ``gate`` of :class:`CoordAttention`, so
    :func:`attnvision.explain.capture` records one ``(N, C, H, W)`` map per block.

    Args:
        gate_layer: gate activation (sigmoid).
        device, dtype: passed to a gate class that takes them.
    """

    def __init__(
        self,
        gate_layer: type[nn.Module] | nn.Module | str | None = nn.Sigmoid,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.act = create_act(gate_layer, nn.Sigmoid, **factory_kwargs(device, dtype))

    def forward(self, logits_h: torch.Tensor, logits_w: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, 1)``, ``(N, C, 1, W)`` logits -> ``(N, C, H, W)`` map."""
        g_h, g_w = self.act(logits_h), self.act(logits_w)
        if not (torch.is_grad_enabled() and (g_h.requires_grad or g_w.requires_grad)):
            # nothing to differentiate: the plain broadcast product is the faster kernel
            return g_h * g_w
        # The outer product as a batched matmul with inner size 1: the same numbers as the
        # broadcast product (one rounded product each), but its backward reduces with
        # matmuls instead of full-size temporaries (faster, one (N, C, H, W) buffer less at
        # the peak).
        return torch.matmul(g_h, g_w)


class CoordAttention(nn.Module):
    """Coordinate Attention block (Hou et al. CVPR 2021, Eq. 4-9).

    Pools along W and along H (``(N, C, H, 1)`` and ``(N, C, W, 1)``), concatenates them
    along the spatial axis, applies ``conv1`` (1x1, ``C -> mip``), ``bn1`` and ``act``
    (h_swish), splits, and maps each part back to ``C`` channels with ``conv_h`` /
    ``conv_w``. The block returns ``x * g^h * g^w``.

    The map ``g^h * g^w`` of shape ``(N, C, H, W)`` is the output of the submodule ``gate``
    (:class:`CoordGate`); a forward hook there (``attnvision.explain.capture``) sees that
    one tensor per call.

    Args:
        channels: number of input channels ``C`` (output channels are the same).
        rd_ratio: ``1 / reduction`` (official: reduction 32).
        rd_channels: explicit bottleneck width ``mip`` (overrides the rule).
        rd_divisor: width divisor (1: the official floor rule, see
            :func:`coordatt_channels`).
        min_rd_channels: minimum width (official: 8).
        bias: biases in the three 1x1 convs (official: True).
        act_layer: bottleneck activation (h_swish = ``nn.Hardswish``).
        norm_layer: bottleneck normalisation (BatchNorm2d; ``None`` for none).
        gate_layer: gate activation (sigmoid).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> block = CoordAttention(64)
        >>> block(torch.randn(2, 64, 7, 5)).shape
        torch.Size([2, 64, 7, 5])
    """

    def __init__(
        self,
        channels: int,
        rd_ratio: float = 1.0 / 32,
        rd_channels: int | None = None,
        rd_divisor: int = 1,
        min_rd_channels: int = 8,
        bias: bool = True,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.Hardswish,
        norm_layer: type[nn.Module] | None = nn.BatchNorm2d,
        gate_layer: type[nn.Module] | nn.Module | str | None = nn.Sigmoid,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"CoordAttention expected channels >= 1 (int), got {channels!r}")
        self.channels = channels
        self.rd_channels = coordatt_channels(
            channels, rd_ratio, rd_channels, rd_divisor, min_rd_channels
        )
        self._owner = f"CoordAttention(channels={channels})"
        mip = self.rd_channels
        dd = factory_kwargs(device, dtype)
        self.conv1 = nn.Conv2d(channels, mip, kernel_size=1, bias=bias, **dd)
        self.bn1 = norm_layer(mip, **dd) if norm_layer is not None else nn.Identity()
        self.act = create_act(act_layer, nn.Hardswish, **dd)
        self.conv_h = nn.Conv2d(mip, channels, kernel_size=1, bias=bias, **dd)
        self.conv_w = nn.Conv2d(mip, channels, kernel_size=1, bias=bias, **dd)
        self.gate = CoordGate(gate_layer, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply coordinate attention to ``x`` of shape ``(N, C, H, W)``; same shape out."""
        check_feature_map(x, self.channels, self._owner)
        h, w = x.shape[2], x.shape[3]
        pooled_h = x.mean(dim=3, keepdim=True)  # (N, C, H, 1), Eq. 4
        pooled_w = x.mean(dim=2, keepdim=True).transpose(2, 3)  # (N, C, W, 1), Eq. 5
        y = self.act(self.bn1(self.conv1(torch.cat([pooled_h, pooled_w], dim=2))))  # Eq. 6
        y_h, y_w = torch.split(y, [h, w], dim=2)
        logits_h, logits_w = self.conv_h(y_h), self.conv_w(y_w.transpose(2, 3))  # Eq. 7-8
        if not torch.jit.is_scripting():
            if not torch.is_grad_enabled() and not has_hooks(self.gate):
                # inference with nobody watching the map: the map is formed in the output
                # buffer and multiplied by x in place (one full-size tensor instead of
                # two; the same numbers as below, bit for bit)
                out = torch.empty_like(x)  # keeps x's memory format (channels_last)
                torch.mul(self.gate.act(logits_h), self.gate.act(logits_w), out=out)
                return out.mul_(x)  # Eq. 9
        return x * self.gate(logits_h, logits_w)  # Eq. 9

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}"
