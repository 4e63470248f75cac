"""Helpers for parity tests of a block against its peer (timm, torchvision).

``run_with_grads`` gives the output, the input gradient and every parameter gradient of
``(module(x) * weight).sum()``; ``assert_same`` compares two such results to ``TOL``;
``randomise`` fills a module's floating state with seeded random values so that no part of
the math is trivially zero or one.
"""

from __future__ import annotations

import torch
from torch import nn

TOL = {"rtol": 1e-6, "atol": 1e-6}


def run_with_grads(module: nn.Module, x: torch.Tensor, weight: torch.Tensor):
    """Output, input gradient and parameter gradients of ``(module(x) * weight).sum()``."""
    x = x.detach().clone().requires_grad_()
    module.zero_grad(set_to_none=True)
    out = module(x)
    (out * weight).sum().backward()
    return out.detach(), x.grad, [p.grad for p in module.parameters()]


def assert_same(a, b) -> None:
    """Two ``run_with_grads`` results agree to ``TOL`` (output, input and parameter grads)."""
    torch.testing.assert_close(a[0], b[0], **TOL)
    torch.testing.assert_close(a[1], b[1], **TOL)
    assert len(a[2]) == len(b[2])
    for ga, gb in zip(a[2], b[2]):
        torch.testing.assert_close(ga, gb, **TOL)


def randomise(module: nn.Module, seed: int = 1) -> None:
    """Seeded random weights and statistics (running variances kept positive)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=gen) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * 0.5)
