"""Tests for attnvision.layers.sk (Selective Kernel, Li et al. 2019)."""

from __future__ import annotations

import pytest
import torch

from _parity import randomise as _randomise
from attnvision.layers import create_attention
from attnvision.layers.sk import SelectiveKernel, SelectiveKernelGate, sk_attn_channels

timm_sk = pytest.importorskip("timm.layers.selective_kernel")


def _pair(dtype: torch.dtype = torch.float64, **kwargs):
    """Our SK and timm's SK with the same arguments and the same weights."""
    ours = SelectiveKernel(**kwargs).to(dtype)
    peer_kwargs = {k: v for k, v in kwargs.items() if k != "min_rd_channels"}
    peer = timm_sk.SelectiveKernel(**peer_kwargs, rd_channels=ours.attn_channels).to(dtype)
    _randomise(peer)
    mapped = {k.replace("attn.", "gate.", 1): v for k, v in peer.state_dict().items()}
    ours.load_state_dict(mapped)  # strict: the layouts match one to one
    return ours, peer


CONFIGS = [
    dict(in_channels=16),  # attention-block use: 3x3 + dilated 3x3, split input
    dict(in_channels=16, out_channels=32, stride=2, groups=4, split_input=False),  # SKNet
    dict(in_channels=12, kernel_size=[3, 5, 7]),  # three branches
    dict(in_channels=8, out_channels=8, kernel_size=5, keep_3x3=False, split_input=False),
    dict(in_channels=8, dilation=2, min_rd_channels=4),
]


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "kwargs", CONFIGS, ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items())
)
def test_parity_with_timm_forward_and_gradients(kwargs, train):
    ours, peer = _pair(**kwargs)
    ours.train(train)
    peer.train(train)
    x = torch.randn(3, kwargs["in_channels"], 9, 7, dtype=torch.float64)
    x_ours = x.clone().requires_grad_()
    x_peer = x.clone().requires_grad_()
    out_ours, out_peer = ours(x_ours), peer(x_peer)
    torch.testing.assert_close(out_ours, out_peer, atol=1e-6, rtol=0)
    grad = torch.randn_like(out_ours)
    out_ours.backward(grad)
    out_peer.backward(grad)
    torch.testing.assert_close(x_ours.grad, x_peer.grad, atol=1e-6, rtol=0)
    peer_params = dict(peer.named_parameters())
    for name, param in ours.named_parameters():
        other = peer_params[name.replace("gate.", "attn.", 1)]
        torch.testing.assert_close(param.grad, other.grad, atol=1e-6, rtol=0, msg=name)
    if train:  # running statistics were updated the same way
        peer_buffers = dict(peer.named_buffers())
        for name, buf in ours.named_buffers():
            torch.testing.assert_close(buf, peer_buffers[name.replace("gate.", "attn.", 1)])


