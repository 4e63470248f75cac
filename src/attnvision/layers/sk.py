"""Selective Kernel convolution / attention (SKNet).

Reference:
    X. Li, W. Wang, X. Hu, J. Yang, "Selective Kernel Networks", CVPR 2019,
    arXiv:1903.06586. Split (Sec. 3.1): branches ``U_m = ReLU(BN(conv_m(X)))`` with
    different receptive fields; Fuse (Eq. 1-4): ``s = GAP(sum_m U_m)``,
    ``z = ReLU(BN(W s))`` with ``W`` of shape ``(d, C)`` and ``d = max(C / r, L)``;
    Select (Eq. 5-6): ``a_m = softmax_m(A_m z)`` per channel and ``V = sum_m a_m U_m``.

Parameters and names follow timm's ``timm.layers.SelectiveKernel`` (its state dict maps
one to one: ``attn.*`` there is ``gate.*`` here), so timm weights load after renaming.
The forward pass is arranged to avoid timm's stacked copy of the branches: the pooled
descriptor is the sum of per-branch means and the selection is a multiply-accumulate.
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

__all__ = ["SelectiveKernel", "SelectiveKernelGate", "sk_attn_channels"]


def sk_attn_channels(
    out_channels: int,
    rd_ratio: float = 1.0 / 16,
    rd_channels: int | None = None,
    rd_divisor: int = 8,
    min_rd_channels: int = 32,
) -> int:
    """Width ``d`` of the SK fuse layer: ``max(make_divisible(C * rd_ratio, rd_divisor), L)``.

    The paper's rule is ``d = max(C / r, L)`` with ``r = 16``, ``L = 32`` (SKNet, Eq. 4);
    timm's ``SelectiveKernel`` uses ``make_divisible(C * rd_ratio, rd_divisor)`` without
    ``L`` (its SKNet models pass ``rd_divisor=32`` instead). With the defaults both give the
    paper's widths for the SKNet-50 stages: 32, 32, 32, 64, 128 for C = 128 ... 2048.
    An explicit ``rd_channels`` wins.

    Example:
        >>> sk_attn_channels(128), sk_attn_channels(2048)
        (32, 128)
    """
    if rd_channels is not None:
        if rd_channels < 1:
            raise ValueError(f"SelectiveKernel expected rd_channels >= 1, got {rd_channels}")
        return int(rd_channels)
    return max(make_divisible(out_channels * rd_ratio, rd_divisor), int(min_rd_channels))


class SelectiveKernelGate(nn.Module):
    """SK fuse + select: pooled ``(N, C, 1, 1)`` descriptor to branch weights ``(N, M, C, 1, 1)``.

    ``z = act(bn(fc_reduce(s)))`` (SKNet Eq. 4), ``logits = fc_select(z)`` reshaped to
    ``(N, M, C, 1, 1)`` (the ``A_m``, ``B_m`` matrices of Eq. 5 stacked, no bias) and ONE
    softmax over the ``M`` branches for every channel (Eq. 5). The weights sum to 1 over
    ``dim=1``. Parameter names match timm's ``SelectiveKernelAttn``.

    Args:
        channels: ``C`` (the branches' output channels).
        num_paths: ``M``.
        attn_channels: ``d``.
        act_layer: activation after the BN (ReLU).
        norm_layer: normalisation on the ``(N, d, 1, 1)`` fuse vector (BatchNorm2d).
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).
    """

    def __init__(
        self,
        channels: int,
        num_paths: int = 2,
        attn_channels: int = 32,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        dd = factory_kwargs(device, dtype)
        self.num_paths = num_paths
        self.fc_reduce = nn.Conv2d(channels, attn_channels, kernel_size=1, bias=False, **dd)
        self.bn = norm_layer(attn_channels, **dd)
        self.act = create_act(act_layer, nn.ReLU, **dd)
        self.fc_select = nn.Conv2d(
            attn_channels, channels * num_paths, kernel_size=1, bias=False, **dd
        )

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        """Map the ``(N, C, 1, 1)`` pooled sum of branches to ``(N, M, C, 1, 1)`` weights."""
        z = self.act(self.bn(self.fc_reduce(pooled)))
        logits = self.fc_select(z)
        n = logits.shape[0]
        logits = logits.reshape(n, self.num_paths, -1, 1, 1)
        return torch.softmax(logits, dim=1)


class _ConvNormAct(nn.Sequential):
    """``conv -> bn -> act`` (names as timm's ``ConvNormAct``: ``conv``, ``bn``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int,
        dilation: int,
        groups: int,
        act_layer: type[nn.Module] | nn.Module | str | None,
        norm_layer: type[nn.Module],
        **dd: object,
    ) -> None:
        # timm's static "same" padding rule: ((stride - 1) + dilation * (k - 1)) // 2
        padding = ((stride - 1) + dilation * (kernel_size - 1)) // 2
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            groups=groups,
            bias=False,
            **dd,
        )
        self.bn = norm_layer(out_channels, **dd)
        act = create_act(act_layer, nn.ReLU, **dd)
        if isinstance(act, nn.ReLU):
            act = nn.ReLU(inplace=True)  # safe: BN saves its input, not its output
        self.act = act


