"""An attached torchvision network through the command line: ``attnvision train`` builds it
from ``model.name=torchvision.models:mobilenet_v2`` + ``model.attention`` (engine's
build_model attaches the block), one epoch on a tiny tensor dataset, then ``attnvision
visualize`` on its checkpoint draws the attached gates."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from attnvision.cli import main
from attnvision.engine import build_model, load_checkpoint
from attnvision.engine.checkpoint import load_model_state
from attnvision.engine.config import config_from_dict
from attnvision.explain import capture
from attnvision.models.attach import attached_blocks


def _tensors(path) -> str:
    g = torch.Generator().manual_seed(0)
    split = {
        name: (torch.rand(n, 3, 32, 32, generator=g), torch.arange(n) % 3)
        for name, n in (("train", 12), ("test", 6))
    }
    torch.save(split, path)
    return str(path)


def test_train_then_visualize_an_attached_torchvision_network(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "train",
            "data.name=tensors",
            f"data.root={_tensors(tmp_path / 'data.pt')}",
            "data.batch_size=6",
            "model.name=torchvision.models:mobilenet_v2",
            "model.options.width_mult=0.25",
            "model.attention=cbam",
            "model.attention_options.where=[features.2, features.5]",
            "train.epochs=1",
            "train.progress=false",
            f"out={out}",
        ]
    )
    assert code == 0, capsys.readouterr().err
    ckpt = out / "last.pt"
    state = load_checkpoint(ckpt)
    config = config_from_dict(state["config"])
    model = build_model(config.model, 3, 3)
    load_model_state(model, state["model"], str(ckpt))
    blocks = attached_blocks(model)
    assert sorted(blocks) == ["features.2.conv.attn", "features.5.conv.attn"]
    assert all(float(b.gamma.detach().abs().sum()) > 0 for b in blocks.values())  # trained
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad(), capture(model.eval()) as maps:
        model(x)
    gates = {f"{p}.block.{g}.gate" for p in blocks for g in ("channel", "spatial")}
    assert set(maps) == gates

    images = []
    for i in range(2):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (40, 40, 3), np.uint8)).save(path)
        images.append(str(path))
    pictures = tmp_path / "pictures"
    code = main(["visualize", str(ckpt), *images, "--out", str(pictures), "--size", "32", "32"])
    printed = capsys.readouterr().out
    assert code == 0
    assert {p.name for p in pictures.iterdir()} == {"attention.png", "channels.png", "gradcam.png"}
    assert "img0: predicted class" in printed
    # attention.png: per image, the image and then one square panel per captured map
    # (the four attached gates); channels.png exists because channel gates were captured
    with Image.open(pictures / "attention.png") as grid:
        columns = grid.width / grid.height * 2  # two rows (images) of square panels
    assert 4.2 < columns < 5.0  # 5 columns less the titles' height (3 maps: 3.7, 5: 5.5)
