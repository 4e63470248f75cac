"""capture(): maps of the documented shapes, equal to the blocks' own maps; no hooks left."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnvision.explain import attention_modules, capture
from attnvision.layers import create_attention


def _net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1),
        create_attention("se", 16, rd_ratio=1 / 4),
        create_attention("cbam", 16),
        nn.Conv2d(16, 8, 3, padding=1),
        create_attention("eca", 8),
    )


def _all_hooks_empty(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_capture_shapes_and_values():
    model = _net().eval()
    x = torch.rand(2, 3, 12, 10)
    with capture(model) as maps:
        y = model(x)
    assert list(maps) == ["1.gate", "2.channel.gate", "2.spatial.gate", "4.gate"]
    assert maps["1.gate"].shape == (2, 16)
    assert maps["2.channel.gate"].shape == (2, 16)
    assert maps["2.spatial.gate"].shape == (2, 1, 12, 10)
    assert maps["4.gate"].shape == (2, 8)
    assert all(not v.requires_grad for v in maps.values())
    # the SE map is the block's own channel weight: x * w == block(x)
    feat = model[0](x)
    torch.testing.assert_close(model[1](feat), feat * maps["1.gate"][:, :, None, None])
    # sigmoid gates lie in (0, 1); hooks do not change the output
    assert all(((v > 0) & (v < 1)).all() for v in maps.values())
    torch.testing.assert_close(model(x), y)
    assert _all_hooks_empty(model)


def test_hooks_removed_after_exception():
    model = _net()
    with pytest.raises(RuntimeError), capture(model) as maps:
        model(torch.rand(1, 3, 8, 8))
        assert maps
        model(torch.rand(1, 5, 8, 8))  # wrong channel count inside the block
    assert _all_hooks_empty(model)


def test_spatial_transformer_parts_are_recorded():
    model = nn.Sequential(create_attention("stn", 1), nn.Conv2d(1, 4, 3))
    x = torch.rand(3, 1, 16, 16)
    with capture(model) as maps:
        model(x)
    assert set(maps) == {"0.loc", "0.sampler"}
    assert maps["0.loc"].shape == (3, 6)  # affine parameters
    # at initialisation the transform is the identity: warped input == input
    torch.testing.assert_close(maps["0.sampler"], x, atol=1e-5, rtol=0)
    assert _all_hooks_empty(model)


def test_only_gate_named_modules_are_hooked():
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gate_h = nn.Sigmoid()
            self.gated = nn.Identity()  # starts with "gate" too: hooked by convention
            self.other = nn.Sigmoid()

        def forward(self, x):
            return self.other(x) * self.gate_h(x) + self.gated(x)

    names = list(attention_modules(nn.Sequential(Block())))
    assert names == ["0.gate_h", "0.gated"]


def test_capture_rejects_non_module():
    with pytest.raises(TypeError, match="expected an nn.Module"), capture("model"):  # type: ignore[arg-type]
        pass
