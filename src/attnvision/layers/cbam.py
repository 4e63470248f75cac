"""Convolutional Block Attention Module (CBAM): a channel gate, then a spatial gate.

Reference: S. Woo, J. Park, J.-Y. Lee, I. S. Kweon, "CBAM: Convolutional Block Attention
Module", ECCV 2018 (arXiv:1807.06521), Sec. 3, Eq. 1-3.
"""

from __future__ import annotations

import torch
from torch import nn

from ._fast import ChannelSpatialGateScale, pool_gate_scale, use_fast_path
from ._utils import Device, check_feature_map, create_act, factory_kwargs, reduced_channels

__all__ = ["CBAM", "ChannelGate", "SpatialGate"]

_Layer = type[nn.Module] | nn.Module | str | None


class ChannelGate(nn.Module):
    """CBAM channel attention (Woo et al. 2018, Eq. 2).

    ``M_c = gate(MLP(mean_{H,W}(x)) + MLP(max_{H,W}(x)))`` with ONE shared two-layer MLP
    (1x1 convolutions ``fc1``, ``fc2`` with biases, as in the paper's code), then
    ``out = x * M_c``. With ``mlp_bias=True`` the layout equals timm's ``ChannelAttn``.

    Args:
        channels: ``C`` of the ``(N, C, H, W)`` input.
        rd_ratio: bottleneck ratio (the paper's ``r = 16``).
        rd_channels: bottleneck width; overrides ``rd_ratio``.
        rd_divisor: width rounded to a multiple of this (1 = the paper's and timm's).
        act_layer: activation between the two layers.
        gate_layer: gate producing the channel weights.
        mlp_bias: biases in the MLP (the paper's code has them).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shapes:
        input ``(N, C, H, W)`` -> output ``(N, C, H, W)``; ``gate`` outputs ``(N, C, 1, 1)``.

    Max pooling sends its gradient to the one position ``torch.max`` picks (as the
    paper's ``F.max_pool2d``); timm's ``amax`` splits it among exact ties.
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1.0 / 16,
        rd_channels: int | None = None,
        rd_divisor: int = 1,
        act_layer: _Layer = nn.ReLU,
        gate_layer: _Layer = nn.Sigmoid,
        mlp_bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"ChannelGate expected channels >= 1, got {channels}")
        self.channels = int(channels)
        self.rd_channels = reduced_channels(channels, rd_ratio, rd_channels, rd_divisor)
        dd = factory_kwargs(device, dtype)
        self.fc1 = nn.Conv2d(channels, self.rd_channels, 1, bias=mlp_bias, **dd)
        self.act = create_act(act_layer, nn.ReLU, **dd)
        self.fc2 = nn.Conv2d(self.rd_channels, channels, 1, bias=mlp_bias, **dd)
        self.gate = create_act(gate_layer, nn.Sigmoid, **dd)

    def _attend(self, avg: torch.Tensor, mx: torch.Tensor) -> torch.Tensor:
        # 1x1 convolutions (not matrix products) so results equal timm's to the last bit;
        # the spatial gate's weight gradient amplifies last-bit differences of this map.
        a = self.fc2(self.act(self.fc1(avg)))
        m = self.fc2(self.act(self.fc1(mx)))
        return self.gate(a + m)

    @torch.jit.unused
    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        return pool_gate_scale(
            x, self._attend, list(self.parameters()), over_channels=False, use_max=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` ``(N, C, H, W)`` by ``M_c`` ``(N, C, 1, 1)``."""
        check_feature_map(x, self.channels, f"ChannelGate(channels={self.channels})")
        if not torch.jit.is_scripting():
            if use_fast_path(x, self):
                return self._forward_fast(x)
        return x * self._attend(x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}"


