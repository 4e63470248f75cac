"""compare(): one model per attention type, a complete report, and no damage on failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import _tiny  # noqa: E402

from attnvision.engine.bench import count_flops, count_params  # noqa: E402
from attnvision.engine.compare import DEMO_DEFAULTS, compare, materialise  # noqa: E402
from attnvision.engine.config import load_config  # noqa: E402


def _config(tmp: Path, *extra: str):
    data = tmp / "t.pt"
    if not data.exists():
        _tiny.make_tensors(data)
    return load_config(
        None,
        [
            "data.name=tensors",
            f"data.root={data}",
            "data.distortion=null",
            "data.batch_size=16",
            "model.name=_tiny:tiny_net",
            "model.options.width=8",
            "compare.stn_model=_tiny:tiny_st_net",
            "compare.stn_options={}",
            "compare.attention=[none, cbam, stn]",
            "compare.gallery=2",
            "compare.latency_repeats=3",
            "train.epochs=2",
            "train.progress=false",
            f"out={tmp / 'report'}",
            *extra,
        ],
        base=DEMO_DEFAULTS,
    )


def test_compare_writes_the_report(tmp_path):
    results = compare(_config(tmp_path))
    out = tmp_path / "report"
    assert [r.attention for r in results] == ["none", "cbam", "stn"]
    for name in (
        "report.md",
        "report.html",
        "results.json",
        "results.csv",
        "config.yaml",
        "curves.png",
        "maps_cbam.png",
        "maps_stn.png",
    ):
        assert (out / name).is_file(), name
    assert not (out / "maps_none.png").exists()  # the plain network has no attention map
    data = json.loads((out / "results.json").read_text())
    assert [m["attention"] for m in data["models"]] == ["none", "cbam", "stn"]
    assert set(data["models"][0]) >= {
        "attention",
        "accuracy",
        "params",
        "flops",
        "latency_ms",
        "train_seconds",
    }
    assert data["config"]["train"]["epochs"] == 2
    # the figures are those of the trained networks
    stn = _tiny.tiny_st_net(num_classes=4, width=8)
    assert results[2].params == count_params(stn)
    assert results[2].flops == count_flops(stn, torch.rand(1, 1, 8, 8))
    assert results[0].params < results[1].params < results[2].params
    for r in results:
        assert 0.0 <= r.accuracy <= 1.0 and r.error == pytest.approx(1 - r.accuracy)
        assert r.latency_ms > 0 and r.train_seconds > 0
    md = (out / "report.md").read_text()
    assert "| cbam | _tiny:tiny_net |" in md and "![stn attention maps](maps_stn.png)" in md
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "t.pt"]  # no stray folders


def test_failing_compare_leaves_the_earlier_report_untouched(tmp_path):
    compare(_config(tmp_path, "compare.attention=[none]"))
    out = tmp_path / "report"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    # unknown name: refused before any work
    with pytest.raises(ValueError, match="unknown attention 'see'"):
        compare(_config(tmp_path, "compare.attention=[none, see]"))
    # a failure after the first model trained: the half-built report is thrown away
    with pytest.raises(TypeError):
        compare(
            _config(tmp_path, "compare.attention=[none, se]", "model.attention_options.bogus=1")
        )
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "t.pt"]


def test_materialise_keeps_items():
    from torch.utils.data import Dataset

    class Lazy(Dataset):
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return torch.full((1, 2, 2), float(i)), i % 2

    ds = materialise(Lazy())
    assert len(ds) == 5
    assert torch.equal(ds[3][0], torch.full((1, 2, 2), 3.0)) and int(ds[3][1]) == 1
    assert materialise(Lazy(), limit_bytes=10).__class__.__name__ == "Lazy"


def test_materialise_names_images_of_another_size():
    from torch.utils.data import Dataset

    class Mixed(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return torch.zeros(1, 4 + (i == 2), 4), 0

    with pytest.raises(ValueError, match=r"got \(1, 5, 4\) at item 2"):
        materialise(Mixed())
