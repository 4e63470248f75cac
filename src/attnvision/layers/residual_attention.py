"""Residual attention (Wang et al., "Residual Attention Network for Image Classification",
CVPR 2017).

An attention module has a trunk branch ``T`` (``t`` residual units) and a soft mask
branch ``M``: a bottom-up / top-down hourglass (max-pool down, residual units, skip
connections, upsampling back to the exact size of each level) that ends in
``BN-ReLU-1x1-BN-ReLU-1x1`` and a sigmoid. The output is attention residual learning
(Eq. 3)::

    H(x) = (1 + M(x)) * T(x)

or, with ``naive=True``, naive attention learning ``H(x) = M(x) * T(x)`` (Sec. 3.1).
``p`` residual units come before the split and ``p`` after the merge (the paper uses
``p = 1, t = 2, r = 1``). The sigmoid is the submodule ``gate``, so
:func:`attnvision.explain.capture` records ``M(x)``, shape ``(N, C, H, W)``.

Residual units are pre-activation bottlenecks (He et al., ECCV 2016):
``BN-ReLU-1x1(C/4)-BN-ReLU-3x3(C/4)-BN-ReLU-1x1(C)``, projection shortcut when the shape
changes, as in the paper's networks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._utils import Device, check_feature_map, factory_kwargs

__all__ = ["PreActBottleneck", "ResidualAttentionUnit"]


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck residual unit (He et al., ECCV 2016, Fig. 4e).

    Args:
        in_channels: input channels.
        out_channels: output channels (hidden width ``max(1, out_channels // 4)``).
        stride: stride of the 3x3 convolution (and of the projection shortcut).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    ``forward``: ``(N, in_channels, H, W) -> (N, out_channels, ceil(H / s), ceil(W / s))``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        mid = max(1, out_channels // 4)
        self.bn1 = nn.BatchNorm2d(in_channels, **dd)
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False, **dd)
        self.bn2 = nn.BatchNorm2d(mid, **dd)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False, **dd)
        self.bn3 = nn.BatchNorm2d(mid, **dd)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False, **dd)
        self.relu = nn.ReLU()
        self.has_proj = stride != 1 or in_channels != out_channels
        self.shortcut: nn.Module = (
            nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, **dd)
            if self.has_proj
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.relu(self.bn1(x))
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        identity = self.shortcut(pre) if self.has_proj else x
        return out + identity


def _units(channels: int, n: int, **dd: object) -> nn.Sequential:
    return nn.Sequential(*[PreActBottleneck(channels, channels, **dd) for _ in range(n)])


class _MaskBottom(nn.Module):
    """Lowest level of the hourglass: pool, ``2r`` units, upsample to the input size."""

    def __init__(self, channels: int, r: int, mode: str, **dd: object) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.units = _units(channels, 2 * r, **dd)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.units(self.pool(x))
        return _resize(y, x, self.mode)


class _MaskLevel(nn.Module):
    """One level: pool, ``r`` units, (inner level + skip unit), ``r`` units, upsample."""

    def __init__(self, channels: int, r: int, inner: nn.Module, mode: str, **dd: object) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.down = _units(channels, r, **dd)
        self.skip = PreActBottleneck(channels, channels, **dd)
        self.inner = inner
        self.up = _units(channels, r, **dd)
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.down(self.pool(x))
        y = self.up(self.inner(y) + self.skip(y))
        return _resize(y, x, self.mode)


def _resize(y: torch.Tensor, like: torch.Tensor, mode: str) -> torch.Tensor:
    """Upsample ``y`` to exactly the spatial size of ``like`` (odd sizes included)."""
    size = [like.shape[-2], like.shape[-1]]
    if mode == "nearest":
        return F.interpolate(y, size=size, mode="nearest")
    return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


class ResidualAttentionUnit(nn.Module):
    """Attention module of the Residual Attention Network (Wang et al., CVPR 2017, Fig. 2).

    Args:
        channels: channels ``C`` of the ``(N, C, H, W)`` input (and output).
        naive: ``M(x) * T(x)`` (naive attention learning) instead of ``(1 + M(x)) * T(x)``.
        depth: number of max-pool steps in the mask branch (the paper uses 3, 2, 1 in
            stages 1, 2, 3 of the ImageNet networks: 56 -> 7, 28 -> 7, 14 -> 7).
        p: residual units before the trunk/mask split and after the merge.
        t: residual units of the trunk branch.
        r: residual units between adjacent poolings of the mask branch.
        upsample: ``"bilinear"`` (the paper) or ``"nearest"``.
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    ``forward``: ``(N, C, H, W) -> (N, C, H, W)`` for any ``H, W >= 1``; the mask
    ``M(x)`` is the output of ``self.gate``. Raises ``ValueError`` / ``TypeError`` for
    inputs that are not floating ``(N, C, H, W)`` tensors with ``C == channels``.

    Example:
        >>> unit = ResidualAttentionUnit(64, depth=2)
        >>> unit(torch.randn(2, 64, 28, 28)).shape
        torch.Size([2, 64, 28, 28])
    """

    def __init__(
        self,
        channels: int,
        *,
        naive: bool = False,
        depth: int = 2,
        p: int = 1,
        t: int = 2,
        r: int = 1,
        upsample: str = "bilinear",
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"ResidualAttentionUnit expected channels >= 1, got {channels!r}")
        if depth < 1:
            raise ValueError(f"ResidualAttentionUnit expected depth >= 1, got {depth}")
        if p < 0 or t < 1 or r < 1:
            raise ValueError(
                f"ResidualAttentionUnit expected p >= 0, t >= 1, r >= 1, got p={p}, t={t}, r={r}"
            )
        if upsample not in ("bilinear", "nearest"):
            raise ValueError(
                f"ResidualAttentionUnit expected upsample 'bilinear' or 'nearest', got {upsample!r}"
            )
        self.channels = channels
        self.naive = naive
        self.depth = depth
        dd = factory_kwargs(device, dtype)
        self.pre = _units(channels, p, **dd)
        self.trunk = _units(channels, t, **dd)
        mask: nn.Module = _MaskBottom(channels, r, upsample, **dd)
        for _ in range(depth - 1):
            mask = _MaskLevel(channels, r, mask, upsample, **dd)
        self.mask = mask
        self.head = nn.Sequential(
            nn.BatchNorm2d(channels, **dd),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1, bias=False, **dd),
            nn.BatchNorm2d(channels, **dd),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 1, bias=False, **dd),
        )
        self.gate = nn.Sigmoid()
        self.post = _units(channels, p, **dd)
        self._owner = f"ResidualAttentionUnit(channels={channels})"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_feature_map(x, self.channels, self._owner)
        x = self.pre(x)
        trunk = self.trunk(x)
        m = self.gate(self.head(self.mask(x)))
        out = m * trunk if self.naive else (1.0 + m) * trunk
        return self.post(out)

    def extra_repr(self) -> str:
        return f"channels={self.channels}, naive={self.naive}, depth={self.depth}"
