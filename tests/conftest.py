"""Shared fixtures. Real-data access lives in ``_data.py`` (``from _data import require_data``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _data import require_data


@pytest.fixture
def data_root() -> Path:
    """The ATTNVISION_DATA folder (skips, or fails under CI=true, when missing)."""
    return require_data()


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """One intra-op thread for the whole suite: the tensors here are small, and on a
    2-core machine shared with other work two threads were up to 10x slower than one."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same torch seed."""
    import torch

    torch.manual_seed(0)
    yield
