"""The shipped saliency networks: predict() on images, weights files (safe, clear errors),
the networks' outputs, the ``saliency predict`` command."""

from __future__ import annotations

import pickle

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


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """A small untrained fixation network saved in float32 (round-trip checks)."""
    torch.manual_seed(0)
    cfg = {"widths": [8, 8, 16, 16], "fuse": 8, "n_priors": 2}
    net = sm.build("fixation", cfg).eval()
    path = tmp_path_factory.mktemp("w") / "tiny.pt"
    sm.save_weights(path, net, "fixation", cfg, input_spec={"long_side": 64}, half=False)
    return path, net


# ----------------------------------------------------------------------------- shipped weights


@pytest.mark.parametrize("kind", ["fixation", "object"])
def test_predict_with_shipped_weights(kind):
    path = sm.default_weights(kind)
    assert path.is_file(), f"weights not shipped: {path}"
    assert path.stat().st_size < 5_000_000
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert payload["format"] == sm.FORMAT and payload["kind"] == kind
    assert "validation" in payload["meta"]["split"]
    for shape in ((45, 70), (83, 31)):  # landscape and portrait, odd sizes
        m = av.saliency.predict(_image(*shape), kind)
        assert m.shape == shape and m.dtype == np.float32
        assert float(m.min()) >= 0.0 and float(m.max()) <= 1.0
        assert float(m.max()) > float(m.min())  # not a constant map
    # deterministic, and fixation is the default kind
    img = _image()
    if kind == "fixation":
        np.testing.assert_array_equal(av.saliency.predict(img), sm.predict(img, "fixation"))


def test_shipped_models_beat_the_centre_prior_on_real_images():
    """On held-out images (validation splits) the networks do better than a centre prior."""
    from attnvision.saliency import baselines as bl
    from attnvision.saliency import density, metrics, sod
    from attnvision.saliency.datasets import read_osie_fixations

    osie = require_data("osie")
    fix = read_osie_fixations(osie / "fixations.mat")
    ours, centre = [], []
    for number in (1502, 1537, 1590):
        img = sm.read_image(osie / "stimuli" / f"{number}.jpg")
        fmap = density.fixation_map(fix[f"{number}.jpg"], img.shape[:2], warn=False)
        ours.append(metrics.nss(sm.predict(img), fmap))
        centre.append(metrics.nss(bl.center_bias(img.shape), fmap))
    assert np.mean(ours) > np.mean(centre)
    sod_root = require_data("sod")
    names = sorted(p.stem for p in (sod_root / "images").glob("*.jpg"))[4::5][:3]
    ours, centre = [], []
    for stem in names:
        img = sm.read_image(sod_root / "images" / f"{stem}.jpg")
        mask = sod.read_mask(sod_root / "masks" / f"{stem}.png")
        ours.append(sod.mae(sm.predict(img, "object"), mask))
        centre.append(sod.mae(bl.center_bias(img.shape), mask))
    assert np.mean(ours) < np.mean(centre)


# ----------------------------------------------------------------------------- networks


def test_fixation_net_gives_a_log_density():
    torch.manual_seed(0)
    net = sm.FixationNet(widths=(8, 8, 16, 16), fuse=8).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, 48, 64))
    assert out.shape == (2, 1, 48, 64)
    torch.testing.assert_close(out.exp().sum((1, 2, 3)), torch.ones(2))


def test_object_net_and_gaussian_prior():
    torch.manual_seed(0)
    net = sm.ObjectNet(widths=(8, 8, 8, 8, 8)).eval()
    with torch.no_grad():
        assert net(torch.randn(1, 3, 40, 56)).shape == (1, 1, 40, 56)
    prior = sm.GaussianPrior(3)
    with torch.no_grad():
        prior.mu.copy_(torch.tensor([[0.5, 0.5]] * 3))
        maps = prior(torch.zeros(2, 1, 11, 21))
    assert maps.shape == (2, 3, 11, 21)
    assert torch.equal(maps[0, 0].flatten().argmax(), torch.tensor(5 * 21 + 10))  # the centre
    assert float(maps.max()) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\)"):
        net(torch.randn(1, 1, 40, 40))


def test_input_size():
    assert sm.input_size((600, 800), {"long_side": 128}) == (96, 128)
    assert sm.input_size((481, 321), {"long_side": 128}) == (128, 88)
    assert sm.input_size((10, 1000), {"long_side": 64}) == (16, 64)
    assert sm.input_size((5, 5), {"size": [128, 128]}) == (128, 128)


# ----------------------------------------------------------------------------- weights files


