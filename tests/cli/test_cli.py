"""The command line: commands exist; every bad input is one line on stderr and exit code 2,
and leaves earlier results untouched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "engine"))

import _tiny  # noqa: E402

from attnvision.cli import main  # noqa: E402
from attnvision.engine import load_checkpoint  # noqa: E402


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(capsys, *argv: str) -> str:
    code, _, err = _run(capsys, *argv)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "error:" in lines[0]
    return lines[0]


def _train_args(tmp: Path, out: str = "run") -> list[str]:
    data = tmp / "t.pt"
    if not data.exists():
        _tiny.make_tensors(data)
    return [
        "train",
        "data.name=tensors",
        f"data.root={data}",
        "data.batch_size=16",
        "model.name=_tiny:tiny_net",
        "train.epochs=1",
        "train.progress=false",
        f"out={tmp / out}",
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("cli")
    assert main(_train_args(tmp)) == 0
    return tmp


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("compare", "train", "evaluate", "bench", "list"):
        assert command in out


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["frobnicate"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "invalid choice: 'frobnicate'" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--no-such-flag"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --no-such-flag" in capsys.readouterr().err


def test_train_then_evaluate(trained, capsys):
    ckpt = trained / "run" / "last.pt"
    code, out, _ = _run(capsys, "evaluate", str(ckpt), "--json")
    assert code == 0
    result = json.loads(out)
    saved = json.loads((trained / "run" / "results.json").read_text())
    assert result["accuracy"] == pytest.approx(saved["accuracy"])
    assert result["images"] == 32


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["data.root=/no/such/folder"], "data folder not found: /no/such/folder"),
        (["optim.lrr=0.1"], "unknown config key 'optim.lrr' (did you mean lr?)"),
        (["train.epochs=two"], "config key 'train.epochs' expected int, got str 'two'"),
        (["model.name=resnett20"], "unknown model 'resnett20' (did you mean resnet20"),
        (["model.attention=see"], "unknown attention 'see' (did you mean se"),
        (["no_such_config.yaml"], "config file not found: no_such_config.yaml"),
    ],
)
def test_train_bad_input(tmp_path, capsys, extra, message):
    line = _one_line_error(capsys, *_train_args(tmp_path), *extra)
    assert message in line
    assert not (tmp_path / "run").exists()  # nothing written before the checks pass


def test_an_image_that_is_not_an_image(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "images"
    (root / "a").mkdir(parents=True)
    (root / "b").mkdir()
    (root / "a" / "broken.png").write_bytes(b"this is not a png")
    Image.new("L", (28, 28)).save(root / "b" / "fine.png")
    line = _one_line_error(
        capsys,
        "train",
        "data.name=folder",
        f"data.root={root}",
        "data.distortion=null",
        f"out={tmp_path / 'run'}",
    )
    assert "cannot read as an image" in line and "broken.png" in line


def test_checkpoint_of_another_model(trained, capsys):
    ckpt = trained / "run" / "last.pt"
    before = ckpt.read_bytes()
    line = _one_line_error(capsys, "evaluate", str(ckpt), "model.options.width=8")
    assert "does not fit the model TinyNet" in line
    line = _one_line_error(capsys, *_train_args(trained), "model.options.width=8", "--resume")
    assert "does not fit the model TinyNet" in line
    line = _one_line_error(
        capsys, *_train_args(trained), "model.name=_tiny:tiny_st_net", "--resume"
    )
    assert "is for model '_tiny:tiny_net'" in line
    assert ckpt.read_bytes() == before


def test_bad_checkpoint_files(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 100)
    assert "not a readable checkpoint" in _one_line_error(capsys, "evaluate", str(bad))
    missing = tmp_path / "missing.pt"
    assert "checkpoint not found" in _one_line_error(capsys, "evaluate", str(missing))


def test_compare_bad_input_leaves_report(tmp_path, capsys):
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("earlier report")
    line = _one_line_error(capsys, "compare", "--out", str(out))
    assert "already holds files; pass --force to replace that report" in line
    line = _one_line_error(
        capsys, "compare", "--out", str(out), "--attention", "none,cbma", "--force"
    )
    assert "unknown attention 'cbma' (did you mean cbam" in line
    line = _one_line_error(
        capsys,
        "compare",
        "--force",
        "--out",
        str(out),
        "--data",
        "folder",
        "--root",
        str(tmp_path / "nothing"),
    )
    assert "data folder not found" in line
    assert (out / "report.md").read_text() == "earlier report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_bench_blocks(capsys):
    code, out, _ = _run(
        capsys, "bench", "--block", "se,cbam", "--input", "1,16,8,8", "--repeats", "2"
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["what", "params", "MFLOPs", "latency"]
    assert lines[1].split()[0] == "se" and lines[2].split()[0] == "cbam"
    assert "--input expected" in _one_line_error(capsys, "bench", "--input", "1,2,3")


def test_auto_resume_starts_then_continues(tmp_path, capsys):
    args = _train_args(tmp_path)
    assert main([*args, "--auto-resume"]) == 0  # no checkpoint yet: starts from scratch
    assert main([*args, "train.epochs=2", "--auto-resume"]) == 0  # continues with epoch 2
    capsys.readouterr()
    log = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in log] == ["epoch", "1", "2"]


def test_bench_models_flops_match_the_counter(capsys):
    import torch

    from attnvision.engine.bench import count_flops
    from attnvision.models import create_model

    code, out, _ = _run(
        capsys,
        "bench",
        "--model",
        "cnn",
        "--attention",
        "none,se",
        "--input",
        "1,1,32,32",
        "--repeats",
        "2",
    )
    assert code == 0
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:]}
    expected = count_flops(create_model("cnn", num_classes=10), torch.rand(1, 1, 32, 32))
    assert float(rows["cnn+none"][2]) == pytest.approx(expected / 1e6, abs=0.006)
    assert int(rows["cnn+se"][1].replace(",", "")) > int(rows["cnn+none"][1].replace(",", ""))
    assert "unknown attention 'sse'" in _one_line_error(capsys, "bench", "--attention", "sse")


def test_train_never_overwrites_a_run_and_resumes_a_run_folder(tmp_path, capsys):
    assert main(_train_args(tmp_path)) == 0
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    line = _one_line_error(capsys, *_train_args(tmp_path))
    assert f"run folder {run} already holds a run" in line and "--force" in line
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before
    # --resume RUN_DIR reads the run's own config.yaml (no CONFIG, no data overrides)
    code, out, err = _run(capsys, "train", "--resume", str(run), "train.epochs=2")
    assert code == 0, err
    assert "planned for 1 epochs and now trains 2" in err and "test accuracy" in out
    assert load_checkpoint(run / "last.pt")["epoch"] == 2
    code, _, err = _run(capsys, *_train_args(tmp_path), "train.seed=5", "--force")
    assert code == 0, err
    assert load_checkpoint(run / "last.pt")["epoch"] == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train.epochs=0"], "'train.epochs' expected a value >= 1, got 0"),
        (["train.epochs=-1"], "'train.epochs' expected a value >= 1, got -1"),
        (["data.batch_size=0"], "'data.batch_size' expected a value >= 1, got 0"),
    ],
)
def test_train_budget_of_zero_or_less(tmp_path, capsys, argv, message):
    assert message in _one_line_error(capsys, *_train_args(tmp_path), *argv)
    assert not (tmp_path / "run").exists()


def test_compare_zero_epochs_and_bench_bad_threads(tmp_path, capsys):
    line = _one_line_error(capsys, "compare", "--epochs", "0", "--out", str(tmp_path / "c"))
    assert "'train.epochs' expected a value >= 1, got 0" in line
    assert not (tmp_path / "c").exists()
    assert "threads expected >= 1, got -1" in _one_line_error(capsys, "bench", "--threads", "-1")
    assert "repeats expected >= 1, got 0" in _one_line_error(capsys, "bench", "--repeats", "0")


def test_bare_command_prints_the_help(capsys):
    code, out, err = _run(capsys)
    assert code == 2 and "usage: attnvision" in err and "compare" in err and out == ""
