"""Tests for attnvision.layers.bam (Bottleneck Attention Module, Park et al. 2018).

timm has no BAM, so the block is checked against the paper's equations written out by
hand with functional ops, and against structural facts (branch independence, receptive
field of the dilated spatial branch, official layer layout).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnvision.layers import create_attention
from attnvision.layers.bam import BAM, BAMChannel, BAMGate, BAMSpatial, bam_channels


def _randomise(module: nn.Module, seed: int = 1) -> None:
    """Random weights; BN affine/statistics chosen so that about half the ReLUs are active."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in module.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.weight.copy_(torch.randn(mod.weight.shape, generator=gen) * 0.5)
                mod.bias.copy_(torch.randn(mod.bias.shape, generator=gen) * 0.5)
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                c = mod.num_features
                mod.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.bias.copy_(torch.rand(c, generator=gen) * 0.2)
                mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=gen) + 0.5)


def _bn(x: torch.Tensor, bn: nn.Module, training: bool) -> torch.Tensor:
    return F.batch_norm(
        x,
        bn.running_mean.clone(),
        bn.running_var.clone(),
        bn.weight,
        bn.bias,
        training,
        0.1,
        bn.eps,
    )


def _by_hand(block: BAM, x: torch.Tensor, training: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``M_c`` (N, C, 1, 1) and ``M_s`` (N, 1, H, W) written out from the parameters."""
    ch = block.channel
    z = x.mean(dim=(2, 3))  # AvgPool(F)
    z = F.relu(_bn(F.linear(z, ch.fc.weight, ch.fc.bias), ch.bn, training))
    m_c = F.linear(z, ch.fc_final.weight, ch.fc_final.bias)[:, :, None, None]
    convs = [m for m in block.spatial.body if isinstance(m, nn.Conv2d)]
    bns = [m for m in block.spatial.body if isinstance(m, nn.BatchNorm2d)]
    s = x
    for conv, bn in zip(convs, bns):
        s = F.relu(
            _bn(F.conv2d(s, conv.weight, conv.bias, 1, conv.padding, conv.dilation), bn, training)
        )
    final = block.spatial.conv_final
    m_s = F.conv2d(s, final.weight, final.bias)
    return m_c, m_s


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_output_is_x_times_one_plus_sigmoid_of_sum(training):
    """Eq. 1-2: F' = F + F * sigmoid(M_c(F) + M_s(F))."""
    block = BAM(32).double().train(training)
    _randomise(block)
    x = torch.randn(3, 32, 7, 5, dtype=torch.float64)
    seen = {}
    block.gate.register_forward_hook(lambda m, i, o: seen.update(map=o))
    out = block(x)
    m_c, m_s = _by_hand(block, x, training)
    attn = torch.sigmoid(m_c + m_s)
    # both branches really act: the map varies over space and over channels
    assert attn.std(dim=(2, 3)).max() > 1e-3 and attn.std(dim=1).max() > 1e-3
    torch.testing.assert_close(out, x * (1 + attn), atol=1e-10, rtol=0)
    assert seen["map"].shape == (3, 32, 7, 5)
    torch.testing.assert_close(seen["map"], attn, atol=1e-10, rtol=0)
    torch.testing.assert_close(block.channel(x), m_c, atol=1e-10, rtol=0)
    torch.testing.assert_close(block.spatial(x), m_s, atol=1e-10, rtol=0)


def test_zero_spatial_branch_gives_pure_channel_attention():
    block = BAM(64).eval()
    _randomise(block)
    with torch.no_grad():
        block.spatial.conv_final.weight.zero_()
        block.spatial.conv_final.bias.zero_()
    x = torch.rand(2, 64, 6, 6) + 0.1
    ratio = block(x) / x
    # the same factor 1 + sigmoid(M_c) at every position of a channel
    torch.testing.assert_close(ratio, ratio[:, :, :1, :1].expand_as(ratio))
    torch.testing.assert_close(ratio, 1 + torch.sigmoid(block.channel(x)).expand_as(ratio))
    assert ratio[0, :, 0, 0].std() > 1e-3  # but it differs across channels


def test_zero_channel_branch_gives_pure_spatial_attention():
    block = BAM(64).eval()
    _randomise(block)
    with torch.no_grad():
        block.channel.fc_final.weight.zero_()
        block.channel.fc_final.bias.zero_()
    x = torch.rand(2, 64, 6, 6) + 0.1
    ratio = block(x) / x
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))  # same for all channels
    torch.testing.assert_close(ratio, 1 + torch.sigmoid(block.spatial(x)).expand_as(ratio))
    assert ratio[0, 0].std() > 1e-3


