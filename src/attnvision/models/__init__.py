"""Networks with attention, one family per file, built by name.

``create_model(name, num_classes=..., attention=...)``, ``list_models()``, and
``attach(model, attention, where=...)`` to put attention into any CNN (torchvision's and
timm's families by default), with ``attached_blocks(model)`` and ``load_original(model,
state_dict)`` for the original network's checkpoints.
"""

from __future__ import annotations

# Imported eagerly: the function must win over the submodule of the same name, which
# the import system binds to the package attribute ``attach`` when it loads it.
from .attach import LoadReport, attach, attached_blocks, load_original
from .registry import create_model, get_model_builder, list_models, register_model

__all__ = [
    "LoadReport",
    "attach",
    "attached_blocks",
    "create_model",
    "get_model_builder",
    "list_models",
    "load_original",
    "register_model",
]
