"""Pictures of what a network attends to.

:func:`capture` records the attention maps of a model through forward hooks;
:func:`gradcam` gives Grad-CAM maps of any convolutional layer to set beside them;
:mod:`attnvision.explain.plot` draws them over the input images (PNG, Agg backend).

Example:
    >>> import attnvision as av  # doctest: +SKIP
    >>> with av.explain.capture(model) as maps:  # doctest: +SKIP
    ...     model(images)
"""

from __future__ import annotations

from typing import Any

from .capture import attention_modules, capture
from .gradcam import gradcam  # binds the function over the submodule's name

_PLOT = (
    "overlay",
    "save_attention_grid",
    "spatial_map",
    "save_overlay",
    "save_heat_grid",
    "save_channel_weights",
    "save_glimpses",
    "save_regions",
    "save_transformer",
    "save_saliency_fixations",
)

__all__ = ["attention_modules", "capture", "gradcam", *_PLOT]


def __getattr__(name: str) -> Any:
    if name in _PLOT:
        from . import plot

        return getattr(plot, name)
    raise AttributeError(f"module 'attnvision.explain' has no attribute {name!r}")
