"""Record attention maps during a forward pass through forward hooks.

Every attention block in :mod:`attnvision.layers` computes its map in a submodule whose
attribute name is ``gate`` (or starts with ``gate``, e.g. ``gate_h``); the output of that
submodule is the map. A spatial transformer (:class:`attnvision.layers.SpatialTransformer`)
exposes ``loc`` (the transform parameters ``theta``) and ``sampler`` (the warped input).
:func:`capture` hooks all of them and collects detached copies keyed by module path.

Shapes: channel weights ``(N, C, 1, 1)`` come out as ``(N, C)``; spatial maps stay
``(N, 1, H, W)``; Selective Kernel branch weights ``(N, B, C, 1, 1)`` come out as
``(N, B, C)``; transform parameters ``(N, P)``; the warped input ``(N, C, H', W')``.
Other gate outputs (e.g. coordinate attention's and BAM's ``(N, C, H, W)``) are kept as
they are.

Models that attend by choosing where to look record their choices from their output:

- a Dynamic Capacity Network (:class:`attnvision.models.dcn.DCN`, recognised by its
  ``selector`` and ``region_saliency``) at path ``p`` gives ``p.regions`` ``(N, k, 2)``
  (row, col of the chosen cells), ``p.boxes`` ``(N, k, 4)`` (pixel boxes top, left,
  bottom, right) and ``p.saliency`` ``(N, h, w)`` (the entropy-gradient saliency of the
  cells);
- a Recurrent Attention Model (:class:`attnvision.models.ram.RAM`, recognised by its
  ``sensor`` and ``locator``) gives ``p.locations`` ``(N, T, 2)``: the ``(x, y)`` of every
  glimpse in ``[-1, 1]``.

For the model itself ``p`` is empty and the keys are ``regions``, ``boxes``,
``saliency`` and ``locations``.

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

#: fields of a DCN's / RAM's output that are recorded (see the module docstring)
DCN_FIELDS = ("regions", "boxes", "saliency")
RAM_FIELDS = ("locations",)

#: captured leaves that are choices, not maps: a transformer's parameters, the DCN's cells
#: and boxes, the RAM's glimpse locations (the figures draw them apart from the map grid)
NOT_MAPS = (STN_PARTS[0], DCN_FIELDS[0], DCN_FIELDS[1], *RAM_FIELDS)


def leaf(key: str) -> str:
    """The last part of a captured key (``"layer1.0.attn.gate"`` -> ``"gate"``)."""
    return key.rsplit(".", 1)[-1]


def _is_gate(name: str) -> bool:
    return leaf(name).startswith("gate")


def _is_stn(module: nn.Module) -> bool:
    return (
        type(module).__name__ == "SpatialTransformer"
        or all(hasattr(module, part) for part in STN_PARTS)
        and hasattr(module, "grid")
    )


def _output_fields(module: nn.Module) -> tuple[str, ...]:
    if hasattr(module, "selector") and hasattr(module, "region_saliency"):
        return DCN_FIELDS
    if hasattr(module, "sensor") and hasattr(module, "locator"):
        return RAM_FIELDS
    return ()


def output_modules(model: nn.Module) -> dict[str, tuple[str, ...]]:
    """DCN / RAM (sub)modules of ``model`` whose outputs :func:`capture` records, keyed by
    module path, with the recorded fields."""
    return {
        name: fields for name, module in model.named_modules() if (fields := _output_fields(module))
    }


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
    if out.ndim in (4, 5) and out.shape[-2:] == (1, 1):
        # channel weights (N, C, 1, 1) -> (N, C); SK branch weights (N, B, C, 1, 1) -> (N, B, C)
        out = out.flatten(-3)
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
        ``(N, C)``, spatial maps ``(N, 1, H, W)``; DCN regions and RAM glimpse locations
        as described in the module docstring.

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

    def output_hook_for(path: str, fields: tuple[str, ...]):
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            for field in fields:
                value = getattr(output, field, None)
                if isinstance(value, torch.Tensor):
                    maps[f"{path}.{field}" if path else field] = value.detach()

        return hook

    try:
        for path, module in attention_modules(model).items():
            handles.append(module.register_forward_hook(hook_for(path)))
        modules = dict(model.named_modules())
        for path, fields in output_modules(model).items():
            handles.append(modules[path].register_forward_hook(output_hook_for(path, fields)))
        yield maps
    finally:
        for handle in handles:
            handle.remove()
