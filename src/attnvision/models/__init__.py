"""Networks with attention, one family per file, built by name.

``create_model(name, num_classes=..., attention=...)``, ``list_models()``, and
``attach(model, attention)`` to put attention into torchvision / timm networks.
"""

from __future__ import annotations

from typing import Any

from .registry import create_model, get_model_builder, list_models, register_model

__all__ = ["attach", "create_model", "get_model_builder", "list_models", "register_model"]


def __getattr__(name: str) -> Any:
    if name == "attach":
        from .attach import attach

        return attach
    raise AttributeError(f"module 'attnvision.models' has no attribute {name!r}")
