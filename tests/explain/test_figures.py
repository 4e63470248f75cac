"""The picture API of explain (draw, figures, pictures): PNG files of the right content,
written atomically, clear errors on bad shapes; write_pictures picks what applies to each
model family."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import attnvision as av
from attnvision.explain import draw, figures, pictures


def _png(path) -> tuple[int, int]:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as img:
        return img.size


def _no_temp_files(folder) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_heat_to_size_and_display_image():
    heat = draw.heat_to_size(np.array([[0.0, 2.0], [4.0, 8.0]]), (4, 6))
    assert heat.shape == (4, 6)
    assert heat.min() == 0.0 and heat.max() == 1.0
    assert np.all(draw.heat_to_size(np.ones((3, 3)), (5, 5)) == 0)  # constant map -> 0
    rgb = draw.as_display_image(np.full((4, 5, 3), 255, np.uint8))
    assert rgb.shape == (4, 5, 3) and rgb.max() == 1.0
    gray = draw.as_display_image(torch.full((1, 4, 5), 0.5))
    assert gray.shape == (4, 5)
    with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
        draw.as_display_image(np.zeros((4, 5, 2)))
    with pytest.raises(ValueError, match="2-D map"):
        draw.heat_to_size(np.zeros((1, 2, 3)), (4, 4))


def test_overlay_and_heat_grid(tmp_path):
    image = np.random.default_rng(0).integers(0, 255, (30, 40, 3), dtype=np.uint8)
    p = figures.save_overlay(tmp_path / "o.png", image, np.eye(5), title="t")
    w, h = _png(p)
    assert w > h  # keeps the landscape aspect
    images = torch.rand(3, 3, 16, 16)
    cams = torch.rand(3, 16, 16)
    p = figures.save_heat_grid(tmp_path / "g.png", images, {"a": cams, "b": cams[:, :4, :4]})
    assert _png(p)
    with pytest.raises(ValueError, match="has 2 maps, expected 3"):
        figures.save_heat_grid(tmp_path / "bad.png", images, {"a": cams[:2]})
    with pytest.raises(ValueError, match="alpha"):
        figures.save_overlay(tmp_path / "bad.png", image, np.eye(3), alpha=2.0)
    assert not (tmp_path / "bad.png").exists()
    assert _no_temp_files(tmp_path)


def test_channel_weights_bars(tmp_path):
    maps = {
        "a.gate": torch.rand(2, 8),
        "sk.gate": torch.rand(2, 2, 8),
        "s.gate": torch.rand(2, 1, 4, 4),
    }
    assert _png(figures.save_channel_weights(tmp_path / "c.png", maps, index=1))
    with pytest.raises(ValueError, match="no channel weights"):
        figures.save_channel_weights(tmp_path / "x.png", {"s.gate": torch.rand(2, 1, 4, 4)})
    with pytest.raises(ValueError, match="index 5 out of range"):
        figures.save_channel_weights(tmp_path / "x.png", maps, index=5)


def test_glimpse_pixels_map_the_corners():
    loc = torch.tensor([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0]])
    pts = figures.glimpse_pixels(loc, (60, 80))
    np.testing.assert_allclose(pts, [[-0.5, -0.5], [39.5, 29.5], [79.5, 59.5]])


def test_glimpses_regions_transformer_fixations(tmp_path):
    images = torch.rand(2, 1, 60, 60)
    loc = torch.tensor([[[0.0, 0.0], [0.5, -0.5], [-0.2, 0.3]]] * 2)
    assert _png(figures.save_glimpses(tmp_path / "gl.png", images, loc, row_titles=["a", "b"]))
    boxes = torch.tensor([[[0, 0, 12, 12], [24, 36, 36, 48]]] * 2)
    assert _png(figures.save_regions(tmp_path / "r.png", images, boxes, torch.rand(2, 5, 5)))
    assert _png(
        figures.save_transformer(
            tmp_path / "t.png", images, images[:, :, :28, :28], theta=torch.rand(2, 6)
        )
    )
    image = np.zeros((30, 40, 3), np.uint8)
    fix = np.array([[3.0, 4.0], [20.0, 10.0]])
    assert _png(
        figures.save_saliency_fixations(
            tmp_path / "f.png", image, np.random.default_rng(0).random((15, 20)), fix
        )
    )
    with pytest.raises(ValueError, match=r"locations \(N, T, 2\)"):
        figures.save_glimpses(tmp_path / "x.png", images, loc[0])
    with pytest.raises(ValueError, match="batch 1, expected 2"):
        figures.save_glimpses(tmp_path / "x.png", images, loc[:1])
    with pytest.raises(ValueError, match=r"boxes \(N, k, 4\)"):
        figures.save_regions(tmp_path / "x.png", images, boxes[..., :2])
    with pytest.raises(ValueError, match="saliency expected shape"):
        figures.save_regions(tmp_path / "x.png", images, boxes, torch.rand(5, 5))
    with pytest.raises(ValueError, match="same N"):
        figures.save_transformer(tmp_path / "x.png", images, images[:1])
    with pytest.raises(ValueError, match=r"rows \(x, y, \.\.\.\)"):
        figures.save_saliency_fixations(tmp_path / "x.png", image, np.ones((3, 3)), [1, 2])
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("cnn", {"attention": "cbam"}, {"attention.png", "channels.png", "gradcam.png"}),
        ("st_cnn", {}, {"attention.png", "transformer.png", "gradcam.png"}),
        ("dcn", {}, {"regions.png", "attention.png", "gradcam.png"}),
        ("ram", {"glimpses": 3}, {"glimpses.png"}),
    ],
)
def test_write_pictures_per_family(tmp_path, name, kwargs, expected):
    torch.manual_seed(0)
    model = av.models.create_model(name, **kwargs)
    paths = pictures.write_pictures(model, torch.rand(1, 1, 60, 60), tmp_path)
    assert {p.name for p in paths} == expected
    for p in paths:
        assert _png(p)
    assert all(not m._forward_hooks for m in model.modules())


def test_attention_grid_skips_non_maps(tmp_path):
    # DCN keys (regions, boxes) are not drawn in the grid; its saliency (N, h, w) is
    maps = {
        "regions": torch.zeros(2, 3, 2, dtype=torch.long),
        "boxes": torch.zeros(2, 3, 4, dtype=torch.long),
        "saliency": torch.rand(2, 5, 5),
    }
    assert _png(figures.save_attention_grid(tmp_path / "g.png", torch.rand(2, 1, 20, 20), maps))
