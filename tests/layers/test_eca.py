"""EfficientChannelAttn: parity with timm's EcaModule, the paper's kernel sizes, gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from _parity import TOL
from _parity import run_with_grads as _run
from attnvision.layers import EfficientChannelAttn, create_attention
from attnvision.layers.eca import eca_kernel_size

timm_eca = pytest.importorskip("timm.layers.eca")


@pytest.mark.parametrize(
    ("channels", "expected"), [(64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)]
)
def test_adaptive_kernel_size_matches_paper_formula(channels: int, expected: int) -> None:
    # Eq. 12: k = |log2(C) / gamma + b / gamma|_odd with gamma = 2, b = 1
    t = int(abs(math.log2(channels) / 2 + 1 / 2))
    assert (t if t % 2 else t + 1) == expected
    assert eca_kernel_size(channels) == expected
    block = create_attention("eca", channels=channels)
    assert block.kernel_size == expected
    assert block.conv.weight.shape == (1, 1, expected)
    assert timm_eca.EcaModule(channels).conv.weight.shape == (1, 1, expected)


@pytest.mark.parametrize("channels", [1, 2, 3, 8, 16, 100, 300, 4096])
def test_kernel_size_rounding_is_timms(channels: int) -> None:
    assert eca_kernel_size(channels) == timm_eca.EcaModule(channels).conv.kernel_size[0]


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize(("channels", "kernel_size"), [(64, None), (128, None), (32, 7)])
def test_matches_timm_eca_module(channels: int, kernel_size: int | None, train: bool) -> None:
    ours = EfficientChannelAttn(channels, kernel_size=kernel_size)
    if kernel_size is None:
        peer = timm_eca.EcaModule(channels)
    else:
        peer = timm_eca.EcaModule(None, kernel_size=kernel_size)
    peer.load_state_dict(ours.state_dict())
    ours.train(train)
    peer.train(train)
    x = torch.randn(3, channels, 7, 5)
    w = torch.randn(3, channels, 7, 5)
    a, b = _run(ours, x, w), _run(peer, x, w)
    torch.testing.assert_close(a[0], b[0], **TOL)
    torch.testing.assert_close(a[1], b[1], **TOL)
    torch.testing.assert_close(a[2][0], b[2][0], **TOL)


def test_paper_definition_by_hand() -> None:
    block = EfficientChannelAttn(16, kernel_size=5).double()
    x = torch.randn(2, 16, 3, 4, dtype=torch.float64)
    y = x.mean((2, 3))  # (N, C)
    k = block.conv.weight.view(5)
    padded = F.pad(y, (2, 2))
    conv = torch.stack([(padded[:, i : i + 5] * k).sum(1) for i in range(16)], dim=1)
    expected = x * torch.sigmoid(conv)[:, :, None, None]
    torch.testing.assert_close(block(x), expected, rtol=1e-12, atol=1e-12)


def test_gate_outputs_channel_map() -> None:
    block = EfficientChannelAttn(32)
    seen = []
    block.gate.register_forward_hook(lambda m, i, o: seen.append(o))
    x = torch.randn(2, 32, 5, 5, requires_grad=True)
    out = block(x)
    assert seen[0].shape == (2, 32, 1, 1)
    torch.testing.assert_close(out, x * seen[0])


def test_gradcheck_float64_input_and_parameters() -> None:
    block = EfficientChannelAttn(8, kernel_size=3).double()
    weight = block.conv.weight.detach().clone().requires_grad_()
    x = torch.randn(2, 8, 3, 2, dtype=torch.float64, requires_grad=True)

    def f(x, w):
        return torch.func.functional_call(block, {"conv.weight": w}, (x,))

    assert torch.autograd.gradcheck(f, (x, weight))


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="odd kernel_size"):
        EfficientChannelAttn(16, kernel_size=4)
    with pytest.raises(ValueError, match="channels >= 1"):
        eca_kernel_size(0)
    with pytest.raises(ValueError, match="8 channels, expected 16"):
        EfficientChannelAttn(16)(torch.randn(1, 8, 2, 2))
