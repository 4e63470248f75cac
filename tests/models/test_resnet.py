"""ImageNet ResNets: torchvision parity, the papers' sizes and FLOPs, attention placement."""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attnvision.layers import create_attention
from attnvision.models import create_model, list_models
from attnvision.models.resnet import Bottleneck, ResNet


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name: str, **kw) -> nn.Module:
    """Build on the meta device: sizes and FLOPs without allocating or initialising."""
    with torch.device("meta"):
        return create_model(name, **kw)


@functools.cache
def flops(name: str, size: int = 224) -> int:
    """FLOPs of ``create_model(name)`` at batch 1 (on the meta device: no real compute)."""
    model = meta_model(name)
    with torch.device("meta"):
        x = torch.empty(1, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


class Zero(nn.Module):
    """Attention that cuts the residual branch: the block becomes relu(shortcut)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1] == self.channels
        return torch.zeros_like(x)


@pytest.mark.parametrize(
    "name", ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnext50_32x4d"]
)
def test_parameter_names_and_counts_match_torchvision(name):
    ours = meta_model(name)
    with torch.device("meta"):
        theirs = getattr(torchvision.models, name)()
    ours_shapes = {k: tuple(v.shape) for k, v in ours.state_dict().items()}
    theirs_shapes = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    assert ours_shapes == theirs_shapes


def test_resnet50_size_and_flops_match_the_paper():
    model = meta_model("resnet50")
    assert n_params(model) == 25_557_032
    # 4.09 G multiply-adds = 8.18 GFLOPs at 224x224 (FlopCounterMode counts 2 per MAC)
    assert round(flops("resnet50") / 1e9, 2) == 8.18


def test_loads_torchvision_state_dict_and_gives_the_same_logits():
    theirs = torchvision.models.resnet50().eval()
    ours = create_model("resnet50").eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)


def test_zero_attention_cuts_the_residual_branch_before_the_addition():
    # Attention sits after bn3 and before "+ identity": a zero map leaves relu(identity),
    # which is the input itself for blocks without downsampling (their input is >= 0).
    block = Bottleneck(256, 64, attn_factory=Zero).eval()
    x = torch.relu(torch.randn(2, 256, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(block(x), x, rtol=0, atol=0)
    assert isinstance(block.attn, Zero) and block.attn.channels == 256


def test_attention_is_built_for_every_block_with_its_channels_and_options():
    seen: list[tuple[int, dict]] = []

    def factory(channels: int, **options) -> nn.Module:
        seen.append((channels, options))
        return nn.Identity()

    meta_model("resnet50", attention=factory, attention_options={"rd_ratio": 0.25})
    assert [c for c, _ in seen] == [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    assert all(o == {"rd_ratio": 0.25} for _, o in seen)
    seen.clear()
    meta_model("resnet18", attention=factory)
    assert [c for c, _ in seen] == [64] * 2 + [128] * 2 + [256] * 2 + [512] * 2


def test_se_resnet50_matches_the_paper_and_its_blocks():
    model = meta_model("se_resnet50")
    assert n_params(model) == 28_088_024  # Hu et al. 2018, Table 2: 28.088M
    se_params = sum(
        n_params(create_attention("se", c, rd_ratio=1 / 16, rd_divisor=1))
        for c in [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    )
    assert n_params(model) == 25_557_032 + se_params
    assert all(
        type(b.attn).__name__ == "SqueezeExcite"
        for b in model.modules()
        if isinstance(b, Bottleneck)
    )


def test_cbam_and_eca_resnet50_sizes():
    assert abs(n_params(meta_model("cbam_resnet50")) - 28_090_000) <= 5_000
    assert abs(n_params(meta_model("eca_resnet50")) - 25_557_032) <= 10_000
    assert n_params(meta_model("eca_resnet50")) > 25_557_032


@pytest.mark.parametrize("name", ["se_resnet50", "cbam_resnet50"])
def test_attention_flop_overhead_is_under_one_percent(name):
    base = flops("resnet50")
    extra = flops(name) - base
    assert 0 < extra < 0.01 * base


def test_bam_goes_between_stages_not_into_blocks():
    model = meta_model("bam_resnet50")
    assert [type(getattr(model, f"bam{i}")).__name__ for i in (1, 2, 3)] == ["BAM"] * 3
    assert all(isinstance(b.attn, nn.Identity) for b in model.modules() if hasattr(b, "attn"))
    assert isinstance(create_model("resnet18").bam1, nn.Identity)


def test_named_variants_are_registered():
    names = set(list_models())
    for n in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]:
        assert n in names
    for n in ["se_resnet50", "cbam_resnet50", "eca_resnet50", "wide_resnet50_2", "bam_resnet50"]:
        assert n in names


def test_forward_shapes_and_num_classes():
    model = create_model("resnet18", num_classes=7)
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 7)
    assert model.forward_features(torch.randn(1, 3, 64, 64)).shape == (1, 512, 2, 2)


def test_errors():
    with pytest.raises(ValueError, match="did you mean"):
        create_model("resnet5O")
    with pytest.raises(ValueError, match="unknown attention 'sse'"):
        create_model("resnet18", attention="sse")
    with pytest.raises(ValueError, match="sknet50"):
        create_model("resnet50", attention="sk")
    with pytest.raises(TypeError, match="attention"):
        create_model("resnet18", attention=3)
    with pytest.raises(TypeError, match="built in"):
        create_model("se_resnet50", attention="cbam")
    with pytest.raises(ValueError, match="num_classes"):
        create_model("resnet18", num_classes=0)
    with pytest.raises(ValueError, match="4 stage depths"):
        ResNet(Bottleneck, [3, 4, 6])
    with pytest.raises(TypeError, match="nn.Module"):
        create_model("resnet18", attention=lambda c: 1.0)
