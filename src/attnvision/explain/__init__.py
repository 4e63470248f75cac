"""Pictures of what a network attends to.

:func:`capture` records the attention maps of a model through forward hooks;
:mod:`attnvision.explain.plot` draws them over the input images (PNG, Agg backend).

Example:
    >>> import attnvision as av  # doctest: +SKIP
    >>> with av.explain.capture(model) as maps:  # doctest: +SKIP
    ...     model(images)
"""

from __future__ import annotations

from typing import Any

from .capture import attention_modules, capture

__all__ = ["attention_modules", "capture", "overlay", "save_attention_grid", "spatial_map"]


def __getattr__(name: str) -> Any:
    if name in ("overlay", "save_attention_grid", "spatial_map"):
        from . import plot

        return getattr(plot, name)
    raise AttributeError(f"module 'attnvision.explain' has no attribute {name!r}")
