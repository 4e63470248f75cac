"""Checkpoints: round trip with RNG states; truncated, foreign and malicious files refused."""

from __future__ import annotations

import os
import pickle
import random
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from attnvision.engine.checkpoint import (
    FORMAT_VERSION,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


def test_round_trip_and_rng_restore(tmp_path):
    model = nn.Linear(3, 2)
    path = save_checkpoint(
        tmp_path / "c.pt",
        {
            "model": model.state_dict(),
            "rng": rng_state(),
            "epoch": 2,
            "config": {"a": [1, None, "x"]},
        },
    )
    expected = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    ckpt = load_checkpoint(path)
    assert ckpt["version"] == FORMAT_VERSION and ckpt["epoch"] == 2
    assert ckpt["config"] == {"a": [1, None, "x"]}
    set_rng_state(ckpt["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))  # noqa: NPY002
    assert again[0] == expected[0] and again[1] == expected[1]
    assert torch.equal(again[2], expected[2])
    other = nn.Linear(3, 2)
    load_model_state(other, ckpt["model"])
    assert torch.equal(other.weight, model.weight)


def test_truncated_file_is_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": nn.Linear(30, 20).state_dict()})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"c\.pt is not a readable checkpoint \(truncated"):
        load_checkpoint(path)


def test_foreign_files_are_refused(tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(2)}, plain)  # a torch file, not ours
    with pytest.raises(ValueError, match="not an attnvision checkpoint"):
        load_checkpoint(plain)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(text)
    newer = tmp_path / "newer.pt"
    torch.save({"format": "attnvision-checkpoint", "version": FORMAT_VERSION + 1}, newer)
    with pytest.raises(ValueError, match="format version"):
        load_checkpoint(newer)
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "missing.pt")


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("container", ["zip", "legacy"])
def test_pickle_that_would_run_code_is_refused_and_not_run(tmp_path, container):
    marker = tmp_path / "pwned"
    _Evil.marker = marker
    path = tmp_path / "evil.pt"
    payload = {"format": "attnvision-checkpoint", "version": 1, "model": _Evil()}
    if container == "zip":
        torch.save(payload, path)  # torch's zip container with a malicious data.pkl
        assert zipfile.is_zipfile(path)
    else:
        path.write_bytes(pickle.dumps(payload))  # a bare pickle
    with pytest.raises(ValueError, match="refusing to load .*evil.pt|not a readable"):
        load_checkpoint(path)
    assert not marker.exists(), "the pickle's code ran"


def test_state_of_another_model_is_named(tmp_path):
    state = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).state_dict()
    with pytest.raises(ValueError, match=r"does not fit the model Sequential: .*missing"):
        load_model_state(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), state)
    with pytest.raises(
        ValueError, match=r"shape mismatch of 3 keys: 0.weight \(4, 3\) vs the model's \(5, 3\)"
    ):
        load_model_state(nn.Sequential(nn.Linear(3, 5), nn.Linear(5, 2)), state)
