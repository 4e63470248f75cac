"""torchrun with 2 CPU processes (gloo): same loss curve as 1 process; a dead rank ends all."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import _tiny  # noqa: E402

from attnvision.engine import fit, load_config  # noqa: E402

TORCHRUN = shutil.which("torchrun", path=str(Path(sys.executable).parent))
pytestmark = pytest.mark.skipif(TORCHRUN is None, reason="torchrun not installed")


def _args(tmp: Path, out: str, timeout: float = 60) -> list[str]:
    data = tmp / "t.pt"
    if not data.exists():
        _tiny.make_tensors(data)
    return [
        "data.name=tensors",
        f"data.root={data}",
        "data.batch_size=8",
        "model.name=_tiny:tiny_net",
        "model.options.drop=0.0",  # dropout masks differ by rank
        "train.epochs=2",
        "train.progress=false",
        "optim.name=sgd",
        "optim.lr=0.1",
        f"train.dist_timeout={timeout:g}",
        f"out={tmp / out}",
    ]


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
    env["OMP_NUM_THREADS"] = "1"
    env.update(extra)
    return env


def _torchrun(args: list[str], env: dict[str, str], timeout: float):
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", "-m", "attnvision", "train", *args]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


def _rank_errors(stderr: str) -> str:
    """The ranks' own messages first (torchrun's summary, which comes last, hides them),
    then the end of the output."""
    own = [line for line in stderr.splitlines() if "torch/distributed/elastic" not in line]
    return "\n".join(own[:40]) + "\n...\n" + stderr[-1500:]


def _losses(path: Path) -> list[float]:
    with open(path) as handle:
        return [float(r["loss"]) for r in csv.DictReader(handle)]


def test_two_processes_match_one_with_same_global_batch(tmp_path):
    # a generous collective timeout: on a loaded 2-core machine one rank can be seconds
    # behind the other (a 5 s timeout once aborted this run in CI)
    two = _torchrun(_args(tmp_path, "two"), _env(), timeout=180)
    assert two.returncode == 0, _rank_errors(two.stderr)
    fit(load_config(None, _args(tmp_path, "one")))  # 1 process, in this one
    a, b = _losses(tmp_path / "one" / "steps.csv"), _losses(tmp_path / "two" / "steps.csv")
    assert len(a) == len(b) == 16
    assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5
    assert a[-1] < a[0]
    # only rank 0 writes: one checkpoint, one log, no stray temporary files
    names = sorted(p.name for p in (tmp_path / "two").iterdir())
    assert names == ["best.pt", "config.yaml", "last.pt", "log.csv", "results.json", "steps.csv"]


def test_a_dying_rank_ends_the_run_with_a_clear_error(tmp_path):
    # rank 1 exits at its 5th forward; rank 0 must stop (gloo sees the closed connection,
    # or the 5 s collective timeout fires) and torchrun must end the job, never hang.
    # (A rank that hangs instead of dying, TINY_HANG=1:5, ends the same way after
    # train.dist_timeout seconds.)
    start = time.monotonic()
    run = _torchrun(_args(tmp_path, "run", timeout=5), _env(TINY_DIE="1:5"), timeout=90)
    elapsed = time.monotonic() - start
    assert run.returncode != 0
    assert "distributed training stopped on rank 0 of 2: another rank failed" in run.stderr
    assert elapsed < 60, f"took {elapsed:.0f} s"
