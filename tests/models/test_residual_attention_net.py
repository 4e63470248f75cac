"""Residual Attention Networks: sizes against the paper, layout, naive variant, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnvision.layers import ResidualAttentionUnit
from attnvision.layers.residual_attention import PreActBottleneck
from attnvision.models import create_model
from attnvision.models.residual_attention import ResidualAttentionNet


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kw)


# (name, our exact count, the paper's count in millions, how far we allow ourselves)
# Attention-56 / -92: Wang et al. 2017, Table 4; Attention-92 CIFAR: Table 6. The
# differences are documented in attnvision/models/residual_attention.py.
SIZES = [
    ("residual_attention_56", 31_810_728, 31.9, 0.01),
    ("residual_attention_92", 52_466_344, 51.3, 0.03),
    ("residual_attention_92_cifar", 2_330_874, 1.9, 0.25),
]


@pytest.mark.parametrize(("name", "count", "paper", "rel"), SIZES)
def test_parameter_counts_and_distance_from_the_paper(name, count, paper, rel):
    got = n_params(meta_model(name))
    assert got == count
    assert abs(got / 1e6 - paper) / paper < rel


@pytest.mark.parametrize(
    ("name", "modules", "layers"),
    [("residual_attention_56", (1, 1, 1), 56), ("residual_attention_92", (1, 2, 3), 92),
     ("residual_attention_92_cifar", (1, 2, 3), 92)],
)  # fmt: skip
def test_layout_and_depth(name, modules, layers):
    model = meta_model(name)
    got = tuple(
        sum(isinstance(m, ResidualAttentionUnit) for m in getattr(model, f"stage{i}"))
        for i in (1, 2, 3)
    )
    assert got == modules
    # depth along the trunk: 3 conv layers per residual unit on the trunk path
    # (mask branches are side paths), plus the first conv and the classifier
    trunk_units = 0
    for m in model.modules():
        if isinstance(m, ResidualAttentionUnit):
            trunk_units += len(m.pre) + len(m.trunk) + len(m.post)
    trunk_units += sum(
        isinstance(m, PreActBottleneck)
        for s in (model.stage1, model.stage2, model.stage3, model.stage4)
        for m in s.children()
    )
    assert 3 * trunk_units + 2 == layers


def test_mask_depths_follow_the_stage_resolution():
    model = meta_model("residual_attention_92")
    assert [model.stage1[1].depth, model.stage2[1].depth, model.stage3[1].depth] == [3, 2, 1]
    cifar = meta_model("residual_attention_92_cifar")
    assert [cifar.stage1[1].depth, cifar.stage2[1].depth, cifar.stage3[1].depth] == [2, 1, 1]


def test_cifar_forward_and_naive_variant():
    model = create_model("residual_attention_92_cifar", num_classes=10).eval()
    naive = create_model("residual_attention_92_cifar", num_classes=10, naive=True).eval()
    naive.load_state_dict(model.state_dict())  # same parameters, different combination
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        a, b = model(x), naive(x)
    assert a.shape == b.shape == (2, 10)
    assert not torch.allclose(a, b)
    assert all(m.naive for m in naive.modules() if isinstance(m, ResidualAttentionUnit))


def test_imagenet_network_shapes():
    model = meta_model("residual_attention_56", num_classes=5)
    x = torch.empty(1, 3, 224, 224, device="meta")
    assert model.forward_features(x).shape == (1, 2048, 7, 7)
    assert model(x).shape == (1, 5)


def test_errors():
    with pytest.raises(TypeError, match="built in"):
        create_model("residual_attention_56", attention="se")
    with pytest.raises(ValueError, match="3 stages"):
        ResidualAttentionNet((1, 1))
    with pytest.raises(ValueError, match="stem"):
        ResidualAttentionNet(stem="vgg")
    with pytest.raises(ValueError, match="num_classes"):
        ResidualAttentionNet(num_classes=0)