def test_both_branches_zero_give_one_and_a_half_x():
    block = BAM(16).eval()
    with torch.no_grad():
        for layer in (block.channel.fc_final, block.spatial.conv_final):
            layer.weight.zero_()
            layer.bias.zero_()
    x = torch.randn(2, 16, 3, 4)
    torch.testing.assert_close(block(x), 1.5 * x)  # 1 + sigmoid(0)


def test_spatial_branch_receptive_field_is_dilated_grid():
    """Two 3x3 convs with dilation 4: M_s at a pixel sees offsets in {-8, -4, 0, 4, 8}^2.

    (Linear activations, so that no inactive ReLU hides part of the support.)
    """
    block = BAM(32, act_layer=nn.Identity).double().eval()
    _randomise(block)
    x = torch.randn(1, 32, 21, 21, dtype=torch.float64, requires_grad=True)
    block.spatial(x)[0, 0, 10, 10].backward()
    support = x.grad.abs().sum(dim=(0, 1)) > 0
    expected = torch.zeros(21, 21, dtype=torch.bool)
    for dy in (-8, -4, 0, 4, 8):
        for dx in (-8, -4, 0, 4, 8):
            expected[10 + dy, 10 + dx] = True
    assert torch.equal(support, expected)


def test_layout_and_widths():
    block = BAM(64)
    assert block.rd_channels == 4  # official C // 16
    assert isinstance(block.channel, BAMChannel) and isinstance(block.spatial, BAMSpatial)
    assert isinstance(block.gate, BAMGate)
    convs = [m for m in block.spatial.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.dilation) for c in convs] == [
        (64, 4, (1, 1), (1, 1)),
        (4, 4, (3, 3), (4, 4)),
        (4, 4, (3, 3), (4, 4)),
        (4, 1, (1, 1), (1, 1)),
    ]
    assert all(c.bias is not None for c in convs)
    assert block.channel.fc.out_features == 4 and block.channel.fc_final.bias is not None
    # parameters: channel MLP 64*4+4 + BN 8 + 4*64+64, spatial 64*4+4 + 8 + 2*(4*4*9+4+8) + 5
    assert sum(p.numel() for p in block.parameters()) == (260 + 8 + 320) + (260 + 8 + 2 * 156 + 5)
    assert bam_channels(256) == 16 and bam_channels(40) == 2
    assert bam_channels(40, rd_divisor=8) == 8 and bam_channels(64, rd_channels=7) == 7
    three = BAM(32, num_dilated=3, dilation=2)
    assert sum(isinstance(m, nn.Conv2d) for m in three.spatial.modules()) == 5


def test_shapes_1x1_non_square_and_channels_last():
    block = create_attention("bam", channels=32).eval()
    _randomise(block)
    for shape in [(1, 32, 1, 1), (1, 32, 7, 5), (2, 32, 5, 9)]:
        x = torch.randn(shape)
        assert block(x).shape == shape
        cl = x.contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(block(cl), block(x))


def test_gradcheck_float64():
    block = BAM(16, dilation=1).double()
    _randomise(block)
    x = torch.randn(2, 16, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), fast_mode=True)


def test_errors():
    with pytest.raises(ValueError, match="rd_channels"):
        BAM(16, rd_channels=0)
    with pytest.raises(ValueError, match="dilation"):
        BAM(16, dilation=0)
    with pytest.raises(ValueError, match="channels >= 1"):
        BAM(0)
    block = BAM(16)
    with pytest.raises(ValueError, match=r"got input with 8 channels, expected 16"):
        block(torch.randn(2, 8, 4, 4))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        block(torch.randn(16, 4, 4))
    with pytest.raises(TypeError, match="floating-point"):
        block(torch.ones(2, 16, 4, 4, dtype=torch.uint8))
