"""Global Context block (GCNet).

Reference:
    Y. Cao, J. Xu, S. Lin, F. Wei, H. Hu, "GCNet: Non-local Networks Meet
    Squeeze-Excitation Networks and Beyond", ICCV Workshops 2019, arXiv:1904.11492,
    Eq. 3 (simplified non-local block) and Eq. 4 (global context block):

        z_i = x_i + W_v2 ReLU(LN(W_v1 sum_j softmax_j(W_k x_j) x_j))

Same parameters, names and math as timm's ``timm.layers.GlobalContext`` (so its weights
load directly), with the paper's default fusion (addition) and a faster context
modelling step: the 1x1 "key" convolution and the attention pooling are batched matrix
products over a ``(N, C, H*W)`` view of the input instead of a convolution and a 4-D
``matmul`` (no copy for contiguous or channels_last input).
"""

from __future__ import annotations

import torch
from torch import nn

from ._utils import Device, check_feature_map, create_act, factory_kwargs, make_divisible

__all__ = ["GlobalContext", "GlobalContextTransform", "SpatialSoftmax"]


class SpatialSoftmax(nn.Module):
    """Softmax over all positions of a one-channel map: the GC attention-pooling weights.

    Input ``(N, 1, H, W)`` logits, output ``(N, 1, H, W)`` weights that sum to 1 over
    ``H * W`` for every sample (GCNet, Eq. 3: ``exp(W_k x_j) / sum_m exp(W_k x_m)``).
    This is the ``gate`` of :class:`GlobalContext`; a forward hook on it sees the map.
    """

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """Map ``(N, 1, H, W)`` logits to ``(N, 1, H, W)`` weights summing to 1 per sample."""
        n, _, h, w = logits.shape
        return torch.softmax(logits.reshape(n, 1, h * w), dim=-1).reshape(n, 1, h, w)


