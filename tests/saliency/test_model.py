"""The shipped saliency networks: predict() on arrays and files (grey, RGBA, palette and
16-bit images converted), weights files (checksummed, safe, clear errors), the
``saliency predict`` command."""

from __future__ import annotations

import pickle
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

import attnvision as av
from _data import require_data
from attnvision.cli import main
from attnvision.saliency import model as sm


def _image(h: int = 45, w: int = 70, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 60, (h, w, 3), dtype=np.uint8)
    img[h // 3 : h // 2, w // 2 : w // 2 + 8] = 250  # a bright patch
    return img


def _png16(path, arr: np.ndarray) -> None:
    """Write a 16-bit PNG (grey, grey + alpha, RGB or RGBA) of a uint16 array."""
    arr = np.asarray(arr, np.uint16)
    h, w = arr.shape[:2]
    channels = 1 if arr.ndim == 2 else arr.shape[2]
    color_type = {1: 0, 2: 4, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + arr[i].astype(">u2").tobytes() for i in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """An untrained fixation network (two sources) saved in float32 (round-trip checks)."""
    torch.manual_seed(0)
    cfg = {"sources": [4, 15], "first": 4, "hidden": 4, "prior_grid": [3, 4]}
    net = sm.build("fixation", cfg).eval()
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    sm.save_weights(path, net, "fixation", cfg, input_spec={"long_side": 64}, half=False)
    return path, net


# ----------------------------------------------------------------------------- shipped weights


@pytest.mark.parametrize("kind", ["fixation", "object"])
def test_predict_with_shipped_weights(kind):
    path = sm.default_weights(kind)
    assert path.is_file(), f"weights not shipped: {path}"
    assert path.stat().st_size < 12_000_000
    payload = sm.read_weights(path)  # checksum verified
    assert payload["kind"] == kind and payload["version"] == sm.FORMAT_VERSION
    assert all(v.dtype in (torch.float16, torch.int64) for v in payload["state_dict"].values())
    assert payload["meta"]["split"]["train"]
    for shape in ((45, 70), (83, 32)):  # landscape and portrait, odd sizes
        m = av.saliency.predict(_image(*shape), kind)
        assert m.shape == shape and m.dtype == np.float32
        assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0
        assert float(m.max()) > float(m.min())  # not a constant map
    img = _image()
    if kind == "fixation":  # the default kind; the map is the density scaled to max 1
        np.testing.assert_array_equal(av.saliency.predict(img), sm.predict(img, "fixation"))
        log_p = sm.predict(img, output="log_density")
        assert log_p.shape == img.shape[:2] and log_p.dtype == np.float32
        assert np.logaddexp.reduce(log_p.astype(np.float64), axis=None) == pytest.approx(
            0, abs=1e-5
        )
        np.testing.assert_allclose(sm.predict(img), np.exp(log_p - log_p.max()), atol=1e-5)
    else:
        with pytest.raises(ValueError, match="needs kind='fixation'"):
            sm.predict(img, "object", output="log_density")


def test_shipped_models_beat_the_centre_prior_on_real_images():
    """Fixations: on MIT1003 photos (a dataset the OSIE-trained model never saw) the density
    correlates with the published fixation maps far better than a centre prior. Objects:
    on SOD images (in the shipped model's training set: a check that it learned them, the
    holdout scores are in BENCHMARKS.md) the error is well below the centre prior's."""
    from attnvision.saliency import baselines as bl
    from attnvision.saliency import metrics, sod
    from attnvision.saliency.datasets import read_map

    mit = require_data("mit1003")
    names = sorted(p.name for p in (mit / "stimuli").glob("*.jpg"))[::10]  # 10 photos
    ours, centre = [], []
    for name in names:
        img = sm.read_image(mit / "stimuli" / name)
        gt = read_map(mit / "fixation_maps" / name)
        ours.append(metrics.cc(sm.predict(img), gt))
        centre.append(metrics.cc(bl.center_bias(img.shape), gt))
    assert np.mean(ours) > np.mean(centre) + 0.1
    sod_root = require_data("sod")
    names = sorted(p.stem for p in (sod_root / "images").glob("*.jpg"))[4::5][:3]
    ours, centre = [], []
    for stem in names:
        path = sod_root / "images" / f"{stem}.jpg"
        mask = sod.read_mask(sod_root / "masks" / f"{stem}.png")
        ours.append(sod.mae(sm.predict(path, "object"), mask))  # a path works too
        centre.append(sod.mae(bl.center_bias(mask.shape), mask))
    assert np.mean(ours) < np.mean(centre) - 0.1


# ----------------------------------------------------------------------------- images


def test_read_image_converts_grey_palette_transparency_and_16_bit(tmp_path):
    grey = np.tile(np.arange(0, 250, 5, dtype=np.uint8), (4, 1))
    Image.fromarray(grey).save(tmp_path / "g.png")
    np.testing.assert_array_equal(sm.read_image(tmp_path / "g.png"), np.stack([grey] * 3, -1))
    # 16-bit grey: PIL gives mode I;16, whose convert("RGB") saturates to white
    g16 = (np.arange(4 * 50).reshape(4, 50) * 300).astype(np.uint16)
    _png16(tmp_path / "g16.png", g16)
    with Image.open(tmp_path / "g16.png") as img:
        assert img.mode.startswith("I")
    rgb = sm.read_image(tmp_path / "g16.png")
    np.testing.assert_array_equal(rgb[..., 0], np.round(g16 / 65535 * 255).astype(np.uint8))
    assert rgb.mean() < 150  # not saturated
    c16 = np.stack([g16, g16 // 2, 65535 - g16], -1)
    _png16(tmp_path / "c16.png", c16)
    np.testing.assert_allclose(sm.read_image(tmp_path / "c16.png"), c16 / 257.0, atol=1)
    # RGBA: composited over white (a transparent pixel is white, an opaque one its colour)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (10, 20, 30, 255)
    rgba[0, 1] = (10, 20, 30, 0)
    rgba[1, 0] = (0, 0, 0, 128)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = sm.read_image(tmp_path / "a.png")
    assert out[0, 0].tolist() == [10, 20, 30] and out[0, 1].tolist() == [255, 255, 255]
    assert out[1, 0].tolist() == [127, 127, 127]
    pal = Image.fromarray(np.array([[0, 1], [1, 2]], np.uint8), "P")
    pal.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * 759)
    pal.save(tmp_path / "p.png")
    assert sm.read_image(tmp_path / "p.png")[1, 1].tolist() == [0, 0, 255]
    pal.save(tmp_path / "pt.png", transparency=0)  # palette entry 0 transparent
    assert sm.read_image(tmp_path / "pt.png")[0, 0].tolist() == [255, 255, 255]
    Image.fromarray(np.zeros((3, 3), np.float32), "F").save(tmp_path / "f.tiff")
    with pytest.raises(ValueError, match=r"f.tiff: .*32-bit float"):
        sm.read_image(tmp_path / "f.tiff")


def test_as_rgb_arrays():
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    np.testing.assert_array_equal(sm.as_rgb(grey), np.stack([grey] * 3, -1))
    np.testing.assert_array_equal(sm.as_rgb(grey[..., None]), np.stack([grey] * 3, -1))
    np.testing.assert_array_equal(sm.as_rgb(np.full((2, 2), 65535, np.uint16)), 255)
    assert sm.as_rgb(np.full((2, 2, 3), 32896, np.uint16)).max() == 128
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert sm.as_rgb(rgba).tolist() == np.full((2, 2, 3), 255).tolist()
    assert sm.as_rgb(torch.zeros(2, 2, 3, dtype=torch.uint8)).shape == (2, 2, 3)
    with pytest.raises(TypeError, match="dtype float32"):
        sm.as_rgb(np.zeros((20, 20, 3), np.float32))
    with pytest.raises(ValueError, match=r"got shape \(20, 20, 2\)"):
        sm.as_rgb(np.zeros((20, 20, 2), np.uint8))
    with pytest.raises(TypeError, match="image path or an"):
        sm.as_rgb([[1, 2, 3]])


def test_predict_rejects_bad_images_kinds_and_outputs(tiny_weights):
    path, _ = tiny_weights
    with pytest.raises(ValueError, match="at least 32x32 pixels, got 31x80"):
        sm.predict(np.zeros((31, 80, 3), np.uint8), weights=path)
    with pytest.raises(TypeError, match="uint8"):
        sm.predict(np.zeros((40, 40, 3), np.float64), weights=path)
    with pytest.raises(ValueError, match="expected kind 'fixation' or 'object', got 'objects'"):
        sm.predict(_image(), "objects")
    with pytest.raises(ValueError, match="expected output 'map' or 'log_density'"):
        sm.predict(_image(), output="density", weights=path)
    with pytest.raises(FileNotFoundError, match="image not found"):
        sm.predict("/no/such/image.png", weights=path)


def test_predict_on_a_path_equals_predict_on_its_pixels(tmp_path, tiny_weights):
    path, _ = tiny_weights
    img = _image(50, 64)
    Image.fromarray(img).save(tmp_path / "x.png")
    np.testing.assert_array_equal(
        sm.predict(tmp_path / "x.png", weights=path), sm.predict(img, weights=path)
    )
    grey = img[..., 1]
    np.testing.assert_array_equal(
        sm.predict(grey, weights=path), sm.predict(np.stack([grey] * 3, -1), weights=path)
    )


def test_input_size():
    assert sm.input_size((600, 800), {"long_side": 384}) == (288, 384)
    assert sm.input_size((481, 321), {"long_side": 384}) == (384, 256)
    assert sm.input_size((40, 1000), {"long_side": 64}) == (32, 64)
    assert sm.input_size((5, 5), {"size": [320, 320]}) == (320, 320)


# ----------------------------------------------------------------------------- weights files


def test_weights_round_trip_and_log_density(tiny_weights):
    path, net = tiny_weights
    loaded = sm.load_model(path, "fixation")
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    img = _image(48, 72)
    log_p = sm.predict(img, weights=path, output="log_density")
    with torch.no_grad():
        cells = net(sm.to_input(img, (32, 64)))
    from attnvision.saliency.fixation import upsample_log_density

    expected = upsample_log_density(cells, (48, 72))[0, 0].numpy()
    np.testing.assert_allclose(log_p, expected, atol=1e-5)


def test_flip_spec_averages_the_density_with_the_mirrored_density_of_the_mirror(tmp_path):
    torch.manual_seed(3)
    cfg = {"sources": [4, 15], "first": 4, "hidden": 4}
    net = sm.build("fixation", cfg).eval()
    with torch.no_grad():  # an uneven density (an untrained readout is nearly flat)
        net.readout.prior.log_prior.normal_(0, 2)
        net.readout.layers[-1].weight.mul_(100)
    net.input_spec, net.kind = {"long_side": 64}, "fixation"
    img = _image(48, 64)
    (plain,) = sm.predict_batch(net, [img], "log_density")
    (mirror,) = sm.predict_batch(net, [np.ascontiguousarray(img[:, ::-1])], "log_density")
    net.input_spec = {"long_side": 64, "flip": True}
    (both,) = sm.predict_batch(net, [img], "log_density")
    expected = np.log(0.5 * (np.exp(plain) + np.exp(mirror[:, ::-1])))
    np.testing.assert_allclose(both, expected, atol=1e-5)
    assert not np.allclose(plain, mirror[:, ::-1], atol=0.1)  # the average is not trivial


def test_object_map_is_the_sigmoid_of_the_upsampled_logits():
    torch.manual_seed(2)
    cfg = {"widths": [4, 4, 8, 8, 8]}
    net = sm.build("object", cfg).eval()
    net.input_spec, net.kind = {"size": [64, 64]}, "object"
    img = _image(40, 56)
    (m,) = sm.predict_batch(net, [img])
    with torch.no_grad():
        logits = net(sm.to_input(img, (64, 64)))
    up = torch.nn.functional.interpolate(logits, size=(40, 56), mode="bilinear")
    np.testing.assert_allclose(m, torch.sigmoid(up)[0, 0].numpy(), atol=1e-6)


def test_weights_errors(tmp_path, tiny_weights):
    path, _ = tiny_weights
    img = _image()
    with pytest.raises(FileNotFoundError, match="weights not found"):
        sm.predict(img, weights=tmp_path / "none.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=r"truncated.pt .*truncated or corrupt"):
        sm.predict(img, weights=truncated)
    payload = torch.load(path, weights_only=True)
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = payload["state_dict"][key].clone()
    payload["state_dict"][key].view(-1)[0] += 1  # one changed value, the old checksum
    flipped = tmp_path / "flipped.pt"
    torch.save(payload, flipped)
    with pytest.raises(ValueError, match=r"flipped.pt: the weights are corrupt \(SHA-256"):
        sm.predict(img, weights=flipped)
    text = tmp_path / "text.pt"
    text.write_text("not weights")
    with pytest.raises(ValueError, match="text.pt is not a readable"):
        sm.read_weights(text)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"w": torch.zeros(2)}}, foreign)
    with pytest.raises(ValueError, match="not an attnvision saliency weights file"):
        sm.predict(img, weights=foreign)
    evil = tmp_path / "evil.pt"

    class Evil:
        def __reduce__(self):
            return (print, ("ran",))

    with open(evil, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(ValueError, match="refusing to load|not a readable"):
        sm.read_weights(evil)
    with pytest.raises(ValueError, match="holds 'fixation' weights, expected 'object'"):
        sm.predict(img, "object", weights=path)
    payload = torch.load(path, weights_only=True)
    payload["state_dict"].pop(key)
    payload["sha256"] = sm.state_sha256(payload["state_dict"])
    broken = tmp_path / "broken.pt"
    torch.save(payload, broken)
    with pytest.raises(ValueError, match="does not fit FixationDensityNet: 1 missing"):
        sm.load_model(broken)
    for version, message in ((sm.FORMAT_VERSION + 1, "reads versions up to"), (1, "version 1")):
        payload["version"] = version
        torch.save(payload, broken)
        with pytest.raises(ValueError, match=message):
            sm.read_weights(broken)


# ----------------------------------------------------------------------------- command line


def test_cli_predict_writes_maps(tmp_path, capsys, tiny_weights):
    path, _ = tiny_weights
    src = tmp_path / "img.png"
    Image.fromarray(_image(37, 52)).save(src)
    out = tmp_path / "out"
    assert main(["saliency", "predict", str(src), "--out", str(out), "--weights", str(path)]) == 0
    assert "wrote 1 fixation maps" in capsys.readouterr().out
    with Image.open(out / "img.png") as png:
        assert png.size == (52, 37) and png.mode == "L"
    m = np.load(out / "img.npy")
    assert m.shape == (37, 52) and m.min() >= 0 and m.max() <= 1
    np.testing.assert_allclose(m, sm.predict(_image(37, 52), weights=path), atol=1e-6)
    assert sorted(p.name for p in out.iterdir()) == ["img.npy", "img.png"]  # maps only
    args = ["saliency", "predict", str(tmp_path), "--out", str(out), "--weights", str(path)]
    assert main([*args, "--overlay"]) == 0  # a folder of images, overlays on request
    with Image.open(out / "overlays" / "img.png") as png:
        assert png.size == (52, 37) and png.mode == "RGB"  # at the image's own size
    assert main([*args, "--colorbar"]) == 0
    with Image.open(out / "overlays" / "img.png") as png:
        assert png.size == (52 + 16, 37)  # a colour bar strip of 8 px after a gap of 8


def test_cli_predict_errors(tmp_path, capsys, tiny_weights):
    path, _ = tiny_weights
    good = tmp_path / "good.png"
    Image.fromarray(_image()).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    code = main(
        ["saliency", "predict", str(good), str(bad), "--out", str(out), "--weights", str(path)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "bad.png: cannot read as an image" in err[0]
    assert not out.exists()  # nothing written when an input is unreadable
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"garbage")
    code = main(["saliency", "predict", str(good), "--out", str(out), "--weights", str(wrong)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "wrong.pt" in err[0]
    small = tmp_path / "small.png"
    Image.fromarray(_image(20, 60)).save(small)
    code = main(["saliency", "predict", str(small), "--out", str(out), "--weights", str(path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "at least 32x32 pixels, got 20x60" in err[0]
    code = main(
        ["saliency", "predict", str(good), "--out", str(out), "--kind", "object"]
        + ["--weights", str(path)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "expected 'object' weights" in err[0]
