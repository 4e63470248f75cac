"""attnvision: visual attention for CNNs.

Attention blocks (:mod:`attnvision.layers`), networks that use them
(:mod:`attnvision.models`), datasets (:mod:`attnvision.data`), saliency maps and the
field's metrics (:mod:`attnvision.saliency`), pictures of what a network attends to
(:mod:`attnvision.explain`) and the training engine (:mod:`attnvision.engine`).

Sub-packages are imported on first use, so ``import attnvision`` is cheap and
``attnvision.saliency`` does not pull in the model zoo.

Example:
    >>> import attnvision as av
    >>> block = av.layers.create_attention("se", channels=64)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SUBPACKAGES = ("layers", "models", "data", "saliency", "explain", "engine")

__all__ = ["__version__", *_SUBPACKAGES]

if TYPE_CHECKING:  # pragma: no cover
    from . import data, engine, explain, layers, models, saliency  # noqa: F401


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    raise AttributeError(f"module 'attnvision' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
