"""Datasets and the distorted-digit tasks of the spatial-attention papers.

``create_dataset(name, root=..., train=..., distortion=..., seed=..., **options)`` builds
``mnist`` (local files in torchvision's layout, no network unless ``download=True``),
``digits`` (built-in: scikit-learn's handwritten digits at 28x28, fixed split) and
``folder`` (class sub-folders), optionally distorted on the fly with ``rotated``, ``rts``,
``projective``, ``elastic``, ``translated`` or ``cluttered``, reproducibly from a seed.

Example:
    >>> from attnvision.data import create_dataset
    >>> ds = create_dataset("digits", train=True, distortion="rts", seed=0)
    >>> image, label = ds[0]  # (1, 42, 42) float32 in [0, 1], int
"""

from __future__ import annotations

from ._errors import DataNotFoundError
from .datasets import DistortedDataset, create_dataset, list_datasets, list_distortions
from .digits import Digits
from .distortions import (
    cluttered,
    elastic,
    item_generator,
    projective,
    rotated,
    rts,
    translated,
)
from .folder import ImageFolder
from .mnist import MNIST

__all__ = [
    "MNIST",
    "DataNotFoundError",
    "Digits",
    "DistortedDataset",
    "ImageFolder",
    "cluttered",
    "create_dataset",
    "elastic",
    "item_generator",
    "list_datasets",
    "list_distortions",
    "projective",
    "rotated",
    "rts",
    "translated",
]
