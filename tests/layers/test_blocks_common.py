"""Contract every registered attention block keeps (parametrised over ``list_attention()``).

Each block maps ``(N, C, H, W)`` to the same shape, passes gradients to every parameter,
works in ``channels_last``, float64, batch size 1 and odd sizes, compiles to TorchScript
(``torch.jit.script``, checked for every block) and rejects bad input with a message that
names what was expected and what came. ``torch.compile`` (backend ``aot_eager``) and
``torch.export.export`` are checked for SE, ECA and CBAM.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from attnvision.layers import create_attention, list_attention

NAMES = list_attention()
C = 32


def _block(name: str, *, randomise: bool = True) -> nn.Module:
    """The block for ``C`` channels with seeded noise added to every parameter.

    The noise moves zero-initialised parameters (e.g. a last layer started at zero so
    the block starts as the identity) off zero, so every gradient is generically
    non-zero and "gradients reach every parameter" can be asserted.
    """
    block = create_attention(name, channels=C)
    if randomise:
        gen = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for p in block.parameters():
                scale = 0.1 * p.abs().mean().item() or 0.01  # 0.01 where all zero
                p.add_(torch.randn(p.shape, generator=gen) * scale)
    return block


def _forward_backward(block: nn.Module, x: torch.Tensor):
    x = x.detach().clone().requires_grad_()
    block.zero_grad(set_to_none=True)
    out = block(x)
    weight = torch.randn(out.shape, generator=torch.Generator().manual_seed(2), dtype=out.dtype)
    (out * weight).sum().backward()
    return out, x.grad, {n: p.grad for n, p in block.named_parameters()}


def test_every_registered_name_is_listed() -> None:
    expected = {"se", "eca", "sk", "cbam", "channel_gate", "spatial_gate", "bam", "coordatt"}
    expected |= {"gc", "residual_attention", "stn"}
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_shape_and_gradients_reach_every_parameter(name: str) -> None:
    block = _block(name)
    x = torch.randn(2, C, 8, 6)
    out, gx, grads = _forward_backward(block, x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert torch.isfinite(out).all()
    assert gx is not None and torch.isfinite(gx).all() and gx.abs().sum() > 0
    assert grads, f"{name} has no parameters"
    for pname, g in grads.items():
        assert g is not None, f"{name}.{pname} got no gradient"
        assert torch.isfinite(g).all(), f"{name}.{pname} has a non-finite gradient"
        assert g.abs().sum() > 0, f"{name}.{pname} has an all-zero gradient"


@pytest.mark.parametrize("name", NAMES)
def test_channels_last_gives_the_same_result(name: str) -> None:
    # float64, so the check is about layout and not about float32 rounding (batch norm on a
    # batch of two pooled vectors amplifies rounding differences of the two layouts)
    block = _block(name).double()
    x = torch.randn(2, C, 8, 6, dtype=torch.float64)
    ref = _forward_backward(block, x)
    got = _forward_backward(block, x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(got[0], ref[0], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-9, atol=1e-9)
    for pname in ref[2]:
        torch.testing.assert_close(got[2][pname], ref[2][pname], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_float64(name: str) -> None:
    block = _block(name).double()
    x = torch.randn(2, C, 6, 6, dtype=torch.float64)
    out, gx, grads = _forward_backward(block, x)
    assert out.dtype == torch.float64 and gx.dtype == torch.float64
    assert all(g.dtype == torch.float64 for g in grads.values())


# Blocks that batch-normalise a globally pooled (N, C, 1, 1) vector cannot train on a batch
# of one (one value per channel), as timm's SelectiveKernel and BAM do; ours says so by name.
_POOLED_BATCH_NORM = {"bam", "sk"}


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_batch_size_one(name: str, train: bool) -> None:
    block = _block(name).train(train)
    x = torch.randn(1, C, 8, 8)
    if train and name in _POOLED_BATCH_NORM:
        with pytest.raises(ValueError, match="in training mode expected a batch of at least 2"):
            block(x)
        return
    out, gx, _ = _forward_backward(block, x)
    assert out.shape == x.shape and torch.isfinite(gx).all()


@pytest.mark.parametrize("hw", [(1, 1), (7, 5)])
@pytest.mark.parametrize("name", NAMES)
def test_odd_spatial_sizes(name: str, hw: tuple[int, int]) -> None:
    block = _block(name)
    x = torch.randn(2, C, *hw)
    out, gx, _ = _forward_backward(block, x)
    assert out.shape == x.shape and torch.isfinite(out).all() and torch.isfinite(gx).all()


@pytest.mark.parametrize("name", NAMES)
def test_torchscript(name: str) -> None:
    block = _block(name).eval()
    x = torch.randn(2, C, 7, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.script's deprecation notice
        scripted = torch.jit.script(block)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), block(x))
    x.requires_grad_()
    scripted(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", ["se", "eca", "cbam"])
def test_torch_compile_matches_eager(name: str) -> None:
    block = _block(name)
    x = torch.randn(2, C, 7, 5)
    ref = _forward_backward(block, x)
    compiled = torch.compile(block, backend="aot_eager", fullgraph=True)
    got = _forward_backward(compiled, x)
    torch.testing.assert_close(got[0], ref[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got[1], ref[1], rtol=1e-5, atol=1e-6)
    for pname, g in ref[2].items():
        torch.testing.assert_close(got[2]["_orig_mod." + pname], g, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["se", "eca", "cbam"])
def test_torch_export(name: str) -> None:
    block = _block(name).eval()
    x = torch.randn(2, C, 7, 5)
    program = torch.export.export(block, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), block(x))


@pytest.mark.parametrize("name", NAMES)
def test_wrong_channel_count_is_named(name: str) -> None:
    block = _block(name, randomise=False)
    with pytest.raises(ValueError) as info:
        block(torch.randn(2, 16, 8, 8))
    message = str(info.value)
    assert "16" in message and str(C) in message, message


@pytest.mark.parametrize("name", NAMES)
def test_wrong_rank_is_named(name: str) -> None:
    block = _block(name, randomise=False)
    with pytest.raises((ValueError, TypeError)) as info:
        block(torch.randn(2, C, 8))
    message = str(info.value)
    assert "(N, C, H, W)" in message and "3" in message, message


@pytest.mark.parametrize("name", NAMES)
def test_non_floating_input_is_named(name: str) -> None:
    block = _block(name, randomise=False)
    with pytest.raises((TypeError, ValueError)) as info:
        block(torch.ones(2, C, 8, 8, dtype=torch.int64))
    assert "int64" in str(info.value), str(info.value)


def test_one_name_table_serves_the_registry_and_the_package_exports() -> None:
    import attnvision.layers as layers
    from attnvision.layers import get_attention_class
    from attnvision.layers.registry import builtin_classes

    classes = builtin_classes()
    for name in NAMES:
        cls = get_attention_class(name)
        assert classes[cls.__name__] == cls.__module__.rsplit(".", 1)[-1]
        assert getattr(layers, cls.__name__) is cls and cls.__name__ in layers.__all__
    assert len(classes) == len(NAMES)  # every exported class is registered under one name


@pytest.mark.parametrize("name", NAMES)
def test_device_and_dtype_reach_every_parameter_and_buffer(name: str) -> None:
    # torch.nn's factory arguments (timm's layers take them too): built on "meta", nothing
    # is allocated and every tensor says so; built in float64, every floating tensor is
    # float64 and the block runs on a float64 input as built (no .double() afterwards).
    block = create_attention(name, channels=C, device="meta")
    tensors = dict(block.named_parameters()) | dict(block.named_buffers())
    assert tensors and all(t.device.type == "meta" for t in tensors.values()), [
        n for n, t in tensors.items() if t.device.type != "meta"
    ]
    block = create_attention(name, channels=C, dtype=torch.float64).eval()
    floating = {
        n: t.dtype
        for n, t in (dict(block.named_parameters()) | dict(block.named_buffers())).items()
        if t.is_floating_point()
    }
    assert floating and set(floating.values()) == {torch.float64}, floating
    x = torch.randn(2, C, 8, 6, dtype=torch.float64)
    assert block(x).dtype == torch.float64


def test_factory_arguments_reach_activation_classes_and_tps_buffers() -> None:
    block = create_attention("se", channels=C, act_layer=nn.PReLU, device="meta")
    assert block.act.weight.device.type == "meta"
    block = create_attention("se", channels=C, act_layer=nn.PReLU, dtype=torch.float64)
    assert block.act.weight.dtype == torch.float64
    stn = create_attention("stn", channels=C, transform="tps", dtype=torch.float64)
    assert stn.grid.inverse.dtype == torch.float64 and stn.grid.control.dtype == torch.float64
    stn = create_attention("stn", channels=C, transform="tps", device="meta")
    assert stn.grid.inverse.device.type == "meta"
