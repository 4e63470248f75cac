"""Bottleneck Attention Module (BAM).

Reference:
    J. Park, S. Woo, J.-Y. Lee, I. S. Kweon, "BAM: Bottleneck Attention Module",
    BMVC 2018, arXiv:1807.06514, Eq. 1-4:

        F' = F + F * M(F)                                   (Eq. 1)
        M(F) = sigmoid(M_c(F) + M_s(F))                     (Eq. 2)
        M_c(F) = BN(MLP(AvgPool(F)))                        (Eq. 3)
        M_s(F) = BN(f_3^{1x1}(f_2^{3x3}(f_1^{3x3}(f_0^{1x1}(F)))))  (Eq. 4)

The paper writes one BN at the end of each branch; the layers here (where the BNs sit,
biases) are those of the official code (Jongchan/attention-module, ``MODELS/bam.py``): the
channel MLP is ``Linear(C, C/r) -> BatchNorm1d -> ReLU -> Linear(C/r, C)`` with biases;
the spatial branch is ``1x1 conv (C -> C/r) -> BN -> ReLU``, ``num_dilated`` times
``3x3 conv (dilation d, padding d) -> BN -> ReLU`` and a final ``1x1 conv (C/r -> 1)``,
all with biases. Two deliberate differences from that code: the two maps are combined
with a sum, as the paper's Eq. 2 says (the official code multiplies them), and the channel
descriptor is the mean over the whole ``H x W`` map (the official code pools with a square
``H x H`` window, which covers the map only when ``H == W``).
"""

from __future__ import annotations

import torch
from torch import nn

from ._utils import (
    Device,
    check_feature_map,
    check_pooled_batch,
    create_act,
    factory_kwargs,
    make_divisible,
)

__all__ = ["BAM", "BAMChannel", "BAMGate", "BAMSpatial", "bam_channels"]


def bam_channels(
    channels: int, rd_ratio: float = 1.0 / 16, rd_channels: int | None = None, rd_divisor: int = 1
) -> int:
    """Bottleneck width ``C / r`` of both BAM branches.

    With ``rd_divisor=1`` (default) this is the official ``C // r`` (at least 1); with
    ``rd_divisor > 1`` it is ``make_divisible(C * rd_ratio, rd_divisor)``. An explicit
    ``rd_channels`` wins.

    Example:
        >>> bam_channels(64), bam_channels(256)
        (4, 16)
    """
    if rd_channels is not None:
        if rd_channels < 1:
            raise ValueError(f"BAM expected rd_channels >= 1, got {rd_channels}")
        return int(rd_channels)
    if rd_divisor > 1:
        return make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
    return max(1, int(channels * rd_ratio + 1e-9))


class BAMChannel(nn.Module):
    """BAM channel branch ``M_c`` (Eq. 3): ``(N, C, H, W) -> (N, C, 1, 1)`` logits.

    ``fc(C -> C/r) -> bn (BatchNorm1d) -> act -> fc_final(C/r -> C)`` on the global average.
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        self.fc = nn.Linear(channels, rd_channels, **dd)
        self.bn = nn.BatchNorm1d(rd_channels, **dd)
        self.act = create_act(act_layer, nn.ReLU, **dd)
        self.fc_final = nn.Linear(rd_channels, channels, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` features -> ``(N, C, 1, 1)`` channel logits ``M_c``."""
        n, c = x.shape[0], x.shape[1]
        pooled = x.mean(dim=(2, 3))  # (N, C)
        return self.fc_final(self.act(self.bn(self.fc(pooled)))).reshape(n, c, 1, 1)


class BAMSpatial(nn.Module):
    """BAM spatial branch ``M_s`` (Eq. 4): ``(N, C, H, W) -> (N, 1, H, W)`` logits.

    ``conv_reduce`` (1x1, ``C -> C/r``) + BN + act, then ``num_dilated`` blocks of a 3x3
    conv with dilation ``d`` (padding ``d``, so the size is kept even for a 1x1 input) +
    BN + act, then ``conv_final`` (1x1, ``C/r -> 1``). All convs have biases (official).
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        dilation: int = 4,
        num_dilated: int = 2,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        layers: list[nn.Module] = [
            nn.Conv2d(channels, rd_channels, kernel_size=1, **dd),
            norm_layer(rd_channels, **dd),
            create_act(act_layer, nn.ReLU, **dd),
        ]
        for _ in range(num_dilated):
            layers += [
                nn.Conv2d(
                    rd_channels,
                    rd_channels,
                    kernel_size=3,
                    padding=dilation,
                    dilation=dilation,
                    **dd,
                ),
                norm_layer(rd_channels, **dd),
                create_act(act_layer, nn.ReLU, **dd),
            ]
        self.body = nn.Sequential(*layers)
        self.conv_final = nn.Conv2d(rd_channels, 1, kernel_size=1, **dd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` features -> ``(N, 1, H, W)`` spatial logits ``M_s``."""
        return self.conv_final(self.body(x))


