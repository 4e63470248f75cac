"""Tests of attnvision.models.spatial: cnn, st_cnn, fcn, st_fcn (Jaderberg et al. 2015)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnvision.data import create_dataset
from attnvision.layers import SpatialTransformer
from attnvision.models import create_model


@pytest.fixture(scope="module")
def tiny_digits():
    ds = create_dataset("digits", train=True)
    return ds.images[:48].clone(), ds.targets[:48].clone()


@pytest.mark.parametrize("size", [28, 42, 60, 100])
def test_cnn_and_st_cnn_any_size(size):
    x = torch.rand(2, 1, size, size)
    for name in ("cnn", "st_cnn"):
        assert create_model(name, num_classes=7)(x).shape == (2, 7)


def test_cnn_layout_keeping_head():
    gap = create_model("cnn")
    assert gap.head.weight.shape == (10, 64)  # global pooling: one feature per channel
    net = create_model("cnn", head_pool=3, head_hidden=32).eval()
    assert net.head[0].weight.shape == (32, 64 * 9) and net.head[-1].weight.shape == (10, 32)
    for size in (30, 60):
        assert net(torch.rand(2, 1, size, size)).shape == (2, 10)
    # the layout survives: a blob moved across the canvas changes the features the head sees,
    # while global pooling of a shift-equivariant stack keeps (almost) the same vector
    x = torch.zeros(1, 1, 48, 48)
    x[..., 4:12, 4:12] = 1
    y = torch.roll(x, shifts=(32, 32), dims=(2, 3))
    f = [net.pool(net.forward_features(t)).flatten(1) for t in (x, y)]
    assert (f[0] - f[1]).abs().max() > 0.1
    with pytest.raises(ValueError, match="head_pool >= 1"):
        create_model("cnn", head_pool=0)
    st = create_model("st_cnn", out_size=30, head_pool=3, head_hidden=16)
    assert st.cnn.head[0].in_features == 64 * 9


def test_cnn_attention_placement_and_callable():
    from attnvision.layers import get_attention_class

    net = create_model("cnn", attention="se", attention_options={"rd_ratio": 0.25})
    se = get_attention_class("se")
    assert all(isinstance(stage.attn, se) for stage in net.stages)
    seen = []

    def factory(channels: int) -> nn.Module:
        seen.append(channels)
        return nn.Identity()

    torch.manual_seed(0)
    a = create_model("cnn", attention=factory, widths=(8, 16))
    torch.manual_seed(0)
    b = create_model("cnn", widths=(8, 16))
    assert seen == [8, 16]
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(a(x), b(x))


def test_st_cnn_starts_as_its_cnn():
    net = create_model("st_cnn", attention="cbam").eval()
    x = torch.rand(3, 1, 60, 60)
    torch.testing.assert_close(net(x), net.cnn(x), rtol=0, atol=1e-5)
    half = create_model("st_cnn", out_size=30).eval()
    torch.testing.assert_close(half(x), half.cnn(F.avg_pool2d(x, 2)), rtol=0, atol=1e-5)
    tps = create_model("st_cnn", transform="tps").eval()
    torch.testing.assert_close(tps(x), tps.cnn(x), rtol=0, atol=1e-5)


def test_st_cnn_named_submodules_give_theta_and_warped_input():
    net = create_model("st_cnn", out_size=30)
    assert isinstance(net.stn, SpatialTransformer)
    seen = {}
    net.stn.loc.register_forward_hook(lambda m, i, o: seen.__setitem__("theta", o))
    net.stn.sampler.register_forward_hook(lambda m, i, o: seen.__setitem__("warped", o))
    net(torch.rand(2, 1, 60, 60))
    assert seen["theta"].shape == (2, 6) and seen["warped"].shape == (2, 1, 30, 30)


def test_fcn_and_st_fcn():
    fcn = create_model("fcn", in_size=28)
    assert fcn(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"FCN expected input of shape \(N, \*\(1, 28, 28\)\)"):
        fcn(torch.rand(2, 1, 60, 60))
    st = create_model("st_fcn", in_size=28).eval()
    x = torch.rand(2, 1, 28, 28)
    torch.testing.assert_close(st(x), st.fcn(x), rtol=0, atol=1e-5)
    assert st(torch.rand(2, 1, 60, 60)).shape == (2, 10)  # warped to 28x28


def test_errors():
    with pytest.raises(ValueError, match="unknown attention 'sse'"):
        create_model("cnn", attention="sse")
    with pytest.raises(TypeError, match="must return an nn.Module"):
        create_model("cnn", attention=lambda c: 3)
    net = create_model("cnn")
    with pytest.raises(ValueError, match=r"expected input of shape \(N, 1, H, W\)"):
        net(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="H, W >= 8"):
        net(torch.rand(2, 1, 4, 4))


def test_conv_fc_is_the_ram_papers_conv_baseline():
    net = create_model("conv_fc")  # 60x60 canvases, as in Mnih et al. 2014, table 2
    assert net.conv.weight.shape == (8, 1, 10, 10) and net.conv.stride == (5, 5)
    assert net.fc.in_features == 8 * 11 * 11 and net.fc.out_features == 256
    assert sum(p.numel() for p in net.parameters()) == 808 + 968 * 256 + 256 + 2570
    x = torch.rand(3, 1, 60, 60)
    expected = net.head(torch.relu(net.fc(torch.relu(net.conv(x)).flatten(1))))
    torch.testing.assert_close(net(x), expected, rtol=0, atol=0)
    assert create_model("conv_fc", in_size=28).fc.in_features == 8 * 4 * 4
    with pytest.raises(ValueError, match=r"ConvFC expected input of shape \(N, \*\(1, 60, 60\)\)"):
        net(torch.rand(2, 1, 28, 28))
    with pytest.raises(ValueError, match="in_size >= kernel"):
        create_model("conv_fc", in_size=8)


@pytest.mark.parametrize("name", ["cnn", "st_cnn", "fcn", "st_fcn", "conv_fc"])
def test_a_few_steps_lower_the_loss(name, tiny_digits):
    images, labels = tiny_digits
    torch.manual_seed(0)
    net = create_model(name, **({"in_size": 28} if name == "conv_fc" else {}))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss = F.cross_entropy(net(images), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]
