"""The fit / evaluate loop: seeded, resumable, distributed under ``torchrun``.

:func:`fit` trains the model of a :class:`~attnvision.engine.config.Config` and writes into
``config.out``: ``config.yaml`` (resolved config), ``last.pt`` (checkpoint, every epoch and
every ``train.checkpoint_every`` steps, atomically), ``log.csv`` (one row per epoch),
``steps.csv`` (loss per optimisation step), TensorBoard events when ``tensorboard`` is
installed, and ``results.json`` at the end. With ``resume=True`` it continues from
``last.pt`` exactly where it stopped: same weights, same optimiser and schedule, same RNG
states and the same remaining batches of the interrupted epoch, so the result is
bit-for-bit that of an unbroken run (on CPU, for a seed).
"""

from __future__ import annotations

import csv
import json
import math
import random
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from .._utils import atomic_write, count_params
from .checkpoint import (
    CHECKPOINT_NAME,
    load_checkpoint,
    load_model_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from .config import Config, ScheduleConfig, save_config
from .data import build_datasets, build_model, dataset_info
from .distributed import (
    DistInfo,
    DistributedError,
    ResumableSampler,
    all_reduce_sum,
    init_distributed,
    shutdown_distributed,
)


@dataclass
class FitResult:
    """What :func:`fit` returns: final test ``accuracy`` (0..1) and ``loss``, ``params``,
    ``train_seconds`` (wall time of the training steps, summed over resumes), per-epoch
    ``history`` and the trained ``model`` (unwrapped)."""

    accuracy: float
    loss: float
    params: int
    train_seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None
    model: nn.Module | None = None


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


def lr_factor(
    step: int,
    total_steps: int,
    warmup_steps: int,
    cfg: ScheduleConfig,
    steps_per_epoch: int,
    base_lr: float,
) -> float:
    """Multiplier of the base learning rate at optimisation ``step`` (0-based).

    Linear warm-up from ``1/warmup_steps`` to 1, then cosine decay to ``min_lr``
    (Loshchilov and Hutter, SGDR, ICLR 2017, eq. 5 without restarts), a step decay by
    ``gamma`` every ``step_epochs`` epochs, or constant.
    """
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if cfg.name == "cosine":
        span = max(1, total_steps - warmup_steps)
        t = min(1.0, (step - warmup_steps) / span)
        floor = cfg.min_lr / base_lr if base_lr > 0 else 0.0
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))
    if cfg.name == "step":
        return cfg.gamma ** (step // max(1, cfg.step_epochs * steps_per_epoch))
    return 1.0


def build_optimizer(model: nn.Module, cfg: Config) -> torch.optim.Optimizer:
    """SGD with momentum (optionally Nesterov) or AdamW, with ``optim.weight_decay``."""
    o = cfg.optim
    if o.name == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=o.lr,
            momentum=o.momentum,
            nesterov=o.nesterov,
            weight_decay=o.weight_decay,
        )
    if len(o.betas) != 2:
        raise ValueError(f"config key 'optim.betas' expected 2 numbers, got {o.betas!r}")
    return torch.optim.AdamW(
        model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay
    )


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    info: DistInfo | None = None,
) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and top-1 ``accuracy`` (0..1) of ``model`` on ``dataset``.

    Under ``torchrun`` each rank takes every ``world``-th item and the sums are reduced,
    so every rank returns the figures for the whole dataset.
    """
    info = info or DistInfo()
    device = torch.device(device)
    indices = list(range(info.rank, len(dataset), info.world_size))
    loader = DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size)
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0.0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        logits = model(images).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
        count += labels.numel()
    model.train(was_training)
    loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], info, device)
    return {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}


class _CsvLog:
    """Append-only CSV with a header; on resume rows after ``keep_until`` are dropped."""

    def __init__(self, path: Path, columns: list[str], key: str, keep_until: int | None):
        self.path, self.columns = path, columns
        rows: list[dict[str, str]] = []
        if keep_until is not None and path.is_file():
            with open(path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(float(r[key])) <= keep_until]
        with atomic_write(path, "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns).writerow(row)


def _tensorboard(out: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:
        return None
    return SummaryWriter(log_dir=str(out / "tb"))


EPOCH_COLUMNS = [
    "epoch",
    "step",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
    "lr",
    "seconds",
]


def fit(
    config: Config,
    *,
    resume: bool = False,
    datasets: tuple[Dataset, Dataset] | None = None,
    desc: str | None = None,
) -> FitResult:
    """Train ``config.model`` on ``config.data`` and write the run folder ``config.out``.

    Args:
        config: the validated run configuration.
        resume: continue from ``config.out/last.pt`` (raises ``FileNotFoundError`` if absent).
        datasets: ``(train, test)`` to use instead of building them from ``config.data``.
        desc: label of the progress bar.

    Returns:
        :class:`FitResult` with the final test accuracy (rank 0 and all others alike).

    Raises:
        ValueError / TypeError / FileNotFoundError: bad data, model, or checkpoint; nothing
            is written before these checks pass.
        DistributedError: another rank failed or a collective timed out.
    """
    cfg = config
    device = select_device(cfg.train.device)
    if cfg.train.amp != "off" and device.type != "cuda":
        warnings.warn(
            f"train.amp={cfg.train.amp} needs a GPU; training in float32 on CPU", stacklevel=2
        )
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
    out = Path(cfg.out)
    if cfg.train.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    seed_everything(cfg.train.seed)
    train_set, test_set = datasets if datasets is not None else build_datasets(cfg.data)
    num_classes, in_channels = dataset_info(train_set)
    model = build_model(cfg.model, num_classes, in_channels).to(device)
    params = count_params(model)

    if cfg.data.batch_size % info.world_size:
        raise ValueError(
            f"data.batch_size={cfg.data.batch_size} (global) expected a multiple of the "
            f"{info.world_size} processes"
        )
    local_batch = cfg.data.batch_size // info.world_size
    sampler = ResumableSampler(
        train_set,
        num_replicas=info.world_size,
        rank=info.rank,
        seed=cfg.train.seed,
        batch_size=local_batch,
    )
    steps_per_epoch = sampler.batches_per_epoch()
    total_steps = steps_per_epoch * cfg.train.epochs
    warmup_steps = int(round(cfg.schedule.warmup_epochs * steps_per_epoch))
    optimizer = build_optimizer(model, cfg)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: lr_factor(
            s, total_steps, warmup_steps, cfg.schedule, steps_per_epoch, cfg.optim.lr
        ),
    )
    use_amp = cfg.train.amp != "off" and device.type == "cuda"
    amp_dtype = torch.bfloat16 if cfg.train.amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and cfg.train.amp == "fp16")

    start_epoch, start_batch, global_step, train_seconds = 0, 0, 0, 0.0
    history: list[dict[str, Any]] = []
    partial = [0.0, 0.0, 0.0]  # loss sum, correct, count of the current epoch (this rank)
    ckpt_path = out / CHECKPOINT_NAME
    if resume:
        ckpt = load_checkpoint(ckpt_path)
        saved = ckpt.get("meta", {})
        if saved.get("model") != cfg.model.name or saved.get("attention") != cfg.model.attention:
            raise ValueError(
                f"checkpoint {ckpt_path} is for model {saved.get('model')!r} with attention "
                f"{saved.get('attention')!r}, expected {cfg.model.name!r} with "
                f"{cfg.model.attention!r}"
            )
        load_model_state(model, ckpt["model"], str(ckpt_path))
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        if "scaler" in ckpt:
            scaler.load_state_dict(ckpt["scaler"])
        start_epoch, start_batch = int(ckpt["epoch"]), int(ckpt["step"])
        global_step, train_seconds = int(ckpt["global_step"]), float(ckpt["train_seconds"])
        history = list(ckpt.get("history", []))
        partial = list(ckpt.get("partial", [0.0, 0.0, 0.0]))
        rng = ckpt["rng"]
        set_rng_state(rng[info.rank] if isinstance(rng, list) else rng)

    net: nn.Module = model
    if info.enabled:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    logs: tuple[_CsvLog, _CsvLog] | None = None
    tb = None
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        logs = (
            _CsvLog(out / "log.csv", EPOCH_COLUMNS, "epoch", (start_epoch if resume else None)),
            _CsvLog(
                out / "steps.csv",
                ["step", "epoch", "loss", "lr"],
                "step",
                (global_step if resume else None),
            ),
        )
        tb = _tensorboard(out)

    meta = {
        "model": cfg.model.name,
        "attention": cfg.model.attention,
        "num_classes": num_classes,
        "in_channels": in_channels,
    }

    def gather_rng() -> Any:
        state = rng_state()
        if not info.enabled:
            return state
        import torch.distributed as dist

        states: list[Any] = [None] * info.world_size
        dist.all_gather_object(states, state)
        return states

    def checkpoint(epoch: int, step: int) -> None:
        rng = gather_rng()
        if not info.is_main:
            return
        save_checkpoint(
            ckpt_path,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict(),
                "rng": rng,
                "epoch": epoch,
                "step": step,
                "global_step": global_step,
                "train_seconds": train_seconds,
                "history": history,
                "partial": partial,
                "config": cfg.to_dict(),
                "meta": meta,
            },
        )

    from tqdm.auto import tqdm

    net.train()
    bar = tqdm(
        total=steps_per_epoch * cfg.train.epochs,
        initial=global_step,
        dynamic_ncols=True,
        leave=True,
        disable=not (cfg.train.progress and info.is_main),
    )
    last_eval = {"loss": float("nan"), "accuracy": float("nan")}
    for epoch in range(start_epoch, cfg.train.epochs):
        sampler.set_position(epoch, start_batch)
        loader = DataLoader(
            train_set,
            batch_size=local_batch,
            sampler=sampler,
            num_workers=cfg.data.num_workers,
            generator=torch.Generator().manual_seed(cfg.train.seed * 1000 + epoch),
            pin_memory=device.type == "cuda",
        )
        bar.set_description(f"{desc or cfg.model.name} epoch {epoch + 1}/{cfg.train.epochs}")
        step_in_epoch = start_batch
        if start_batch == 0:
            partial = [0.0, 0.0, 0.0]
        start_batch = 0
        tick = time.perf_counter()
        for images, labels in loader:
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                logits = net(images)
                loss = F.cross_entropy(
                    logits.float(), labels, label_smoothing=cfg.train.label_smoothing
                )
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if cfg.train.grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            global_step += 1
            step_in_epoch += 1
            n = labels.numel()
            batch = [loss.item() * n, (logits.argmax(1) == labels).sum().item(), float(n)]
            partial = [a + b for a, b in zip(partial, batch)]
            total = all_reduce_sum(batch, info, device)
            step_loss = total[0] / max(total[2], 1)
            if logs is not None:
                logs[1].write(
                    {
                        "step": global_step,
                        "epoch": epoch + 1,
                        "loss": f"{step_loss:.8g}",
                        "lr": f"{lr:.8g}",
                    }
                )
                if tb is not None:
                    tb.add_scalar("train/loss", step_loss, global_step)
            bar.update(1)
            if (
                cfg.train.checkpoint_every
                and global_step % cfg.train.checkpoint_every == 0
                and step_in_epoch < steps_per_epoch
            ):
                train_seconds += time.perf_counter() - tick
                tick = time.perf_counter()
                checkpoint(epoch, step_in_epoch)
        train_seconds += time.perf_counter() - tick
        sums = all_reduce_sum(partial, info, device)
        last_eval = evaluate(
            model, test_set, batch_size=cfg.data.eval_batch_size, device=device, info=info
        )
        row = {
            "epoch": epoch + 1,
            "step": global_step,
            "train_loss": sums[0] / max(sums[2], 1),
            "train_acc": sums[1] / max(sums[2], 1),
            "test_loss": last_eval["loss"],
            "test_acc": last_eval["accuracy"],
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": train_seconds,
        }
        history.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", test_acc=f"{row['test_acc']:.3f}")
        if logs is not None:
            logs[0].write({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})
            if tb is not None:
                for key in ("train_loss", "train_acc", "test_loss", "test_acc"):
                    tb.add_scalar(f"epoch/{key}", row[key], epoch + 1)
        partial = [0.0, 0.0, 0.0]
        checkpoint(epoch + 1, 0)

    bar.close()
    if history and math.isnan(last_eval["accuracy"]):
        last_eval = {"loss": history[-1]["test_loss"], "accuracy": history[-1]["test_acc"]}
    if not history:
        last_eval = evaluate(
            model, test_set, batch_size=cfg.data.eval_batch_size, device=device, info=info
        )
    result = FitResult(
        accuracy=float(last_eval["accuracy"]),
        loss=float(last_eval["loss"]),
        params=params,
        train_seconds=train_seconds,
        history=history,
        out=out,
        model=model,
    )
    if info.is_main:
        if tb is not None:
            tb.close()
        with atomic_write(out / "results.json", "w") as handle:
            json.dump(
                {
                    "accuracy": result.accuracy,
                    "loss": result.loss,
                    "params": params,
                    "train_seconds": train_seconds,
                    "epochs": cfg.train.epochs,
                    "history": history,
                    "config": cfg.to_dict(),
                },
                handle,
                indent=2,
            )
    return result
