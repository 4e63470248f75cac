"""attach(): ResNets (torchvision, timm, ours), where=, identity at init, load_original, the
papers' parameter and FLOP counts, saving, pickling and tracing. The other families are in
test_attach_families.py."""

from __future__ import annotations

import copy
import io
import pickle

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import attnvision as av
from attnvision._utils import count_params
from attnvision.explain import capture
from attnvision.models import create_model
from attnvision.models.attach import attach, attached_blocks, load_original


def flops(model: nn.Module, size: int = 224) -> int:
    """FLOPs (2 per multiply-add; convolutions and matrix products) of one image, on meta."""
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, size, size, device="meta"))
    return counter.get_total_flops()


class Scale(nn.Module):
    """A learnable per-channel scale: the simplest shape-preserving attention."""

    def __init__(self, channels: int, init: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((1, channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def small_cnn() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    )


# --------------------------------------------------------------------------- ResNets


def test_torchvision_resnet50_se_paper_form_equals_our_se_resnet50():
    with torch.device("meta"):
        theirs = attach(torchvision.models.resnet50(), "se", identity_init=False)
        ours = create_model("se_resnet50")
    assert count_params(theirs) == count_params(ours) == 28_088_024
    assert {k: v.shape for k, v in theirs.state_dict().items()} == {
        k: v.shape for k, v in ours.state_dict().items()
    }


def test_torchvision_logits_match_our_model_with_the_same_weights():
    theirs = attach(torchvision.models.resnet18(), Scale, identity_init=False, init=0.5).eval()
    ours = create_model("resnet18", attention=Scale, attention_options={"init": 0.5}).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert theirs.layer1[0].attn.weight.shape == (1, 64, 1, 1)


def test_the_block_sits_on_the_residual_branch_before_the_addition():
    model = attach(torchvision.models.resnet18(), Scale, identity_init=False, init=0.0).eval()
    x = torch.relu(torch.randn(1, 64, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(model.layer1[0](x), x, rtol=0, atol=0)


def test_identity_at_init_then_gradients_reach_the_new_blocks():
    torch.manual_seed(0)
    plain = torchvision.models.resnet18(num_classes=5).eval()
    model = attach(copy.deepcopy(plain), "cbam").eval()
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=0, atol=0)
    block = model.layer3[0].attn
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for step in range(2):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        if step == 0:  # gamma learns first (the block's change of x is not zero) ...
            assert block.gamma.grad.abs().sum() > 0
            assert block.block.channel.fc1.weight.grad.abs().sum() == 0
        opt.step()
    # ... and once it has moved, the gate's own parameters get gradients too
    assert block.block.channel.fc1.weight.grad.abs().sum() > 0
    assert block.block.spatial.conv.weight.grad.abs().sum() > 0


def test_state_dict_round_trip_and_full_pickle():
    model = attach(torchvision.models.resnet18(num_classes=5), "se")
    keys = [k for k in model.state_dict() if ".attn." in k]
    assert keys[:2] == ["layer1.0.attn.gamma", "layer1.0.attn.block.fc1.weight"]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = attach(torchvision.models.resnet18(num_classes=5), "se")
    fresh.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    fresh.eval()
    again = pickle.loads(pickle.dumps(model))
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    assert sorted(attached_blocks(again)) == sorted(attached_blocks(model))


def test_timm_resnet_uses_its_attention_slot():
    timm = pytest.importorskip("timm")
    model = attach(
        timm.create_model("resnet18", num_classes=3), Scale, identity_init=False, init=0.0
    ).eval()
    assert isinstance(model.layer2[1].se, Scale)
    x = torch.relu(torch.randn(1, 128, 4, 4))
    with torch.no_grad():
        torch.testing.assert_close(model.layer2[1](x), x, rtol=0, atol=0)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    with torch.device("meta"):
        se50 = attach(timm.create_model("resnet50"), "se", identity_init=False)
        ref = timm.create_model("seresnet50")
    assert count_params(se50) == count_params(ref) == 28_088_024
    assert set(se50.state_dict()) == set(ref.state_dict())  # timm's SE weights load
    with pytest.raises(ValueError, match=r"already has attention \(SEModule\) at 16 of its 16"):
        attach(ref, "eca")


def test_our_resnets_and_the_public_name():
    model = av.models.attach(create_model("resnet20"), Scale)
    assert isinstance(model.layer3[2].attn.block, Scale)
    model = av.models.attach(create_model("resnet50"), "se", identity_init=False, rd_divisor=1)
    assert count_params(model) == 28_088_024
    with pytest.raises(ValueError, match="already has attention"):
        attach(model, "se")
    attach(model, "eca", replace=True)
    assert type(model.layer4[2].attn.block).__name__ == "EfficientChannelAttn"


# --------------------------------------------------------------------------- the papers' counts


def test_se_resnet50_parameters_and_flops_as_the_paper():
    # Hu et al. 2018: SE-ResNet-50 has ~28.1M parameters against ResNet-50's ~25.6M and
    # adds 0.26 % of the FLOPs (3.87 vs 3.86 GFLOPs); r = 16 on C / 16 hidden units.
    with torch.device("meta"):
        plain = torchvision.models.resnet50().eval()
        base = flops(plain)
        paper = attach(torchvision.models.resnet50(), "se", identity_init=False, rd_divisor=1)
        ours = attach(torchvision.models.resnet50(), "se", rd_divisor=1)
    assert count_params(plain) == 25_557_032
    assert count_params(paper) == 28_088_024  # 28.09M
    assert count_params(ours) == 28_088_024 + 15_104  # one gamma per channel of the 16 blocks
    for model in (paper, ours):
        assert 1.0 < flops(model.eval()) / base < 1.02


def test_se_mobilenet_v2_parameters_and_flops_as_the_paper():
    # Hou et al. 2021 (coordinate attention), Table of attention blocks in MobileNetV2:
    # MobileNetV2 3.5M parameters / 300M MAdds, + SE 3.89M / 300M. SE after the depthwise
    # convolution with r = 24 (the rate that gives their 3.89M).
    with torch.device("meta"):
        plain = torchvision.models.mobilenet_v2().eval()
        base = flops(plain)
        se = attach(
            torchvision.models.mobilenet_v2(),
            "se",
            identity_init=False,
            rd_ratio=1 / 24,
            rd_divisor=1,
        ).eval()
    assert round(count_params(plain) / 1e6, 1) == 3.5
    assert round(count_params(se) / 1e6, 2) == 3.89
    assert round(base / 2e6) == 301 and round(flops(se) / 2e6) == 301  # MAdds, 224 x 224
    assert 1.0 < flops(se) / base < 1.02


# --------------------------------------------------------------------------- where=


def test_where_patterns_choose_blocks_segment_by_segment():
    model = attach(torchvision.models.resnet18(), "se", where="layer3.*")
    assert sorted(attached_blocks(model)) == ["layer3.0.attn", "layer3.1.attn"]
    model = attach(torchvision.models.resnet18(), "se", where=["layer1.0", "layer*.1"])
    assert sorted(attached_blocks(model)) == [
        "layer1.0.attn",
        "layer1.1.attn",
        "layer2.1.attn",
        "layer3.1.attn",
        "layer4.1.attn",
    ]
    model = attach(
        torchvision.models.resnet18(),
        "se",
        where=lambda name, m: name.startswith("layer4") and hasattr(m, "bn2"),
    )
    assert sorted(attached_blocks(model)) == ["layer4.0.attn", "layer4.1.attn"]


def test_where_puts_a_block_after_any_module_with_known_channels():
    torch.manual_seed(0)
    plain = small_cnn().eval()
    model = attach(copy.deepcopy(plain), "cbam", where=["2", "5"])  # the two ReLUs
    blocks = attached_blocks(model)
    assert sorted(blocks) == ["2.attn", "5.attn"]
    assert type(model[2]).__name__ == "ReLUWithAttention" and isinstance(model[2], nn.ReLU)
    assert blocks["2.attn"].gamma.numel() == 8 and blocks["5.attn"].gamma.numel() == 16
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad(), capture(model) as maps:
        torch.testing.assert_close(model(x), plain(x), rtol=0, atol=0)
    assert set(maps) == {
        f"{p}.block.{g}.gate" for p in ("2.attn", "5.attn") for g in ("channel", "spatial")
    }
    assert maps["2.attn.block.spatial.gate"].shape == (2, 1, 16, 16)
    # a stage-level block goes where where= says (BAM after ResNet stages)
    net = attach(torchvision.models.resnet18(), "bam", where=["layer1", "layer2", "layer3"])
    assert sorted(attached_blocks(net)) == ["layer1.attn", "layer2.attn", "layer3.attn"]
    assert net.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_extended_modules_copy_pickle_and_trace():
    torch.manual_seed(0)
    plain = small_cnn().eval()
    model = attach(copy.deepcopy(plain), Scale, where="1", identity_init=False, init=0.5)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        ref = model(x)
        assert not torch.allclose(ref, plain(x))
        for other in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
            assert type(other[1]) is type(model[1])
            assert other[1].attn is not model[1].attn
            torch.testing.assert_close(other(x), ref, rtol=0, atol=0)
        # BatchNorm2d stays an FX leaf (it was one); calling the leaf runs its attention
        traced = torch.fx.symbolic_trace(model)
        assert "1" in [node.target for node in traced.graph.nodes if node.op == "call_module"]
        torch.testing.assert_close(traced(x), ref, rtol=0, atol=0)


def test_where_errors_name_the_problem():
    with pytest.raises(ValueError, match="matched no module"):
        attach(small_cnn(), "se", where="layer9")
    with pytest.raises(ValueError, match="matched 'layer1' and 'layer1.0' inside it"):
        attach(torchvision.models.resnet18(), "se", where=["layer1", "layer1.0"])
    with pytest.raises(TypeError, match="cannot find the output channels of '8'"):
        attach(small_cnn(), "se", where="8")  # the Linear layer
    with pytest.raises(TypeError, match="where= to be a module-name pattern"):
        attach(small_cnn(), "se", where=3)

    class Odd(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.ModuleList([nn.Conv2d(3, 4, 1)])
            self.mix = nn.Module()

    with pytest.raises(TypeError, match="its forward runs its own children"):
        attach(Odd(), "se", where="body")
    with pytest.raises(TypeError, match=r"cannot find the output channels of 'mix' \(Module\)"):
        attach(Odd(), "se", where="mix")


# --------------------------------------------------------------------------- load_original


def test_load_original_is_strict_for_every_original_key():
    torch.manual_seed(0)
    plain = torchvision.models.resnet18().eval()
    state = plain.state_dict()
    model = attach(torchvision.models.resnet18(), "se").eval()
    report = load_original(model, state)
    assert set(report.loaded) == set(state) and report.dropped == ()
    assert set(report.new) == {k for k in model.state_dict() if ".attn." in k}
    assert "layer4.1.attn.gamma" in report.new and len(report.new) == 8 * 5
    assert str(report).startswith(f"loaded {len(state)} original tensors; 40 new")
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=0, atol=0)
    renamed = dict(state)
    renamed["layer1.0.conv9.weight"] = renamed.pop("layer1.0.conv1.weight")
    with pytest.raises(
        ValueError, match=r"missing 1 key: layer1\.0\.conv1\.weight; unexpected 1 key: layer1"
    ):
        load_original(model, renamed)
    wrong = dict(state, **{"fc.bias": torch.zeros(3)})
    with pytest.raises(
        ValueError, match=r"shape mismatch of 1 key: fc\.bias \(3,\) vs the model's \(1000,\)"
    ):
        load_original(model, wrong)
    with pytest.raises(ValueError, match="loads with model.load_state_dict"):
        load_original(model, model.state_dict())
    with pytest.raises(TypeError, match="expected a state dict"):
        load_original(model, [1, 2])


def test_load_original_reads_a_file(tmp_path):
    plain = torchvision.models.resnet18()
    torch.save({"state_dict": plain.state_dict()}, tmp_path / "w.pth")
    model = attach(torchvision.models.resnet18(), "eca")
    assert len(load_original(model, tmp_path / "w.pth").loaded) == len(plain.state_dict())
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pth is not a readable state-dict file"):
        load_original(model, tmp_path / "junk.pth")


# --------------------------------------------------------------------------- refusals, mode


def test_new_blocks_follow_device_dtype_and_mode():
    model = torchvision.models.resnet18().double().eval()
    attach(model, "cbam")
    block = model.layer4[1].attn
    assert block.gamma.dtype == torch.float64 and block.block.channel.fc1.weight.dtype == (
        torch.float64
    )
    assert not block.training and not block.block.spatial.bn.training
    attach(model, Scale, replace=True)
    assert model.layer4[1].attn.block.weight.dtype == torch.float64


def test_refuses_what_it_cannot_modify():
    with torch.device("meta"):
        resnets = [torchvision.models.resnet18() for _ in range(5)]
    with pytest.raises(TypeError, match="found no block of a family it knows in Sequential"):
        attach(small_cnn(), "se")
    with pytest.raises(TypeError, match="nn.Module"):
        attach("resnet50", "se")
    with pytest.raises(ValueError, match="between stages"):
        attach(resnets[0], "bam")
    with pytest.raises(ValueError, match="3x3 conv"):
        attach(resnets[1], "sk")
    with pytest.raises(ValueError, match="unknown attention"):
        attach(resnets[2], "squeeze")
    with pytest.raises(ValueError, match="None"):
        attach(resnets[3], None)
    model = attach(resnets[4], Scale)
    with pytest.raises(ValueError, match=r"already has attention \(ZeroInitBlend\) at 8 of"):
        attach(model, Scale)


def test_a_failing_block_changes_nothing_and_a_shape_change_is_named():
    def picky(channels: int) -> nn.Module:
        if channels == 256:
            raise ValueError("no block for 256 channels")
        return Scale(channels)

    model = torchvision.models.resnet18()
    keys = list(model.state_dict())
    with pytest.raises(ValueError, match="no block for 256 channels"):
        attach(model, picky)
    assert list(model.state_dict()) == keys and not attached_blocks(model)

    class Halve(nn.Module):
        def __init__(self, channels: int) -> None:
            super().__init__()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x[:, :, ::2]

    model = attach(small_cnn(), Halve, where="2")
    with pytest.raises(ValueError, match=r"expected Halve to keep the shape \(1, 8, 8, 8\)"):
        model(torch.randn(1, 3, 8, 8))


def test_registered_factories_without_device_arguments_work():
    from attnvision.layers import register_attention
    from attnvision.layers.registry import _USER

    register_attention("test_scale_attach", lambda channels, **kw: Scale(channels, **kw))
    try:
        model = attach(torchvision.models.resnet18().double(), "test_scale_attach", init=0.5)
        assert model.layer1[0].attn.block.weight.dtype == torch.float64
    finally:
        _USER.pop("test_scale_attach")
