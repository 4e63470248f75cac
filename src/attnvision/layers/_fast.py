"""Memory-lean autograd for "pool -> small network -> gate -> scale" blocks (SE, ECA, CBAM).

Every such block computes ``out = x * a`` where the attention map ``a = f(pool(x))`` is
small: ``(N, C, 1, 1)`` for a channel gate (pool over ``H, W``), ``(N, 1, H, W)`` for a
spatial gate (pool over ``C``). Plain autograd spends most of its backward time allocating
full-size ``(N, C, H, W)`` temporaries: ``g * x`` for the map's gradient, the expanded
gradient of the mean, the masks of ``amax``, and their sum. :class:`PoolGateScale` does
the same math with one full-size allocation in the backward pass (the input gradient):

* ``grad_a = sum(g * x)`` over the pooled dimensions is formed a few samples at a time
  in one reused buffer (:func:`reduce_product`; same reduction as autograd's, so the
  result is bitwise equal on CPU);
* the small network ``f`` keeps its own autograd graph (built once, in the forward pass,
  so batch-norm statistics and hooks see exactly one call) and is differentiated with
  ``torch.autograd.grad``;
* ``grad_x = g * a + grad_mean / n`` is one fused ``addcmul``, and the max-pool gradient
  is scattered into it in place at the indices saved by the forward pass.

:class:`ChannelSpatialGateScale` does the same for CBAM's two gates in one function and
never stores the channel-gated tensor ``x * w`` (one full-size allocation in the forward
pass, the output, and one in the backward pass).

Max pooling sends its gradient to the single position that ``torch.max`` returns, as the
CBAM paper's code does (``F.max_pool2d`` / ``torch.max``); ``torch.amax`` (used by timm)
splits it among ties. The two agree whenever the maximum is unique.

The fast path is used only in eager mode with gradients enabled; under TorchScript,
``torch.compile`` and ``torch.export`` the blocks run their plain path (the compilers fuse
it themselves). It supports first-order gradients only (``create_graph=True`` raises).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn
from torch.autograd.function import once_differentiable

__all__ = [
    "ChannelSpatialGateScale",
    "PoolGateScale",
    "pool_gate_scale",
    "reduce_product",
    "use_fast_path",
]

# Elements of the reused product buffer (1 MiB in float32; at least one sample): the
# buffer stays in cache between the product and its sum, and it is small enough that glibc
# serves it from the heap instead of fresh pages (a full-size buffer cost page faults on
# every call: 0.92x timm for ECA at (8, 512, 28, 28) against 0.73x with this size).
_CHUNK_ELEMENTS = 1 << 18


def use_fast_path(x: torch.Tensor, module: nn.Module) -> bool:
    """Whether the hand-written backward applies: eager mode and something needs a gradient."""
    if torch.jit.is_scripting() or torch.compiler.is_compiling():
        return False
    if not torch.is_grad_enabled():
        return False
    if x.requires_grad:
        return True
    return any(p.requires_grad for p in module.parameters())


def reduce_product(g: torch.Tensor, x: torch.Tensor, over_channels: bool) -> torch.Tensor:
    """``(g * x).sum(dims, keepdim=True)`` without a full-size ``g * x`` temporary.

    Args:
        g, x: ``(N, C, H, W)`` tensors of the same shape (any memory format).
        over_channels: sum over ``C`` (gives ``(N, 1, H, W)``) instead of over ``H, W``
            (gives ``(N, C, 1, 1)``).

    The product is formed a few samples at a time in one reused buffer (at most
    ``_CHUNK_ELEMENTS`` elements) and reduced by the same ``sum`` autograd uses, so the
    result equals ``(g * x).sum(dims)`` bit for bit on CPU. (A batched matrix product
    would skip the buffer but sums in another order: last-bit differences that the CBAM
    spatial gate's weight gradient amplifies past 1e-6.)
    """
    dims: tuple[int, ...] = (1,) if over_channels else (2, 3)
    if x.dim() != 4 or g.shape != x.shape or g.dtype != x.dtype:
        return (g * x).sum(dims, keepdim=True)
    n, c, h, w = x.shape
    if x.device.type != "cpu":
        return (g * x).sum(dims, keepdim=True)
    per_sample = max(1, x[0].numel())
    step = max(1, _CHUNK_ELEMENTS // per_sample)
    out_shape = (n, 1, h, w) if over_channels else (n, c, 1, 1)
    out = torch.empty(out_shape, dtype=x.dtype, device=x.device)
    buf = torch.empty_like(x[: min(step, n)])
    for start in range(0, n, step):
        stop = min(n, start + step)
        b = buf[: stop - start]
        torch.mul(g[start:stop], x[start:stop], out=b)
        torch.sum(b, dims, keepdim=True, out=out[start:stop])
    return out


def _max_hw(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Max over ``H, W`` of ``(N, C, H, W)``: values ``(N, C, 1, 1)``, flat indices ``(N, C)``."""
    n, c = x.shape[:2]
    if x.is_contiguous():
        values, index = x.view(n, c, -1).max(2)
    elif x.is_contiguous(memory_format=torch.channels_last):
        values, index = x.permute(0, 2, 3, 1).reshape(n, -1, c).max(1)
    else:
        values, index = x.flatten(2).max(2)
    return values.view(n, c, 1, 1), index


def _scatter_hw(grad: torch.Tensor, index: torch.Tensor, values: torch.Tensor) -> None:
    """``grad[n, c].flatten()[index[n, c]] += values[n, c]`` in place, for any memory format."""
    n, c, _, w = grad.shape
    rows = torch.arange(n, device=grad.device).view(n, 1).expand(n, c)
    cols = torch.arange(c, device=grad.device).view(1, c).expand(n, c)
    grad.index_put_(
        (rows, cols, index // w, index % w), values.reshape(n, c).to(grad.dtype), accumulate=True
    )


class PoolGateScale(torch.autograd.Function):
    """``out = x * f(mean(x), max(x))`` with a backward that allocates one full-size tensor.

    Args (of ``apply``):
        x: ``(N, C, H, W)`` input.
        fn: the small network ``f(avg, max_or_None) -> map``; it calls the block's ``gate``
            submodule so forward hooks see the map.
        over_channels: pool over ``C`` (spatial map ``(N, 1, H, W)``) instead of over
            ``H, W`` (channel map ``(N, C, 1, 1)``).
        use_max: also pass the max pool to ``fn``.
        *params: every parameter ``fn`` uses (their gradients are returned).
    """

    @staticmethod
    def forward(ctx, x, fn, over_channels, use_max, *params):  # type: ignore[override]
        if over_channels:
            avg = x.mean(1, keepdim=True)
            mx, index = x.max(1, keepdim=True) if use_max else (None, None)
        else:
            avg = x.mean((2, 3), keepdim=True)
            mx, index = _max_hw(x) if use_max else (None, None)
        with torch.enable_grad():
            avg_leaf = avg.detach().requires_grad_()
            max_leaf = mx.detach().requires_grad_() if mx is not None else None
            attn = fn(avg_leaf, max_leaf)
        attn_value = attn.detach()
        out = x * attn_value
        ctx.save_for_backward(x, attn_value, index)
        ctx.graph = (attn, avg_leaf, max_leaf, params)
        ctx.over_channels = over_channels
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        x, attn_value, index = ctx.saved_tensors
        attn, avg_leaf, max_leaf, params = ctx.graph
        over_channels = ctx.over_channels
        needs_x = ctx.needs_input_grad[0]
        needs_p = ctx.needs_input_grad[4:]
        grad_attn = reduce_product(grad_out, x, over_channels).to(attn.dtype)

        wanted: list[torch.Tensor] = []
        if needs_x:
            wanted.append(avg_leaf)
            if max_leaf is not None:
                wanted.append(max_leaf)
        wanted += [p for p, need in zip(params, needs_p) if need]
        grads: Sequence[torch.Tensor | None] = (
            torch.autograd.grad(attn, wanted, grad_attn, retain_graph=True, allow_unused=True)
            if wanted
            else ()
        )
        grads = list(grads)

        grad_x = None
        if needs_x:
            grad_avg = grads.pop(0)
            grad_max = grads.pop(0) if max_leaf is not None else None
            count = x.shape[1] if over_channels else x.shape[2] * x.shape[3]
            if grad_avg is None:
                grad_x = grad_out * attn_value
            else:
                grad_x = torch.addcmul(grad_avg / count, grad_out, attn_value)
            if grad_max is not None:
                if over_channels:
                    grad_x.scatter_add_(1, index, grad_max.to(grad_x.dtype))
                else:
                    _scatter_hw(grad_x, index, grad_max)
        grad_params = [grads.pop(0) if need else None for need in needs_p]
        return (grad_x, None, None, None, *grad_params)


def pool_gate_scale(
    x: torch.Tensor,
    fn: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    params: Sequence[torch.Tensor],
    *,
    over_channels: bool,
    use_max: bool,
) -> torch.Tensor:
    """Apply :class:`PoolGateScale`: ``x * fn(mean(x), max(x) if use_max else None)``."""
    return PoolGateScale.apply(x, fn, over_channels, use_max, *params)


def _chunks(x: torch.Tensor):
    """``(start, stop, buffer)`` over the batch, with one reused buffer shaped like ``x``."""
    n = x.shape[0]
    step = max(1, _CHUNK_ELEMENTS // max(1, x[0].numel()))
    buf = torch.empty_like(x[: min(step, n)])
    for start in range(0, n, step):
        stop = min(n, start + step)
        yield start, stop, buf[: stop - start]


class ChannelSpatialGateScale(torch.autograd.Function):
    """CBAM in one function: ``out = x * w * s`` with ``w = f_c(mean_HW(x), max_HW(x))``
    ``(N, C, 1, 1)`` and ``s = f_s(mean_C(y), max_C(y))`` ``(N, 1, H, W)``, ``y = x * w``.

    Never stores ``y``: its pools over ``C`` (forward) and ``sum_C(g * y)`` (backward) are
    formed a few samples at a time in one reused buffer, with the same operations as
    plain autograd (so the results are bitwise those of the two gates run one after the
    other). The backward allocates one full-size tensor: the gradient of ``y``, which is
    turned into the input gradient in place.

    Args (of ``apply``): ``x``, ``channel_fn(avg, max) -> w``, ``spatial_fn(avg, max) -> s``,
    the number of parameters of ``channel_fn``, then the parameters of ``channel_fn``
    followed by those of ``spatial_fn``.
    """

    @staticmethod
    def forward(ctx, x, channel_fn, spatial_fn, n_channel_params, *params):  # type: ignore[override]
        n, c, h, w = x.shape
        avg_c = x.mean((2, 3), keepdim=True)
        max_c, index_c = _max_hw(x)
        with torch.enable_grad():
            avg_c_leaf = avg_c.detach().requires_grad_()
            max_c_leaf = max_c.detach().requires_grad_()
            wmap = channel_fn(avg_c_leaf, max_c_leaf)
        wv = wmap.detach()
        avg_s = x.new_empty((n, 1, h, w))
        max_s = x.new_empty((n, 1, h, w))
        index_s = torch.empty((n, 1, h, w), dtype=torch.long, device=x.device)
        for start, stop, buf in _chunks(x):
            torch.mul(x[start:stop], wv[start:stop], out=buf)
            torch.mean(buf, 1, keepdim=True, out=avg_s[start:stop])
            torch.max(buf, 1, keepdim=True, out=(max_s[start:stop], index_s[start:stop]))
        with torch.enable_grad():
            avg_s_leaf = avg_s.requires_grad_()
            max_s_leaf = max_s.requires_grad_()
            smap = spatial_fn(avg_s_leaf, max_s_leaf)
        sv = smap.detach()
        out = torch.mul(x, wv)
        out.mul_(sv)
        ctx.save_for_backward(x, wv, sv, index_c, index_s)
        ctx.graph = (wmap, avg_c_leaf, max_c_leaf, smap, avg_s_leaf, max_s_leaf, params)
        ctx.n_channel_params = n_channel_params
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # type: ignore[override]
        x, wv, sv, index_c, index_s = ctx.saved_tensors
        wmap, avg_c_leaf, max_c_leaf, smap, avg_s_leaf, max_s_leaf, params = ctx.graph
        k = ctx.n_channel_params
        needs_x = ctx.needs_input_grad[0]
        needs_p = ctx.needs_input_grad[4:]
        need_c, need_s = needs_p[:k], needs_p[k:]
        n, c, h, w = x.shape

        # spatial gate: grad of s is sum_C(g * y), y = x * w rebuilt chunk by chunk
        grad_s = x.new_empty((n, 1, h, w))
        for start, stop, buf in _chunks(x):
            torch.mul(x[start:stop], wv[start:stop], out=buf)
            buf.mul_(grad_out[start:stop])
            torch.sum(buf, 1, keepdim=True, out=grad_s[start:stop])
        need_y = needs_x or any(need_c)
        wanted = [avg_s_leaf, max_s_leaf] if need_y else []
        wanted += [p for p, need in zip(params[k:], need_s) if need]
        grads = list(
            torch.autograd.grad(smap, wanted, grad_s, retain_graph=True, allow_unused=True)
            if wanted
            else ()
        )
        grad_params: list[torch.Tensor | None] = [None] * len(params)
        grad_x = None
        if need_y:
            grad_avg_s, grad_max_s = grads.pop(0), grads.pop(0)
            grad_y = torch.addcmul(grad_avg_s / c, grad_out, sv)
            grad_y.scatter_add_(1, index_s, grad_max_s.to(grad_y.dtype))
            # channel gate: grad of w is sum_HW(grad_y * x)
            grad_w = reduce_product(grad_y, x, over_channels=False).to(wmap.dtype)
            wanted_c = [avg_c_leaf, max_c_leaf] if needs_x else []
            wanted_c += [p for p, need in zip(params[:k], need_c) if need]
            grads_c = list(
                torch.autograd.grad(wmap, wanted_c, grad_w, retain_graph=True, allow_unused=True)
                if wanted_c
                else ()
            )
            if needs_x:
                grad_avg_c, grad_max_c = grads_c.pop(0), grads_c.pop(0)
                grad_x = torch.addcmul(grad_avg_c / (h * w), grad_y, wv, out=grad_y)
                _scatter_hw(grad_x, index_c, grad_max_c)
            for i, need in enumerate(need_c):
                if need:
                    grad_params[i] = grads_c.pop(0)
        for i, need in enumerate(need_s):
            if need:
                grad_params[k + i] = grads.pop(0)
        return (grad_x, None, None, None, *grad_params)
