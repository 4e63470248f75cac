"""Squeeze-and-Excitation channel attention.

Reference: J. Hu, L. Shen, G. Sun, "Squeeze-and-Excitation Networks", CVPR 2018
(arXiv:1709.01507), Sec. 3 and Eq. 2-4.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._fast import pool_gate_scale, use_fast_path
from ._utils import Device, check_feature_map, create_act, factory_kwargs, reduced_channels

__all__ = ["SqueezeExcite"]


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation block (Hu et al. 2018, Eq. 2-4).

    ``z = mean_{H,W}(x)`` (squeeze, Eq. 2), ``s = gate(fc2(act(fc1(z))))`` (excitation,
    Eq. 3, ``fc`` as 1x1 convolutions), ``out = x * s`` (Eq. 4).

    The layout and ``state_dict`` keys (``fc1.weight``, ``fc1.bias``, ``fc2.weight``,
    ``fc2.bias``) are those of timm's ``SEModule`` and torchvision's ``SqueezeExcitation``,
    so their weights load directly.

    Args:
        channels: ``C`` of the ``(N, C, H, W)`` input.
        rd_ratio: bottleneck ratio ``1 / r`` (the paper's ``r = 16``).
        rd_channels: bottleneck width; overrides ``rd_ratio``.
        rd_divisor: the width is rounded to a multiple of this (``make_divisible``).
        act_layer: activation ``delta`` between the two layers (class or instance).
        gate_layer: gate ``sigma`` producing the channel weights (class or instance).
        bias: biases in ``fc1`` and ``fc2``.
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shapes:
        input ``(N, C, H, W)`` -> output ``(N, C, H, W)``; the ``gate`` submodule outputs
        the channel weights ``(N, C, 1, 1)``.

    Example:
        >>> import torch
        >>> se = SqueezeExcite(64, rd_ratio=1 / 4, rd_divisor=1)
        >>> se(torch.randn(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        *,
        rd_ratio: float = 1.0 / 16,
        rd_channels: int | None = None,
        rd_divisor: int = 8,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        gate_layer: type[nn.Module] | nn.Module | str | None = nn.Sigmoid,
        bias: bool = True,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"SqueezeExcite expected channels >= 1, got {channels}")
        self.channels = int(channels)
        self.rd_channels = reduced_channels(channels, rd_ratio, rd_channels, rd_divisor)
        dd = factory_kwargs(device, dtype)
        self.fc1 = nn.Conv2d(channels, self.rd_channels, kernel_size=1, bias=bias, **dd)
        self.act = create_act(act_layer, nn.ReLU, **dd)
        self.fc2 = nn.Conv2d(self.rd_channels, channels, kernel_size=1, bias=bias, **dd)
        self.gate = create_act(gate_layer, nn.Sigmoid, **dd)

    def _excite(self, pooled: torch.Tensor) -> torch.Tensor:
        # fc1 / fc2 hold 1x1-conv weights (timm's layout); on a pooled (N, C, 1, 1) input
        # they are applied as matrix products, which skips the convolution set-up cost.
        n = pooled.shape[0]
        z = F.linear(pooled.reshape(n, self.channels), self.fc1.weight.flatten(1), self.fc1.bias)
        z = F.linear(self.act(z), self.fc2.weight.flatten(1), self.fc2.bias)
        return self.gate(z.reshape(n, self.channels, 1, 1))

    @torch.jit.unused
    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        return pool_gate_scale(
            x,
            lambda avg, _: self._excite(avg),
            list(self.parameters()),
            over_channels=False,
            use_max=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` ``(N, C, H, W)`` by its excitation weight."""
        check_feature_map(x, self.channels, f"SqueezeExcite(channels={self.channels})")
        if not torch.jit.is_scripting():
            if use_fast_path(x, self):
                return self._forward_fast(x)
        return x * self._excite(x.mean((2, 3), keepdim=True))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}"
