"""CBAM, ChannelGate, SpatialGate: parity with timm (mlp_bias=True), the paper, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from _parity import TOL
from _parity import assert_same as _assert_same
from _parity import run_with_grads as _run
from attnvision.layers import CBAM, ChannelGate, SpatialGate, create_attention

timm_cbam = pytest.importorskip("timm.layers.cbam")


def _timm_keys(state: dict) -> dict:
    """Our ``spatial.conv`` / ``spatial.bn`` are timm's ``spatial.conv.conv`` / ``.conv.bn``."""
    out = {}
    for key, value in state.items():
        key = key.replace("spatial.conv.", "spatial.conv.conv.")
        out[key.replace("spatial.bn.", "spatial.conv.bn.")] = value
    return out


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(("channels", "hw"), [(64, (7, 5)), (32, (8, 8)), (48, (1, 1))])
def test_matches_timm_cbam_module(channels, hw, memory_format, train) -> None:
    # channels_last in float64: its float32 reductions over C run in another order than
    # timm's full-tensor ones (differences up to ~2e-6 relative in the conv weight gradient)
    dtype = torch.float64 if memory_format == torch.channels_last else torch.float32
    ours = create_attention("cbam", channels=channels).to(dtype)
    peer = timm_cbam.CbamModule(channels, mlp_bias=True).to(dtype)
    peer.load_state_dict(_timm_keys(ours.state_dict()))
    ours.train(train)
    peer.train(train)
    x = torch.randn(3, channels, *hw, dtype=dtype).contiguous(memory_format=memory_format)
    w = torch.randn(3, channels, *hw, dtype=dtype)
    _assert_same(_run(ours, x, w), _run(peer, x, w))
    if train:  # batch-norm statistics updated once per call, as in timm
        torch.testing.assert_close(ours.spatial.bn.running_mean, peer.spatial.conv.bn.running_mean)
        torch.testing.assert_close(ours.spatial.bn.running_var, peer.spatial.conv.bn.running_var)
        assert ours.spatial.bn.num_batches_tracked.item() == 1


def test_gates_match_timm_separately() -> None:
    x = torch.randn(2, 32, 6, 5)
    w = torch.randn(2, 32, 6, 5)
    ours, peer = ChannelGate(32), timm_cbam.ChannelAttn(32, mlp_bias=True)
    peer.load_state_dict(ours.state_dict())
    _assert_same(_run(ours, x, w), _run(peer, x, w))
    ours, peer = SpatialGate(32), timm_cbam.SpatialAttn(7)
    state = _timm_keys({"spatial." + k: v for k, v in ours.state_dict().items()})
    peer.load_state_dict({k.removeprefix("spatial."): v for k, v in state.items()})
    _assert_same(_run(ours, x, w), _run(peer, x, w))


def test_registered_gates_are_the_classes() -> None:
    assert isinstance(create_attention("channel_gate", channels=32), ChannelGate)
    assert isinstance(create_attention("spatial_gate", channels=32), SpatialGate)


@pytest.mark.parametrize(
    ("channels", "options", "expected"),
    [
        (64, {}, 4),
        (256, {}, 16),
        (512, {}, 32),
        (2048, {}, 128),
        (24, {}, 2),
        (16, {}, 1),
        (64, {"rd_divisor": 8}, 8),
        (64, {"rd_ratio": 1 / 8}, 8),
        (64, {"rd_channels": 3}, 3),
    ],
)
def test_reduced_width(channels, options, expected) -> None:
    block = CBAM(channels, **options)
    assert block.channel.rd_channels == expected
    assert block.channel.fc1.weight.shape == (expected, channels, 1, 1)
    peer = timm_cbam.CbamModule(channels, mlp_bias=True, **options)
    assert peer.channel.fc1.weight.shape == block.channel.fc1.weight.shape


def test_parameter_count_with_mlp_biases() -> None:
    # shared MLP C -> C/16 -> C with biases, 7x7 conv (2 -> 1, no bias), BN(1)
    c, r = 256, 16
    expected = (c * r + r) + (r * c + c) + 2 * 49 + 2
    assert sum(p.numel() for p in CBAM(c).parameters()) == expected
    assert sum(p.numel() for p in CBAM(c, mlp_bias=False).parameters()) == expected - r - c


