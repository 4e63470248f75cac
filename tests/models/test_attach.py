"""attach(): attention in torchvision / timm / our ResNets, in place, trainable, saveable."""

from __future__ import annotations

import io

import pytest
import torch
import torchvision
from torch import nn

import attnvision as av
from attnvision.models import create_model
from attnvision.models.attach import attach


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Scale(nn.Module):
    """A learnable per-channel scale: the simplest shape-preserving attention."""

    def __init__(self, channels: int, init: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.full((1, channels, 1, 1), init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight


def test_torchvision_resnet50_se_equals_our_se_resnet50():
    with torch.device("meta"):
        theirs = attach(torchvision.models.resnet50(), "se")
        ours = create_model("se_resnet50")
    assert n_params(theirs) == n_params(ours) == 28_088_024
    assert {k: v.shape for k, v in theirs.state_dict().items()} == {
        k: v.shape for k, v in ours.state_dict().items()
    }


def test_torchvision_logits_match_our_model_with_the_same_weights():
    theirs = attach(torchvision.models.resnet18(), Scale, init=0.5).eval()
    ours = create_model("resnet18", attention=Scale, attention_options={"init": 0.5}).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=0, atol=0)
    assert theirs.layer1[0].attn.weight.shape == (1, 64, 1, 1)


def test_zero_attention_sits_before_the_addition():
    model = attach(torchvision.models.resnet18(), Scale, init=0.0).eval()
    x = torch.relu(torch.randn(1, 64, 8, 8))
    with torch.no_grad():
        torch.testing.assert_close(model.layer1[0](x), x, rtol=0, atol=0)


def test_state_dict_round_trip_and_a_training_step():
    model = attach(torchvision.models.resnet18(num_classes=5), Scale, init=0.9)
    keys = [k for k in model.state_dict() if ".attn." in k]
    assert keys[:2] == ["layer1.0.attn.weight", "layer1.1.attn.weight"] and len(keys) == 8
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    before = model.layer3[0].attn.weight.detach().clone()
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.layer3[0].attn.weight)
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = attach(torchvision.models.resnet18(num_classes=5), Scale)
    fresh.load_state_dict(torch.load(buffer, weights_only=True), strict=True)
    model.eval()
    fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)


def test_timm_resnet_uses_its_attention_slot():
    timm = pytest.importorskip("timm")
    model = attach(timm.create_model("resnet18", num_classes=3), Scale, init=0.0).eval()
    assert isinstance(model.layer2[1].se, Scale)
    x = torch.relu(torch.randn(1, 128, 4, 4))
    with torch.no_grad():
        torch.testing.assert_close(model.layer2[1](x), x, rtol=0, atol=0)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)
    with torch.device("meta"):
        se50 = attach(timm.create_model("resnet50"), "se")
        ref = timm.create_model("seresnet50")
    assert n_params(se50) == n_params(ref) == 28_088_024
    assert set(se50.state_dict()) == set(ref.state_dict())  # timm's SE weights load
    with pytest.raises(ValueError, match="already has attention"):
        attach(ref, "eca")


def test_our_resnets_and_the_public_name():
    model = av.models.attach(create_model("resnet20"), Scale)
    assert isinstance(model.layer3[2].attn, Scale)
    model = av.models.attach(create_model("resnet50"), "se", rd_divisor=1)
    assert n_params(model) == 28_088_024
    with pytest.raises(ValueError, match="already has attention"):
        attach(model, "se")


def test_new_blocks_follow_device_dtype_and_mode():
    model = torchvision.models.resnet18().double().eval()
    attach(model, Scale)
    assert model.layer4[1].attn.weight.dtype == torch.float64
    assert not model.layer4[1].attn.training


def test_refuses_what_it_cannot_modify():
    with torch.device("meta"):
        vgg = torchvision.models.vgg11()
        resnets = [torchvision.models.resnet18() for _ in range(5)]
    with pytest.raises(TypeError, match="expected a torchvision ResNet"):
        attach(vgg, "se")
    with pytest.raises(TypeError, match="got Sequential"):
        attach(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()), "se")
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
    with pytest.raises(ValueError, match="already has attention"):
        attach(model, Scale)
