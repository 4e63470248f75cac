"""SKNet: the paper's size, exact parity with timm's SK-ResNeXt, SK units in every bottleneck."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from attnvision.models import create_model, list_models
from attnvision.models.resnet import Bottleneck, ResNet
from attnvision.models.sknet import sk_conv_factory


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def meta_model(name: str, **kw) -> nn.Module:
    with torch.device("meta"):
        return create_model(name, **kw)


def test_sknet50_size_matches_the_paper_and_timm():
    count = n_params(meta_model("sknet50"))
    assert abs(count - 27_480_000) <= 50_000  # Li et al. 2019, Table 2: 27.5M
    assert count == 27_479_784  # timm skresnext50_32x4d, same layout
    assert n_params(meta_model("skresnet50")) == n_params(meta_model("skresnext50_32x4d")) == count


def test_every_bottleneck_has_an_sk_unit_and_no_bn2():
    model = meta_model("sknet50")
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 16
    for b in blocks:
        assert type(b.conv2).__name__ == "SelectiveKernel"
        assert isinstance(b.bn2, nn.Identity)
    # the paper's fuse widths d = max(C / 16, 32) for C = 128, 256, 512, 1024
    widths = [model.layer1[0], model.layer2[0], model.layer3[0], model.layer4[0]]
    assert [b.conv2.gate.fc_reduce.out_channels for b in widths] == [32, 32, 32, 64]


def _timm_key(k: str) -> str:
    k = k.replace(".conv2.attn.", ".conv2.gate.")
    k = re.sub(r"(layer\d\.\d+)\.conv([13])\.conv\.", r"\1.conv\2.", k)
    return re.sub(r"(layer\d\.\d+)\.conv([13])\.bn\.", r"\1.bn\2.", k)


def test_same_logits_as_timm_selective_kernel_resnext():
    timm_resnet = pytest.importorskip("timm.models.resnet")
    timm_sknet = pytest.importorskip("timm.models.sknet")
    # timm's skresnext50_32x4d recipe, one block per stage to stay fast
    theirs = timm_resnet.ResNet(
        block=timm_sknet.SelectiveKernelBottleneck,
        layers=[1, 1, 1, 1],
        cardinality=32,
        base_width=4,
        block_args={"sk_kwargs": {"rd_ratio": 1 / 16, "rd_divisor": 32, "split_input": False}},
        num_classes=10,
    ).eval()
    ours = ResNet(
        Bottleneck, [1, 1, 1, 1], 10, groups=32, width_per_group=4, conv2_layer=sk_conv_factory()
    ).eval()
    ours.load_state_dict({_timm_key(k): v for k, v in theirs.state_dict().items()}, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


def test_training_step_reaches_the_sk_gates():
    model = ResNet(
        Bottleneck, [1, 1, 1, 1], 4, groups=32, width_per_group=4, conv2_layer=sk_conv_factory()
    )
    x = torch.randn(2, 3, 32, 32)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([0, 3]))
    loss.backward()
    for block in (model.layer1[0], model.layer4[0]):
        assert block.conv2.gate.fc_reduce.weight.grad.abs().sum() > 0
        assert block.conv2.paths[1].conv.weight.grad.abs().sum() > 0


def test_extra_attention_and_names():
    seen = []
    meta_model("sknet50", attention=lambda c: seen.append(c) or nn.Identity())
    assert seen == [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3
    assert {"sknet50", "skresnet50", "skresnext50_32x4d", "sknet101"} <= set(list_models())


def test_sk_options_reach_the_units():
    model = meta_model("sknet50", sk_options={"rd_channels": 8})
    assert model.layer1[0].conv2.gate.fc_reduce.out_channels == 8