def test_paper_equations_by_hand() -> None:
    """Eq. 2 (shared MLP on avg and max pool) and Eq. 3 (7x7 conv on [mean; max] over C)."""
    block = CBAM(16, rd_channels=4).double().eval()
    with torch.no_grad():
        block.spatial.bn.running_mean.fill_(0.3)
        block.spatial.bn.running_var.fill_(2.0)
        block.spatial.bn.weight.fill_(1.5)
        block.spatial.bn.bias.fill_(-0.2)
    x = torch.randn(2, 16, 6, 5, dtype=torch.float64, requires_grad=True)
    ch = block.channel

    def mlp(v):
        h = torch.relu(F.linear(v, ch.fc1.weight.view(4, 16), ch.fc1.bias))
        return F.linear(h, ch.fc2.weight.view(16, 4), ch.fc2.bias)

    mc = torch.sigmoid(mlp(x.mean((2, 3))) + mlp(x.flatten(2).max(2).values))
    f1 = x * mc[:, :, None, None]
    pooled = torch.cat([f1.mean(1, keepdim=True), f1.max(1, keepdim=True).values], 1)
    conv = F.conv2d(pooled, block.spatial.conv.weight, padding=3)
    ms = torch.sigmoid((conv - 0.3) / (2.0 + block.spatial.bn.eps) ** 0.5 * 1.5 - 0.2)
    expected = f1 * ms
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)


def test_gate_hooks_see_both_maps() -> None:
    block = CBAM(32)
    seen = {}
    for name in ("channel", "spatial"):
        getattr(block, name).gate.register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, o.detach())
        )
    x = torch.randn(2, 32, 6, 4, requires_grad=True)
    out = block(x)
    assert seen["channel"].shape == (2, 32, 1, 1)
    assert seen["spatial"].shape == (2, 1, 6, 4)
    torch.testing.assert_close(out, x * seen["channel"] * seen["spatial"])


@pytest.mark.parametrize("train", [True, False])
def test_gradcheck_float64_input_and_parameters(train) -> None:
    block = CBAM(4, rd_channels=2, spatial_kernel_size=3).double().train(train)
    names = [n for n, _ in block.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in block.parameters()]
    x = torch.randn(2, 4, 2, 3, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        return torch.func.functional_call(block, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(block, (x,))  # full Jacobian w.r.t. the input
    assert torch.autograd.gradcheck(f, (x, *params), fast_mode=True)


def test_max_gradient_goes_to_one_position_on_ties() -> None:
    """On exact ties torch.max picks one position (the paper's max_pool2d does the same)."""
    gate = ChannelGate(4, rd_channels=2)
    x = torch.ones(1, 4, 3, 3, requires_grad=True)  # every position ties for the max
    gate(x).sum().backward()
    g = x.grad.view(4, 9)
    # every entry gets the mean's share; exactly one per channel also gets the max's share
    off = (g - g.median(1, keepdim=True).values).abs() > 1e-9
    assert off.sum(1).eq(1).all()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="odd kernel_size"):
        SpatialGate(16, kernel_size=4)
    with pytest.raises(ValueError, match="CBAM\\(channels=16\\) got input with 8 channels"):
        CBAM(16)(torch.randn(1, 8, 2, 2))
    with pytest.raises(TypeError, match="floating-point"):
        CBAM(16)(torch.ones(1, 16, 2, 2, dtype=torch.int64))


@pytest.mark.parametrize("frozen", ["input", "channel", "spatial"])
def test_partial_gradients_match_timm(frozen) -> None:
    """The fused path handles inputs or sub-gates that need no gradient."""
    ours = CBAM(32)
    peer = timm_cbam.CbamModule(32, mlp_bias=True)
    peer.load_state_dict(_timm_keys(ours.state_dict()))
    if frozen != "input":
        for module in (getattr(ours, frozen), getattr(peer, frozen)):
            module.requires_grad_(False)
    x = torch.randn(2, 32, 6, 5, requires_grad=frozen != "input")
    w = torch.randn(2, 32, 6, 5)
    grads = []
    for module in (ours, peer):
        x.grad = None
        (module(x) * w).sum().backward()
        grads.append((x.grad, [p.grad for p in module.parameters()]))
    if frozen == "input":
        assert grads[0][0] is None
    else:
        torch.testing.assert_close(grads[0][0], grads[1][0], **TOL)
    for ga, gb in zip(grads[0][1], grads[1][1]):
        assert (ga is None) == (gb is None)
        if ga is not None:
            torch.testing.assert_close(ga, gb, **TOL)
