"""The fit loop: learns, is deterministic for a seed, and resumes bit-for-bit after SIGKILL."""

from __future__ import annotations

import csv
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
from attnvision.engine.trainer import lr_factor  # noqa: E402


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
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
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
