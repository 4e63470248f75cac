"""CIFAR ResNets: the paper's sizes (option A), the shortcut, attention placement, training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from attnvision.layers import create_attention
from attnvision.models import create_model, list_models
from attnvision.models.resnet_cifar import CifarBasicBlock, CifarResNet, PadShortcut


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    ("depth", "count", "paper"),
    [(20, 269_722, 0.27), (32, 464_154, 0.46), (44, 658_586, 0.66), (56, 853_018, 0.85),
     (110, 1_727_962, 1.7)],
)  # fmt: skip
def test_parameter_counts_match_the_paper(depth, count, paper):
    model = create_model(f"resnet{depth}")
    assert n_params(model) == count
    assert round(count / 1e6, 2 if paper < 1 else 1) == paper  # He et al. 2016, Table 6
    blocks = [m for m in model.modules() if isinstance(m, CifarBasicBlock)]
    assert len(blocks) == (depth - 2) // 2  # 6n + 2 layers, 2 per block


def test_option_a_shortcut_subsamples_and_pads_zeros():
    shortcut = PadShortcut(16, 32, stride=2)
    assert n_params(shortcut) == 0
    x = torch.arange(2 * 16 * 4 * 4, dtype=torch.float32).reshape(2, 16, 4, 4)
    y = shortcut(x)
    assert y.shape == (2, 32, 2, 2)
    torch.testing.assert_close(y[:, 8:24], x[:, :, ::2, ::2])
    assert y[:, :8].abs().sum() == 0 and y[:, 24:].abs().sum() == 0
    model = create_model("resnet20")
    assert isinstance(model.layer2[0].shortcut, PadShortcut)
    assert isinstance(model.layer2[1].shortcut, nn.Identity)
    with pytest.raises(ValueError, match="out_channels >= in_channels"):
        PadShortcut(32, 16, 2)


def test_zero_attention_leaves_the_shortcut():
    def zero(channels: int) -> nn.Module:
        class Z(nn.Module):
            def forward(self, x):
                return x * 0

        return Z()

    model = create_model("resnet20", attention=zero).eval()
    x = torch.relu(torch.randn(2, 16, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(model.layer1[0](x), x, rtol=0, atol=0)


def test_attention_channels_and_options_reach_every_block():
    seen = []

    def factory(channels: int, **options) -> nn.Module:
        seen.append((channels, options))
        return nn.Identity()

    create_model("resnet20", attention=factory, attention_options={"k": 3})
    assert [c for c, _ in seen] == [16] * 3 + [32] * 3 + [64] * 3
    assert all(o == {"k": 3} for _, o in seen)


@pytest.mark.parametrize("attn", ["se", "cbam", "eca"])
def test_named_variants_for_every_depth_use_the_real_blocks(attn):
    names = set(list_models())
    for depth in (20, 32, 44, 56, 110):
        assert f"{attn}_resnet{depth}" in names
    model = create_model(f"{attn}_resnet20")
    extra = sum(n_params(create_attention(attn, c)) for c in [16] * 3 + [32] * 3 + [64] * 3)
    assert n_params(model) == 269_722 + extra
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_bam_goes_between_stages():
    model = create_model("resnet20", attention="bam")
    assert type(model.bam1).__name__ == "BAM" and type(model.bam2).__name__ == "BAM"
    assert all(isinstance(b.attn, nn.Identity) for b in model.modules() if hasattr(b, "attn"))


def test_mnist_sized_input_and_grayscale():
    model = create_model("resnet20", in_chans=1, num_classes=10)
    assert model(torch.randn(3, 1, 60, 60)).shape == (3, 10)
    assert model.forward_features(torch.randn(1, 1, 28, 28)).shape == (1, 64, 7, 7)


def test_a_few_training_steps_fit_a_small_batch():
    torch.manual_seed(0)
    model = create_model("resnet20", attention=lambda c: nn.Conv2d(c, c, 1))
    x, y = torch.randn(8, 3, 16, 16), torch.arange(8) % 10
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    losses = []
    for _ in range(8):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_errors():
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(21)
    with pytest.raises(ValueError, match="num_classes"):
        create_model("resnet20", num_classes=-1)
    with pytest.raises(ValueError, match="replaces a convolution"):
        create_model("resnet20", attention="sk")
    with pytest.raises(TypeError, match="built in"):
        create_model("se_resnet20", attention="eca")
    with pytest.raises(TypeError, match="attention_options"):
        create_model("resnet20", attention="se", attention_options=[1])
    with pytest.raises(ValueError, match="no attention block"):
        create_model("resnet20", attention_options={"rd_ratio": 0.5})
