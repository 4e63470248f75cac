"""attach() into the torchvision and timm families (random weights, nothing downloaded):
where the blocks go, output shape, identity at initialisation, strict loading of the
original keys, existing SE reported and replaced, and capture sees every gate.

Each network is built once per module: the original with random weights, and a second
instance, on uninitialised memory where the builder allows (built on "meta", then
``to_empty``) or with other random weights, that is attached and filled by
``load_original``."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torchvision
from torch import nn
from torchvision.ops import SqueezeExcitation

from attnvision.explain import capture
from attnvision.models.attach import attach, attached_blocks, load_original

tvm = torchvision.models
X = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


@dataclass
class Family:
    build: Callable[[], nn.Module]
    places: int  # blocks of the network = new attention blocks
    path: str  # regular expression every new block's path matches
    has_se: bool = False  # SE already at that place (attach needs replace=True)


def _timm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        timm = pytest.importorskip("timm")
        return timm.create_model(name, num_classes=10)

    return build


FAMILIES = {
    "mobilenet_v2": Family(
        lambda: tvm.mobilenet_v2(num_classes=10), 17, r"features\.\d+\.conv\.attn"
    ),
    "mobilenet_v3_small": Family(
        lambda: tvm.mobilenet_v3_small(num_classes=10), 11, r"features\.\d+\.block\.attn", True
    ),
    "efficientnet_b0": Family(
        lambda: tvm.efficientnet_b0(num_classes=10), 16, r"features\.\d\.\d\.block\.attn", True
    ),
    "regnet_y_400mf": Family(
        lambda: tvm.regnet_y_400mf(num_classes=10),
        16,
        r"trunk_output\.block\d\.block\d-\d+\.f\.attn",
        True,
    ),
    "convnext_tiny": Family(
        lambda: tvm.convnext_tiny(num_classes=10), 18, r"features\.\d\.\d\.stochastic_depth\.attn"
    ),
    "densenet121": Family(
        lambda: tvm.densenet121(num_classes=10), 4, r"features\.denseblock\d\.attn"
    ),
    "vgg11": Family(lambda: tvm.vgg11(num_classes=10), 5, r"features\.\d+\.attn"),
    "timm_efficientnet_lite0": Family(_timm("efficientnet_lite0"), 16, r"blocks\.\d\.\d\.se"),
    "timm_mobilenetv3_small_100": Family(
        _timm("mobilenetv3_small_100"), 11, r"blocks\.\d\.\d\.se", True
    ),
}

_BUILT: dict[str, tuple[nn.Module, nn.Module, object]] = {}


def _without_se(model: nn.Module) -> nn.Module:
    """``model`` with every SE module (torchvision's, timm's ``se`` slots) an identity."""
    model = copy.deepcopy(model)
    for name, module in list(model.named_modules()):
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name)
        if isinstance(module, SqueezeExcitation) or (
            leaf == "se" and type(module).__name__ in ("SqueezeExcite", "SEModule")
        ):
            setattr(parent, leaf, nn.Identity())
    return model


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request):
    """(name, original network, attached network filled by load_original, its report)."""
    name = request.param
    if name not in _BUILT:
        spec = FAMILIES[name]
        torch.manual_seed(0)
        original = spec.build().eval()
        torch.manual_seed(1)
        try:
            with torch.device("meta"):
                other = spec.build()
            other.to_empty(device="cpu")  # garbage where the weights were
            assert {n for n, _ in other.named_buffers()} <= set(other.state_dict())
        except NotImplementedError:  # a builder that reads tensor values (RegNet's widths)
            other = spec.build()
        attached = attach(other, "cbam", replace=spec.has_se).eval()
        report = load_original(attached, original.state_dict())
        _BUILT[name] = (original, attached, report)
    return (name, *_BUILT[name])


def test_one_block_per_block_of_the_network_at_the_papers_place(family):
    name, original, attached, _ = family
    spec = FAMILIES[name]
    blocks = attached_blocks(attached)
    assert len(blocks) == spec.places
    assert all(re.fullmatch(spec.path, path) for path in blocks), sorted(blocks)[:3]
    with torch.no_grad():
        assert attached(X).shape == original(X).shape == (1, 10)


def test_the_attached_network_computes_the_original_function(family):
    name, original, attached, _ = family
    # with replace=True the SE is gone, so the reference is the network without it
    reference = _without_se(original) if FAMILIES[name].has_se else original
    with torch.no_grad():
        torch.testing.assert_close(attached(X), reference(X), rtol=0, atol=0)


def test_every_original_key_loads_strictly_and_new_keys_are_named(family):
    name, original, attached, report = family
    plain = original.state_dict()
    blocks = attached_blocks(attached)
    assert set(report.new) == {k for k in attached.state_dict() if k.startswith(tuple(blocks))}
    assert set(report.new) == set(attached.state_dict()) - set(report.loaded)
    assert set(report.loaded) | set(report.dropped) == set(plain)
    if FAMILIES[name].has_se:  # exactly the keys of the SE modules replace=True removed
        se = [
            f"{n}."
            for n, m in original.named_modules()
            if type(m).__name__ in ("SqueezeExcitation", "SqueezeExcite")
        ]
        assert se and set(report.dropped) == {k for k in plain if k.startswith(tuple(se))}
    else:
        assert report.dropped == ()
    state = attached.state_dict()
    assert all(torch.equal(state[key], plain[key]) for key in report.loaded)


def test_capture_finds_every_gate(family):
    _, _, attached, _ = family
    blocks = attached_blocks(attached)
    with torch.no_grad(), capture(attached) as maps:
        attached(X)
    assert set(maps) == {
        f"{path}.block.{part}.gate" for path in blocks for part in ("channel", "spatial")
    }
    for path, block in blocks.items():
        channels = block.gamma.numel()
        assert maps[f"{path}.block.channel.gate"].shape == (1, channels)
        assert maps[f"{path}.block.spatial.gate"].shape[:2] == (1, 1)


def test_existing_se_is_named_and_left_alone_without_replace():
    torch.manual_seed(0)
    for build, kind in [
        (lambda: tvm.mobilenet_v3_small(num_classes=10), "SqueezeExcitation"),
        (lambda: tvm.efficientnet_b0(num_classes=10), "SqueezeExcitation"),
        (lambda: tvm.regnet_y_400mf(num_classes=10), "SqueezeExcitation"),
    ]:
        model = build()
        keys = list(model.state_dict())
        with pytest.raises(ValueError, match=rf"already has attention \({kind}\).*replace=True"):
            attach(model, "eca")
        assert list(model.state_dict()) == keys and not attached_blocks(model)
    # MobileNetV3-Small has SE in 9 of its 11 blocks; replace=True fills all 11
    with pytest.raises(ValueError, match="at 9 of its 11 places"):
        attach(tvm.mobilenet_v3_small(), "se")


def test_regnet_x_fused_mbconv_and_more_timm_families():
    torch.manual_seed(0)
    model = attach(tvm.regnet_x_400mf(num_classes=10), "se").eval()
    assert len(attached_blocks(model)) == 22
    # EfficientNetV2's Fused-MBConv has no SE: after its fused expansion (or its only conv)
    v2 = tvm.efficientnet_v2_s(num_classes=10)
    fused = [n for n, m in v2.named_modules() if type(m).__name__ == "FusedMBConv"]
    attach(v2, "eca", where=fused)
    blocks = attached_blocks(v2)
    assert sorted(blocks) == sorted(f"{n}.block.attn" for n in fused) and len(fused) == 10
    assert list(v2.features[1][0].block._modules) == ["0", "attn"]
    assert list(v2.features[2][0].block._modules) == ["0", "attn", "1"]
    timm = pytest.importorskip("timm")
    for name, count, path in [
        ("resnet18", 8, "layer1.0.se"),
        ("regnetx_002", 13, "s1.b1.se"),
        ("convnext_atto", 12, "stages.0.blocks.0.drop_path.attn"),
        ("densenet121", 4, "features.denseblock1.attn"),
    ]:
        plain = timm.create_model(name, num_classes=10).eval()
        net = attach(copy.deepcopy(plain), "se")
        blocks = attached_blocks(net)
        assert len(blocks) == count and path in blocks, (name, sorted(blocks)[:3])
        with torch.no_grad():
            torch.testing.assert_close(net(X), plain(X), rtol=0, atol=0)
    lite = timm.create_model("efficientnet_lite0")
    auto = attach(copy.deepcopy(lite), "se")
    chosen = attach(copy.deepcopy(lite), "se", where="**.se")  # the slots by name
    assert sorted(attached_blocks(auto)) == sorted(attached_blocks(chosen))
