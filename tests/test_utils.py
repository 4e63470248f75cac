"""attnvision._utils: files keep the umask's permissions, images of every mode are read
right, progress off a terminal is plain lines, the one versioned loader refuses bad files."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
from PIL import Image

from attnvision import _utils


@pytest.fixture
def umask():
    def set_mask(mask: int) -> None:
        os.umask(mask)

    old = os.umask(0o022)
    yield set_mask
    os.umask(old)


@pytest.mark.parametrize(
    "mask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)]
)
def test_written_files_and_folders_follow_the_umask(tmp_path, umask, mask, file_mode, dir_mode):
    umask(mask)
    with _utils.atomic_write(tmp_path / "a.json", "w") as handle:
        handle.write("{}")
    _utils.atomic_save(tmp_path / "b.bin", lambda f: f.write(b"x"))
    folder = _utils.make_private_dir(tmp_path, "report")
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == file_mode
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == file_mode
    assert stat.S_IMODE(folder.stat().st_mode) == dir_mode
    assert [p.name for p in tmp_path.glob(".*.tmp")] == [folder.name]  # no temporary file left


def test_read_image_scales_16_bit_grey_by_its_depth(tmp_path):
    grey = np.array([[0, 257, 32896], [65535, 1000, 128]], dtype=np.uint16)
    Image.fromarray(grey).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as img:
        assert img.mode == "I;16"
    rgb = _utils.read_image(tmp_path / "g16.png")
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 3, 3)
    np.testing.assert_array_equal(rgb[..., 0], [[0, 1, 128], [255, 4, 0]])
    assert (rgb[..., 0] == rgb[..., 2]).all()


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "1"])
def test_read_image_converts_every_8_bit_mode_to_rgb(tmp_path, mode):
    Image.new(mode, (7, 5)).save(tmp_path / "x.tif" if mode == "CMYK" else tmp_path / "x.png")
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    rgb = _utils.read_image(path)
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint8


def test_read_image_refuses_32_bit_and_float_samples(tmp_path):
    Image.fromarray(np.zeros((4, 4), np.int32)).save(tmp_path / "i.tif")
    Image.fromarray(np.zeros((4, 4), np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(ValueError, match="expected an image with 8 or 16 bits per sample"):
        _utils.read_image(tmp_path / "i.tif")
    with pytest.raises(ValueError, match="floating-point samples"):
        _utils.read_image(tmp_path / "f.tif")
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"bad.png: cannot read as an image"):
        _utils.read_image(tmp_path / "bad.png")


def test_progress_off_a_terminal_is_plain_lines(capsys, monkeypatch):
    clock = iter(range(0, 1000, 6))
    monkeypatch.setattr("time.monotonic", lambda: float(next(clock)))
    assert list(_utils.progress(range(5), desc="maps", unit="map")) == list(range(5))
    err = capsys.readouterr().err
    assert "\r" not in err and err.splitlines()[0] == "maps: 2/5 map (12 s)"
    assert list(_utils.progress(range(3), enabled=False)) == [0, 1, 2]
    assert capsys.readouterr().err == ""


def test_load_versioned_refuses_and_names_the_file(tmp_path):
    import torch

    torch.save({"format": "x", "version": 1, "t": torch.ones(1)}, tmp_path / "ok.pt")
    assert _utils.load_versioned(tmp_path / "ok.pt", "x", 1)["version"] == 1
    with pytest.raises(ValueError, match="expected format 'y', got 'x'"):
        _utils.load_versioned(tmp_path / "ok.pt", "y", 1)
    torch.save({"format": "x", "version": 3}, tmp_path / "new.pt")
    with pytest.raises(ValueError, match="format version 3; this attnvision reads versions up"):
        _utils.load_versioned(tmp_path / "new.pt", "x", 1)
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut.pt is not a readable checkpoint"):
        _utils.load_versioned(tmp_path / "cut.pt", "x", 1)
    with pytest.raises(FileNotFoundError, match="weights file not found"):
        _utils.load_versioned(tmp_path / "none.pt", "x", 1, "weights file")
