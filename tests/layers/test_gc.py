"""Tests for attnvision.layers.gc (Global Context block, Cao et al. 2019)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _parity import randomise as _randomise
from attnvision.layers import create_attention
from attnvision.layers.gc import GlobalContext, SpatialSoftmax

timm_layers = pytest.importorskip("timm.layers")


def _pair(dtype=torch.float64, **kwargs):
    ours = GlobalContext(**kwargs).to(dtype)
    # timm's defaults are fuse_add=False, fuse_scale=True; ours the paper's (add only)
    peer_kwargs = {"fuse_add": True, "fuse_scale": False, **kwargs}
    peer = timm_layers.GlobalContext(**peer_kwargs).to(dtype)
    _randomise(peer)
    ours.load_state_dict(peer.state_dict())  # same names, strict
    return ours, peer


CONFIGS = [
    dict(channels=16),  # paper: attention pooling + fusion by addition
    dict(channels=16, fuse_add=False, fuse_scale=True),
    dict(channels=24, fuse_add=True, fuse_scale=True, rd_ratio=1 / 4),
    dict(channels=16, use_attn=False),
    dict(channels=32, rd_ratio=1 / 16, rd_divisor=8),
]


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(
    "kwargs", CONFIGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items())
)
def test_parity_with_timm_forward_and_gradients(kwargs, memory_format):
    ours, peer = _pair(**kwargs)
    x = torch.randn(3, kwargs["channels"], 7, 5, dtype=torch.float64)
    x = x.contiguous(memory_format=memory_format)
    x_ours = x.clone().requires_grad_()
    x_peer = x.clone().requires_grad_()
    out_ours, out_peer = ours(x_ours), peer(x_peer)
    torch.testing.assert_close(out_ours, out_peer, atol=1e-6, rtol=0)
    grad = torch.randn_like(out_ours)
    out_ours.backward(grad)
    out_peer.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_peer.grad, atol=1e-6, rtol=0)
    peer_params = dict(peer.named_parameters())
    assert set(peer_params) == {name for name, _ in ours.named_parameters()}
    for name, param in ours.named_parameters():
        torch.testing.assert_close(param.grad, peer_params[name].grad, atol=1e-6, rtol=0)


def test_parity_with_timm_float32():
    ours, peer = _pair(torch.float32, channels=64, fuse_scale=True)
    x = torch.randn(2, 64, 14, 14)
    torch.testing.assert_close(ours(x), peer(x), atol=1e-5, rtol=1e-5)


def test_gate_is_softmax_of_key_conv_and_context_is_weighted_sum():
    block = GlobalContext(8)
    _randomise(block)
    seen = {}
    block.gate.register_forward_hook(lambda m, i, o: seen.update(attn=o))
    x = torch.randn(2, 8, 6, 4, dtype=torch.float32)
    out = block(x)
    attn = seen["attn"]
    assert attn.shape == (2, 1, 6, 4)
    torch.testing.assert_close(attn.sum(dim=(2, 3)), torch.ones(2, 1))
    logits = F.conv2d(x, block.conv_attn.weight, block.conv_attn.bias)  # W_k x_j
    torch.testing.assert_close(attn, torch.softmax(logits.flatten(1), dim=1).view(2, 1, 6, 4))
    # Eq. 4: z = x + W_v2 ReLU(LN(W_v1 sum_j a_j x_j))
    context = (x * attn).sum(dim=(2, 3), keepdim=True)
    mlp = block.mlp_add
    hidden = F.conv2d(context, mlp.fc1.weight, mlp.fc1.bias)
    hidden = F.layer_norm(
        hidden.flatten(1), hidden.shape[1:2], mlp.norm.weight, mlp.norm.bias, 1e-6
    )
    hidden = F.conv2d(F.relu(hidden).view(2, -1, 1, 1), mlp.fc2.weight, mlp.fc2.bias)
    torch.testing.assert_close(out, x + hidden)


def test_fresh_block_is_identity_and_context_is_translation_invariant():
    block = GlobalContext(8)
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(block(x), x)  # last conv of the transform starts at zero
    _randomise(block)
    # attention pooling does not depend on where things are: circular shifts of the input
    # shift the output by the same amount
    shifted = torch.roll(x, shifts=(2, 1), dims=(2, 3))
    torch.testing.assert_close(block(shifted), torch.roll(block(x), shifts=(2, 1), dims=(2, 3)))


def test_without_attention_context_is_global_mean():
    block = GlobalContext(8, use_attn=False)
    _randomise(block)
    assert block.gate is None and block.conv_attn is None
    x = torch.randn(2, 8, 3, 7)
    expected = x + block.mlp_add(x.mean(dim=(2, 3), keepdim=True))
    torch.testing.assert_close(block(x), expected)


def test_widths_and_init_options():
    assert GlobalContext(64).rd_channels == 8  # timm default 1/8
    assert GlobalContext(256, rd_ratio=1 / 16).rd_channels == 16  # paper r = 16
    assert GlobalContext(64, rd_channels=5).rd_channels == 5
    block = GlobalContext(16, fuse_add=False, fuse_scale=True, init_last_zero=True)
    x = torch.randn(1, 16, 4, 4)
    torch.testing.assert_close(block(x), 0.5 * x)  # sigmoid(0) everywhere
    assert isinstance(create_attention("gc", channels=16).gate, SpatialSoftmax)


def test_shapes_1x1_and_batch_1():
    block = GlobalContext(8)
    _randomise(block)
    for shape in [(1, 8, 1, 1), (1, 8, 7, 5)]:
        x = torch.randn(shape)
        assert block(x).shape == shape


def test_errors():
    with pytest.raises(ValueError, match="fuse_add or fuse_scale"):
        GlobalContext(8, fuse_add=False, fuse_scale=False)
    with pytest.raises(ValueError, match="rd_channels"):
        GlobalContext(8, rd_channels=0)
    with pytest.raises(ValueError, match="channels >= 1"):
        GlobalContext(0)
    block = GlobalContext(8)
    with pytest.raises(ValueError, match=r"got input with 3 channels, expected 8"):
        block(torch.randn(1, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        block(torch.randn(1, 8, 4))
    with pytest.raises(TypeError, match="floating-point"):
        block(torch.ones(1, 8, 4, 4, dtype=torch.int32))
