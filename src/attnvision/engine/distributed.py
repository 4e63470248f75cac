"""Distributed training under ``torchrun``: process group, sampler, reductions.

``torchrun --nproc_per_node=N -m attnvision train CONFIG`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous address; :func:`init_distributed` reads them and starts
a process group (``gloo`` on CPU, ``nccl`` on GPU) with a finite timeout, so a rank that
dies makes the others fail with an error instead of waiting forever.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, DistributedSampler


class DistributedError(RuntimeError):
    """A collective operation failed: another rank died or timed out."""


@dataclass
class DistInfo:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True when more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes logs, checkpoints and results."""
        return self.rank == 0


def init_distributed(device_type: str, timeout_s: float = 60.0) -> DistInfo:
    """Start the process group when launched by ``torchrun`` with ``WORLD_SIZE > 1``.

    Args:
        device_type: ``"cpu"`` (backend ``gloo``) or ``"cuda"`` (``nccl``; the process
            uses ``cuda:LOCAL_RANK``).
        timeout_s: collective timeout in seconds.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        if device_type == "cuda":
            torch.cuda.set_device(local)
        dist.init_process_group(
            backend=backend, timeout=datetime.timedelta(seconds=float(timeout_s))
        )
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def shutdown_distributed(synchronise: bool = False) -> None:
    """Destroy the process group if one is running.

    With ``synchronise`` (a run that ended normally on every rank) the ranks first meet at
    a barrier: a rank that tore its gloo connections down while a peer was still using
    them made that peer abort ("terminate called without an active exception", about 1
    run in 10 on 2 CPU processes). After a failure there is no barrier: a dead peer would
    make it wait for the whole timeout."""
    if dist.is_available() and dist.is_initialized():
        if synchronise:
            dist.barrier()
        dist.destroy_process_group()


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start part-way through an epoch.

    The order of an epoch is ``torch.randperm`` seeded with ``seed + epoch`` (torch's
    DistributedSampler), rank ``r`` takes every ``world``-th index from ``r``; with
    ``start_batch = k`` the first ``k * batch_size`` indices of this rank are skipped,
    which is how a resumed run continues with exactly the batches it had not seen.
    """

    def __init__(
        self,
        dataset: Dataset,
        *,
        num_replicas: int,
        rank: int,
        seed: int,
        batch_size: int,
        shuffle: bool = True,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.batch_size = batch_size
        self.start_batch = 0

    def set_position(self, epoch: int, start_batch: int) -> None:
        """Continue epoch ``epoch`` after ``start_batch`` batches."""
        self.set_epoch(epoch)
        self.start_batch = start_batch

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start_batch * self.batch_size :])

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start_batch * self.batch_size)

    def batches_per_epoch(self) -> int:
        """Number of batches of this rank in one whole epoch."""
        return math.ceil(self.num_samples / self.batch_size)


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum a few numbers over all ranks (identity when not distributed)."""
    if not info.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()
