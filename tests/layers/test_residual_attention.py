"""Residual attention unit (Wang et al. 2017): Eq. 3, the mask gate, tiny inputs, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnvision.layers import ResidualAttentionUnit, create_attention
from attnvision.layers.residual_attention import PreActBottleneck


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def run_with_maps(unit: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
    maps: dict[str, torch.Tensor] = {}
    hooks = [
        unit.trunk.register_forward_hook(lambda m, i, o: maps.__setitem__("T", o)),
        unit.gate.register_forward_hook(lambda m, i, o: maps.__setitem__("M", o)),
        unit.post.register_forward_hook(lambda m, i, o: maps.__setitem__("post_in", i[0])),
    ]
    out = unit(x)
    for h in hooks:
        h.remove()
    return out, maps


@pytest.mark.parametrize("naive", [False, True])
def test_output_is_attention_residual_learning(naive):
    unit = ResidualAttentionUnit(8, naive=naive, depth=2, p=0).eval()
    x = torch.randn(2, 8, 12, 10)
    with torch.no_grad():
        out, maps = run_with_maps(unit, x)
    mask, trunk = maps["M"], maps["T"]
    expected = mask * trunk if naive else (1 + mask) * trunk
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    assert mask.shape == (2, 8, 12, 10)
    assert (mask > 0).all() and (mask < 1).all()


def test_p_units_wrap_the_split_and_the_merge():
    unit = ResidualAttentionUnit(8, p=1).eval()
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        out, maps = run_with_maps(unit, x)
        torch.testing.assert_close(maps["post_in"], (1 + maps["M"]) * maps["T"])
        torch.testing.assert_close(out, unit.post(maps["post_in"]))


def test_via_create_attention_and_registry():
    unit = create_attention("residual_attention", channels=16)
    assert isinstance(unit, ResidualAttentionUnit)
    assert isinstance(unit.gate, nn.Sigmoid)
    assert unit(torch.randn(2, 16, 14, 14)).shape == (2, 16, 14, 14)


@pytest.mark.parametrize("size", [(1, 1), (7, 5), (2, 3), (56, 56)])
@pytest.mark.parametrize("upsample", ["bilinear", "nearest"])
def test_any_spatial_size_comes_back_the_same(size, upsample):
    unit = ResidualAttentionUnit(4, depth=3, upsample=upsample).eval()
    with torch.no_grad():
        assert unit(torch.randn(1, 4, *size)).shape == (1, 4, *size)


def test_units_per_depth_follow_the_paper():
    # p pre + t trunk + p post; mask: per level r down + 1 skip + r up, 2r at the bottom
    # (stage 1 of Attention-56: 8 mask units for depth 3, r = 1).
    for depth, mask_units in [(1, 2), (2, 5), (3, 8)]:
        unit = ResidualAttentionUnit(8, depth=depth)
        units = [m for m in unit.mask.modules() if isinstance(m, PreActBottleneck)]
        assert len(units) == mask_units
        total = [m for m in unit.modules() if isinstance(m, PreActBottleneck)]
        assert len(total) == mask_units + 4


def test_gradients_reach_every_parameter_float64_and_channels_last():
    unit = ResidualAttentionUnit(8, depth=2).double()
    x = torch.randn(2, 8, 9, 7, dtype=torch.float64).to(memory_format=torch.channels_last)
    out = unit(x)
    assert out.dtype == torch.float64
    out.square().sum().backward()
    for name, p in unit.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


def test_preact_bottleneck_projection_and_stride():
    unit = PreActBottleneck(8, 16, stride=2)
    assert unit(torch.randn(2, 8, 7, 7)).shape == (2, 16, 4, 4)
    assert isinstance(unit.shortcut, nn.Conv2d)
    same = PreActBottleneck(8, 8)
    assert isinstance(same.shortcut, nn.Identity)
    # 1x1(8->2) + 3x3(2->2) + 1x1(2->8) + three BNs
    assert n_params(same) == 16 + 36 + 16 + 2 * (8 + 2 + 2)


def test_torch_export():
    unit = ResidualAttentionUnit(4, depth=1, t=1).eval()
    x = torch.randn(1, 4, 7, 5)
    exported = torch.export.export(unit, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), unit(x))


def test_errors():
    unit = ResidualAttentionUnit(8)
    with pytest.raises(ValueError, match="got input with 4 channels, expected 8"):
        unit(torch.randn(1, 4, 8, 8))
    with pytest.raises(ValueError, match="\\(N, C, H, W\\)"):
        unit(torch.randn(8, 8, 8))
    with pytest.raises(TypeError, match="floating"):
        unit(torch.zeros(1, 8, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match="depth >= 1"):
        ResidualAttentionUnit(8, depth=0)
    with pytest.raises(ValueError, match="upsample"):
        ResidualAttentionUnit(8, upsample="bicubic")
    with pytest.raises(ValueError, match="channels >= 1"):
        ResidualAttentionUnit(0)
