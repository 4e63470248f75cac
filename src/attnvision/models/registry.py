"""Name -> model builder.

Family modules in :mod:`attnvision.models` register their builders with
:func:`register_model`; every module of the package is discovered and imported the
first time a name is looked up, so adding a family file is all it takes.

Example:
    >>> from attnvision.models import create_model
    >>> net = create_model("resnet20", attention="se", num_classes=10)  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

from .._utils import close_matches

_MODELS: dict[str, Callable[..., nn.Module]] = {}
_SKIP = {"registry", "attach"}
_loaded = False

F = TypeVar("F", bound=Callable[..., nn.Module])


def register_model(name: str | None = None) -> Callable[[F], F]:
    """Decorator: register a builder ``fn(num_classes=..., attention=..., **kw)``."""

    def wrap(fn: F) -> F:
        key = (name or fn.__name__).lower()
        if key in _MODELS and _MODELS[key] is not fn:
            raise ValueError(f"model name {key!r} is already registered")
        _MODELS[key] = fn
        return fn

    return wrap


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in _SKIP and not info.name.startswith("_"):
            importlib.import_module(f"{__package__}.{info.name}")
    _loaded = True


def list_models() -> list[str]:
    """All registered model names, sorted."""
    _load_all()
    return sorted(_MODELS)


def get_model_builder(name: str) -> Callable[..., nn.Module]:
    """The builder registered under ``name``; unknown names raise ``ValueError``."""
    _load_all()
    key = name.lower()
    if key not in _MODELS:
        known = sorted(_MODELS)
        raise ValueError(
            f"unknown model {name!r}{close_matches(key, known)}; "
            "run `attnvision list` or attnvision.models.list_models() for all names"
        )
    return _MODELS[key]


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model ``name`` (e.g. ``create_model("resnet20", attention="se")``).

    Args:
        name: a name from :func:`list_models`.
        **kwargs: passed to the builder: ``num_classes``, ``attention`` (a name from
            :func:`attnvision.layers.list_attention` or a callable ``channels -> nn.Module``),
            ``attention_options`` and family-specific options.
    """
    return get_model_builder(name)(**kwargs)
