"""The fit loop: learns, is deterministic for a seed, and resumes bit-for-bit after SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import _tiny  # noqa: E402

from attnvision.engine import fit, load_checkpoint, load_config  # noqa: E402
from attnvision.engine.optim import lr_factor  # noqa: E402


def _overrides(tmp: Path, out: str, **extra: object) -> list[str]:
    data = tmp / "t.pt"
    if not data.exists():
        _tiny.make_tensors(data)
    items = {
        "data.name": "tensors",
        "data.root": str(data),
        "data.batch_size": 8,
        "model.name": "_tiny:tiny_net",
        "train.epochs": 2,
        "train.progress": False,
        "optim.name": "sgd",
        "optim.lr": 0.1,
        "out": str(tmp / out),
    }
    items.update({k.replace("__", "."): v for k, v in extra.items()})
    return [f"{k}={v}" for k, v in items.items()]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.pop("TINY_SLEEP", None)
    env.pop("TINY_DIE", None)
    return env


def _cli(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "attnvision", "train", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def test_fit_learns_and_writes_run_folder(tmp_path):
    result = fit(load_config(None, _overrides(tmp_path, "run", train__epochs=4)))
    assert result.accuracy >= 0.75  # the bright-quadrant task is easy; chance is 0.25
    assert len(result.history) == 4
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    run = tmp_path / "run"
    for name in ("config.yaml", "last.pt", "log.csv", "steps.csv", "results.json"):
        assert (run / name).is_file(), name
    with open(run / "steps.csv") as handle:
        assert [int(r["step"]) for r in csv.DictReader(handle)] == list(range(1, 33))
    ckpt = load_checkpoint(run / "last.pt")
    assert ckpt["epoch"] == 4 and ckpt["step"] == 0 and ckpt["global_step"] == 32
    assert set(ckpt["rng"]) >= {"python", "numpy", "torch"}


def test_same_seed_same_weights_other_seed_differs(tmp_path):
    a = fit(load_config(None, _overrides(tmp_path, "a")))
    b = fit(load_config(None, _overrides(tmp_path, "b")))
    c = fit(load_config(None, _overrides(tmp_path, "c", train__seed=1)))
    sa, sb, sc = (r.model.state_dict() for r in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_channels_last_changes_the_layout_not_the_function(tmp_path):
    nhwc = fit(load_config(None, _overrides(tmp_path, "nhwc", train__epochs=1)))
    nchw = fit(
        load_config(None, _overrides(tmp_path, "nchw", train__epochs=1, train__channels_last=False))
    )
    weight = nhwc.model.features[0].weight  # (4, 1, 3, 3): the strides tell the layouts apart
    nhwc_strides = torch.empty(weight.shape).to(memory_format=torch.channels_last).stride()
    assert weight.stride() == nhwc_strides != torch.empty(weight.shape).stride()
    assert nchw.model.features[0].weight.stride() == torch.empty(weight.shape).stride()
    a, b = nhwc.model.state_dict(), nchw.model.state_dict()
    # one epoch of SGD from the same start: only the order of float sums differs
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in a)
    assert nhwc.loss == pytest.approx(nchw.loss, abs=1e-5)


def test_resume_after_sigkill_is_bit_for_bit(tmp_path):
    env = _env()
    ref = _cli(_overrides(tmp_path, "ref", train__checkpoint_every=3), env)
    slow = dict(env, TINY_SLEEP="0.15")
    killed = _cli(_overrides(tmp_path, "run", train__checkpoint_every=3), slow)
    ckpt = tmp_path / "run" / "last.pt"
    deadline = time.monotonic() + 60
    while not ckpt.exists() and killed.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.communicate(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    state = load_checkpoint(ckpt)
    assert 0 < state["global_step"] < 16, "the kill must land mid-run"
    assert state["step"] > 0, "the first checkpoint is mid-epoch"

    resumed = _cli([*_overrides(tmp_path, "run", train__checkpoint_every=3), "--resume"], env)
    out, err = resumed.communicate(timeout=60)
    assert resumed.returncode == 0, err
    _, err = ref.communicate(timeout=60)
    assert ref.returncode == 0, err

    final = load_checkpoint(ckpt)
    expected = load_checkpoint(tmp_path / "ref" / "last.pt")
    assert final["global_step"] == expected["global_step"] == 16
    for key, value in expected["model"].items():
        assert torch.equal(final["model"][key], value), key
    for key in ("step", "exp_avg", "momentum_buffer"):
        for i, s in expected["optimizer"]["state"].items():
            if key in s:
                assert torch.equal(final["optimizer"]["state"][i][key], s[key])
    # the step log of the resumed run is the unbroken run's log, without duplicates
    assert (tmp_path / "run" / "steps.csv").read_text() == (
        tmp_path / "ref" / "steps.csv"
    ).read_text()


def test_resume_refuses_checkpoint_of_other_model(tmp_path):
    fit(load_config(None, _overrides(tmp_path, "run", train__epochs=1)))
    before = (tmp_path / "run" / "last.pt").read_bytes()
    cfg = load_config(None, [*_overrides(tmp_path, "run"), "model.options={width: 8}"])
    with pytest.raises(ValueError, match="does not fit the model"):
        fit(cfg, resume=True)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


def test_resume_without_checkpoint_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume: no last.pt in"):
        fit(load_config(None, _overrides(tmp_path, "empty")), resume=True)


def test_lr_schedules_known_values():
    from attnvision.engine.config import ScheduleConfig

    cos = ScheduleConfig(name="cosine")
    assert lr_factor(0, 100, 0, cos, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(50, 100, 0, cos, 10, 0.1) == pytest.approx(0.5)
    assert lr_factor(100, 100, 0, cos, 10, 0.1) == pytest.approx(0.0, abs=1e-12)
    # warm-up: linear from 1/w to 1 over w steps, then cosine over the rest
    assert lr_factor(0, 100, 10, cos, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10, cos, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, cos, 10, 0.1) == pytest.approx(0.5)
    step = ScheduleConfig(name="step", step_epochs=2, gamma=0.1)
    assert lr_factor(19, 100, 0, step, 10, 0.1) == pytest.approx(1.0)
    assert lr_factor(20, 100, 0, step, 10, 0.1) == pytest.approx(0.1)
    assert lr_factor(45, 100, 0, step, 10, 0.1) == pytest.approx(0.01)


def _checksums(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_run_folder_is_never_overwritten_without_force(tmp_path):
    fit(load_config(None, _overrides(tmp_path, "run", train__epochs=1)))
    before = _checksums(tmp_path / "run")
    with pytest.raises(ValueError, match=r"already holds a run .*--resume .*--force"):
        fit(load_config(None, _overrides(tmp_path, "run", train__epochs=1, train__seed=3)))
    assert _checksums(tmp_path / "run") == before
    (tmp_path / "run" / "notes.txt").write_text("mine")
    fit(load_config(None, _overrides(tmp_path, "run", train__epochs=1, train__seed=3)), force=True)
    after = _checksums(tmp_path / "run")
    assert after["last.pt"] != before["last.pt"] and after["notes.txt"] == b"mine"


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.epochs=0", "'train.epochs' expected a value >= 1, got 0"),
        ("train.epochs=-1", "'train.epochs' expected a value >= 1, got -1"),
        ("data.batch_size=0", "'data.batch_size' expected a value >= 1, got 0"),
        ("data.val_fraction=1.0", "'data.val_fraction' expected a fraction in [0, 1)"),
        ("optim.lr=-0.1", "'optim.lr' expected a value >= 0"),
    ],
)
def test_budgets_of_zero_or_less_are_errors(tmp_path, override, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        load_config(None, [*_overrides(tmp_path, "run"), override])


def test_best_checkpoint_is_chosen_on_validation_and_test_scored_once(tmp_path):
    result = fit(load_config(None, _overrides(tmp_path, "run", train__epochs=3)))
    run = tmp_path / "run"
    saved = json.loads((run / "results.json").read_text())
    vals = [row["val_acc"] for row in result.history]
    best_epoch = 1 + max(range(len(vals)), key=lambda i: (vals[i], -i))  # first of the best
    assert saved["chosen_by"] == "validation accuracy" and saved["epoch"] == best_epoch
    assert saved["val_accuracy"] == pytest.approx(vals[best_epoch - 1])
    best = load_checkpoint(run / "best.pt")
    assert best["epoch"] == best_epoch
    for key, value in best["model"].items():  # the returned model has the chosen weights
        assert torch.equal(result.model.state_dict()[key], value), key
    assert "test_acc" not in result.history[0] and "val_acc" in result.history[0]
    # without validation the last epoch is kept and no best.pt is written
    last = fit(load_config(None, _overrides(tmp_path, "noval", data__val_fraction=0.0)))
    assert last.chosen_by == "last epoch" and last.epoch == 2
    assert not (tmp_path / "noval" / "best.pt").exists()


def test_extending_a_finished_run_says_what_its_schedule_does(tmp_path):
    fit(load_config(None, _overrides(tmp_path, "run", train__epochs=2)))
    again = fit(load_config(None, _overrides(tmp_path, "run", train__epochs=2)), resume=True)
    assert "already finished its 2 epochs" in again.notes[0]
    longer = fit(load_config(None, _overrides(tmp_path, "run", train__epochs=3)), resume=True)
    note = longer.notes[0]
    assert "planned for 2 epochs and now trains 3" in note and "stretched" in note
    # the stretched cosine: epoch 3 of 3 starts at factor cos(pi * 2/3) -> 0.25
    steps = list(csv.DictReader(open(tmp_path / "run" / "steps.csv")))
    assert len(steps) == 24 and float(steps[16]["lr"]) == pytest.approx(0.1 * 0.25)
    fit(load_config(None, _overrides(tmp_path, "fresh", train__epochs=2)))
    restarted = fit(
        load_config(
            None, _overrides(tmp_path, "fresh", train__epochs=3, train__restart_schedule=True)
        ),
        resume=True,
    )
    assert "fresh cosine schedule runs over the 1 added epochs" in restarted.notes[0]
    steps = list(csv.DictReader(open(tmp_path / "fresh" / "steps.csv")))
    assert float(steps[16]["lr"]) == pytest.approx(0.1)  # the fresh schedule starts at lr
    with pytest.raises(ValueError, match="less than the 3 epochs this run has already trained"):
        fit(load_config(None, _overrides(tmp_path, "fresh", train__epochs=2)), resume=True)


def test_saved_config_names_its_own_folder_so_a_copied_run_resumes_itself(tmp_path):
    import shutil

    fit(load_config(None, _overrides(tmp_path, "run", train__epochs=1)))
    assert "out: ." in (tmp_path / "run" / "config.yaml").read_text()
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    cfg = load_config(tmp_path / "copy" / "config.yaml", ["train.epochs=2"])
    assert Path(cfg.out) == (tmp_path / "copy").resolve()
    fit(cfg, resume=True)
    assert load_checkpoint(tmp_path / "copy" / "last.pt")["epoch"] == 2
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
