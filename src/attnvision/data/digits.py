"""Built-in real digits: scikit-learn's bundled handwritten digits, MNIST-sized.

``sklearn.datasets.load_digits`` ships 1,797 8x8 images (UCI "Optical Recognition of
Handwritten Digits", Alpaydin and Kaynak 1998) with the package, so this dataset needs
neither network nor ``ATTNVISION_DATA``; it is the offline default of ``attnvision compare``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

#: side of the upsampled digit and of the MNIST-like canvas it is centred in.
DIGIT_SIZE = 20
CANVAS_SIZE = 28
#: every ``TEST_EVERY``-th image of each class (in file order) is in the test split.
TEST_EVERY = 4


def _load() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).to(torch.float32) / 16.0  # (1797, 8, 8) in [0, 1]
    labels = torch.from_numpy(bunch.target).to(torch.int64)
    return images, labels


def split_indices(labels: torch.Tensor, train: bool) -> torch.Tensor:
    """The fixed split: within each class, occurrence ``j`` (file order) is a test image
    when ``j % 4 == 3``; everything else is training. Stratified, and the same on every
    machine because it uses no random numbers (1,352 train / 445 test images)."""
    occurrence = torch.zeros_like(labels)
    seen: dict[int, int] = {}
    for i, label in enumerate(labels.tolist()):
        occurrence[i] = seen.get(label, 0)
        seen[label] = int(occurrence[i]) + 1
    is_test = occurrence % TEST_EVERY == TEST_EVERY - 1
    return torch.nonzero(is_test if not train else ~is_test).flatten()


def upsample_digits(images: torch.Tensor) -> torch.Tensor:
    """``(N, 8, 8)`` digits in ``[0, 1]`` -> ``(N, 1, 28, 28)`` MNIST-like canvases.

    Each digit is resized to 20x20 with bilinear interpolation
    (``F.interpolate(mode="bilinear", align_corners=False, antialias=False)``) and centred
    in a 28x28 zero canvas with a 4-pixel border, the layout of MNIST (whose digits fit a
    20x20 box in a 28x28 image).
    """
    x = images.unsqueeze(1)
    x = F.interpolate(x, size=(DIGIT_SIZE, DIGIT_SIZE), mode="bilinear", align_corners=False)
    pad = (CANVAS_SIZE - DIGIT_SIZE) // 2
    return F.pad(x.clamp(0.0, 1.0), (pad, pad, pad, pad))


class Digits(Dataset):
    """scikit-learn's handwritten digits, upsampled to MNIST's 28x28 layout.

    Items are ``(image, label)``: ``image`` a ``(1, 28, 28)`` float32 tensor in ``[0, 1]``
    (see :func:`upsample_digits`), ``label`` an ``int`` in ``0..9``. The split is fixed
    (:func:`split_indices`): 1,352 training and 445 test images.

    Example:
        >>> ds = Digits(train=False)
        >>> len(ds), ds[0][0].shape
        (445, torch.Size([1, 28, 28]))
    """

    def __init__(self, train: bool = True) -> None:
        images, labels = _load()
        keep = split_indices(labels, train)
        self.train = bool(train)
        self.images = upsample_digits(images[keep])  # (N, 1, 28, 28)
        self.targets = labels[keep]
        self.classes = [str(i) for i in range(10)]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index].clone(), int(self.targets[index])