class GlobalContextTransform(nn.Module):
    """The GC bottleneck transform ``fc2(act(LN(fc1(context))))`` on a ``(N, C, 1, 1)`` context.

    ``fc1``: 1x1 conv ``C -> rd`` (with bias), ``norm``: LayerNorm over ``(rd, 1, 1)``,
    ``act``: ReLU by default, ``fc2``: 1x1 conv ``rd -> C`` (with bias) (GCNet, Eq. 4,
    ``W_v2 ReLU(LN(W_v1 .))``). Parameter names match timm's ``ConvMlp`` with
    ``LayerNorm2d``.

    Args:
        channels: ``C``.
        rd_channels: bottleneck width ``rd``.
        act_layer: activation between the two convs.
        norm_eps: LayerNorm epsilon (timm: 1e-6; the official GCNet code uses 1e-5).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).
    """

    def __init__(
        self,
        channels: int,
        rd_channels: int,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        norm_eps: float = 1e-6,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        self.fc1 = nn.Conv2d(channels, rd_channels, kernel_size=1, bias=True, **dd)
        self.norm = nn.LayerNorm(rd_channels, eps=norm_eps, **dd)
        self.act = create_act(act_layer, nn.ReLU, **dd)
        self.fc2 = nn.Conv2d(rd_channels, channels, kernel_size=1, bias=True, **dd)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        """Map a ``(N, C, 1, 1)`` context to a ``(N, C, 1, 1)`` transform."""
        n = context.shape[0]
        y = self.fc1(context)
        y = self.norm(y.reshape(n, -1)).reshape(y.shape)
        return self.fc2(self.act(y))


class GlobalContext(nn.Module):
    """Global Context block (Cao et al. 2019, GCNet, Eq. 4).

    Context modelling: ``a = softmax_{HW}(W_k x)`` (a 1x1 conv to one channel, softmax over
    all positions), ``context = sum_j a_j x_j`` of shape ``(N, C, 1, 1)``; transform:
    ``t = fc2(ReLU(LN(fc1(context))))``; fusion by addition ``out = x + t`` (default) and/or
    by scaling ``out = x * sigmoid(t')`` (``fuse_scale``, applied first when both are on,
    as in timm).

    The attention-pooling weights ``a`` of shape ``(N, 1, H, W)`` are the output of the
    submodule ``gate`` (:class:`SpatialSoftmax`), so :func:`attnvision.explain.capture`
    records them; with ``use_attn=False`` the context is a plain global average and there
    is no ``gate`` (it is ``None``). The sigmoid of the scaling fusion is ``scale_gate``.

    Args:
        channels: number of input channels ``C``.
        use_attn: attention pooling (paper) if True, global average pooling if False.
        fuse_add: add the transformed context to every position (paper's default).
        fuse_scale: multiply every position by ``gate_layer`` of a second transform.
        init_last_zero: also zero-initialise the last conv of the scaling transform (the
            gate then starts at ``sigmoid(0) = 0.5``). The last conv of the additive
            transform (weight and bias) is always zero-initialised, as in the official
            code (``last_zero_init``), so the block starts as an identity when
            ``fuse_scale`` is off (timm zeroes only that weight).
        rd_ratio: bottleneck ratio ``1/r`` (paper: r=16 for ResNet-50 stages, timm: 1/8).
        rd_channels: explicit bottleneck width (overrides ``rd_ratio``).
        rd_divisor: width divisor for :func:`make_divisible`.
        act_layer: activation of the transform.
        gate_layer: activation of the scaling fusion.
        norm_eps: LayerNorm epsilon (timm: 1e-6, official code: 1e-5).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shape:
        ``(N, C, H, W) -> (N, C, H, W)``.

    Example:
        >>> block = GlobalContext(64)
        >>> block(torch.randn(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        use_attn: bool = True,
        fuse_add: bool = True,
        fuse_scale: bool = False,
        init_last_zero: bool = False,
        rd_ratio: float = 1.0 / 8,
        rd_channels: int | None = None,
        rd_divisor: int = 1,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        gate_layer: type[nn.Module] | nn.Module | str | None = nn.Sigmoid,
        norm_eps: float = 1e-6,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(channels, int) or channels < 1:
            raise ValueError(f"GlobalContext expected channels >= 1 (int), got {channels!r}")
        if not (fuse_add or fuse_scale):
            raise ValueError(
                "GlobalContext expected fuse_add or fuse_scale to be True, got neither"
            )
        if rd_channels is None:
            rd_channels = make_divisible(channels * rd_ratio, rd_divisor, round_limit=0.0)
        elif rd_channels < 1:
            raise ValueError(f"GlobalContext expected rd_channels >= 1, got {rd_channels}")
        self.channels = channels
        self.rd_channels = int(rd_channels)
        self.init_last_zero = init_last_zero
        #: additive fusion alone starts as the identity (its last conv is zero)
        self.starts_as_identity = fuse_add and not fuse_scale
        self._owner = f"GlobalContext(channels={channels})"

        dd = factory_kwargs(device, dtype)
        self.conv_attn = (
            nn.Conv2d(channels, 1, kernel_size=1, bias=True, **dd) if use_attn else None
        )
        self.gate = SpatialSoftmax() if use_attn else None
        self.mlp_add = (
            GlobalContextTransform(channels, self.rd_channels, act_layer, norm_eps, **dd)
            if fuse_add
            else None
        )
        self.mlp_scale = (
            GlobalContextTransform(channels, self.rd_channels, act_layer, norm_eps, **dd)
            if fuse_scale
            else None
        )
        self.scale_gate = create_act(gate_layer, nn.Sigmoid, **dd) if fuse_scale else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Kaiming-normal (fan_in) key conv; zero last conv of the additive transform."""
        if self.conv_attn is not None:
            nn.init.kaiming_normal_(self.conv_attn.weight, mode="fan_in", nonlinearity="relu")
        if self.mlp_add is not None:
            nn.init.zeros_(self.mlp_add.fc2.weight)
            nn.init.zeros_(self.mlp_add.fc2.bias)
        if self.mlp_scale is not None and self.init_last_zero:
            nn.init.zeros_(self.mlp_scale.fc2.weight)
            nn.init.zeros_(self.mlp_scale.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the block to ``x`` of shape ``(N, C, H, W)``; returns the same shape."""
        check_feature_map(x, self.channels, self._owner)
        n, c, h, w = x.shape
        flat = x.reshape(n, c, h * w)  # a view for contiguous and channels_last input
        if self.conv_attn is not None and self.gate is not None:
            weight = self.conv_attn.weight.reshape(1, 1, c).expand(n, 1, c)
            bias = self.conv_attn.bias
            logits = torch.bmm(weight, flat)  # (N, 1, HW) == conv_attn(x)
            if bias is not None:
                logits = logits + bias.reshape(1, 1, 1)
            attn = self.gate(logits.reshape(n, 1, h, w))  # (N, 1, H, W)
            context = torch.bmm(flat, attn.reshape(n, h * w, 1)).reshape(n, c, 1, 1)
        else:
            context = x.mean(dim=(2, 3), keepdim=True)
        out = x
        if self.mlp_scale is not None and self.scale_gate is not None:
            out = out * self.scale_gate(self.mlp_scale(context))
        if self.mlp_add is not None:
            out = out + self.mlp_add(context)
        return out

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}"
