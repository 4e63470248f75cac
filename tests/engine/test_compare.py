"""compare(): one model per attention type, a complete report, and no damage on failure."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
import yaml

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import _tiny  # noqa: E402

from attnvision.engine import load_run  # noqa: E402
from attnvision.engine.bench import count_flops, count_params  # noqa: E402
from attnvision.engine.compare import (  # noqa: E402
    DEMO_DEFAULTS,
    ModelResult,
    compare,
    materialise,
    paired_difference,
)
from attnvision.engine.config import load_config  # noqa: E402
from attnvision.engine.report import _verdicts  # noqa: E402
from attnvision.models.spatial import TransformerFront  # noqa: E402

STN = "{loc_channels: [2, 2], loc_hidden: 4, transform: translation, init_scale: 0.5}"


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
            "data.val_fraction=0.25",
            "model.name=_tiny:tiny_net",
            "model.options.width=8",
            f"compare.stn_options={STN}",
            "compare.attention=[none, cbam, stn, stn_identity]",
            "compare.seeds=2",
            "compare.workers=1",
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
    assert [r.attention for r in results] == ["none", "cbam", "stn", "stn_identity"]
    for name in (
        "report.md",
        "report.html",
        "results.json",
        "results.csv",
        "config.yaml",
        "curves.png",
        "cost.png",
        "maps_cbam.png",
        "maps_stn.png",
        "maps_stn_identity.png",
    ):
        assert (out / name).is_file(), name
    assert not (out / "maps_none.png").exists()  # the plain network has no attention map
    data = json.loads((out / "results.json").read_text())
    assert [m["attention"] for m in data["models"]] == ["none", "cbam", "stn", "stn_identity"]
    for row in data["models"]:
        assert {"attention", "model", "accuracy", "accuracy_sd", "seeds", "params"} <= set(row)
        assert [s["seed"] for s in row["seeds"]] == [0, 1]  # train.seed + k
        accs = [s["accuracy"] for s in row["seeds"]]
        assert row["accuracy"] == pytest.approx(sum(accs) / 2)
        assert row["accuracy_sd"] == pytest.approx(abs(accs[0] - accs[1]) / 2**0.5)
    assert data["models"][0]["vs_none"] is None
    cbam = data["models"][1]
    diffs = [
        a["accuracy"] - b["accuracy"] for a, b in zip(cbam["seeds"], data["models"][0]["seeds"])
    ]
    assert cbam["vs_none"]["mean"] == pytest.approx(sum(diffs) / 2)
    assert data["config"]["train"]["epochs"] == 2 and "2 seeds x 2 epochs" in data["budget"]
    # one backbone: every row is the plain network plus its mechanism, nothing else
    plain = _tiny.tiny_net(num_classes=4, width=8)
    with_cbam = _tiny.tiny_net(num_classes=4, width=8, attention="cbam")
    front = TransformerFront(_tiny.tiny_net(num_classes=4, width=8), 1, **yaml.safe_load(STN))
    example = torch.rand(1, 1, 8, 8)
    assert [r.params for r in results] == [
        count_params(plain),
        count_params(with_cbam),
        count_params(front),
        count_params(front),
    ]
    assert results[2].flops == results[3].flops == count_flops(front, example)
    assert results[0].flops == count_flops(plain, example)
    assert [r.model for r in results] == ["_tiny:tiny_net"] * 2 + ["stn -> _tiny:tiny_net"] * 2
    md = (out / "report.md").read_text()
    assert "## Differences to none" in md and "![stn attention maps](maps_stn.png)" in md
    assert "identity-frozen control" in md
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "t.pt"]  # no stray folders
    csv_lines = (out / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + 4 * 2  # one line per run


def test_identity_control_stays_the_identity(tmp_path):
    compare(_config(tmp_path, "compare.attention=[none, stn_identity]", "compare.seeds=1"))
    model = load_run(tmp_path / "report" / "runs" / "stn_identity" / "seed0").model
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(model.stn(x), x, atol=1e-5)  # trained, still reads its input as is
    assert not model.stn.loc.head.weight.any()


def test_paired_difference_known_values():
    diff = paired_difference([0.80, 0.90, 0.85], [0.70, 0.80, 0.80])
    # differences 0.10, 0.10, 0.05: mean 1/12, sd 0.028868, t(0.975, 2) = 4.302653
    half = 4.302653 * 0.0288675 / 3**0.5
    assert diff["mean"] == pytest.approx(1 / 12)
    assert diff["low"] == pytest.approx(1 / 12 - half, rel=1e-5)
    assert diff["high"] == pytest.approx(1 / 12 + half, rel=1e-5)
    assert diff["verdict"] == "better"
    assert paired_difference([0.8, 0.7], [0.75, 0.75])["verdict"] == "within noise"
    assert paired_difference([0.5], [0.6])["verdict"] == "one seed"
    with pytest.raises(ValueError, match="expected paired figures of one length"):
        paired_difference([0.5, 0.6], [0.5])


def _row(name: str, accuracies: list[float], reference: list[float] | None) -> ModelResult:
    mean = sum(accuracies) / len(accuracies)
    return ModelResult(
        attention=name,
        model="cnn",
        accuracy=mean,
        accuracy_sd=0.05,
        params=1,
        flops=1,
        latency_ms=1.0,
        train_seconds=1.0,
        seeds=[{"accuracy": a} for a in accuracies],
        vs_none=None if reference is None else paired_difference(accuracies, reference),
    )


def test_verdicts_say_when_every_seed_agrees_but_the_interval_is_wide():
    none = [0.80, 0.88, 0.84]
    lines = _verdicts(
        [
            _row("none", none, None),
            _row("stn", [0.97, 0.94, 0.96], none),  # +17, +6, +12: all above, t-interval wide
            _row("se", [0.84, 0.75, 0.83], none),  # mixed signs
            _row("eca", [0.90, 0.98, 0.94], none),  # +10 each: interval excludes 0
        ]
    )
    assert lines[0].startswith("the spatial transformer: +11.67 points (95 % interval [")
    assert "within noise of none. Each of the 3 seeds is above its paired none run" in lines[0]
    assert lines[1].endswith("within noise of none.")
    assert "better than none" in lines[2] and "Each of" not in lines[2]


def test_rows_that_cannot_be_built_fail_before_training(tmp_path):
    with pytest.raises(ValueError, match="unknown attention 'see'"):
        compare(_config(tmp_path, "compare.attention=[none, see]"))
    with pytest.raises(ValueError, match="expected 'none' among the rows"):
        compare(_config(tmp_path, "compare.attention=[se, cbam]"))
    with pytest.raises(
        ValueError, match="compare row 'se' cannot be built into model '_tiny:tiny_plain'"
    ):
        compare(
            _config(
                tmp_path,
                "compare.attention=[none, se]",
                "model.name=_tiny:tiny_plain",
                "model.options={}",
            )
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.pt"]  # nothing written


def test_failing_compare_leaves_the_earlier_report_untouched(tmp_path):
    compare(_config(tmp_path, "compare.attention=[none]", "compare.seeds=1"))
    out = tmp_path / "report"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with pytest.raises(ValueError, match="already holds files; pass --force"):
        compare(_config(tmp_path, "compare.attention=[none]"))
    # a failure after the first model trained: the half-built report is thrown away
    bad = _config(tmp_path, "compare.attention=[none, se]", "compare.seeds=1")
    with pytest.raises(RuntimeError, match="boom"):
        with mock.patch("attnvision.engine.compare._measure", side_effect=RuntimeError("boom")):
            compare(bad, force=True)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report", "t.pt"]


@pytest.mark.slow
def test_worker_processes_give_the_same_numbers(tmp_path):
    one = compare(_config(tmp_path, "compare.attention=[none, se]", "out=" + str(tmp_path / "a")))
    two = compare(
        _config(
            tmp_path,
            "compare.attention=[none, se]",
            "compare.workers=2",
            "out=" + str(tmp_path / "b"),
        )
    )
    assert [s["accuracy"] for r in one for s in r.seeds] == [
        s["accuracy"] for r in two for s in r.seeds
    ]
    for name in ("none", "se"):
        a = load_run(tmp_path / "a" / "runs" / name / "seed1").model.state_dict()
        b = load_run(tmp_path / "b" / "runs" / name / "seed1").model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


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
