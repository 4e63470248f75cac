"""Tests of attnvision.saliency.interop: pysaliency models and stored datasets, benchmark
submissions."""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pytest
from PIL import Image

from attnvision.saliency import interop
from attnvision.saliency.density import fixation_map


@pytest.fixture
def pysaliency(monkeypatch):
    """pysaliency, able to write its HDF5 export under NumPy 2 (0.2.22 still calls
    ``np.string_``, NumPy 2's ``np.bytes_``)."""
    pytest.importorskip("h5py")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = pytest.importorskip("pysaliency")
    if not hasattr(np, "string_"):
        monkeypatch.setattr(np, "string_", np.bytes_, raising=False)
    return module


def _images(folder, sizes):
    paths = []
    for i, (h, w) in enumerate(sizes):
        pixels = np.random.default_rng(i).integers(0, 256, (h, w, 3), dtype=np.uint8)
        path = folder / f"im{i}.{'png' if i % 2 == 0 else 'jpg'}"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def _trains(pysaliency):
    xs = [[1.2, 5.7, 10.0, 0.4], [3.0, 4.5], [29.9, 0.0, 7.5]]
    ys = [[2.5, 7.1, 9.9, 19.6], [1.0, 20.2], [0.5, 0.99, 3.5]]
    ts = [[0, 1, 2, 3], [0, 1], [0, 1, 2]]
    durations = [[0.2, 0.3, 0.1, 0.25], [0.5, 0.4], [0.1, 0.2, 0.3]]
    fixations = pysaliency.FixationTrains.from_fixation_trains(
        xs, ys, ts, [0, 1, 0], [0, 3, 2], scanpath_fixation_attributes={"durations": durations}
    )
    return fixations, np.concatenate([np.asarray(d) for d in durations])


def _pysaliency_fixation_maps(stimuli_shapes, fixations):
    maps = [np.zeros(shape) for shape in stimuli_shapes]
    for x, y, n in zip(fixations.x_int, fixations.y_int, fixations.n):
        maps[n][y, x] = 1
    return maps


def test_read_file_stimuli_and_fixation_trains_as_pysaliency_stores_them(tmp_path, pysaliency):
    paths = _images(tmp_path, [(20, 30), (24, 16)])
    stimuli = pysaliency.FileStimuli([str(p) for p in paths])
    fixations, durations = _trains(pysaliency)
    stimuli.to_hdf5(str(tmp_path / "stimuli.hdf5"))
    fixations.to_hdf5(str(tmp_path / "fixations.hdf5"))

    data = interop.read_pysaliency(tmp_path / "stimuli.hdf5", tmp_path / "fixations.hdf5")
    assert data.names == ["im0", "im1"] and data.files == paths
    assert data.shapes == [(20, 30), (24, 16)]
    assert np.array_equal(data.image(1), np.asarray(Image.open(paths[1])))
    # every fixation lands on the pixel pysaliency puts it on
    expected = _pysaliency_fixation_maps(data.shapes, fixations)
    for rows, shape, theirs in zip(data.fixations, data.shapes, expected):
        assert np.array_equal(fixation_map(rows, shape, warn=False) > 0, theirs > 0)
    flat = np.concatenate(data.fixations)
    order = np.argsort(fixations.n, kind="stable")
    assert np.array_equal(flat[:, 2], fixations.subjects[order])
    assert np.allclose(flat[:, 3], durations[order])
    assert data.fixations_by_name()["im1"].shape == (2, 4)


