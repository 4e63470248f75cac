"""Tests of attnvision.saliency.datasets: fixation files, OSIE, MIT1003, maps, SOD folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from _data import require_data
from attnvision.saliency import datasets as Ds
from attnvision.saliency.density import fixation_map


def test_csv_with_and_without_header(tmp_path):
    (tmp_path / "a.csv").write_text("y,x,duration\n1.5,2.5,200\n3,4,100\n")
    rows = Ds.read_fixations_csv(tmp_path / "a.csv")
    assert rows.shape == (2, 4)
    assert np.array_equal(rows[:, :2], [[2.5, 1.5], [4.0, 3.0]])
    assert np.array_equal(rows[:, 2], [-1, -1]) and np.array_equal(rows[:, 3], [200, 100])
    (tmp_path / "b.csv").write_text("2.5,1.5,3\n4,3,1\n")
    rows = Ds.read_fixation_file(tmp_path / "b.csv", origin=1)
    assert np.array_equal(rows[:, :3], [[1.5, 0.5, 3], [3.0, 2.0, 1]])
    assert np.isnan(rows[:, 3]).all()
    (tmp_path / "bad.csv").write_text("x,y\n1,zz\n")
    with pytest.raises(ValueError, match="numeric"):
        Ds.read_fixations_csv(tmp_path / "bad.csv")


def test_json_layouts(tmp_path):
    layouts = {
        "cols.json": {"x": [1, 2], "y": [3, 4], "observer": [0, 1]},
        "objs.json": [{"x": 1, "y": 3, "observer": 0}, {"x": 2, "y": 4, "observer": 1}],
        "rows.json": [[1, 3, 0], [2, 4, 1]],
        "wrapped.json": {"fixations": [[1, 3, 0], [2, 4, 1]]},
    }
    for name, data in layouts.items():
        (tmp_path / name).write_text(json.dumps(data))
        rows = Ds.read_fixation_file(tmp_path / name)
        assert np.array_equal(rows[:, :3], [[1, 3, 0], [2, 4, 1]]), name
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Ds.read_fixations_json(tmp_path / "broken.json")
    (tmp_path / "nox.json").write_text(json.dumps({"y": [1]}))
    with pytest.raises(ValueError, match="'x' and 'y'"):
        Ds.read_fixations_json(tmp_path / "nox.json")
    with pytest.raises(ValueError, match=".csv or .json"):
        Ds.read_fixation_file(tmp_path / "a.txt")


def test_read_map_formats(tmp_path):
    a = np.array([[0, 128], [255, 64]], dtype=np.uint8)
    Image.fromarray(a).save(tmp_path / "m8.png")
    assert np.array_equal(Ds.read_map(tmp_path / "m8.png"), a / 255.0)
    b = np.array([[0, 65535], [1000, 30000]], dtype=np.uint16)
    Image.fromarray(b).save(tmp_path / "m16.png")
    assert np.allclose(Ds.read_map(tmp_path / "m16.png"), b / 65535.0)
    rgb = np.zeros((2, 2, 3), dtype=np.uint8)
    rgb[..., 1] = 255
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    assert Ds.read_map(tmp_path / "rgb.png").shape == (2, 2)
    np.save(tmp_path / "f.npy", np.arange(6.0).reshape(2, 3))
    assert Ds.read_map(tmp_path / "f.npy").shape == (2, 3)
    np.save(tmp_path / "bad.npy", np.zeros(3))
    with pytest.raises(ValueError, match="2-D"):
        Ds.read_map(tmp_path / "bad.npy")
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read"):
        Ds.read_map(tmp_path / "junk.png")
    with pytest.raises(FileNotFoundError):
        Ds.read_map(tmp_path / "missing.png")


def test_list_maps(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 2)))
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "b.png")
    (tmp_path / "notes.txt").write_text("x")
    assert sorted(Ds.list_maps(tmp_path)) == ["a", "b"]
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "a.png")
    assert Ds.list_maps(tmp_path)["a"].name == "a.npy"  # the exact map wins over its PNG
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(tmp_path / "b.jpg")
    with pytest.raises(ValueError, match="two maps for 'b'"):
        Ds.list_maps(tmp_path)


def test_osie_reader_counts_and_coordinates():
    root = require_data("osie")
    fx = Ds.read_osie_fixations(root / "fixations.mat")
    assert len(fx) == 700
    assert sum(len(v) for v in fx.values()) == 98321  # as pysaliency counts them
    names = sorted(fx)
    assert names[0] == "1001.jpg" and names[-1] == "1700.jpg"
    rows = fx["1001.jpg"]
    assert rows.shape[1] == 4
    assert set(np.unique(rows[:, 2]).astype(int)) <= set(range(15))
    assert (rows[:, 3] > 0).all()
    allrows = np.concatenate(list(fx.values()))
    # 1-based MATLAB coordinates were shifted: the smallest recorded x is 1.2 -> 0.2
    assert allrows[:, 0].min() == pytest.approx(0.2)
    # all OSIE images are 800x600: pooling every image's fixations counts the same drops
    _, dropped = fixation_map(allrows, (600, 800), return_dropped=True, warn=False)
    assert dropped == 0  # OSIE keeps every fixation inside the 800x600 frame
    stimuli = sorted(p.name for p in (root / "stimuli").glob("*.jpg"))
    assert len(stimuli) == 600 and set(stimuli) <= set(fx)
    with Image.open(root / "stimuli" / "1001.jpg") as img:
        assert img.size == (800, 600)


def test_osie_reader_errors(tmp_path):
    from scipy.io import savemat

    savemat(tmp_path / "other.mat", {"data": np.zeros(3)})
    with pytest.raises(ValueError, match="'fixations'"):
        Ds.read_osie_fixations(tmp_path / "other.mat")
    (tmp_path / "junk.mat").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot read"):
        Ds.read_osie_fixations(tmp_path / "junk.mat")
    with pytest.raises(FileNotFoundError):
        Ds.read_osie_fixations(tmp_path / "none.mat")


def test_mit1003_maps_real_data():
    root = require_data("mit1003")
    pairs = Ds.mit1003_pairs(root)
    assert len(pairs) == 100
    for stim, fmap in pairs[:5]:
        m = Ds.read_map(fmap)
        with Image.open(stim) as img:
            assert m.shape == (img.height, img.width)
        assert 0.0 <= m.min() and m.max() <= 1.0 and m.max() > 0.5  # blurred, JPEG
    assert len(list((root / "fixation_maps").iterdir())) == 1003


# ----------------------------------------------------------------------------- SOD folders


def test_read_prediction_modes_and_match_by_stem(tmp_path):
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(grey).save(tmp_path / "a.png")
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "b.png")
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "c.png")
    a, b, c = (Ds.read_prediction(tmp_path / f"{s}.png") for s in "abc")
    assert a.dtype == np.uint8 and np.array_equal(a, grey)
    assert np.array_equal(b, grey)  # equal channels: luma is the channel itself
    assert c.dtype == np.float64 and np.allclose(c, grey / 255.0)
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(grey > 100).save(masks / "a.png")
    Image.fromarray(grey > 100).save(masks / "z.bmp")
    pairs, no_pred, no_mask = Ds.match_by_stem(tmp_path, masks)
    assert [p[0] for p in pairs] == ["a"] and no_pred == ["z"] and no_mask == ["b", "c"]
    assert np.array_equal(Ds.read_mask(masks / "a.png"), grey > 100)
    Image.fromarray(grey).save(tmp_path / "a.jpg")
    with pytest.raises(ValueError, match="share the name 'a'.*a.jpg and a.png"):
        Ds.match_by_stem(tmp_path, masks)


def test_sod_keeps_the_reader_names():
    from attnvision.saliency import sod

    assert sod.read_mask is Ds.read_mask and sod.read_prediction is Ds.read_prediction
    assert sod.match_by_stem is Ds.match_by_stem and sod.IMAGE_SUFFIXES == Ds.IMAGE_SUFFIXES


def test_read_mask_binarises_grey_masks_as_the_metrics_do(tmp_path):
    levels = np.array([[0, 100, 128, 129], [200, 255, 5, 127]], np.uint8)
    Image.fromarray(levels).save(tmp_path / "grey.png")
    Image.fromarray(np.stack([levels] * 3, axis=-1)).save(tmp_path / "rgb.png")
    Image.fromarray(levels.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    for name in ("grey", "rgb", "deep"):
        assert np.array_equal(Ds.read_mask(tmp_path / f"{name}.png"), levels > 128), name
        assert np.array_equal(
            Ds.read_mask(tmp_path / f"{name}.png", mask_threshold=99), levels > 99
        ), name
    with pytest.raises(ValueError, match=r"binary mask.*got values 0, 5, 100.*grey\.png"):
        Ds.read_mask(tmp_path / "grey.png", strict_masks=True)
    Image.fromarray((levels > 128).astype(np.uint8) * 255).save(tmp_path / "binary.png")
    assert np.array_equal(Ds.read_mask(tmp_path / "binary.png", strict_masks=True), levels > 128)
    (tmp_path / "notes.png").write_text("not an image")
    for reader in (Ds.read_mask, Ds.read_prediction):
        with pytest.raises(ValueError, match=r"notes\.png: cannot read as an image"):
            reader(tmp_path / "notes.png")
        with pytest.raises(FileNotFoundError, match="missing.png"):
            reader(tmp_path / "missing.png")