class BAMGate(nn.Module):
    """The BAM map ``M(F) = sigmoid(M_c + M_s)`` (Eq. 2), ``(N, C, H, W)``.

    Takes ``M_c`` ``(N, C, 1, 1)`` and ``M_s`` ``(N, 1, H, W)`` and returns their
    broadcast sum through the gate activation. This is the ``gate`` of :class:`BAM`.
    """

    def __init__(
        self,
        gate_layer: type[nn.Module] | nn.Module | str | None = nn.Sigmoid,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.act = create_act(gate_layer, nn.Sigmoid, **factory_kwargs(device, dtype))

    def forward(self, channel_logits: torch.Tensor, spatial_logits: torch.Tensor) -> torch.Tensor:
        """``(N, C, 1, 1)`` + ``(N, 1, H, W)`` logits -> ``(N, C, H, W)`` attention map."""
        return self.act(channel_logits + spatial_logits)


class BAM(nn.Module):
    """Bottleneck Attention Module (Park et al. BMVC 2018, Eq. 1-4).

    ``out = x * (1 + sigmoid(M_c(x) + M_s(x)))`` = ``F + F * M(F)`` (Eq. 1). The channel
    branch is the child ``channel`` (:class:`BAMChannel`), the spatial branch the child
    ``spatial`` (:class:`BAMSpatial`), and the ``(N, C, H, W)`` map ``M(F)`` is the
    output of ``gate`` (:class:`BAMGate`), which :func:`attnvision.explain.capture`
    records.

    Note: the channel MLP has a BatchNorm1d, so in training mode a batch of one sample
    raises PyTorch's "Expected more than 1 value per channel" error (as in the official
    code); use ``eval()`` for single samples.

    Args:
        channels: number of input channels ``C``.
        rd_ratio: ``1 / r`` (paper r = 16).
        rd_channels: explicit bottleneck width (overrides ``rd_ratio``).
        rd_divisor: width divisor (1: the official ``C // r``, see :func:`bam_channels`).
        dilation: dilation ``d`` of the spatial 3x3 convs (paper: 4).
        num_dilated: number of dilated 3x3 convs (paper: 2).
        act_layer: activation inside both branches (ReLU).
        norm_layer: normalisation in the spatial branch (BatchNorm2d).
        gate_layer: activation of the combined map (sigmoid).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> block = BAM(64).eval()
        >>> block(torch.randn(2, 64, 7, 5)).shape
        torch.Size([2, 64, 7, 5])
    """

    def __init__(
        self,
        channels: int,
        rd_ratio: float = 1.0 / 16,
        rd_channels: int | None = None,
        rd_divisor: int = 1,
        dilation: int = 4,
        num_dilated: int = 2,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        gate_layer: type[nn.Module] | nn.Module | str | None = nn.Sigmoid,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"BAM expected channels >= 1 (int), got {channels!r}")
        if dilation < 1 or num_dilated < 0:
            raise ValueError(
                f"BAM expected dilation >= 1 and num_dilated >= 0, "
                f"got dilation={dilation}, num_dilated={num_dilated}"
            )
        self.channels = channels
        self.rd_channels = bam_channels(channels, rd_ratio, rd_channels, rd_divisor)
        self._owner = f"BAM(channels={channels})"
        dd = factory_kwargs(device, dtype)
        self.channel = BAMChannel(channels, self.rd_channels, act_layer, **dd)
        self.spatial = BAMSpatial(
            channels, self.rd_channels, dilation, num_dilated, act_layer, norm_layer, **dd
        )
        self.gate = BAMGate(gate_layer, **dd)

    @torch.jit.unused
    def _check_batch(self, x: torch.Tensor) -> None:
        check_pooled_batch(x, self.channel.bn, self._owner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply BAM to ``x`` of shape ``(N, C, H, W)``; returns the same shape."""
        check_feature_map(x, self.channels, self._owner)
        if not torch.jit.is_scripting():
            self._check_batch(x)
        attn = self.gate(self.channel(x), self.spatial(x))  # (N, C, H, W), Eq. 2
        return torch.addcmul(x, x, attn)  # F + F * M(F), Eq. 1

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}"
