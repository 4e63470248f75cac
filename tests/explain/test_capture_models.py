"""capture() on every registered block and every model family: documented keys and shapes,
DCN regions and RAM glimpses taken from the model's own output, no hook left behind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import attnvision as av
from attnvision.explain import capture
from attnvision.explain.capture import output_modules

N, C, H, W = 2, 16, 10, 12

# documented shape of every block's map(s) for an (N, C, H, W) input
BLOCK_SHAPES = {
    "se": {"gate": (N, C)},
    "eca": {"gate": (N, C)},
    "channel_gate": {"gate": (N, C)},
    "spatial_gate": {"gate": (N, 1, H, W)},
    "cbam": {"channel.gate": (N, C), "spatial.gate": (N, 1, H, W)},
    "bam": {"gate": (N, C, H, W)},
    "coordatt": {"gate": (N, C, H, W)},
    "gc": {"gate": (N, 1, H, W)},
    "residual_attention": {"gate": (N, C, H, W)},
    "sk": {"gate": (N, 2, C)},  # branch weights (N, B, C), softmax over B
    "stn": {"loc": (N, 6), "sampler": (N, C, H, W)},
}


def _no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


def test_every_registered_block_is_covered():
    assert sorted(BLOCK_SHAPES) == sorted(av.layers.list_attention())


@pytest.mark.parametrize("name", sorted(BLOCK_SHAPES))
def test_block_maps_have_documented_shapes(name):
    torch.manual_seed(0)
    block = av.layers.create_attention(name, C).eval()
    x = torch.rand(N, C, H, W)
    with torch.no_grad(), capture(block) as maps:
        y = block(x)
    assert y.shape == x.shape
    assert {k: tuple(v.shape) for k, v in maps.items()} == BLOCK_SHAPES[name]
    assert _no_hooks(block)
    if name == "sk":
        torch.testing.assert_close(maps["gate"].sum(1), torch.ones(N, C))


def test_dcn_regions_come_from_its_output():
    torch.manual_seed(0)
    model = av.models.create_model("dcn").eval()
    x = torch.rand(N, 1, 60, 60)
    with torch.no_grad(), capture(model) as maps:
        out = model(x)
    k = out.regions.shape[1]
    assert tuple(maps["regions"].shape) == (N, k, 2)
    assert tuple(maps["boxes"].shape) == (N, k, 4)
    assert maps["saliency"].shape == out.saliency.shape and maps["saliency"].ndim == 3
    assert torch.equal(maps["regions"], out.regions)
    assert torch.equal(maps["boxes"], out.boxes)
    # the chosen cells are the k most salient ones
    top = out.saliency.flatten(1).topk(k, 1).indices
    width = out.saliency.shape[-1]
    chosen = maps["regions"][..., 0] * width + maps["regions"][..., 1]
    assert torch.equal(chosen.sort(1).values, top.sort(1).values)
    assert output_modules(model) == {"": ("regions", "boxes", "saliency")}
    assert _no_hooks(model)


def test_ram_glimpse_locations_under_a_parent_module():
    torch.manual_seed(0)
    wrapper = nn.ModuleDict({"ram": av.models.create_model("ram", glimpses=4)})
    x = torch.rand(N, 1, 60, 60)
    with torch.no_grad(), capture(wrapper) as maps:
        out = wrapper["ram"](x, generator=torch.Generator().manual_seed(1))
    assert list(maps) == ["ram.locations"]
    assert tuple(maps["ram.locations"].shape) == (N, 4, 2)
    assert torch.equal(maps["ram.locations"], out.locations)
    assert torch.equal(out.locations[:, 0], torch.zeros(N, 2))  # first glimpse at the centre
    assert _no_hooks(wrapper)


@pytest.mark.parametrize(
    ("name", "kwargs", "shape", "expected"),
    [
        (
            "cnn",
            {"attention": "cbam"},
            (N, 1, 60, 60),
            {"stages.0.attn.spatial.gate": (N, 1, 60, 60)},
        ),
        ("st_cnn", {}, (N, 1, 60, 60), {"stn.loc": (N, 6), "stn.sampler": (N, 1, 60, 60)}),
        ("st_fcn", {}, (N, 1, 60, 60), {"stn.loc": (N, 6), "stn.sampler": (N, 1, 28, 28)}),
        (
            "resnet20",
            {"attention": "se", "num_classes": 10},
            (N, 3, 16, 16),
            {"layer3.2.attn.gate": (N, 64)},
        ),
    ],
)
def test_model_families(name, kwargs, shape, expected):
    torch.manual_seed(0)
    model = av.models.create_model(name, **kwargs).eval()
    with torch.no_grad(), capture(model) as maps:
        model(torch.rand(shape))
    for key, value in expected.items():
        assert tuple(maps[key].shape) == value, key
    assert _no_hooks(model)


def test_blocks_placed_by_attach_into_torchvision():
    torchvision = pytest.importorskip("torchvision")
    model = av.models.attach(torchvision.models.resnet18(num_classes=4), "cbam").eval()
    with torch.no_grad(), capture(model) as maps:
        model(torch.rand(1, 3, 32, 32))
    assert len(maps) == 2 * 8  # channel + spatial gate in each of the 8 basic blocks
    # the block sits in attach's zero-initialised blend (``attn.block``), its gates as ever
    assert tuple(maps["layer4.1.attn.block.channel.gate"].shape) == (1, 512)
    assert tuple(maps["layer1.0.attn.block.spatial.gate"].shape) == (1, 1, 8, 8)
    assert _no_hooks(model)


def test_our_saliency_networks_expose_their_gates():
    from attnvision.saliency.objects import SalientObjectNet

    torch.manual_seed(0)
    obj = SalientObjectNet(widths=(8, 8, 16, 16, 16), attention="cbam").eval()
    with torch.no_grad(), capture(obj) as maps:
        obj(torch.rand(1, 3, 64, 64))
    assert tuple(maps["skips.1.attn.spatial.gate"].shape) == (1, 1, 16, 16)  # a skip's gate
    assert tuple(maps["skips.4.attn.channel.gate"].shape) == (1, 16)
    assert _no_hooks(obj)


def test_output_hooks_removed_after_exception():
    model = av.models.create_model("dcn")
    with pytest.raises(ValueError), capture(model):
        model(torch.rand(1, 1, 7, 7))  # too small: the DCN refuses it
    assert _no_hooks(model)
