"""Networks with attention, one family per file, built by name.

``create_model(name, num_classes=..., attention=...)``, ``list_models()``, and
``attach(model, attention)`` to put attention into torchvision / timm networks.
"""

from __future__ import annotations

# Imported eagerly: the function must win over the submodule of the same name, which
# the import system binds to the package attribute ``attach`` when it loads it.
from .attach import attach
from .registry import create_model, get_model_builder, list_models, register_model

__all__ = ["attach", "create_model", "get_model_builder", "list_models", "register_model"]
