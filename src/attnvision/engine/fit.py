"""``fit``: train the model of a config and write its run folder.

:func:`fit` checks the run folder (never overwritten without ``force``), starts the
process group under ``torchrun``, carves the validation split, and drives a
:class:`~attnvision.engine.trainer.Trainer` epoch by epoch (see that module for what a run
folder holds); a collective that fails becomes one :class:`DistributedError`.
"""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .config import Config
from .data import build_datasets, split_validation
from .distributed import DistInfo, DistributedError, init_distributed, shutdown_distributed
from .logs import progress_bar
from .state import prepare_run_folder
from .trainer import FitResult, Trainer

__all__ = ["fit", "seed_everything", "select_device"]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 (legacy code reads the global state)
    torch.manual_seed(seed)


def select_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU; ``cuda`` without a GPU raises."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("train.device=cuda expected a CUDA GPU, found none")
    return torch.device(name)


def fit(
    config: Config,
    *,
    resume: bool = False,
    force: bool = False,
    datasets: tuple[Dataset, Dataset] | None = None,
    desc: str | None = None,
) -> FitResult:
    """Train ``config.model`` on ``config.data`` and write the run folder ``config.out``.

    Args:
        config: the validated run configuration.
        resume: continue from ``config.out/last.pt`` (raises ``FileNotFoundError`` if absent).
        force: replace a run already in ``config.out`` (without it, that is an error).
        datasets: ``(train, test)`` to use instead of building them from ``config.data``
            (the validation split is still carved from ``train``).
        desc: label of the progress bar.

    Returns:
        :class:`FitResult` with the test accuracy of the chosen model (every rank alike);
        ``notes`` say what a changed budget did to a resumed run.

    Raises:
        ValueError / TypeError / FileNotFoundError: bad data, model, budget or checkpoint,
            or a run folder that already holds a run; nothing is written before these
            checks pass.
        DistributedError: another rank failed or a collective timed out.
    """
    cfg = config
    device = select_device(cfg.train.device)
    if cfg.train.amp != "off" and device.type != "cuda":
        warnings.warn(
            f"train.amp={cfg.train.amp} needs a GPU; training in float32 on CPU", stacklevel=2
        )
    prepare_run_folder(Path(cfg.out), resume=resume, force=force)
    info = init_distributed(device.type, cfg.train.dist_timeout)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    finished = False
    try:
        result = _fit(cfg, device, info, resume, datasets, desc)
        finished = True
        return result
    except RuntimeError as exc:
        if info.enabled and not isinstance(exc, DistributedError) and _is_comm_failure(exc):
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DistributedError(
                f"distributed training stopped on rank {info.rank} of {info.world_size}: "
                f"another rank failed or timed out ({detail[:160]})"
            ) from exc
        raise
    finally:
        shutdown_distributed(synchronise=finished)


def _is_comm_failure(exc: BaseException) -> bool:
    """Whether ``exc`` comes from a collective (dead peer, closed connection, timeout)."""
    import torch.distributed as dist

    if isinstance(exc, getattr(dist, "DistError", ())):
        return True
    text = str(exc).lower()
    return any(key in text for key in ("gloo", "nccl", "connection", "timed out", "timeout"))


def _fit(
    cfg: Config,
    device: torch.device,
    info: DistInfo,
    resume: bool,
    datasets: tuple[Dataset, Dataset] | None,
    desc: str | None,
) -> FitResult:
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    seed_everything(cfg.train.seed)
    train_set, test_set = datasets if datasets is not None else build_datasets(cfg.data)
    train_set, val_set = split_validation(train_set, cfg.data.val_fraction, cfg.data.seed)
    trainer = Trainer(cfg, device, info, train_set, val_set, desc)
    notes = trainer.restore() if resume else []
    trainer.open_logs(resume)

    s = trainer.state
    with progress_bar(
        total=trainer.steps_per_epoch * cfg.train.epochs,
        initial=s.global_step,
        enabled=cfg.train.progress and info.is_main,
    ) as bar:
        while s.epoch < cfg.train.epochs:
            trainer.train_epoch(bar)
            trainer.end_epoch(bar)
    result = trainer.finish(test_set)
    result.notes = notes
    return result