class SpatialGate(nn.Module):
    """CBAM spatial attention (Woo et al. 2018, Eq. 3).

    ``M_s = gate(BN(conv_k([mean_C(x); max_C(x)])))``: the channel-wise mean and max
    ``(N, 1, H, W)`` are concatenated (mean first, as in timm; the paper's code puts max
    first, which only permutes the two input channels of the convolution), convolved by a
    ``k x k`` convolution without bias (``padding = k // 2``), batch-normalised, gated,
    and ``out = x * M_s``.

    Args:
        channels: ``C`` of the input, checked when given (``None`` accepts any).
        kernel_size: odd size of the convolution (the paper's 7).
        gate_layer: gate producing the spatial map.
        rd_ratio, rd_channels, rd_divisor, act_layer: accepted for the shared constructor
            signature; unused.
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shapes:
        input ``(N, C, H, W)`` -> output ``(N, C, H, W)``; ``gate`` outputs ``(N, 1, H, W)``.
    """

    def __init__(
        self,
        channels: int | None = None,
        *,
        kernel_size: int = 7,
        gate_layer: _Layer = nn.Sigmoid,
        rd_ratio: float | None = None,
        rd_channels: int | None = None,
        rd_divisor: int | None = None,
        act_layer: _Layer = None,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        del rd_ratio, rd_channels, rd_divisor, act_layer  # no bottleneck here
        if channels is not None and channels < 1:
            raise ValueError(f"SpatialGate expected channels >= 1, got {channels}")
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(f"SpatialGate expected an odd kernel_size >= 1, got {kernel_size}")
        self.channels = None if channels is None else int(channels)
        self.kernel_size = int(kernel_size)
        dd = factory_kwargs(device, dtype)
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False, **dd)
        self.bn = nn.BatchNorm2d(1, **dd)
        self.gate = create_act(gate_layer, nn.Sigmoid, **dd)

    def _attend(self, avg: torch.Tensor, mx: torch.Tensor) -> torch.Tensor:
        return self.gate(self.bn(self.conv(torch.cat([avg, mx], dim=1))))

    @torch.jit.unused
    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        return pool_gate_scale(
            x, self._attend, list(self.parameters()), over_channels=True, use_max=True
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each position of ``x`` ``(N, C, H, W)`` by ``M_s`` ``(N, 1, H, W)``."""
        check_feature_map(x, self.channels, f"SpatialGate(channels={self.channels})")
        if not torch.jit.is_scripting():
            if use_fast_path(x, self):
                return self._forward_fast(x)
        return x * self._attend(x.mean(1, keepdim=True), x.amax(1, keepdim=True))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"


class CBAM(nn.Module):
    """Convolutional Block Attention Module (Woo et al. 2018, Eq. 1).

    ``F' = M_c(F) * F`` (:class:`ChannelGate`, child ``channel``), then
    ``F'' = M_s(F') * F'`` (:class:`SpatialGate`, child ``spatial``); each child has its
    own ``gate`` submodule. Equals timm's ``CbamModule(..., mlp_bias=True)``.

    Args:
        channels: ``C`` of the ``(N, C, H, W)`` input.
        rd_ratio, rd_channels, rd_divisor, act_layer, mlp_bias: of the channel MLP (see
            :class:`ChannelGate`; defaults are the paper's ``r = 16`` with biases).
        spatial_kernel_size: convolution size of the spatial gate (the paper's 7).
        gate_layer: gate of both sub-gates.
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shapes:
        input ``(N, C, H, W)`` -> output ``(N, C, H, W)``.

    Example:
        >>> import torch
        >>> cbam = CBAM(64)
        >>> cbam.channel.rd_channels
        4
        >>> cbam(torch.randn(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1.0 / 16,
        rd_channels: int | None = None,
        rd_divisor: int = 1,
        act_layer: _Layer = nn.ReLU,
        gate_layer: _Layer = nn.Sigmoid,
        spatial_kernel_size: int = 7,
        mlp_bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.channels = int(channels)
        self.channel = ChannelGate(
            channels,
            rd_ratio=rd_ratio,
            rd_channels=rd_channels,
            rd_divisor=rd_divisor,
            act_layer=act_layer,
            gate_layer=gate_layer,
            mlp_bias=mlp_bias,
            device=device,
            dtype=dtype,
        )
        self.spatial = SpatialGate(
            channels,
            kernel_size=spatial_kernel_size,
            gate_layer=create_act(gate_layer, nn.Sigmoid, **factory_kwargs(device, dtype)),
            device=device,
            dtype=dtype,
        )

    @torch.jit.unused
    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        channel_params = list(self.channel.parameters())
        return ChannelSpatialGateScale.apply(
            x,
            self.channel._attend,
            self.spatial._attend,
            len(channel_params),
            *channel_params,
            *self.spatial.parameters(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Channel gate then spatial gate on ``x`` ``(N, C, H, W)``.

        With gradients in eager mode both gates run in one memory-lean autograd function
        (:class:`attnvision.layers._fast.ChannelSpatialGateScale`) that never stores the
        channel-gated tensor; the ``gate`` submodules are still called (hooks see both maps).
        """
        check_feature_map(x, self.channels, f"CBAM(channels={self.channels})")
        if not torch.jit.is_scripting():
            if use_fast_path(x, self):
                return self._forward_fast(x)
        return self.spatial(self.channel(x))
