"""Tests of attnvision.data.folder: ImageFolder-style datasets, grayscale and RGB."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attnvision.data import DataNotFoundError, ImageFolder, create_dataset


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for cls in ("cat", "ant"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            array = rng.integers(0, 256, size=(6, 5, 3), dtype=np.uint8)
            Image.fromarray(array).save(tmp_path / cls / f"{i}.png")
            arrays[(cls, i)] = array
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    return tmp_path, arrays


def test_rgb_items_labels_and_order(folder):
    root, arrays = folder
    ds = create_dataset("folder", root=root)
    assert ds.classes == ["ant", "cat"] and len(ds) == 4
    image, label = ds[2]  # sorted: ant/0, ant/1, cat/0, cat/1
    assert label == 1 and image.shape == (3, 6, 5) and image.dtype == torch.float32
    expected = torch.from_numpy(arrays[("cat", 0)]).permute(2, 0, 1).float() / 255
    torch.testing.assert_close(image, expected)


def test_grayscale_and_resize(folder):
    root, arrays = folder
    gray = ImageFolder(root, grayscale=True)
    image, _ = gray[0]
    expected = np.asarray(Image.fromarray(arrays[("ant", 0)]).convert("L"), dtype=np.float32)
    assert image.shape == (1, 6, 5)
    torch.testing.assert_close(image[0], torch.from_numpy(expected) / 255)
    resized = create_dataset("folder", root=root, grayscale=True, size=(12, 10))
    assert resized[0][0].shape == (1, 12, 10)


def test_errors(folder, tmp_path):
    root, _ = folder
    with pytest.raises(DataNotFoundError, match="does not exist"):
        ImageFolder(tmp_path / "missing")
    empty = tmp_path / "empty"
    (empty / "a").mkdir(parents=True)
    with pytest.raises(DataNotFoundError, match="found none"):
        ImageFolder(empty)
    with pytest.raises(TypeError, match="only the 'folder' dataset"):
        create_dataset("digits", grayscale=True)


def test_corrupt_image_is_named(folder):
    root, _ = folder
    (root / "cat" / "1.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    ds = ImageFolder(root)
    with pytest.raises(ValueError, match=r"1\.png: cannot read as an image"):
        ds[3]
    assert ds[2][0].shape == (3, 6, 5)  # the other items still load
