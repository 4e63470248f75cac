"""Engine datasets: built-in digits with copies, tensor files, model building by name."""

from __future__ import annotations

import pytest
import torch

from attnvision.engine.config import DataConfig, ModelConfig
from attnvision.engine.data import build_datasets, build_model, dataset_info


def test_digits_copies_are_differently_distorted():
    one, test = build_datasets(DataConfig(name="digits", distortion="cluttered"))
    two, _ = build_datasets(DataConfig(name="digits", distortion="cluttered", copies=2))
    assert len(two) == 2 * len(one) and len(test) == 445
    a, la = two[0]
    b, lb = two[len(one)]
    assert la == lb and a.shape == b.shape == (1, 60, 60)
    assert not torch.equal(a, b)  # same digit, another placement and clutter
    assert torch.equal(a, one[0][0])
    assert dataset_info(two) == (10, 1)
    with pytest.raises(ValueError, match="copies > 1 expected a data.distortion"):
        build_datasets(DataConfig(name="digits", distortion=None, copies=2))


def test_tensor_file_dataset(tmp_path):
    path = tmp_path / "t.pt"
    torch.save(
        {
            "train": (torch.rand(6, 3, 8, 8), torch.arange(6) % 3),
            "test": (torch.rand(2, 3, 8, 8), torch.tensor([0, 2])),
        },
        path,
    )
    train, test = build_datasets(DataConfig(name="tensors", root=str(path), distortion=None))
    assert len(train) == 6 and dataset_info(train) == (3, 3)
    bad = tmp_path / "bad.pt"
    torch.save({"train": (torch.rand(6, 8, 8), torch.zeros(6))}, bad)
    with pytest.raises(ValueError, match=r"train images expected shape \(N, C, H, W\)"):
        build_datasets(DataConfig(name="tensors", root=str(bad), distortion=None))
    torch.save({"train": (torch.rand(6, 1, 8, 8), torch.zeros(6))}, bad)
    with pytest.raises(ValueError, match="expected a dict with 'train' and 'test'"):
        build_datasets(DataConfig(name="tensors", root=str(bad), distortion=None))
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        build_datasets(DataConfig(name="tensors", root=str(tmp_path / "no.pt")))


def test_build_model_by_name_and_errors():
    model = build_model(ModelConfig(name="cnn", attention="se"), num_classes=7, in_channels=3)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 7)
    with pytest.raises(ValueError, match="unknown attention 'sse'"):
        build_model(ModelConfig(name="cnn", attention="sse"), 10, 1)
    with pytest.raises(ValueError, match="unknown model 'cn'"):
        build_model(ModelConfig(name="cn"), 10, 1)
    with pytest.raises(ValueError, match="could not be imported"):
        build_model(ModelConfig(name="no_such_module:builder"), 10, 1)
