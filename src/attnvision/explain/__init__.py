"""Pictures of what a network attends to.

:func:`capture` records the attention maps of a model through forward hooks;
:func:`gradcam` gives Grad-CAM maps of any convolutional layer to set beside them. One
picture API draws them, in three layers:

- :mod:`~attnvision.explain.draw`: primitives (an image with a heat map over it on a
  matplotlib axes, heat maps brought to the image's size, atomic PNG writing);
- :mod:`~attnvision.explain.figures`: one PNG per figure (attention grid, curves,
  overlays, channel weights, glimpses, regions, transformer, saliency with fixations);
- :mod:`~attnvision.explain.pictures`: :func:`write_pictures` runs a model on images and
  writes every figure that applies (what ``attnvision visualize`` calls).

Example:
    >>> import attnvision as av  # doctest: +SKIP
    >>> with av.explain.capture(model) as maps:  # doctest: +SKIP
    ...     model(images)
"""

from __future__ import annotations

import importlib
from typing import Any

from .capture import attention_modules, capture
from .gradcam import gradcam  # binds the function over the submodule's name

#: public name -> module holding it (imported on first use: matplotlib is slow to import)
_LAZY = {
    "overlay": ("draw", "draw_overlay"),
    "draw_overlay": ("draw", "draw_overlay"),
    "spatial_map": ("draw", "spatial_map"),
    "heat_to_size": ("draw", "heat_to_size"),
    "save_attention_grid": ("figures", "save_attention_grid"),
    "save_curves": ("figures", "save_curves"),
    "save_overlay": ("figures", "save_overlay"),
    "save_heat_grid": ("figures", "save_heat_grid"),
    "save_channel_weights": ("figures", "save_channel_weights"),
    "save_glimpses": ("figures", "save_glimpses"),
    "save_regions": ("figures", "save_regions"),
    "save_transformer": ("figures", "save_transformer"),
    "save_saliency_fixations": ("figures", "save_saliency_fixations"),
    "write_pictures": ("pictures", "write_pictures"),
}

__all__ = ["attention_modules", "capture", "gradcam", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module_name}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'attnvision.explain' has no attribute {name!r}")
