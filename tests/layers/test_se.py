"""SqueezeExcite: parity with timm and torchvision, the paper's equations, widths, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from _parity import assert_same as _assert_same
from _parity import run_with_grads as _run
from attnvision.layers import SqueezeExcite, create_attention, make_divisible

timm_se = pytest.importorskip("timm.layers.squeeze_excite")
tv_ops = pytest.importorskip("torchvision.ops")


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize(
    ("channels", "options"),
    [(64, {"rd_ratio": 1 / 4, "rd_divisor": 1}), (64, {}), (48, {"rd_channels": 5})],
)
def test_matches_timm_se_module(channels: int, options: dict, train: bool) -> None:
    ours = create_attention("se", channels=channels, **options)
    peer = timm_se.SEModule(channels, **options)
    peer.load_state_dict(ours.state_dict())  # same keys: fc1.weight, fc1.bias, fc2.*
    ours.train(train)
    peer.train(train)
    x = torch.randn(3, channels, 7, 5)
    w = torch.randn(3, channels, 7, 5)
    _assert_same(_run(ours, x, w), _run(peer, x, w))


def test_matches_torchvision_squeeze_excitation() -> None:
    ours = SqueezeExcite(32, rd_channels=8)
    peer = tv_ops.SqueezeExcitation(32, 8)
    peer.load_state_dict(ours.state_dict())
    x = torch.randn(2, 32, 6, 6)
    w = torch.randn(2, 32, 6, 6)
    _assert_same(_run(ours, x, w), _run(peer, x, w))


def test_state_dict_keys_are_timms() -> None:
    assert list(SqueezeExcite(64).state_dict()) == [
        "fc1.weight",
        "fc1.bias",
        "fc2.weight",
        "fc2.bias",
    ]
    assert list(SqueezeExcite(64, bias=False).state_dict()) == ["fc1.weight", "fc2.weight"]


@pytest.mark.parametrize(
    ("channels", "options", "expected"),
    [
        (64, {}, 8),  # 64 / 16 = 4 -> rounded up to the divisor 8
        (256, {}, 16),
        (512, {}, 32),
        (2048, {}, 128),
        (96, {}, 8),  # 6 -> 8
        (200, {}, 16),  # 12.5 -> 16
        (64, {"rd_divisor": 1}, 4),
        (64, {"rd_ratio": 1 / 4, "rd_divisor": 1}, 16),
        (64, {"rd_channels": 5}, 5),
    ],
)
def test_reduced_width(channels: int, options: dict, expected: int) -> None:
    block = SqueezeExcite(channels, **options)
    assert block.rd_channels == expected
    assert block.fc1.weight.shape == (expected, channels, 1, 1)
    assert block.fc2.weight.shape == (channels, expected, 1, 1)
    if "rd_channels" not in options:
        ratio = options.get("rd_ratio", 1 / 16)
        assert expected == make_divisible(channels * ratio, options.get("rd_divisor", 8), 0, 0.0)


def test_paper_equations() -> None:
    """Eq. 2 (squeeze), Eq. 3 (two FC layers, ReLU, sigmoid) and Eq. 4 (scale), by hand."""
    block = SqueezeExcite(16, rd_channels=4)
    x = torch.randn(2, 16, 5, 3, dtype=torch.float64)
    block.double()
    z = x.sum((2, 3)) / (5 * 3)
    w1, b1 = block.fc1.weight.view(4, 16), block.fc1.bias
    w2, b2 = block.fc2.weight.view(16, 4), block.fc2.bias
    s = torch.sigmoid(F.linear(torch.relu(F.linear(z, w1, b1)), w2, b2))
    expected = x * s[:, :, None, None]
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)


def test_gate_hook_sees_channel_weights_in_fast_path() -> None:
    block = SqueezeExcite(32)
    seen = []
    block.gate.register_forward_hook(lambda m, i, o: seen.append(o.detach()))
    x = torch.randn(2, 32, 4, 4, requires_grad=True)  # fast path (gradients wanted)
    out = block(x)
    assert len(seen) == 1 and seen[0].shape == (2, 32, 1, 1)
    torch.testing.assert_close(out, x * seen[0])
    with torch.no_grad():  # plain path
        block(x)
    assert len(seen) == 2
    torch.testing.assert_close(seen[0], seen[1])


def test_gradcheck_float64_input_and_parameters() -> None:
    block = SqueezeExcite(8, rd_channels=3).double()
    names = [n for n, _ in block.named_parameters()]
    params = [p.detach().clone().requires_grad_() for p in block.parameters()]
    x = torch.randn(2, 8, 3, 2, dtype=torch.float64, requires_grad=True)

    def f(x, *ps):
        return torch.func.functional_call(block, dict(zip(names, ps)), (x,))

    assert torch.autograd.gradcheck(block, (x,))  # full Jacobian w.r.t. the input
    assert torch.autograd.gradcheck(f, (x, *params), fast_mode=True)


def test_fast_path_matches_plain_autograd() -> None:
    block = SqueezeExcite(64, act_layer=nn.SiLU, gate_layer=nn.Hardsigmoid)
    x = torch.randn(4, 64, 9, 7)
    w = torch.randn(4, 64, 9, 7)
    fast = _run(block, x, w)

    class Plain(nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            m = self.m
            return x * m.gate(m.fc2(m.act(m.fc1(x.mean((2, 3), keepdim=True)))))

    _assert_same(fast, _run(Plain(block), x, w))


def test_frozen_parameters_and_input_without_grad() -> None:
    block = SqueezeExcite(16)
    block.fc1.weight.requires_grad_(False)
    x = torch.randn(2, 16, 4, 4)
    block(x).sum().backward()
    assert block.fc1.weight.grad is None
    assert block.fc2.weight.grad is not None and block.fc2.weight.grad.abs().sum() > 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="rd_channels"):
        SqueezeExcite(16, rd_channels=0)
    with pytest.raises(ValueError, match="channels >= 1"):
        SqueezeExcite(0)
    with pytest.raises(ValueError, match="32 channels, expected 16"):
        SqueezeExcite(16)(torch.randn(1, 32, 2, 2))
