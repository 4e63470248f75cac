"""Saliency: ground-truth maps from eye fixations, the field's metrics, and evaluators.

- :func:`density_map` (fixations -> ground-truth density summing to 1), with
  :func:`fixation_map`, :func:`to_unit_range`, :func:`pixels_per_degree`
  (:mod:`attnvision.saliency.density`);
- :mod:`attnvision.saliency.metrics`: AUC-Judd, AUC-Borji, shuffled AUC, NSS, CC, KLD,
  SIM, information gain, EMD as defined by the MIT/Tuebingen saliency benchmark, and
  :class:`SaliencyEvaluator`;
- :mod:`attnvision.saliency.datasets`: readers (CSV/JSON fixations, OSIE ``.mat``,
  MIT1003 maps, SOD folders);
- loaded on first use: :mod:`~attnvision.saliency.sod` (salient-object metrics),
  :mod:`~attnvision.saliency.baselines`, :mod:`~attnvision.saliency.interop` (pysaliency
  models and datasets, benchmark submissions) and :func:`predict` (from
  ``saliency/model.py``).

Importing this package does not import torch.

Example:
    >>> import attnvision as av
    >>> d = av.saliency.density_map([[20, 10]], (32, 48), sigma=4)
    >>> round(float(d.sum()), 6)
    1.0
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import metrics
from .density import density_map, fixation_map, pixels_per_degree, to_unit_range
from .metrics import SaliencyEvaluator

if TYPE_CHECKING:  # pragma: no cover
    from . import baselines, datasets, interop, sod

_LAZY_MODULES = ("sod", "baselines", "datasets", "density", "interop")
_LAZY_ATTRS = {"predict": ("model", "predict")}

__all__ = [
    "SaliencyEvaluator",
    "baselines",
    "datasets",
    "density_map",
    "fixation_map",
    "interop",
    "metrics",
    "pixels_per_degree",
    "predict",
    "sod",
    "to_unit_range",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY_MODULES:
        module = importlib.import_module(f".{name}", __name__)
        globals()[name] = module
        return module
    if name in _LAZY_ATTRS:
        module_name, attr = _LAZY_ATTRS[name]
        value = getattr(importlib.import_module(f".{module_name}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'attnvision.saliency' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
