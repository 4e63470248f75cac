"""Tests of ``attnvision saliency maps|evaluate`` run in-process on tiny temporary data."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from attnvision.cli import main
from attnvision.saliency import metrics as M
from attnvision.saliency.datasets import read_map
from attnvision.saliency.density import density_map, fixation_map


def _write_fixations(folder, rng, n_images=4, shape=(24, 32)):
    folder.mkdir()
    rows = {}
    for i in range(n_images):
        xy = np.column_stack([rng.uniform(0, shape[1] - 1, 12), rng.uniform(0, shape[0] - 1, 12)])
        rows[f"im{i}"] = xy
        with open(folder / f"im{i}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["x", "y", "observer"])
            writer.writerows([[x, y, k % 3] for k, (x, y) in enumerate(xy)])
    return rows


def _save_png(path, m):
    Image.fromarray(np.round(np.clip(m, 0, 1) * 255).astype(np.uint8)).save(path)


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    rows = _write_fixations(tmp_path / "fix", rng)
    gt_dir = tmp_path / "gt"
    assert main(["saliency", "maps", str(tmp_path / "fix"), str(gt_dir), "--sigma-px", "2",
                 "--shape", "24", "32", "--npy", "--quiet"]) == 0  # fmt: skip
    pred_dir = tmp_path / "pred"
    pred_dir.mkdir()
    for stem in rows:
        _save_png(pred_dir / f"{stem}.png", rng.random((24, 32)))
    return tmp_path, rows


def test_maps_writes_unit_range_pngs_and_npy(dataset, capsys):
    tmp_path, rows = dataset
    for stem, xy in rows.items():
        png = read_map(tmp_path / "gt" / f"{stem}.png")
        npy = np.load(tmp_path / "gt" / f"{stem}.npy")
        d = density_map(xy, (24, 32), 2.0)
        expected = (d - d.min()) / (d.max() - d.min())
        assert np.allclose(npy, expected, atol=1e-12)
        assert np.abs(png - expected).max() <= 0.5 / 255 + 1e-9
        assert png.max() == 1.0
    assert not list((tmp_path / "gt").glob(".*.tmp"))  # atomic writes leave nothing behind


def test_maps_degrees_and_dropped_fixations(tmp_path, capsys):
    (tmp_path / "fix").mkdir()
    (tmp_path / "fix" / "a.json").write_text(json.dumps({"x": [5, 50, 10], "y": [5, 5, 10]}))
    code = main(["saliency", "maps", str(tmp_path / "fix"), str(tmp_path / "out"),
                 "--sigma-deg", "0.5", "--ppd", "4", "--shape", "16", "20", "--npy"])  # fmt: skip
    assert code == 0
    out = capsys.readouterr()
    assert "sigma 2 px" in out.out
    assert "dropped 1 fixations" in out.err
    npy = np.load(tmp_path / "out" / "a.npy")
    d = density_map([[5, 5], [10, 10]], (16, 20), 2.0)
    assert np.allclose(npy, (d - d.min()) / (d.max() - d.min()))


def test_maps_stimuli_sizes_and_missing(tmp_path, capsys):
    (tmp_path / "fix").mkdir()
    for stem in ("a", "b"):
        (tmp_path / "fix" / f"{stem}.csv").write_text("3,4\n5,6\n")
    (tmp_path / "stim").mkdir()
    Image.new("RGB", (30, 20)).save(tmp_path / "stim" / "a.jpg")
    args = ["saliency", "maps", str(tmp_path / "fix"), str(tmp_path / "out"), "--sigma-px", "1",
            "--stimuli", str(tmp_path / "stim")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 fixation entries have no image" in err[0] and ": b" in err[0]
    assert main([*args, "--allow-missing"]) == 0
    assert read_map(tmp_path / "out" / "a.png").shape == (20, 30)
    assert not (tmp_path / "out" / "b.png").exists()


def test_evaluate_matches_library_and_writes_csv_json(dataset, capsys):
    tmp_path, rows = dataset
    out_csv = tmp_path / "res.csv"
    metrics = ["auc_judd", "nss", "cc", "kld", "sim", "auc_borji"]
    code = main(["saliency", "evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"),
                 "--fixations", str(tmp_path / "fix"), "--metrics", ",".join(metrics),
                 "--out", str(out_csv), "--quiet"])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out
    assert "auc_judd" in printed and "wrote" in printed
    table = list(csv.reader(out_csv.open()))
    assert table[0] == ["image", *metrics] and table[-1][0] == "(mean)"
    ev = M.SaliencyEvaluator(metrics, seed=0)
    for stem in sorted(rows):
        gt = read_map(tmp_path / "gt" / f"{stem}.npy")  # the exact map is preferred
        pred = read_map(tmp_path / "pred" / f"{stem}.png")
        ev.update(pred, fixation_map(rows[stem], gt.shape), gt, name=stem)
    expected = ev.results()
    assert [float(v) for v in table[-1][1:]] == pytest.approx([expected[m] for m in metrics])
    out_json = tmp_path / "res.json"
    assert main(["saliency", "evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"),
                 "--fixations", str(tmp_path / "fix"), "--metrics", *metrics, "auc_shuffled",
                 "--out", str(out_json)]) == 0  # fmt: skip
    data = json.loads(out_json.read_text())
    assert data["results"]["nss"] == pytest.approx(expected["nss"])
    assert 0 <= data["results"]["auc_shuffled"] <= 1
    assert len(data["per_image"]) == 4


def test_evaluate_without_fixations_uses_distribution_metrics(dataset, capsys):
    tmp_path, _ = dataset
    assert main(["saliency", "evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    out = capsys.readouterr().out
    assert "cc" in out and "kld" in out and "sim" in out and "nss" not in out
    assert main(["saliency", "evaluate", str(tmp_path / "pred"), str(tmp_path / "gt"),
                 "--metrics", "nss"]) == 2  # fmt: skip
    assert "need --fixations" in capsys.readouterr().err


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("attnvision saliency evaluate: error:")  # names the subcommand
    return err[0]


def test_evaluate_missing_names_are_listed(dataset, capsys):
    tmp_path, _ = dataset
    (tmp_path / "pred" / "im2.png").unlink()
    _save_png(tmp_path / "pred" / "extra.png", np.zeros((24, 32)))
    args = ["saliency", "evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert "without a prediction: im2" in line and "without a ground-truth map: extra" in line
    assert main([*args, "--allow-missing"]) == 0
    captured = capsys.readouterr()
    assert "im2" in captured.err and "extra" in captured.err
    assert captured.out.splitlines()[1].split()[-1] == "3"  # 3 images evaluated


def test_evaluate_bad_inputs_exit_2_with_one_line(dataset, capsys):
    tmp_path, _ = dataset
    pred, gt = str(tmp_path / "pred"), str(tmp_path / "gt")
    assert main(["saliency", "evaluate", str(tmp_path / "nope"), gt]) == 2
    assert "nope" in _one_error_line(capsys)
    (tmp_path / "pred" / "im1.png").write_bytes(b"broken")
    assert main(["saliency", "evaluate", pred, gt]) == 2
    assert "im1.png" in _one_error_line(capsys)
    (tmp_path / "pred" / "im1.png").unlink()
    np.save(tmp_path / "pred" / "im1.npy", np.full((24, 32), np.nan))
    assert main(["saliency", "evaluate", pred, gt]) == 2
    line = _one_error_line(capsys)
    assert "im1.npy" in line and "finite" in line
    np.save(tmp_path / "pred" / "im1.npy", np.ones((12, 16)))
    assert main(["saliency", "evaluate", pred, gt]) == 2
    assert "(12, 16)" in _one_error_line(capsys)
    np.save(tmp_path / "pred" / "im1.npy", np.random.default_rng(0).random((12, 16)))
    assert main(["saliency", "evaluate", pred, gt, "--resize"]) == 0
    capsys.readouterr()
    assert main(["saliency", "evaluate", pred, gt, "--out", str(tmp_path / "r.txt")]) == 2
    assert ".json or .csv" in _one_error_line(capsys)
    assert main(["saliency", "evaluate", pred, gt, "--metrics", "nsss"]) == 2
    assert "did you mean nss" in _one_error_line(capsys)


def test_osie_mat_as_fixation_source(tmp_path, capsys):
    from scipy.io import savemat

    subj = np.zeros((2,), dtype=[("fix_x", "O"), ("fix_y", "O"), ("fix_duration", "O")])
    subj[0] = (np.array([5.0, 12.0]), np.array([4.0, 9.0]), np.array([200.0, 300.0]))
    subj[1] = (np.array([30.0]), np.array([2.0]), np.array([250.0]))
    entry = np.zeros((1,), dtype=[("img", "O"), ("subjects", "O")])
    entry[0] = ("a.jpg", subj)
    savemat(tmp_path / "fixations.mat", {"fixations": entry})
    assert main(["saliency", "maps", str(tmp_path / "fixations.mat"), str(tmp_path / "out"),
                 "--sigma-px", "1.5", "--shape", "20", "30", "--npy"]) == 0  # fmt: skip
    npy = np.load(tmp_path / "out" / "a.npy")
    d = density_map([[4, 3], [11, 8], [29, 1]], (20, 30), 1.5)  # 1-based -> 0-based
    assert np.allclose(npy, (d - d.min()) / (d.max() - d.min()))


def test_json_is_one_document_on_stdout(dataset, capsys):
    tmp_path, _ = dataset
    args = ["saliency", "evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]
    assert main([*args, "--fixations", str(tmp_path / "fix"), "--json", "--quiet"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)  # the whole of stdout is one JSON document
    assert doc["metrics"] == list(M.DEFAULT_METRICS) and doc["counts"]["nss"] == 4
    with_out = tmp_path / "r.json"
    assert main([*args, "--json", "--quiet", "--out", str(with_out)]) == 0
    assert (
        json.loads(capsys.readouterr().out)["results"]
        == json.loads(with_out.read_text())["results"]
    )  # no "wrote ..." line on stdout
    for argv in (["list", "--json"], ["bench", "--block", "se", "--input", "1,8,4,4",
                                        "--repeats", "1", "--json"]):  # fmt: skip
        assert main(argv) == 0
        json.loads(capsys.readouterr().out)


def test_maps_that_write_nothing_are_an_error(tmp_path, capsys):
    folder = tmp_path / "fix"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n100,100\n")  # outside a 10x10 image
    code = main(["saliency", "maps", str(folder), str(tmp_path / "out"), "--sigma-px", "1",
                 "--shape", "10", "10", "--quiet"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "no map written: none of the 1 images has a fixation inside it (a)" in err[0]
