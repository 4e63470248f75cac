"""The built wheel, not the checkout: it installs into a clean virtual environment and its
command line predicts a saliency map for an image outside the checkout, with the shipped
weights read as package data.

The virtual environment is created without pip and without network: the wheel is
installed with the running pip (``pip --python``, no dependencies, no index) and the
dependencies are made visible from the running environment's site-packages through a
``.pth`` path line (``.pth`` files there, such as an editable install of the checkout, are
not processed, so only the wheel provides ``attnvision``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(args: list, *, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment with the wheel built from this checkout installed in it."""
    try:
        import setuptools  # noqa: F401 - the build backend, from the test extra
    except ImportError:  # pragma: no cover
        if os.environ.get("CI"):
            pytest.fail("setuptools (the test extra) is needed to build the wheel")
        pytest.skip("setuptools is not installed")
    work = tmp_path_factory.mktemp("packaging")
    project = work / "project"  # a copy: building leaves build/ and egg-info behind
    project.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, project / name)
    shutil.copytree(
        ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    built = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "-w", work / "dist", project],
        cwd=work,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("attnvision-*.whl")
    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=work)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work
    )
    paths = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    Path(site.stdout.strip(), "_attnvision_test_deps.pth").write_text("\n".join(paths) + "\n")
    done = _run(
        [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", wheel],
        cwd=work,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return venv


def test_wheel_installs_and_predicts_outside_the_checkout(installed, tmp_path):
    code = "import attnvision.saliency.model as m; print(m.__file__, m.default_weights('fixation'))"
    where = _run([installed / "bin" / "python", "-c", code], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    module, weights = (Path(line) for line in where.stdout.split())
    assert installed in module.parents and installed in weights.parents and weights.is_file()
    image = np.random.default_rng(0).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    Image.fromarray(image).save(tmp_path / "street.jpg")
    command = installed / "bin" / "attnvision"
    run = _run([command, "saliency", "predict", "street.jpg", "--out", "maps", "--quiet"],
               cwd=tmp_path)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""  # no warning from torch or anything else
    with Image.open(tmp_path / "maps" / "street.png") as saliency:
        assert saliency.size == (61, 45) and saliency.mode == "L"
    assert np.load(tmp_path / "maps" / "street.npy").shape == (45, 61)
    # a user error: one line of ours on stderr, exit code 2, nothing from third parties
    bad = _run([command, "saliency", "predict", "missing.jpg", "--out", "maps"], cwd=tmp_path)
    assert bad.returncode == 2
    assert len(bad.stderr.splitlines()) == 1 and "missing.jpg" in bad.stderr
    assert "Warning" not in bad.stderr
