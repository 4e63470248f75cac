"""Checkpoints: written atomically, loaded with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict with ``format`` (``"attnvision-checkpoint"``), ``version``
(:data:`FORMAT_VERSION`), ``model`` (state dict), ``optimizer``, ``scheduler``,
``rng`` (torch, numpy, python, and CUDA states), ``epoch`` and ``step`` (position of the
data order: epoch index and batches already taken in it), ``global_step``, ``config``
(plain dict) and ``meta`` (model name, attention, class count).

Loading never unpickles arbitrary objects: ``weights_only=True`` refuses anything but
tensors and plain containers, so a crafted file cannot run code; a truncated or foreign
file raises ``ValueError`` with a message naming the file.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._utils import atomic_save, load_versioned, state_mismatch
from .config import Config

FORMAT = "attnvision-checkpoint"
FORMAT_VERSION = 1
#: the checkpoint file of a run folder (written every epoch, read by ``--resume``)
CHECKPOINT_NAME = "last.pt"


def rng_state() -> dict[str, Any]:
    """The random states of python, numpy and torch (CPU and CUDA) as plain data."""
    np_state = np.random.get_state()  # noqa: NPY002 (the global state is what we save)
    state: dict[str, Any] = {
        "python": _python_state_to_plain(random.getstate()),
        "numpy": {
            "name": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(_python_state_from_plain(state["python"]))
    n = state["numpy"]
    np.random.set_state(  # noqa: NPY002
        (
            n["name"],
            n["keys"].numpy().astype(np.uint32),
            n["pos"],
            n["has_gauss"],
            n["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _python_state_to_plain(state: tuple) -> dict[str, Any]:
    version, internal, gauss = state
    return {
        "version": int(version),
        "internal": torch.tensor(list(internal), dtype=torch.int64),
        "gauss": gauss,
    }


def _python_state_from_plain(plain: dict[str, Any]) -> tuple:
    internal = tuple(int(v) for v in plain["internal"].tolist())
    return (plain["version"], internal, plain["gauss"])


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> Path:
    """Write ``state`` (tensors and plain containers only) atomically to ``path``.

    ``format`` and ``version`` are added. A crash mid-write leaves the previous file.
    """
    payload = {"format": FORMAT, "version": FORMAT_VERSION, **state}
    return atomic_save(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint`, safely (the package's one
    versioned loader, :func:`attnvision._utils.load_versioned`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a truncated/corrupt file, a file that is not a checkpoint, a newer
            format version, or a pickle that asks for code to run (refused, not run).
    """
    payload = load_versioned(path, FORMAT, FORMAT_VERSION, "checkpoint")
    if map_location not in (None, "cpu"):
        payload = _to_device(payload, map_location)
    return payload


def _to_device(value: Any, device: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to_device(v, device) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_device(v, device) for v in value]
    return value


def load_model_state(model: torch.nn.Module, state: dict[str, Any], source: str = "") -> None:
    """Load a state dict strictly; a mismatch raises ``ValueError`` naming the keys."""
    problems = state_mismatch(model.state_dict(), state)
    if problems:
        where = f" {source}" if source else ""
        raise ValueError(
            f"checkpoint{where} does not fit the model {type(model).__name__}: "
            + "; ".join(problems)
        )
    model.load_state_dict(state)


@dataclass
class LoadedRun:
    """A trained run, ready to use: what :func:`load_run` returns."""

    config: Config
    model: torch.nn.Module
    meta: dict[str, Any]
    path: Path


def load_run(path: str | os.PathLike[str], overrides: list[str] | None = None) -> LoadedRun:
    """The model of a checkpoint written by ``attnvision train`` / ``compare``, rebuilt from
    the run config stored in it and loaded strictly (eval mode, CPU).

    Args:
        path: a checkpoint file, or a run folder: its ``best.pt`` (the epoch chosen on
            validation) when there is one, else its :data:`CHECKPOINT_NAME`.
        overrides: dotted ``key=value`` changes to the stored config (e.g.
            ``["data.root=/data"]``); the model's architecture keys should not change.

    Raises:
        FileNotFoundError: no checkpoint. ValueError: not a checkpoint of a training run
            (no config / meta), or weights that do not fit the rebuilt model.
    """
    from .config import apply_overrides, config_from_dict
    from .data import build_model

    p = Path(path)
    if p.is_dir():
        p = p / "best.pt" if (p / "best.pt").is_file() else p / CHECKPOINT_NAME
    ckpt = load_checkpoint(p)
    meta = ckpt.get("meta")
    if not isinstance(ckpt.get("config"), dict) or not isinstance(meta, dict):
        raise ValueError(f"{p} has no run config; was it written by attnvision train?")
    if not isinstance(meta.get("num_classes"), int) or not isinstance(meta.get("in_channels"), int):
        raise ValueError(f"{p} does not record num_classes and in_channels")
    config = config_from_dict(apply_overrides(ckpt["config"], list(overrides or [])))
    model = build_model(config.model, meta["num_classes"], meta["in_channels"])
    load_model_state(model, ckpt["model"], str(p))
    return LoadedRun(config=config, model=model.eval(), meta=meta, path=p)
