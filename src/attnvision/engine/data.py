"""Datasets and models for the engine, built from a :class:`~attnvision.engine.config.Config`.

Dataset names: everything :func:`attnvision.data.create_dataset` knows (``digits``,
``mnist``, ``folder``, ...), ``cifar10`` (``torchvision.datasets.CIFAR10(root,
download=False)``), and ``tensors``: a ``.pt`` file holding ``{"train": (images, labels),
"test": (images, labels)}`` (images ``(N, C, H, W)`` float, labels ``(N,)`` int64), read
with ``weights_only=True``.

Model names: everything :func:`attnvision.models.list_models` knows, or
``"package.module:builder"`` for a builder of your own with the same signature
(``builder(num_classes=..., attention=..., attention_options=..., in_chans=..., **options)``).
A builder whose signature does not name ``attention`` (``"torchvision.models:mobilenet_v2"``,
``"timm:create_model"``) is built without it and the attention is put in with
:func:`attnvision.models.attach` (``attention_options`` are its options, ``where``,
``replace`` and ``identity_init`` included).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import ConcatDataset, Dataset, Subset, TensorDataset

from .config import DataConfig, ModelConfig


class ReadableItems(Dataset):
    """Wraps a dataset so that an item that cannot be read (a file that is not an image, a
    truncated file) raises ``ValueError`` naming the item, instead of a decoder's own
    ``OSError``; everything else passes through."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        try:
            return self.dataset[index]
        except (FileNotFoundError, PermissionError):
            raise
        except (OSError, SyntaxError) as exc:  # PIL raises these for undecodable files
            raise ValueError(f"dataset item {index} could not be read: {exc}") from exc


def _unwrap(ds: Dataset) -> tuple[Dataset, list[int] | None]:
    indices: list[int] | None = None
    while isinstance(ds, (Subset, ReadableItems)):
        if isinstance(ds, Subset):
            idx = list(ds.indices)
            indices = idx if indices is None else [idx[i] for i in indices]
        ds = ds.dataset
    return ds, indices


def _tensor_datasets(root: str | None) -> tuple[Dataset, Dataset]:
    if not root:
        raise ValueError("data.name=tensors expected data.root to name a .pt file, got none")
    p = Path(root)
    if not p.is_file():
        raise FileNotFoundError(f"tensor dataset file not found: {p}")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ValueError(f"{p} is not a readable tensor dataset file") from exc
    out = []
    for split in ("train", "test"):
        if not isinstance(blob, dict) or split not in blob:
            raise ValueError(f"{p}: expected a dict with 'train' and 'test' (images, labels)")
        images, labels = blob[split]
        if images.ndim != 4:
            raise ValueError(
                f"{p}: {split} images expected shape (N, C, H, W), got {tuple(images.shape)}"
            )
        out.append(TensorDataset(images.float(), labels.long()))
    return out[0], out[1]


def _cifar10(root: str | None, train: bool) -> Dataset:
    import torchvision
    from torchvision.transforms import ToTensor

    if not root:
        raise ValueError("data.name=cifar10 expected data.root (torchvision's CIFAR10 layout)")
    try:
        return torchvision.datasets.CIFAR10(root, train=train, download=False, transform=ToTensor())
    except RuntimeError as exc:
        raise FileNotFoundError(
            f"CIFAR-10 not found under {root} (expected torchvision's cifar-10-batches-py)"
        ) from exc


def build_datasets(cfg: DataConfig) -> tuple[Dataset, Dataset]:
    """The ``(train, test)`` datasets of ``cfg``; items are ``(image (C,H,W) float, label)``.

    Raises:
        FileNotFoundError: a missing data folder or file.
        ValueError: an unknown dataset name or distortion.
    """
    if cfg.root is not None:
        root = Path(cfg.root)
        if not root.exists():
            raise FileNotFoundError(f"data folder not found: {root}")
    if cfg.name == "tensors":
        train, test = _tensor_datasets(cfg.root)
    elif cfg.name == "cifar10":
        train, test = _cifar10(cfg.root, True), _cifar10(cfg.root, False)
    else:
        from attnvision.data import create_dataset

        kwargs: dict[str, Any] = dict(cfg.options)
        if cfg.root is not None:
            kwargs["root"] = cfg.root
        if cfg.copies < 1:
            raise ValueError(f"data.copies expected >= 1, got {cfg.copies}")
        if cfg.copies > 1 and not cfg.distortion:
            raise ValueError("data.copies > 1 expected a data.distortion to vary the copies")
        parts = [
            create_dataset(
                cfg.name, train=True, distortion=cfg.distortion, seed=cfg.seed + k, **kwargs
            )
            for k in range(cfg.copies)
        ]
        train = parts[0] if len(parts) == 1 else ConcatDataset(parts)
        test = create_dataset(
            cfg.name, train=False, distortion=cfg.distortion, seed=cfg.seed, **kwargs
        )
    train, test = ReadableItems(train), ReadableItems(test)
    if cfg.limit_train:
        train = Subset(train, range(min(cfg.limit_train, len(train))))
    if cfg.limit_test:
        test = Subset(test, range(min(cfg.limit_test, len(test))))
    if len(train) == 0 or len(test) == 0:
        raise ValueError(
            f"dataset {cfg.name!r} expected images in both splits, got {len(train)} train and "
            f"{len(test)} test"
        )
    return train, test


