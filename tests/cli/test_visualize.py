"""``attnvision visualize CHECKPOINT IMAGE... --out DIR``: pictures from a trained checkpoint,
one-line errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attnvision.cli import main
from attnvision.engine import Config, build_model, save_checkpoint


def _checkpoint(tmp_path, name: str, attention: str | None) -> str:
    cfg = Config()
    cfg.model.name = name
    cfg.model.attention = attention
    torch.manual_seed(0)
    model = build_model(cfg.model, 10, 1)
    path = tmp_path / f"{name}.pt"
    save_checkpoint(
        path,
        {
            "model": model.state_dict(),
            "config": cfg.to_dict(),
            "meta": {"model": name, "attention": attention, "num_classes": 10, "in_channels": 1},
        },
    )
    return str(path)


def _images(tmp_path) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i, shape in enumerate([(60, 60, 3), (80, 50)]):  # RGB and gray, other sizes
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


@pytest.mark.parametrize(
    ("name", "attention", "expected"),
    [
        ("cnn", "cbam", {"attention.png", "channels.png", "gradcam.png"}),
        ("st_cnn", None, {"attention.png", "transformer.png", "gradcam.png"}),
    ],
)
def test_visualize_writes_pictures(tmp_path, capsys, name, attention, expected):
    ckpt = _checkpoint(tmp_path, name, attention)
    out = tmp_path / "out"
    code = main(["visualize", ckpt, *_images(tmp_path), "--out", str(out), "--size", "60", "60"])
    printed = capsys.readouterr().out
    assert code == 0
    assert {p.name for p in out.iterdir()} == expected
    assert "img0: predicted class" in printed and "img1: predicted class" in printed
    for p in out.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_visualize_errors(tmp_path, capsys):
    ckpt = _checkpoint(tmp_path, "cnn", "se")
    images = _images(tmp_path)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    out = tmp_path / "out"

    def run(*args: str) -> str:
        assert main(["visualize", *args, "--out", str(out), "--size", "60", "60"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1
        return err[0]

    assert "bad.jpg: cannot read as an image" in run(ckpt, images[0], str(bad))
    not_ckpt = tmp_path / "x.pt"
    not_ckpt.write_bytes(b"junk")
    assert "x.pt" in run(str(not_ckpt), images[0])
    assert "no submodule 'nope'" in run(ckpt, images[0], "--gradcam-layer", "nope")
    assert not out.exists() or not any(out.iterdir())
