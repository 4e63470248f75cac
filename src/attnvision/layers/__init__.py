"""Attention blocks that drop into any CNN, one family per file.

``create_attention(name, channels, **options)`` builds any of them by name;
``list_attention()`` lists the names. Blocks keep timm's constructor arguments and
compute their maps in a submodule named ``gate`` so :func:`attnvision.explain.capture`
can record them, and take ``device=`` / ``dtype=`` as ``torch.nn`` layers do. A block that
computes the identity when freshly built says so with ``starts_as_identity = True`` (GC
with additive fusion, the spatial transformer); :func:`attnvision.models.attach` wraps
the others so they start as the identity.
"""

from __future__ import annotations

import importlib
from typing import Any

from ._utils import make_divisible
from .registry import (
    builtin_classes,
    create_attention,
    get_attention_class,
    list_attention,
    register_attention,
)

# public class name -> family module (imported lazily), from the registry's one table
_CLASSES = builtin_classes()

__all__ = [
    "create_attention",
    "get_attention_class",
    "list_attention",
    "make_divisible",
    "register_attention",
    *_CLASSES,
]


def __getattr__(name: str) -> Any:
    if name in _CLASSES:
        module = importlib.import_module(f".{_CLASSES[name]}", __name__)
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'attnvision.layers' has no attribute {name!r}")
