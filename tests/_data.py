"""Access to the real data in ATTNVISION_DATA for tests.

``require_data("sod", "masks")`` returns the path, or skips the test with a clear reason
when the data is missing; under ``CI=true`` a missing folder fails the test instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def real_data_root() -> Path | None:
    value = os.environ.get("ATTNVISION_DATA", "").strip()
    return Path(value) if value and Path(value).is_dir() else None


def require_data(*parts: str) -> Path:
    """Path to a real-data folder or file; skip (fail under CI=true) when it is missing."""
    root = real_data_root()
    path = root.joinpath(*parts) if root else None
    if path is None or not path.exists():
        reason = (
            f"real data {'/'.join(parts) or '.'} not found: set ATTNVISION_DATA to the "
            "shared data folder (make test does this when ../shared/data exists)"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " [CI=true requires it]")
        pytest.skip(reason)
    return path
