"""Efficient Channel Attention (ECA).

Reference: Q. Wang, B. Wu, P. Zhu, P. Li, W. Zuo, Q. Hu, "ECA-Net: Efficient Channel
Attention for Deep Convolutional Neural Networks", CVPR 2020 (arXiv:1910.03151),
Sec. 3.2-3.3, Eq. 12 (adaptive kernel size).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ._fast import pool_gate_scale, use_fast_path
from ._utils import Device, check_feature_map, create_act, factory_kwargs

__all__ = ["EfficientChannelAttn", "eca_kernel_size"]


def eca_kernel_size(channels: int, gamma: float = 2, beta: float = 1) -> int:
    """Adaptive 1-D kernel size of ECA (Wang et al. 2020, Eq. 12).

    ``k = |log2(C) / gamma + beta / gamma|_odd``: the value is truncated to an integer,
    raised to the next odd number when even, and never below 3 (the rounding of the
    authors' code and of timm's ``EcaModule``).

    Example:
        >>> [eca_kernel_size(c) for c in (64, 128, 256, 512, 2048)]
        [3, 5, 5, 5, 7]
    """
    if channels < 1:
        raise ValueError(f"eca_kernel_size expected channels >= 1, got {channels}")
    t = int(abs(math.log2(channels) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


class EfficientChannelAttn(nn.Module):
    """Efficient Channel Attention block (Wang et al. 2020, Fig. 2).

    ``y = mean_{H,W}(x)`` ``(N, C)``, a 1-D convolution across channels without bias
    (kernel ``k`` from :func:`eca_kernel_size`, zero padding ``(k - 1) / 2``), the gate
    (sigmoid), then ``out = x * w``. Layout and ``state_dict`` (``conv.weight`` of shape
    ``(1, 1, k)``) match timm's ``EcaModule``.

    Args:
        channels: ``C`` of the ``(N, C, H, W)`` input.
        kernel_size: odd kernel size; ``None`` picks the adaptive size from ``channels``.
        gamma, beta: constants of the adaptive kernel size (paper: 2 and 1).
        gate_layer: gate producing the channel weights (class or instance).
        rd_ratio, rd_channels, rd_divisor, act_layer: accepted so every block shares one
            constructor signature; ECA has no bottleneck, so they are unused.
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shapes:
        input ``(N, C, H, W)`` -> output ``(N, C, H, W)``; the ``gate`` submodule outputs
        the channel weights ``(N, C, 1, 1)``.

    Example:
        >>> import torch
        >>> eca = EfficientChannelAttn(256)
        >>> eca.kernel_size
        5
        >>> eca(torch.randn(2, 256, 4, 4)).shape
        torch.Size([2, 256, 4, 4])
    """

    def __init__(
        self,
        channels: int,
        *,
        kernel_size: int | None = None,
        gamma: float = 2,
        beta: float = 1,
        gate_layer: type[nn.Module] | nn.Module | str | None = nn.Sigmoid,
        rd_ratio: float | None = None,
        rd_channels: int | None = None,
        rd_divisor: int | None = None,
        act_layer: type[nn.Module] | nn.Module | str | None = None,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        del rd_ratio, rd_channels, rd_divisor, act_layer  # no bottleneck in ECA
        if channels < 1:
            raise ValueError(f"EfficientChannelAttn expected channels >= 1, got {channels}")
        if kernel_size is None:
            kernel_size = eca_kernel_size(channels, gamma, beta)
        if kernel_size < 1 or kernel_size % 2 != 1:
            raise ValueError(
                f"EfficientChannelAttn expected an odd kernel_size >= 1, got {kernel_size}"
            )
        self.channels = int(channels)
        self.kernel_size = int(kernel_size)
        dd = factory_kwargs(device, dtype)
        self.conv = nn.Conv1d(1, 1, kernel_size, padding=(kernel_size - 1) // 2, bias=False, **dd)
        self.gate = create_act(gate_layer, nn.Sigmoid, **dd)

    def _attend(self, pooled: torch.Tensor) -> torch.Tensor:
        n = pooled.shape[0]
        y = self.conv(pooled.reshape(n, 1, self.channels))
        return self.gate(y.reshape(n, self.channels, 1, 1))

    @torch.jit.unused
    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        return pool_gate_scale(
            x,
            lambda avg, _: self._attend(avg),
            list(self.parameters()),
            over_channels=False,
            use_max=False,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale each channel of ``x`` ``(N, C, H, W)`` by its ECA weight."""
        check_feature_map(x, self.channels, f"EfficientChannelAttn(channels={self.channels})")
        if not torch.jit.is_scripting():
            if use_fast_path(x, self):
                return self._forward_fast(x)
        return x * self._attend(x.mean((2, 3), keepdim=True))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel_size={self.kernel_size}"