def test_read_stimuli_in_the_file_and_flat_fixations(tmp_path, pysaliency):
    grey = np.random.default_rng(0).integers(0, 256, (12, 9), dtype=np.uint8)
    rgb = np.random.default_rng(1).integers(0, 256, (7, 11, 3), dtype=np.uint8)
    pysaliency.Stimuli([grey, rgb]).to_hdf5(str(tmp_path / "stimuli.hdf5"))
    trains, _ = _trains(pysaliency)
    x, y, n = trains.x, trains.y, trains.n
    keep = (x < 9) & (y < 7)
    flat = pysaliency.Fixations.create_without_history(x[keep], y[keep], n[keep] * 0 + 1)
    flat.to_hdf5(str(tmp_path / "fixations.hdf5"))
    data = interop.read_pysaliency(tmp_path / "stimuli.hdf5", tmp_path / "fixations.hdf5")
    assert data.names == ["0", "1"] and data.files is None
    assert data.shapes == [(12, 9), (7, 11)]
    assert np.array_equal(data.image(0), grey) and np.array_equal(data.image(1), rgb)
    assert data.fixations[0].shape == (0, 4) and data.fixations[1].shape == (keep.sum(), 4)
    assert np.isnan(data.fixations[1][:, 3]).all()  # no durations stored
    expected = _pysaliency_fixation_maps(data.shapes, flat)[1]
    assert np.array_equal(fixation_map(data.fixations[1], (7, 11), warn=False) > 0, expected > 0)


def test_read_pysaliency_bad_input(tmp_path, pysaliency):
    import h5py

    with pytest.raises(FileNotFoundError, match="missing.hdf5"):
        interop.read_pysaliency(tmp_path / "missing.hdf5")
    (tmp_path / "text.hdf5").write_text("not hdf5")
    with pytest.raises(ValueError, match=r"text\.hdf5: cannot read as HDF5"):
        interop.read_pysaliency(tmp_path / "text.hdf5")
    with h5py.File(tmp_path / "plain.hdf5", "w") as h5:
        h5["x"] = np.arange(3)
    with pytest.raises(ValueError, match="not a pysaliency HDF5 export"):
        interop.read_pysaliency(tmp_path / "plain.hdf5")
    pysaliency.Stimuli([np.zeros((4, 4), np.uint8)]).to_hdf5(str(tmp_path / "one.hdf5"))
    trains, _ = _trains(pysaliency)  # fixations on stimuli 0 and 1
    trains.to_hdf5(str(tmp_path / "fixations.hdf5"))
    with pytest.raises(ValueError, match="fixations of stimulus 1.*holds 1 stimuli"):
        interop.read_pysaliency(tmp_path / "one.hdf5", tmp_path / "fixations.hdf5")
    with pytest.raises(ValueError, match="expected pysaliency Stimuli or FileStimuli"):
        interop.read_pysaliency(tmp_path / "fixations.hdf5")


def test_model_adapter_with_a_callable_matches_pysaliency(tmp_path, pysaliency):
    paths = _images(tmp_path, [(20, 30), (24, 16)])
    stimuli = pysaliency.FileStimuli([str(p) for p in paths])
    fixations, _ = _trains(pysaliency)

    def brightness(image):
        assert image.dtype == np.uint8 and image.shape[2] == 3
        return image.mean(axis=2) / 255.0

    model = interop.as_pysaliency_model(brightness)
    assert isinstance(model, pysaliency.SaliencyMapModel)
    for i, path in enumerate(paths):
        expected = np.asarray(Image.open(path).convert("RGB")).mean(axis=2) / 255.0
        assert np.array_equal(model.saliency_map(stimuli.stimulus_objects[i]), expected)
    # pysaliency's evaluation runs on it and agrees with its metrics on the same maps
    maps = [model.saliency_map(s) for s in stimuli.stimulus_objects]
    per_image = model.AUC_per_image(stimuli, fixations, nonfixations="uniform")
    for n, saliency in enumerate(maps):
        keep = fixations.n == n
        positives = saliency[fixations.y_int[keep], fixations.x_int[keep]]
        expected = pysaliency.roc.general_roc(positives, saliency.ravel())[0]
        assert per_image[n] == pytest.approx(expected, abs=1e-12)
    grey = pysaliency.Stimuli([np.full((5, 6), 51, np.uint8)])
    assert np.allclose(model.saliency_map(grey.stimulus_objects[0]), 0.2)


