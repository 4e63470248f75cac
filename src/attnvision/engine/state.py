"""Where a training run stands, and what its folder may hold.

:class:`RunState` (position in the data order, counters, history, the epoch's running
sums, the best validation epoch, the schedule's span) is saved in every checkpoint and
restored by ``resume``; :func:`prepare_run_folder` refuses to overwrite a run.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .checkpoint import CHECKPOINT_NAME

__all__ = ["BEST_NAME", "RUN_FILES", "EpochSums", "RunState", "prepare_run_folder"]

#: the weights of the best validation epoch
BEST_NAME = "best.pt"
#: what a run writes into its folder (``force`` removes these, and only these)
RUN_FILES = (
    "config.yaml",
    CHECKPOINT_NAME,
    BEST_NAME,
    "log.csv",
    "steps.csv",
    "results.json",
    "tb",
)


@dataclass
class EpochSums:
    """Running sums of the epoch in progress on this rank: ``loss`` (times items),
    ``correct`` predictions and ``count`` of items."""

    loss: float = 0.0
    correct: float = 0.0
    count: float = 0.0

    def add(self, loss: float, correct: float, count: float) -> None:
        self.loss += loss
        self.correct += correct
        self.count += count

    def as_list(self) -> list[float]:
        return [self.loss, self.correct, self.count]


@dataclass
class RunState:
    """Where a run stands; saved in every checkpoint, restored by ``resume``.

    ``epoch`` is the 0-based index of the epoch in progress (epochs finished), ``step`` the
    batches already taken in it; the learning-rate schedule starts at ``schedule_start``
    and spans ``schedule_steps`` steps; ``best`` is ``{"epoch", "val_loss",
    "val_accuracy"}`` of ``best.pt``.
    """

    epoch: int = 0
    step: int = 0
    global_step: int = 0
    train_seconds: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    sums: EpochSums = field(default_factory=EpochSums)
    best: dict[str, float] | None = None
    schedule_start: int = 0
    schedule_steps: int = 0

    def to_checkpoint(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "step": self.step,
            "global_step": self.global_step,
            "train_seconds": self.train_seconds,
            "history": self.history,
            "partial": self.sums.as_list(),
            "best": self.best,
            "schedule": [self.schedule_start, self.schedule_steps],
        }

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], planned_steps: int) -> RunState:
        """The state stored by :meth:`to_checkpoint` (``planned_steps``: the schedule's
        span of checkpoints that predate ``schedule``)."""
        start, steps = ckpt.get("schedule", [0, planned_steps])
        return cls(
            epoch=int(ckpt["epoch"]),
            step=int(ckpt["step"]),
            global_step=int(ckpt["global_step"]),
            train_seconds=float(ckpt["train_seconds"]),
            history=list(ckpt.get("history", [])),
            sums=EpochSums(*ckpt.get("partial", [0.0, 0.0, 0.0])),
            best=ckpt.get("best"),
            schedule_start=int(start),
            schedule_steps=int(steps),
        )


def prepare_run_folder(out: Path, *, resume: bool, force: bool) -> None:
    """Refuse to overwrite a run: ``out`` holding any of :data:`RUN_FILES` needs ``resume``
    (continue) or ``force`` (those files are removed first; nothing else in the folder)."""
    found = [name for name in RUN_FILES if (out / name).exists()]
    if resume:
        if not (out / CHECKPOINT_NAME).is_file():
            raise FileNotFoundError(f"nothing to resume: no {CHECKPOINT_NAME} in {out}")
        return
    if found and not force:
        raise ValueError(
            f"run folder {out} already holds a run ({', '.join(found)}); pass --resume to "
            "continue it or --force to replace it"
        )
    for name in found:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
