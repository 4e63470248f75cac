"""Tests of the evaluation and prediction options of issue 19 on the command line:
``sod evaluate --mask-threshold / --strict-masks / --workers``, ``saliency evaluate
--workers``, ``saliency predict --format benchmark``, and user errors that print one line
of ours (no third-party warning) and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _fixations import write_fixation_dataset
from attnvision.cli import main
from attnvision.saliency import sod

ROOT = Path(__file__).resolve().parents[2]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


@pytest.fixture
def grey_sod(tmp_path):
    """Predictions and averaged masks (levels 0, 85, 170, 255), as PASCAL-S ships them."""
    preds, masks = tmp_path / "preds", tmp_path / "masks"
    preds.mkdir()
    masks.mkdir()
    yy, xx = np.mgrid[:30, :44]
    arrays = {}
    for i, stem in enumerate(["a", "b", "c", "d"]):
        disks = [(yy - 14) ** 2 + (xx - 18 - i - k) ** 2 <= (7 + i) ** 2 for k in (0, 3, 6)]
        mask = np.round(np.mean(disks, axis=0) * 255).astype(np.uint8)
        pred = (np.random.default_rng(i).random(mask.shape) * 255).astype(np.uint8)
        Image.fromarray(mask).save(masks / f"{stem}.png")
        Image.fromarray(pred).save(preds / f"{stem}.png")
        arrays[stem] = (pred, mask)
    return preds, masks, arrays


def _sod_json(args, capsys) -> dict:
    assert main(["sod", "evaluate", *map(str, args), "--json", "--quiet"]) == 0
    return json.loads(capsys.readouterr().out)["models"][0]["results"]


def test_sod_evaluate_mask_options_and_workers(grey_sod, capsys):
    preds, masks, arrays = grey_sod
    for threshold in (None, 84, 170):
        expected = sod.SODEvaluator()
        for stem in sorted(arrays):
            pred, mask = arrays[stem]
            expected.update(pred, mask > (128 if threshold is None else threshold))
        options = [] if threshold is None else ["--mask-threshold", threshold]
        got = _sod_json([preds, masks, *options], capsys)
        for key in sod.SCALAR_KEYS:
            assert got[key] == expected.results()[key], (threshold, key)
    assert _sod_json([preds, masks, "--workers", 2], capsys) == _sod_json([preds, masks], capsys)
    assert main(["sod", "evaluate", str(preds), str(masks), "--strict-masks", "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert "binary mask" in line and "0, 85, 170, 255" in line and "a.png" in line
    assert main(["sod", "evaluate", str(preds), str(masks), "--mask-threshold", "-3"]) == 2
    assert "mask_threshold in [0, 255), got -3" in _one_error_line(capsys)
    assert main(["sod", "evaluate", str(preds), str(masks), "--workers", "-1"]) == 2
    assert "workers >= 0" in _one_error_line(capsys)


def test_saliency_evaluate_workers_give_the_same_numbers(tmp_path, capsys):
    write_fixation_dataset(tmp_path, n_images=5, n_fixations=10, seed=0)
    outputs = []
    for workers in ("1", "2"):
        args = ["saliency", "evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"),
                "--fixations", str(tmp_path / "fix"), "--metrics", "auc_judd", "auc_shuffled",
                "nss", "cc", "--json", "--quiet", "--workers", workers]  # fmt: skip
        assert main(args) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1]


def test_predict_benchmark_format(tmp_path, capsys):
    images = tmp_path / "stimuli"
    images.mkdir()
    for i, (h, w) in enumerate([(40, 51), (35, 33)]):
        pixels = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(images / f"i{i}.jpg")
    assert main(["saliency", "predict", str(images), "--out", str(tmp_path / "sub"),
                 "--format", "benchmark", "--kind", "object", "--quiet"]) == 0  # fmt: skip
    assert "wrote 2 object maps" in capsys.readouterr().out
    for i, size in enumerate([(51, 40), (33, 35)]):
        with Image.open(tmp_path / "sub" / f"i{i}.png") as saliency:
            assert saliency.size == size and saliency.mode == "L"
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["i0.png", "i1.png"]
    assert main(["saliency", "predict", str(images / "i1.jpg"), "--out", str(tmp_path / "jpg"),
                 "--format", "benchmark", "--image-format", "jpg", "--quiet"]) == 0  # fmt: skip
    assert (tmp_path / "jpg" / "i1.jpg").is_file()
    capsys.readouterr()
    assert main(["saliency", "predict", str(images), "--out", str(tmp_path / "x"),
                 "--format", "benchmark", "--overlay"]) == 2  # fmt: skip
    assert "--overlay" in _one_error_line(capsys)
    assert main(["saliency", "predict", str(images), "--out", str(tmp_path / "x"),
                 "--image-format", "jpg"]) == 2  # fmt: skip
    assert "--format benchmark" in _one_error_line(capsys)


@pytest.mark.slow
def test_user_errors_print_one_line_of_ours(grey_sod, tmp_path):
    """Empty folders, unmatched names, files that are not images: one line naming them on
    stderr, exit code 2, and no warning text of a third-party library (run as a user runs
    the command: a fresh interpreter, warnings on by default)."""
    preds, masks, _ = grey_sod
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "unmatched").mkdir()
    Image.fromarray(np.zeros((30, 44), np.uint8)).save(tmp_path / "unmatched" / "zzz.png")
    (tmp_path / "broken").mkdir()
    for stem in ("a", "b", "c", "d"):
        (tmp_path / "broken" / f"{stem}.png").write_bytes(b"not a png at all")
    cases = [
        (["sod", "evaluate", empty, masks], "found none"),
        (["sod", "evaluate", tmp_path / "unmatched", masks], "zzz"),
        (["sod", "evaluate", tmp_path / "broken", masks], "cannot read as an image"),
        (["saliency", "evaluate", empty, masks], "without a prediction"),
        (["saliency", "predict", tmp_path / "broken", "--out", tmp_path / "o"], "a.png"),
        (["saliency", "predict", tmp_path / "nowhere.jpg", "--out", tmp_path / "o"], "nowhere"),
    ]
    for args, expected in cases:
        run = subprocess.run(
            [sys.executable, "-W", "default", "-m", "attnvision", *map(str, args)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"},
            timeout=120,
        )
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2, (args, run.stderr)
        assert len(lines) == 1 and lines[0].startswith("attnvision "), (args, run.stderr)
        assert expected in lines[0] and "Warning" not in run.stderr, (args, run.stderr)
