"""Tests of attnvision.data.mnist: the IDX reader against torchvision on the real files."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from _data import require_data
from attnvision.data import MNIST, DataNotFoundError, create_dataset
from attnvision.data.mnist import read_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    magic = 2051 if array.ndim == 3 else 2049
    header = magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture(scope="module")
def mnist_root():
    return require_data("MNIST").parent


@pytest.fixture(scope="module")
def mnist_train(mnist_root):
    return MNIST(mnist_root, train=True)


def test_sizes_and_first_labels(mnist_root, mnist_train):
    test = MNIST(mnist_root, train=False)
    assert len(mnist_train) == 60_000 and len(test) == 10_000
    assert [mnist_train[i][1] for i in range(4)] == [5, 0, 4, 1]
    assert [test[i][1] for i in range(4)] == [7, 2, 1, 0]
    image, label = mnist_train[0]
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert isinstance(label, int)
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0


@pytest.mark.parametrize("train", [True, False])
def test_pixels_equal_torchvision(mnist_root, train):
    import torchvision

    ours = MNIST(mnist_root, train=train)
    theirs = torchvision.datasets.MNIST(str(mnist_root), train=train, download=False)
    assert torch.equal(ours.images, theirs.data)
    assert torch.equal(ours.targets, theirs.targets)
    # item level: our float image is torchvision's ToTensor of its PIL image
    pil, label = theirs[123]
    expected = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0)[None]
    image, our_label = ours[123]
    assert our_label == label
    torch.testing.assert_close(image, expected, rtol=0, atol=1e-7)


def test_create_dataset_reads_attnvision_data(mnist_root, monkeypatch):
    monkeypatch.setenv("ATTNVISION_DATA", str(mnist_root))
    ds = create_dataset("mnist", train=False)
    assert len(ds) == 10_000 and ds[0][1] == 7


def test_gzip_files_and_layouts(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix in ("train", "t10k"):
        with gzip.open(raw / f"{prefix}-images-idx3-ubyte.gz", "wb") as f:
            f.write(_idx_bytes(images))
        with gzip.open(raw / f"{prefix}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(_idx_bytes(labels))
    for root in (tmp_path, tmp_path / "MNIST", raw):
        ds = MNIST(root, train=True)
        assert [ds[i][1] for i in range(5)] == [3, 1, 4, 1, 5]
        assert torch.equal(ds.images, torch.from_numpy(images))


def test_bad_files_and_missing_root(tmp_path):
    bad = tmp_path / "bad-idx"
    bad.write_bytes((1234).to_bytes(4, "big") + b"\0" * 12)
    with pytest.raises(ValueError, match="magic number 2051"):
        read_idx(bad, 3)
    short = tmp_path / "short-idx"
    short.write_bytes(_idx_bytes(np.zeros((2, 2, 2), np.uint8))[:-1])
    with pytest.raises(ValueError, match="header says shape"):
        read_idx(short, 3)
    with pytest.raises(DataNotFoundError, match=r"MNIST not found under .*train-images-idx3"):
        MNIST(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError):
        create_dataset("mnist", root=tmp_path)