def test_weights_round_trip(tiny_weights):
    path, net = tiny_weights
    loaded = sm.load_model(path, "fixation")
    x = torch.randn(1, 3, 48, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), net(x))
    img = _image()
    m = sm.predict(img, weights=path)
    expected = sm.predict_batch(net, [img])  # the network's own input spec defaults differ
    assert m.shape == expected[0].shape


_TINY_OBJECT = {"widths": [8, 8, 8, 8, 8], "attention": ["se", "se", "cbam", "gc"]}


def _tiny_object_net(seed: int) -> tuple[torch.nn.Module, np.ndarray, np.ndarray]:
    """A small untrained ObjectNet reading 32x32, a test image and its plain map."""
    torch.manual_seed(seed)
    net = sm.build("object", _TINY_OBJECT).eval()
    net.input_spec = {"size": [32, 32]}
    img = _image(40, 56)
    return net, img, sm.predict_batch(net, [img])[0]


def test_flip_spec_averages_the_map_with_the_mirrored_map_of_the_mirror(tmp_path):
    net, img, plain = _tiny_object_net(1)
    (mirror,) = sm.predict_batch(net, [np.ascontiguousarray(img[:, ::-1])])
    path = tmp_path / "flip.pt"
    spec = {"size": [32, 32], "flip": True}
    sm.save_weights(path, net, "object", _TINY_OBJECT, input_spec=spec)
    flipped = sm.predict(img, "object", weights=path)
    # the file is float16: compare with the float32 network at a float16 tolerance
    np.testing.assert_allclose(flipped, 0.5 * (plain + mirror[:, ::-1]), atol=2e-3)
    assert not np.allclose(plain, mirror[:, ::-1], atol=2e-3)  # the average is not trivial


def test_logit_scale_sharpens_the_object_map_without_reordering_it():
    net, img, plain = _tiny_object_net(2)
    net.input_spec = {"size": [32, 32], "logit_scale": 3.0}
    (sharp,) = sm.predict_batch(net, [img])
    x = sm.to_input(img, (32, 32))
    with torch.no_grad():
        logits = net(x)
    up = torch.nn.functional.interpolate(
        torch.sigmoid(3.0 * logits), size=img.shape[:2], mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(sharp, up, atol=1e-6)
    # farther from 0.5 everywhere, and the same order of pixels at the network's resolution
    assert np.all(np.abs(sharp - 0.5) >= np.abs(plain - 0.5) - 1e-6)
    order = logits.flatten().argsort()  # both maps are monotone in the logits
    for k in (1.0, 3.0):
        assert (torch.sigmoid(k * logits).flatten()[order].diff() >= 0).all()


def test_weights_errors(tmp_path, tiny_weights):
    path, _ = tiny_weights
    img = _image()
    with pytest.raises(FileNotFoundError, match="weights not found"):
        sm.predict(img, weights=tmp_path / "none.pt")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        sm.predict(img, weights=truncated)
    text = tmp_path / "text.pt"
    text.write_text("not weights")
    with pytest.raises(ValueError, match="not a (readable weights file|torch file)"):
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
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    broken = tmp_path / "broken.pt"
    torch.save(payload, broken)
    with pytest.raises(ValueError, match="does not fit FixationNet: 1 missing"):
        sm.load_model(broken)
    payload["version"] = sm.FORMAT_VERSION + 1
    torch.save(payload, broken)
    with pytest.raises(ValueError, match="format version"):
        sm.read_weights(broken)


def test_predict_rejects_bad_images_and_kinds(tiny_weights):
    path, _ = tiny_weights
    with pytest.raises(TypeError, match="uint8"):
        sm.predict(np.zeros((20, 20, 3), np.float32), weights=path)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        sm.predict(np.zeros((20, 20), np.uint8), weights=path)
    with pytest.raises(TypeError, match="array"):
        sm.predict([[1, 2, 3]], weights=path)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expected kind 'fixation' or 'object', got 'objects'"):
        sm.predict(_image(), "objects")
    with pytest.raises(ValueError, match="at least 8x8"):
        sm.predict(np.zeros((4, 30, 3), np.uint8), weights=path)


def test_read_image_corrupt(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    with pytest.raises(ValueError, match="cannot read as an image"):
        sm.read_image(bad)
    with pytest.raises(FileNotFoundError):
        sm.read_image(tmp_path / "none.png")
    good = tmp_path / "g.png"
    Image.fromarray(np.zeros((5, 6), np.uint8)).save(good)  # grayscale -> RGB
    assert sm.read_image(good).shape == (5, 6, 3)


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
    code = main(
        [
            "saliency",
            "predict",
            str(good),
            "--out",
            str(out),
            "--kind",
            "object",
            "--weights",
            str(path),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "expected 'object' weights" in err[0]
