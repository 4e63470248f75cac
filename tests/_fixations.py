"""A tiny fixation dataset on disk for folder-evaluation tests: per-image fixation CSVs,
ground-truth density maps and random predictions (``.npy``, 24x32)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from attnvision.saliency.density import density_map


def write_fixation_dataset(root: Path, n_images: int, n_fixations: int, seed: int) -> None:
    """``root/fix/im<i>.csv``, ``root/gt/im<i>.npy`` and ``root/pred/im<i>.npy``."""
    rng = np.random.default_rng(seed)
    for name in ("fix", "gt", "pred"):
        (root / name).mkdir()
    for i in range(n_images):
        xy = np.column_stack([rng.uniform(0, 31, n_fixations), rng.uniform(0, 23, n_fixations)])
        with open(root / "fix" / f"im{i}.csv", "w", newline="") as handle:
            csv.writer(handle).writerows([["x", "y"], *xy.tolist()])
        np.save(root / "gt" / f"im{i}.npy", density_map(xy, (24, 32), 2.0))
        np.save(root / "pred" / f"im{i}.npy", rng.random((24, 32)))