def test_parity_with_timm_float32():
    ours, peer = _pair(torch.float32, in_channels=32)
    x = torch.randn(2, 32, 12, 12)
    torch.testing.assert_close(ours(x), peer(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("channels", "width"), [(64, 32), (128, 32), (256, 32), (512, 32), (1024, 64), (2048, 128)]
)
def test_attention_width_follows_paper_max_c_over_r_and_l(channels, width):
    # SKNet Eq. 4: d = max(C / r, L), r = 16, L = 32
    assert sk_attn_channels(channels) == width
    assert SelectiveKernel(channels, groups=32, split_input=False).attn_channels == width
    # without L, timm's rule make_divisible(C / 16, 8)
    assert sk_attn_channels(128, min_rd_channels=0) == 8
    assert sk_attn_channels(2048, min_rd_channels=0) == 128
    assert sk_attn_channels(128, rd_channels=20) == 20


def test_sknet50_parameter_count_matches_paper():
    """SKNet-50 (ResNeXt-50 32x4d with SK, M=2, G=32, r=16, L=32): 27.48M parameters."""
    timm = pytest.importorskip("timm")
    model = timm.create_model("skresnext50_32x4d", pretrained=False)
    total_timm = sum(p.numel() for p in model.parameters())
    ours_minus_timm = 0
    for module in model.modules():
        if isinstance(module, timm_sk.SelectiveKernel):
            conv = module.paths[0].conv
            ours = SelectiveKernel(
                module.in_channels,
                module.out_channels,
                stride=conv.stride[0],
                groups=32,
                split_input=False,
            )
            ours_minus_timm += sum(p.numel() for p in ours.parameters())
            ours_minus_timm -= sum(p.numel() for p in module.parameters())
    assert total_timm == 27_479_784
    assert total_timm + ours_minus_timm == 27_479_784  # paper: 27.48M


def test_gate_gives_softmax_over_branches_and_output_is_weighted_sum():
    block = SelectiveKernel(12, kernel_size=[3, 5, 7]).eval()
    _randomise(block)
    seen = {}
    block.gate.register_forward_hook(lambda m, i, o: seen.update(attn=o))
    branch_out = []
    for path in block.paths:
        path.register_forward_hook(lambda m, i, o: branch_out.append(o.clone()))
    x = torch.randn(2, 12, 6, 5)
    out = block(x)
    attn = seen["attn"]
    assert attn.shape == (2, 3, 12, 1, 1)
    torch.testing.assert_close(attn.sum(dim=1), torch.ones(2, 12, 1, 1))
    assert (attn > 0).all()
    expected = sum(attn[:, m] * branch_out[m] for m in range(3))
    torch.testing.assert_close(out, expected)
    # the gate sees the global average of the summed branches (Eq. 1-2)
    pooled = sum(branch_out).mean(dim=(2, 3), keepdim=True)
    torch.testing.assert_close(block.gate(pooled), attn)


def test_equal_branches_make_output_equal_branch():
    """With identical branches the softmax weights sum to one, so V = U (Eq. 6)."""
    block = SelectiveKernel(8, kernel_size=[3, 3], split_input=False).eval()
    _randomise(block)
    block.paths[1].load_state_dict(block.paths[0].state_dict())
    x = torch.randn(2, 8, 5, 5)
    torch.testing.assert_close(block(x), block.paths[0](x))


def test_gradcheck_float64():
    block = SelectiveKernel(4, min_rd_channels=2).double()
    _randomise(block)
    x = torch.randn(2, 4, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(block, (x,), fast_mode=True)


def test_stride_and_shapes():
    block = SelectiveKernel(8, 16, stride=2, groups=4, split_input=False).eval()
    assert block(torch.randn(2, 8, 7, 5)).shape == (2, 16, 4, 3)
    attn = create_attention("sk", channels=8).eval()
    for shape in [(1, 8, 1, 1), (1, 8, 7, 5)]:
        assert attn(torch.randn(shape)).shape == shape


def test_gate_module_type_and_names():
    block = SelectiveKernel(16)
    assert isinstance(block.gate, SelectiveKernelGate)
    names = set(dict(block.named_modules()))
    assert {
        "paths.0.conv",
        "paths.0.bn",
        "paths.1.conv",
        "gate.fc_reduce",
        "gate.fc_select",
    } <= names


def test_errors():
    with pytest.raises(ValueError, match="divisible by the 2 branches"):
        SelectiveKernel(7)
    with pytest.raises(ValueError, match="odd kernel sizes"):
        SelectiveKernel(8, kernel_size=[3, 4])
    with pytest.raises(ValueError, match="odd kernel sizes"):
        SelectiveKernel(8, kernel_size=[3])
    with pytest.raises(ValueError, match="groups"):
        SelectiveKernel(8, 12, groups=8)
    with pytest.raises(ValueError, match="rd_channels"):
        SelectiveKernel(8, rd_channels=0)
    block = SelectiveKernel(8)
    with pytest.raises(ValueError, match=r"got input with 4 channels, expected 8"):
        block(torch.randn(2, 4, 5, 5))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        block(torch.randn(8, 5, 5))
    with pytest.raises(TypeError, match="floating-point"):
        block(torch.ones(2, 8, 5, 5, dtype=torch.long))
