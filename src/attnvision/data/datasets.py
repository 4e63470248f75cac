"""One entry point for every dataset: ``create_dataset(name, distortion=..., seed=...)``."""

from __future__ import annotations

import inspect
import os
from typing import Any

import torch
from torch.utils.data import Dataset

from .._utils import close_matches, data_root
from ._errors import DataNotFoundError
from .distortions import DISTORTIONS, item_generator

_DATASETS = ("digits", "folder", "mnist")


def list_datasets() -> list[str]:
    """The dataset names :func:`create_dataset` accepts, sorted."""
    return sorted(_DATASETS)


def list_distortions() -> list[str]:
    """The distortion names :func:`create_dataset` accepts, sorted."""
    return sorted(DISTORTIONS)


class DistortedDataset(Dataset):
    """Wraps a dataset of ``(image, label)`` and distorts each image on the fly.

    Item ``i`` is distorted with the generator :func:`~.distortions.item_generator`
    ``(seed, i)``, so the same index and seed always give the same image, in any order and
    in any worker. ``cluttered`` takes its fragments from other items of the same base
    dataset, chosen with that generator.

    Args:
        base: the dataset to distort (items ``(C, H, W)`` float tensors in ``[0, 1]``).
        distortion: a name from :func:`list_distortions`.
        seed: the seed of the distortions (>= 0).
        **options: options of the distortion function (``canvas``, ``pieces``, ...).
    """

    def __init__(self, base: Dataset, distortion: str, seed: int = 0, **options: Any) -> None:
        if distortion not in DISTORTIONS:
            known = list_distortions()
            raise ValueError(
                f"unknown distortion {distortion!r}{close_matches(distortion, known)}; "
                f"expected one of: {', '.join(known)}"
            )
        func = DISTORTIONS[distortion]
        allowed = [
            name
            for name, p in inspect.signature(func).parameters.items()
            if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "fragments"
        ]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TypeError(
                f"distortion {distortion!r} got unknown option(s) {', '.join(unknown)}; "
                f"expected some of: {', '.join(allowed) or '(none)'}"
            )
        if seed < 0:
            raise ValueError(f"expected seed >= 0, got {seed}")
        self.base = base
        self.distortion = distortion
        self.seed = int(seed)
        self.options = dict(options)
        self._func = func
        self.targets = getattr(base, "targets", None)
        self.classes = getattr(base, "classes", None)

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def _fragment(self, generator: torch.Generator) -> torch.Tensor:
        index = int(torch.randint(0, len(self), (), generator=generator))
        return self.base[index][0]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if index < 0:
            index += len(self)
        image, label = self.base[index]
        generator = item_generator(self.seed, index)
        options = dict(self.options)
        if self.distortion == "cluttered":
            options["fragments"] = self._fragment
        return self._func(image, generator, **options), label


def create_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    train: bool = True,
    distortion: str | None = None,
    seed: int = 0,
    download: bool = False,
    **options: Any,
) -> Dataset:
    """Build a dataset of ``(image (C, H, W) float32 in [0, 1], label int)`` items.

    Args:
        name: ``"mnist"`` (torchvision's raw layout under ``root``; default root:
            ``$ATTNVISION_DATA``), ``"digits"`` (built-in, scikit-learn's 8x8 digits
            upsampled to 28x28, fixed split; no root) or ``"folder"`` (class sub-folders in
            ``root``; options ``grayscale=``, ``size=``).
        root: where the data lives (see ``name``).
        train: the training split (``mnist``, ``digits``); ignored by ``folder``.
        distortion: ``None`` or a name from :func:`list_distortions` (``rotated``, ``rts``,
            ``projective``, ``elastic``, ``translated``, ``cluttered``), applied on the fly.
        seed: seed of the distortions: the same index and seed give the same image.
        download: ``mnist`` only: download with torchvision if the files are missing.
        **options: dataset options (``grayscale``, ``size`` for ``folder``) and distortion
            options (``canvas``, ``pieces``, ``piece_size``, ``max_angle``, ``scale``, ...).

    Raises:
        ValueError: unknown name or distortion (the message lists the known ones).
        DataNotFoundError: (a ``ValueError`` and ``FileNotFoundError``) missing data.

    Example:
        >>> ds = create_dataset("digits", train=False, distortion="cluttered", seed=0,
        ...                     canvas=60, pieces=4)
        >>> ds[0][0].shape
        torch.Size([1, 60, 60])
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _DATASETS:
        known = list_datasets()
        raise ValueError(
            f"unknown dataset {name!r}{close_matches(str(name), known)}; "
            f"expected one of: {', '.join(known)}"
        )
    if distortion is not None and distortion not in DISTORTIONS:
        known = list_distortions()
        raise ValueError(
            f"unknown distortion {distortion!r}{close_matches(str(distortion), known)}; "
            f"expected one of: {', '.join(known)}"
        )
    base_options = {k: options.pop(k) for k in ("grayscale", "size") if k in options}
    if base_options and key != "folder":
        raise TypeError(
            f"dataset {name!r} got option(s) {', '.join(sorted(base_options))}, "
            "which only the 'folder' dataset takes"
        )
    if distortion is None and options:
        raise TypeError(
            f"got distortion option(s) {', '.join(sorted(options))} without a distortion"
        )
    base: Dataset
    if key == "mnist":
        from .mnist import MNIST

        if root is None:
            root = data_root()
            if root is None:
                raise DataNotFoundError(
                    "mnist: expected root= or the environment variable ATTNVISION_DATA to "
                    "name a folder holding MNIST/raw/ (torchvision's layout)"
                )
        base = MNIST(root, train=train, download=download)
    elif key == "digits":
        from .digits import Digits

        base = Digits(train=train)
    else:
        from .folder import ImageFolder

        if root is None:
            raise DataNotFoundError("folder: expected root= naming a folder of class sub-folders")
        base = ImageFolder(root, **base_options)
    if distortion is None:
        return base
    return DistortedDataset(base, distortion, seed=seed, **options)
