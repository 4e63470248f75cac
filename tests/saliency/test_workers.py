"""Tests of attnvision.saliency.workers through the folder evaluations: the same figures for
any number of worker processes, errors and progress from the workers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from _fixations import write_fixation_dataset
from attnvision.saliency import folders, workers


def _sod_folders(tmp_path, n=7):
    rng = np.random.default_rng(0)
    preds, masks = tmp_path / "preds", tmp_path / "masks"
    preds.mkdir()
    masks.mkdir()
    yy, xx = np.mgrid[:30, :40]
    for i in range(n):
        disk = (yy - 12 - i) ** 2 + (xx - 20 + i) ** 2 <= (6 + i) ** 2
        grey = Image.fromarray(disk.astype(np.uint8) * 255).resize((20, 15), Image.BILINEAR)
        grey.resize((40, 30), Image.BILINEAR).save(masks / f"im{i}.png")  # soft edges
        noisy = np.clip(0.7 * disk + 0.3 * rng.random(disk.shape), 0, 1)
        Image.fromarray((noisy * 255).astype(np.uint8)).save(preds / f"im{i}.png")
    return preds, masks


def test_sod_figures_are_the_same_for_any_number_of_workers(tmp_path):
    preds, masks = _sod_folders(tmp_path)
    one = folders.evaluate_sod_folders([preds], masks, workers=1)
    many = folders.evaluate_sod_folders([preds], masks, workers=3)
    assert many.runs[0]["per_image"] == one.runs[0]["per_image"]
    for key, value in one.runs[0]["results"].items():
        assert np.array_equal(many.runs[0]["results"][key], value), key
    # the mask options reach the workers
    level = folders.evaluate_sod_folders([preds], masks, mask_threshold=30, workers=2)
    binary = tmp_path / "binary"
    binary.mkdir()
    for path in masks.iterdir():
        Image.fromarray((np.asarray(Image.open(path)) > 30).astype(np.uint8) * 255).save(
            binary / path.name
        )
    expected = folders.evaluate_sod_folders([preds], binary, strict_masks=True)
    assert level.runs[0]["per_image"] == expected.runs[0]["per_image"]
    assert level.runs[0]["per_image"] != one.runs[0]["per_image"]
    with pytest.raises(ValueError, match=r"binary mask.*masks/im0\.png"):
        folders.evaluate_sod_folders([preds], masks, strict_masks=True, workers=2)


def test_fixation_figures_are_the_same_for_any_number_of_workers(tmp_path):
    write_fixation_dataset(tmp_path, n_images=6, n_fixations=15, seed=1)
    rng = np.random.default_rng(1)
    np.save(tmp_path / "centre.npy", rng.random((12, 16)))  # resized to each image
    options = dict(
        fixations=tmp_path / "fix",
        metrics=["auc_judd", "auc_borji", "auc_shuffled", "nss", "cc", "info_gain"],
        baseline=tmp_path / "centre.npy",
        seed=5,
    )
    one = folders.evaluate_folders(tmp_path / "pred", tmp_path / "gt", workers=1, **options)
    two = folders.evaluate_folders(tmp_path / "pred", tmp_path / "gt", workers=2, **options)
    assert two.per_image == one.per_image and two.results == one.results
    assert one.counts["auc_shuffled"] == 6


def test_worker_errors_and_progress(tmp_path, monkeypatch):
    preds, masks = _sod_folders(tmp_path, n=4)
    (masks / "im2.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"im2\.png: cannot read as an image"):
        folders.evaluate_sod_folders([preds], masks, workers=2)
    (masks / "im2.png").unlink()
    (preds / "im2.png").unlink()
    shown = []

    def progress(items, **kwargs):
        shown.append(kwargs)
        yield from items

    monkeypatch.setattr(workers, "progress", progress)
    folders.evaluate_sod_folders([preds], masks, workers=2, show_progress=True)
    # the parent reports each image as its result arrives, out of the total
    assert shown == [{"desc": "preds", "unit": "img", "total": 3, "enabled": True}]
    for bad, error in ((-1, ValueError), (1.5, TypeError), (True, TypeError)):
        with pytest.raises(error, match="workers"):
            folders.evaluate_sod_folders([preds], masks, workers=bad)
    assert workers.check_workers(0) >= 1


def test_ordered_map_keeps_the_order():
    tasks = list(range(23))
    assert workers.ordered_map(np.square, tasks, workers=3) == [t * t for t in tasks]
    assert workers.ordered_map(np.square, tasks, workers=1) == [t * t for t in tasks]