def split_validation(
    train: Dataset, fraction: float, seed: int = 0
) -> tuple[Dataset, Dataset | None]:
    """Hold out ``round(fraction * len(train))`` training items, drawn at random with
    ``seed``, as a validation split: ``(rest, validation)``; ``fraction`` 0 gives
    ``(train, None)``. The same seed gives the same split.

    Raises:
        ValueError: ``fraction`` outside ``[0, 1)``, or a split that leaves either part
            empty.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"data.val_fraction expected a fraction in [0, 1), got {fraction}")
    if fraction == 0.0:
        return train, None
    n = len(train)
    k = max(1, int(round(fraction * n)))
    if k < 1 or k >= n:
        raise ValueError(
            f"data.val_fraction={fraction} of {n} training items leaves {k} for validation "
            f"and {n - k} for training; expected at least 1 in each"
        )
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).tolist()
    return Subset(train, sorted(order[k:])), Subset(train, sorted(order[:k]))


def _labels(ds: Dataset) -> torch.Tensor | None:
    base, indices = _unwrap(ds)
    if isinstance(base, ConcatDataset):
        parts = [_labels(part) for part in base.datasets]
        if any(part is None for part in parts):
            return None
        labels = torch.cat(parts)  # type: ignore[arg-type]
        return labels[indices] if indices is not None else labels
    if isinstance(base, TensorDataset):
        labels = base.tensors[1]
    else:
        targets = getattr(base, "targets", None)
        if targets is None:
            return None
        labels = torch.as_tensor(targets)
    return labels[indices] if indices is not None else labels


def dataset_info(ds: Dataset) -> tuple[int, int]:
    """``(num_classes, in_channels)`` of a classification dataset."""
    image, _ = ds[0]
    if not isinstance(image, torch.Tensor) or image.ndim != 3:
        raise ValueError(
            "expected dataset items (image (C, H, W) tensor, label), got image of type "
            f"{type(image).__name__}"
            + (f" with shape {tuple(image.shape)}" if isinstance(image, torch.Tensor) else "")
        )
    base, _ = _unwrap(ds)
    if isinstance(base, ConcatDataset):
        base, _ = _unwrap(base.datasets[0])
    classes = getattr(base, "classes", None) or getattr(base, "num_classes", None)
    if isinstance(classes, int):
        num_classes = classes
    elif classes is not None:
        num_classes = len(classes)
    else:
        labels = _labels(ds)
        if labels is None:
            labels = torch.tensor([int(ds[i][1]) for i in range(len(ds))])
        num_classes = int(labels.max()) + 1
    return num_classes, int(image.shape[0])


def resolve_builder(name: str) -> Any:
    """A model builder from the registry, or ``"package.module:function"``."""
    if ":" in name:
        module_name, attr = name.split(":", 1)
        try:
            module = importlib.import_module(module_name)
            return getattr(module, attr)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"model builder {name!r} could not be imported: {exc}") from exc
    from attnvision.models import get_model_builder

    return get_model_builder(name)


def build_model(cfg: ModelConfig, num_classes: int, in_channels: int) -> nn.Module:
    """Build the model of ``cfg`` for ``num_classes`` classes and ``in_channels`` channels.

    ``in_chans`` (or ``in_channels``) is passed only when the builder names it.
    """
    import inspect

    builder = resolve_builder(cfg.name)
    kwargs: dict[str, Any] = dict(cfg.options)
    kwargs["num_classes"] = cfg.num_classes or num_classes
    try:
        params = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        params = {}
    # an external builder that does not take attention= gets it from attach()
    attach_after = ":" in cfg.name and "attention" not in params
    if cfg.attention not in (None, "none"):
        from attnvision.layers import get_attention_class

        get_attention_class(cfg.attention)  # unknown names raise here, with close matches
        if not attach_after:
            kwargs["attention"] = cfg.attention
            if cfg.attention_options:
                kwargs["attention_options"] = dict(cfg.attention_options)
    for key in ("in_chans", "in_channels"):
        if key in params:
            kwargs.setdefault(key, in_channels)
            break
    model = builder(**kwargs)
    if attach_after and cfg.attention not in (None, "none"):
        from attnvision.models import attach

        attach(model, cfg.attention, **dict(cfg.attention_options or {}))
    if cfg.transformer is not None:
        from attnvision.models.spatial import TransformerFront

        try:
            model = TransformerFront(model, in_channels, **cfg.transformer)
        except TypeError as exc:
            raise ValueError(f"model.transformer: {exc}") from None
    return model
