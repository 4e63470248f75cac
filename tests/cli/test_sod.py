"""Tests for ``attnvision sod evaluate`` (run in-process through attnvision.cli.main)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _data import require_data
from attnvision.cli import main
from attnvision.saliency import sod


def _mask(seed: int, shape=(40, 56)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - 18 - seed) ** 2 + (xx - 25 - 2 * seed) ** 2 <= 100 + 20 * seed


def _pred(mask: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (np.clip(0.6 * mask + 0.4 * rng.random(mask.shape), 0, 1) * 255).astype(np.uint8)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, dict]:
    preds, masks = tmp_path / "preds", tmp_path / "masks"
    preds.mkdir()
    masks.mkdir()
    arrays = {}
    for seed, stem in enumerate(["a", "b", "c"]):
        mask = _mask(seed)
        pred = _pred(mask, seed)
        Image.fromarray(mask.astype(np.uint8) * 255).save(masks / f"{stem}.png")
        Image.fromarray(pred).save(preds / f"{stem}.png")
        arrays[stem] = (pred, mask)
    return preds, masks, arrays


def _expected(arrays: dict) -> dict:
    evaluator = sod.SODEvaluator()
    for stem in sorted(arrays):
        evaluator.update(*arrays[stem])
    return evaluator.results()


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_evaluate_prints_table_and_writes_json(folders, tmp_path, capsys):
    preds, masks, arrays = folders
    out = tmp_path / "res" / "r.json"
    assert main(["sod", "evaluate", str(preds), str(masks), "--out", str(out), "--quiet"]) == 0
    stdout = capsys.readouterr().out
    expected = _expected(arrays)
    header, row = stdout.splitlines()[:2]
    assert header.split()[:3] == ["model", "images", "MAE"]
    assert row.split()[:3] == ["preds", "3", f"{expected['mae']:.4f}"]
    payload = json.loads(out.read_text())
    (model,) = payload["models"]
    assert model["images"] == 3 and sorted(model["per_image"]) == ["a", "b", "c"]
    for key in sod.SCALAR_KEYS:
        assert model["results"][key] == expected[key]
    for key in sod.CURVE_KEYS:
        assert model["results"][key] == expected[key].tolist()
    assert model["per_image"]["b"] == sod.SODEvaluator().update(*arrays["b"])
    assert not list(out.parent.glob(".*.tmp"))  # atomic write left nothing behind


def test_evaluate_writes_csv_with_dataset_row(folders, tmp_path, capsys):
    preds, masks, arrays = folders
    out = tmp_path / "r.csv"
    assert main(["sod", "evaluate", str(preds), str(masks), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["image"] for r in rows] == ["a", "b", "c", "(dataset)"]
    expected = _expected(arrays)
    assert float(rows[-1]["max_fmeasure"]) == expected["max_fmeasure"]
    assert float(rows[0]["mae"]) == sod.mae(*arrays["a"])


def test_missing_files_are_an_error_naming_them(folders, capsys):
    preds, masks, _ = folders
    (preds / "b.png").unlink()
    Image.fromarray(np.zeros((40, 56), np.uint8)).save(preds / "extra.png")
    assert main(["sod", "evaluate", str(preds), str(masks)]) == 2
    line = _one_error_line(capsys)
    assert "1 mask(s) without a prediction: b" in line
    assert "1 prediction(s) without a mask: extra" in line
    assert "--allow-missing" in line


def test_allow_missing_evaluates_the_rest_and_lists_them(folders, capsys):
    preds, masks, arrays = folders
    (preds / "b.png").unlink()
    assert main(["sod", "evaluate", str(preds), str(masks), "--allow-missing"]) == 0
    captured = capsys.readouterr()
    assert "mask(s) without a prediction: b" in captured.err
    expected = _expected({k: v for k, v in arrays.items() if k != "b"})
    assert captured.out.splitlines()[1].split()[1:3] == ["2", f"{expected['mae']:.4f}"]


def test_other_size_is_an_error_unless_resize(folders, capsys):
    preds, masks, arrays = folders
    small = arrays["c"][0][::2, ::2]
    Image.fromarray(small).save(preds / "c.png")
    assert main(["sod", "evaluate", str(preds), str(masks)]) == 2
    line = _one_error_line(capsys)
    assert "c.png has shape (20, 28)" in line and "has shape (40, 56)" in line
    assert "--resize" in line
    assert main(["sod", "evaluate", str(preds), str(masks), "--resize"]) == 0
    capsys.readouterr()


def test_bad_out_suffix_and_unknown_option(folders, capsys):
    preds, masks, _ = folders
    assert main(["sod", "evaluate", str(preds), str(masks), "--out", "r.txt"]) == 2
    assert "expected --out to end in .json or .csv, got 'r.txt'" in _one_error_line(capsys)
    with pytest.raises(SystemExit) as exit_info:
        main(["sod", "evaluate", str(preds), str(masks), "--nope"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --nope" in _one_error_line(capsys)


def test_bad_mask_and_missing_folder(folders, tmp_path, capsys):
    preds, masks, _ = folders
    (masks / "a.png").write_bytes(b"not a png")  # grey masks are binarised; a broken file is not
    assert main(["sod", "evaluate", str(preds), str(masks)]) == 2
    line = _one_error_line(capsys)
    assert "cannot read as an image" in line and "a.png" in line
    assert main(["sod", "evaluate", str(tmp_path / "nowhere"), str(masks)]) == 2
    assert "nowhere" in _one_error_line(capsys)


def test_evaluate_real_sod_subset(tmp_path, capsys):
    """Ten real DSS maps (linked, not copied) against the MATLAB toolbox's stored values."""
    scipy_io = pytest.importorskip("scipy.io")
    root = require_data("sod")
    names = sorted(p.stem for p in (root / "masks").glob("*.png"))
    chosen = names[::30]
    preds, masks = tmp_path / "DSS", tmp_path / "masks"
    preds.mkdir()
    masks.mkdir()
    for name in chosen:
        (preds / f"{name}.png").symlink_to(root / "predictions" / "DSS" / f"{name}.png")
        (masks / f"{name}.png").symlink_to(root / "masks" / f"{name}.png")
    out = tmp_path / "r.json"
    assert main(["sod", "evaluate", str(preds), str(masks), "--out", str(out), "--quiet"]) == 0
    per_image = json.loads(out.read_text())["models"][0]["per_image"]
    stored = scipy_io.loadmat(root / "matlab_results" / "DSS.mat")
    for name in chosen:
        i = names.index(name)
        assert per_image[name]["mae"] == pytest.approx(stored["MAE_image"][i, 0], abs=1e-12)
        assert per_image[name]["smeasure"] == pytest.approx(
            stored["S_measure_image"][i, 0], abs=1e-12
        )
        assert per_image[name]["adaptive_fmeasure"] == pytest.approx(
            stored["mean_Fmeasure_image"][i, 2], abs=1e-12
        )