def test_model_adapter_with_the_shipped_network(tmp_path, pysaliency):
    from attnvision.saliency import predict

    image = np.random.default_rng(3).integers(0, 256, (36, 52, 3), dtype=np.uint8)
    stimuli = pysaliency.Stimuli([image])
    model = interop.as_pysaliency_model("object")
    saliency = model.saliency_map(stimuli.stimulus_objects[0])
    assert saliency.shape == (36, 52) and saliency.dtype == np.float64
    assert np.array_equal(saliency, predict(image, "object").astype(np.float64))


def test_model_adapter_errors(pysaliency, monkeypatch):
    with pytest.raises(ValueError, match="kind"):
        interop.as_pysaliency_model("objects")
    with pytest.raises(TypeError, match="callable image -> map, got int"):
        interop.as_pysaliency_model(3)
    model = interop.as_pysaliency_model(lambda image: np.zeros((2, 2)))
    stimulus = pysaliency.Stimuli([np.zeros((4, 5, 3), np.uint8)]).stimulus_objects[0]
    with pytest.raises(ValueError, match=r"shape \(2, 2\) for a stimulus of size \(4, 5\)"):
        model.saliency_map(stimulus)
    interop._model_class.cache_clear()
    monkeypatch.setitem(sys.modules, "pysaliency", None)  # as if not installed
    try:
        with pytest.raises(ImportError, match=r"pysaliency .*attnvision\[pysaliency\]"):
            interop.as_pysaliency_model("fixation")
    finally:
        interop._model_class.cache_clear()


def test_benchmark_pixels():
    assert np.array_equal(interop.benchmark_pixels([[0.0, 0.5], [1.0, 0.2]]), [[0, 128], [255, 51]])
    # another range: rescaled by min and max
    assert np.array_equal(
        interop.benchmark_pixels([[-1.0, 0.0], [3.0, 1.0]]), [[0, 64], [255, 128]]
    )
    assert np.array_equal(interop.benchmark_pixels(np.full((2, 3), 7.0)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        interop.benchmark_pixels([[np.nan, 0.0]])
    with pytest.raises(ValueError, match=r"\(H, W\) map, got shape \(3,\)"):
        interop.benchmark_pixels([0.0, 1.0, 0.5])


def test_write_benchmark_predictions(tmp_path):
    (tmp_path / "stimuli").mkdir()
    paths = _images(tmp_path / "stimuli", [(20, 30), (24, 16)])

    def model(image):
        return image[:, :, 0] / 255.0

    written = interop.write_benchmark_predictions(
        [tmp_path / "stimuli"], tmp_path / "out", model=model
    )
    assert [p.name for p in written] == ["im0.png", "im1.png"]
    for path, out in zip(paths, written):
        with Image.open(path) as stimulus, Image.open(out) as pixels:
            assert pixels.mode == "L" and pixels.size == stimulus.size
            assert np.array_equal(np.asarray(pixels), np.asarray(stimulus.convert("RGB"))[:, :, 0])
    jpg = interop.write_benchmark_predictions(
        [paths[1]], tmp_path / "jpg", model=model, image_format="jpg"
    )
    assert jpg[0].name == "im1.jpg" and Image.open(jpg[0]).format == "JPEG"
    with pytest.raises(ValueError, match="image_format in png, jpg, got 'tif'"):
        interop.write_benchmark_predictions(paths, tmp_path / "x", model=model, image_format="tif")
    (tmp_path / "stimuli" / "broken.png").write_bytes(b"no image")
    with pytest.raises(ValueError, match="broken.png"):
        interop.write_benchmark_predictions([tmp_path / "stimuli"], tmp_path / "y", model=model)
    assert not (tmp_path / "y").exists()  # nothing written before every stimulus opened
    with pytest.raises(ValueError, match=r"im0.png: the model gave a map of shape \(3, 3\)"):
        interop.write_benchmark_predictions(paths, tmp_path / "z", model=lambda im: np.eye(3))