class SelectiveKernel(nn.Module):
    """Selective Kernel convolution (Li et al. 2019, SKNet, Sec. 3.1, Eq. 1-6).

    ``M`` branches ``U_m = act(bn(conv_m(X)))`` with different receptive fields (by default
    a 3x3 and a 5x5 realised as a 3x3 with dilation 2), ``s = GAP(sum_m U_m)``,
    branch weights ``a = gate(s)`` of shape ``(N, M, C, 1, 1)`` (softmax over ``M`` per
    channel) and output ``V = sum_m a_m * U_m``.

    As an attention block (``create_attention("sk", channels=C)``) it maps ``(N, C, H, W)``
    to ``(N, C, H, W)``. As the 3x3-conv replacement of SKNet-50 use
    ``SelectiveKernel(in, out, stride=s, groups=32, split_input=False)`` (the paper feeds
    the whole input to every branch; timm's default ``split_input=True`` gives each branch
    ``in / M`` channels). The branch weights come out of the submodule ``gate``
    (:class:`SelectiveKernelGate`), so :func:`attnvision.explain.capture` records a
    ``(N, M, C, 1, 1)`` tensor.

    Args:
        in_channels: input channels ``C_in``.
        out_channels: output channels ``C`` (default ``C_in``).
        kernel_size: kernel size per branch (int: two branches of that size; default
            ``[3, 5]``); every size must be odd and >= 3.
        stride: stride of every branch (output is ``ceil(H / stride)``).
        dilation: dilation of the block as a whole.
        groups: groups of every branch conv (clamped to ``out_channels``; SKNet: 32).
        rd_ratio: fuse-layer ratio ``1/r`` (paper r = 16).
        rd_channels: explicit fuse width ``d`` (overrides the rule).
        rd_divisor: divisor for :func:`make_divisible` of ``C * rd_ratio``.
        min_rd_channels: the paper's ``L`` (minimum ``d``, default 32).
        keep_3x3: realise a k x k branch as a 3x3 conv with dilation ``(k - 1) // 2``.
        split_input: split the input channels evenly across branches (timm default).
        act_layer: activation of branches and fuse layer.
        norm_layer: normalisation of branches and fuse layer.
        device, dtype: where and in which floating dtype the parameters and buffers are
            created (``torch.nn``'s factory arguments, as timm's layers take them).

    Shape:
        ``(N, C_in, H, W) -> (N, C, H', W')`` with ``H' = ceil(H / stride)``.

    Example:
        >>> sk = SelectiveKernel(64)
        >>> sk(torch.randn(2, 64, 8, 8)).shape
        torch.Size([2, 64, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        kernel_size: int | list[int] | tuple[int, ...] | None = None,
        stride: int = 1,
        dilation: int = 1,
        groups: int = 1,
        rd_ratio: float = 1.0 / 16,
        rd_channels: int | None = None,
        rd_divisor: int = 8,
        min_rd_channels: int = 32,
        keep_3x3: bool = True,
        split_input: bool = True,
        act_layer: type[nn.Module] | nn.Module | str | None = nn.ReLU,
        norm_layer: type[nn.Module] = nn.BatchNorm2d,
        device: Device = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(in_channels, int) or in_channels < 1:
            raise ValueError(
                f"SelectiveKernel expected in_channels >= 1 (int), got {in_channels!r}"
            )
        out_channels = out_channels or in_channels
        if kernel_size is None:
            kernel_size = [3, 5]
        kernels = [kernel_size] * 2 if isinstance(kernel_size, int) else list(kernel_size)
        if len(kernels) < 2 or any(int(k) < 3 or int(k) % 2 == 0 for k in kernels):
            raise ValueError(
                "SelectiveKernel expected at least two odd kernel sizes >= 3, "
                f"got kernel_size={kernel_size!r}"
            )
        if keep_3x3:
            dilations = [dilation * (int(k) - 1) // 2 for k in kernels]
            kernels = [3] * len(kernels)
        else:
            dilations = [dilation] * len(kernels)
        num_paths = len(kernels)
        if split_input and in_channels % num_paths != 0:
            raise ValueError(
                f"SelectiveKernel(split_input=True) expected in_channels divisible by the "
                f"{num_paths} branches, got in_channels={in_channels}"
            )
        path_in = in_channels // num_paths if split_input else in_channels
        groups = min(out_channels, groups)
        if path_in % groups != 0 or out_channels % groups != 0:
            raise ValueError(
                f"SelectiveKernel expected branch input ({path_in}) and output ({out_channels}) "
                f"channels divisible by groups={groups}"
            )

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.num_paths = num_paths
        self.split_input = split_input
        self.attn_channels = sk_attn_channels(
            out_channels, rd_ratio, rd_channels, rd_divisor, min_rd_channels
        )
        self._owner = f"SelectiveKernel(in_channels={in_channels})"
        dd = factory_kwargs(device, dtype)
        self.paths = nn.ModuleList(
            [
                _ConvNormAct(
                    path_in, out_channels, k, stride, d, groups, act_layer, norm_layer, **dd
                )
                for k, d in zip(kernels, dilations)
            ]
        )
        self.gate = SelectiveKernelGate(
            out_channels, num_paths, self.attn_channels, act_layer, norm_layer, **dd
        )

    @torch.jit.unused
    def _check_batch(self, x: torch.Tensor) -> None:
        check_pooled_batch(x, self.gate.bn, self._owner)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply SK to ``x`` of shape ``(N, C_in, H, W)``; returns ``(N, C, H', W')``."""
        check_feature_map(x, self.in_channels, self._owner)
        if not torch.jit.is_scripting():
            self._check_batch(x)
        if self.split_input:
            inputs = torch.split(x, self.in_channels // self.num_paths, dim=1)
        else:
            inputs = [x] * self.num_paths
        branches: list[torch.Tensor] = []
        for i, path in enumerate(self.paths):
            branches.append(path(inputs[i]))
        # Fuse (Eq. 1-2): GAP of the sum == sum of the per-branch spatial sums / (H*W);
        # no summed copy, and the backward of a sum is a broadcast view (no full-size divide).
        pooled = branches[0].sum(dim=(2, 3), keepdim=True)
        for i in range(1, self.num_paths):
            pooled = pooled + branches[i].sum(dim=(2, 3), keepdim=True)
        pooled = pooled / (branches[0].shape[2] * branches[0].shape[3])
        attn = self.gate(pooled)  # (N, M, C, 1, 1)
        # Select (Eq. 6): V = sum_m a_m * U_m as an in-place multiply-accumulate into one
        # fresh buffer (no stacked copy; the product's output is not saved for backward).
        out = branches[0] * attn[:, 0]
        for i in range(1, self.num_paths):
            out.addcmul_(branches[i], attn[:, i])
        return out

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, out_channels={self.out_channels}, "
            f"num_paths={self.num_paths}, attn_channels={self.attn_channels}, "
            f"split_input={self.split_input}"
        )
