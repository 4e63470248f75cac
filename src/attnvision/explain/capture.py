"""Record attention maps during a forward pass through forward hooks.

Every attention block in :mod:`attnvision.layers` computes its map in a submodule whose
attribute name is ``gate`` (or starts with ``gate``, e.g. ``gate_h``); the output of that
submodule is the map. A spatial transformer (:class:`attnvision.layers.SpatialTransformer`)
exposes ``loc`` (the transform parameters ``theta``) and ``sampler`` (the warped input).
:func:`capture` hooks all of them and collects detached copies keyed by module path.

Shapes: channel weights ``(N, C, 1, 1)`` come out as ``(N, C)``; spatial maps stay
``(N, 1, H, W)``; transform parameters ``(N, P)``; the warped input ``(N, C, H', W')``.
Other gate outputs (e.g. coordinate attention's ``(N, C, H, 1)``) are kept as they are.

Example:
    >>> import torch, attnvision as av  # doctest: +SKIP
    >>> model = av.models.create_model("cnn", attention="cbam")  # doctest: +SKIP
    >>> with av.explain.capture(model) as maps:  # doctest: +SKIP
    ...     logits = model(torch.rand(2, 1, 60, 60))
    >>> sorted(maps)  # doctest: +SKIP
    ['features.2.attn.channel.gate', 'features.2.attn.spatial.gate']
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

#: child names of a spatial transformer that are recorded (see ``layers/stn.py``).
STN_PARTS = ("loc", "sampler")


def _is_gate(name: str) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    return leaf.startswith("gate")


def _is_stn(module: nn.Module) -> bool:
    return (
        type(module).__name__ == "SpatialTransformer"
        or all(hasattr(module, part) for part in STN_PARTS)
        and hasattr(module, "grid")
    )


def attention_modules(model: nn.Module) -> dict[str, nn.Module]:
    """The submodules :func:`capture` hooks, keyed by module path (in model order)."""
    found: dict[str, nn.Module] = {}
    for name, module in model.named_modules():
        if name and _is_gate(name):
            found[name] = module
        if _is_stn(module):
            for part in STN_PARTS:
                child = getattr(module, part, None)
                if isinstance(child, nn.Module):
                    found[f"{name}.{part}" if name else part] = child
    return found


def _tidy(output: Any) -> torch.Tensor | None:
    if isinstance(output, (tuple, list)) and output:
        output = output[0]
    if not isinstance(output, torch.Tensor):
        return None
    out = output.detach()
    if out.ndim == 4 and out.shape[-2:] == (1, 1):
        out = out.flatten(1)  # channel weights (N, C, 1, 1) -> (N, C)
    return out


@contextmanager
def capture(model: nn.Module) -> Iterator[dict[str, torch.Tensor]]:
    """Context manager: record every attention map of ``model`` while inside the block.

    Args:
        model: any ``nn.Module`` built from :mod:`attnvision.layers` blocks (or following
            their ``gate`` naming convention).

    Yields:
        ``maps``: a dict filled during each forward pass, ``{module path: tensor}``
        (detached; a module run twice keeps its last output). Channel weights are
        ``(N, C)``, spatial maps ``(N, 1, H, W)``.

    The hooks are removed on exit, also when the block raises.

    Raises:
        TypeError: if ``model`` is not an ``nn.Module``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"capture expected an nn.Module, got {type(model).__name__}")
    maps: dict[str, torch.Tensor] = {}
    handles = []

    def hook_for(path: str):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            value = _tidy(output)
            if value is not None:
                maps[path] = value

        return hook

    try:
        for path, module in attention_modules(model).items():
            handles.append(module.register_forward_hook(hook_for(path)))
        yield maps
    finally:
        for handle in handles:
            handle.remove()
