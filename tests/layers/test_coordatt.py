"""Tests for attnvision.layers.coordatt (Coordinate Attention, Hou et al. CVPR 2021)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _parity import randomise as _randomise
from attnvision.layers import create_attention
from attnvision.layers.coordatt import CoordAttention, CoordGate, coordatt_channels

timm_coord = pytest.importorskip("timm.layers.coord_attn")


def _pair(channels: int, dtype=torch.float64, **kwargs):
    """Ours and timm's CoordAttn built with the official width and biases, same weights."""
    ours = CoordAttention(channels, **kwargs).to(dtype)
    peer = timm_coord.CoordAttn(
        channels, rd_channels=ours.rd_channels, bias=True, act_layer=nn.Hardswish
    ).to(dtype)
    _randomise(peer)
    ours.load_state_dict(peer.state_dict())  # same names, strict
    return ours, peer


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("channels", "size"), [(16, (7, 5)), (64, (6, 6)), (40, (1, 1))])
def test_parity_with_timm_forward_and_gradients(channels, size, train):
    ours, peer = _pair(channels)
    ours.train(train)
    peer.train(train)
    x = torch.randn(3, channels, *size, dtype=torch.float64)
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
    for name, buf in ours.named_buffers():
        torch.testing.assert_close(buf, dict(peer.named_buffers())[name])


def test_parity_with_timm_float32_channels_last():
    ours, peer = _pair(32, torch.float32)
    x = torch.randn(2, 32, 10, 12).contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(ours(x), peer(x), atol=1e-5, rtol=1e-5)


def test_matches_paper_equations_by_hand():
    block = CoordAttention(16).eval()
    _randomise(block)
    x = torch.randn(2, 16, 5, 3)
    seen = {}
    block.gate.register_forward_hook(lambda m, i, o: seen.update(map=o))
    out = block(x)
    bn = block.bn1

    def f(z):  # Eq. 6 on one pooled direction: h_swish(BN(F1 z))
        z = F.conv2d(z, block.conv1.weight, block.conv1.bias)
        z = F.batch_norm(z, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        return z * F.relu6(z + 3) / 6

    z_h = x.mean(dim=3, keepdim=True)  # Eq. 4, (N, C, H, 1)
    z_w = x.mean(dim=2, keepdim=True)  # Eq. 5, (N, C, 1, W)
    g_h = torch.sigmoid(F.conv2d(f(z_h), block.conv_h.weight, block.conv_h.bias))  # Eq. 7
    g_w = torch.sigmoid(F.conv2d(f(z_w), block.conv_w.weight, block.conv_w.bias))  # Eq. 8
    torch.testing.assert_close(out, x * g_h * g_w)  # Eq. 9
    assert seen["map"].shape == (2, 16, 5, 3)
    torch.testing.assert_close(seen["map"], g_h * g_w)


def test_transposing_input_and_swapping_branches_transposes_output():
    block = CoordAttention(8).eval()
    _randomise(block)
    swapped = CoordAttention(8).eval()
    swapped.load_state_dict(block.state_dict())
    with torch.no_grad():
        swapped.conv_h.load_state_dict(block.conv_w.state_dict())
        swapped.conv_w.load_state_dict(block.conv_h.state_dict())
    x = torch.randn(2, 8, 6, 4)
    torch.testing.assert_close(swapped(x.transpose(2, 3)), block(x).transpose(2, 3))


@pytest.mark.parametrize(
    ("channels", "mip"), [(16, 8), (64, 8), (256, 8), (272, 8), (320, 10), (512, 16), (1280, 40)]
)
def test_width_is_official_max_8_c_floordiv_32(channels, mip):
    assert coordatt_channels(channels) == max(8, channels // 32) == mip
    assert CoordAttention(channels).rd_channels == mip


def test_width_options():
    assert coordatt_channels(64, rd_channels=12) == 12
    assert coordatt_channels(1000, rd_ratio=1 / 16, rd_divisor=8) == 64
    assert coordatt_channels(64, rd_ratio=1 / 4, min_rd_channels=1) == 16


def test_shapes_and_gate_type():
    block = create_attention("coordatt", channels=24).eval()
    assert isinstance(block.gate, CoordGate)
    for shape in [(1, 24, 1, 1), (1, 24, 7, 5), (2, 24, 3, 9)]:
        assert block(torch.randn(shape)).shape == shape
    no_norm = CoordAttention(24, norm_layer=None, bias=False)
    assert isinstance(no_norm.bn1, nn.Identity) and no_norm.conv1.bias is None


def test_gate_without_gradients_gives_the_same_map_bit_for_bit():
    # without gradients the gate takes the broadcast product, with them the batched matmul
    torch.manual_seed(3)
    gate = CoordGate()
    logits_h = torch.randn(2, 16, 9, 1)
    logits_w = torch.randn(2, 16, 1, 7)
    with torch.no_grad():
        fast = gate(logits_h, logits_w)
    traced = gate(logits_h.requires_grad_(), logits_w.requires_grad_())
    assert traced.requires_grad and not fast.requires_grad
    assert torch.equal(fast, traced.detach())
    block = CoordAttention(16).eval()
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        out_no_grad = block(x)
    assert torch.equal(out_no_grad, block(x.requires_grad_()).detach())


def test_unobserved_inference_path_matches_the_observed_one():
    # no gradients and no hook on the gate: the map is formed in the output buffer
    torch.manual_seed(4)
    block = CoordAttention(16).eval()
    x = torch.randn(2, 16, 9, 7).to(memory_format=torch.channels_last)
    seen = []
    with torch.no_grad():
        fast = block(x)
        handle = block.gate.register_forward_hook(lambda m, i, o: seen.append(o))
        observed = block(x)
        handle.remove()
    assert len(seen) == 1 and seen[0].shape == (2, 16, 9, 7)
    assert torch.equal(fast, observed)
    assert torch.equal(observed, x * seen[0])
    assert fast.is_contiguous(memory_format=torch.channels_last)


def test_errors():
    with pytest.raises(ValueError, match="rd_channels"):
        CoordAttention(8, rd_channels=0)
    with pytest.raises(ValueError, match="channels >= 1"):
        CoordAttention(0)
    block = CoordAttention(8)
    with pytest.raises(ValueError, match=r"got input with 3 channels, expected 8"):
        block(torch.randn(2, 3, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        block(torch.randn(2, 8, 4, 4, 1))
    with pytest.raises(TypeError, match="floating-point"):
        block(torch.ones(2, 8, 4, 4, dtype=torch.bool))
