"""MNIST read from local files in torchvision's layout, without network.

The reader understands the IDX format of LeCun et al. (``train-images-idx3-ubyte`` and
friends, plain or ``.gz``) as torchvision stores it under ``<root>/MNIST/raw/``.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ._errors import DataNotFoundError

_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# IDX magic numbers: 0x00000803 (uint8, 3 dims) for images, 0x00000801 for labels.
_MAGIC = {3: 2051, 1: 2049}


def read_idx(path: str | os.PathLike[str], ndim: int) -> np.ndarray:
    """Read one IDX file (plain or gzip) into a ``uint8`` array with ``ndim`` dimensions.

    Reference: the file format described on LeCun's MNIST page (big-endian int32 magic
    ``0x0803`` for images / ``0x0801`` for labels, then the sizes, then the bytes).

    Raises:
        ValueError: if the file is not an IDX file of unsigned bytes with ``ndim`` dims.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 + 4 * ndim:
        raise ValueError(
            f"{path}: expected an IDX file with {ndim} dimensions, got {len(data)} bytes"
        )
    magic = int.from_bytes(data[:4], "big")
    if magic != _MAGIC[ndim]:
        raise ValueError(
            f"{path}: expected IDX magic number {_MAGIC[ndim]} (uint8, {ndim}-D), got {magic}"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape))
    if len(data) - offset != expected:
        raise ValueError(
            f"{path}: header says shape {shape} ({expected} bytes), file holds "
            f"{len(data) - offset} bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=offset).reshape(shape)


def find_mnist_raw(root: str | os.PathLike[str]) -> Path:
    """The folder holding the raw MNIST files: ``root/MNIST/raw``, ``root/raw`` or ``root``.

    Raises:
        DataNotFoundError: if none of them holds the four IDX files.
    """
    root = Path(root)
    for candidate in (root / "MNIST" / "raw", root / "raw", root):
        names = [n for pair in _FILES.values() for n in pair]
        if all(_locate(candidate, n) is not None for n in names):
            return candidate
    raise DataNotFoundError(
        f"MNIST not found under {root}: expected {root / 'MNIST' / 'raw'} to hold "
        "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
        "t10k-labels-idx1-ubyte (plain or .gz), torchvision's layout; pass download=True "
        "to fetch it with torchvision"
    )


def _locate(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


class MNIST(Dataset):
    """MNIST digits (LeCun et al. 1998) read from ``root`` in torchvision's layout.

    Items are ``(image, label)``: ``image`` a ``(1, 28, 28)`` float32 tensor in ``[0, 1]``
    (the byte value / 255), ``label`` an ``int``. The train split has 60,000 items, the
    test split 10,000.

    Args:
        root: folder holding ``MNIST/raw/`` (as ``torchvision.datasets.MNIST`` does).
        train: the training split (else the test split).
        download: if the files are missing, let torchvision download them into ``root``
            (the only network access in this package, and only when asked).

    Example:
        >>> ds = MNIST("/data", train=True)  # doctest: +SKIP
        >>> image, label = ds[0]  # (1, 28, 28), 5
    """

    def __init__(
        self, root: str | os.PathLike[str], train: bool = True, download: bool = False
    ) -> None:
        root = Path(root)
        try:
            raw = find_mnist_raw(root)
        except DataNotFoundError:
            if not download:
                raise
            import torchvision

            torchvision.datasets.MNIST(str(root), train=train, download=True)
            raw = find_mnist_raw(root)
        image_name, label_name = _FILES[bool(train)]
        images = read_idx(_locate(raw, image_name), 3)  # type: ignore[arg-type]
        labels = read_idx(_locate(raw, label_name), 1)  # type: ignore[arg-type]
        if len(images) != len(labels):
            raise ValueError(
                f"{raw}: {len(images)} images but {len(labels)} labels; expected the same number"
            )
        self.root = root
        self.train = bool(train)
        self.images = torch.from_numpy(images.copy())  # (N, 28, 28) uint8
        self.targets = torch.from_numpy(labels.astype(np.int64))
        self.classes = [str(i) for i in range(10)]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index].to(torch.float32).div_(255.0).unsqueeze(0)
        return image, int(self.targets[index])
