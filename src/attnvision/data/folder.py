"""ImageFolder-style datasets: one sub-folder per class, images inside."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .._utils import open_image
from ._errors import DataNotFoundError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm")


class ImageFolder(Dataset):
    """Images in ``root/<class>/<file>``; classes are the sorted sub-folder names.

    Items are ``(image, label)``: ``image`` a float32 ``(C, H, W)`` tensor in ``[0, 1]``
    with ``C = 1`` (``grayscale=True``, PIL mode ``"L"``) or ``C = 3`` (RGB), ``label`` the
    index of the class in :attr:`classes`. Files are listed in sorted order, so indices are
    stable. Like ``torchvision.datasets.ImageFolder`` in layout, without its transforms.

    Args:
        root: the folder of class sub-folders.
        grayscale: read images as one channel (else RGB).
        size: optional ``(H, W)`` (or an int) to resize every image to, with bilinear
            interpolation (PIL ``Image.BILINEAR``); without it images keep their size.

    Raises:
        DataNotFoundError: if ``root`` is not a folder or holds no class folder with images.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        grayscale: bool = False,
        size: int | tuple[int, int] | None = None,
    ) -> None:
        root = Path(root)
        if not root.is_dir():
            raise DataNotFoundError(
                f"folder dataset: expected {root} to be a folder of class sub-folders, "
                "it does not exist"
            )
        self.classes = sorted(p.name for p in root.iterdir() if p.is_dir())
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(self.classes):
            for path in sorted((root / name).rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
                    self.samples.append((path, label))
        if not self.samples:
            raise DataNotFoundError(
                f"folder dataset: expected {root} to hold class sub-folders with images "
                f"({', '.join(IMAGE_EXTENSIONS)}), found none"
            )
        if isinstance(size, int):
            size = (size, size)
        self.root = root
        self.grayscale = bool(grayscale)
        self.size = size
        self.targets = torch.tensor([label for _, label in self.samples], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, label = self.samples[index]
        with open_image(path) as image:
            image = image.convert("L" if self.grayscale else "RGB")
            if self.size is not None:
                image = image.resize((self.size[1], self.size[0]), Image.BILINEAR)
            array = np.asarray(image, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32) / 255.0
        return tensor, label
