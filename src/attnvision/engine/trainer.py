"""The training loop behind :func:`~attnvision.engine.fit.fit`, and :func:`evaluate`.

A run writes into its folder ``config.out``: ``config.yaml`` (resolved config, ``out: .``),
``last.pt`` (checkpoint, every epoch and every ``train.checkpoint_every`` steps, atomically),
``best.pt`` (the weights of the epoch with the best validation accuracy), ``log.csv`` (one
row per epoch), ``steps.csv`` (loss per optimisation step), TensorBoard events when
``tensorboard`` is installed, and ``results.json`` at the end: the test split scored once,
with the model chosen on validation.

A run folder is never overwritten: a folder that already holds a run needs ``resume``
(continue it) or ``force`` (replace it). With ``resume=True`` the run continues from
``last.pt`` exactly where it stopped: same weights, same optimiser and schedule, same RNG
states and the same remaining batches of the interrupted epoch, so the result is
bit-for-bit that of an unbroken run (on CPU, for a seed).

The loop is :class:`Trainer` around a :class:`RunState` (where the run stands, saved in
every checkpoint): ``restore`` it, ``train_epoch``, ``end_epoch`` (validate, log, save),
``finish`` (test once, write the results).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
from .config import Config, save_config
from .data import build_model, dataset_info
from .distributed import (
    DistInfo,
    ResumableSampler,
    all_reduce_sum,
)
from .logs import EPOCH_COLUMNS, STEP_COLUMNS, CsvLog, tensorboard
from .optim import build_optimizer, lr_factor
from .state import BEST_NAME, EpochSums, RunState


@dataclass
class FitResult:
    """What :func:`fit` returns: test ``accuracy`` (0..1) and ``loss`` of the chosen model
    (the best validation epoch, or the last one without validation), ``params``,
    ``train_seconds`` (wall time of the training steps, summed over resumes), per-epoch
    ``history``, the chosen ``epoch`` (1-based) and what chose it (``chosen_by``), the run
    folder ``out``, the trained ``model`` (unwrapped, with the chosen weights) and
    ``notes`` on what a changed budget did to a resumed run."""

    accuracy: float
    loss: float
    params: int
    train_seconds: float
    history: list[dict[str, Any]] = field(default_factory=list)
    out: Path | None = None
    model: nn.Module | None = None
    epoch: int = 0
    chosen_by: str = "last epoch"
    notes: list[str] = field(default_factory=list)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int = 256,
    device: torch.device | str = "cpu",
    info: DistInfo | None = None,
    channels_last: bool = False,
) -> dict[str, float]:
    """Mean cross-entropy ``loss`` and top-1 ``accuracy`` (0..1) of ``model`` on ``dataset``.

    Under ``torchrun`` each rank takes every ``world``-th item and the sums are reduced,
    so every rank returns the figures for the whole dataset. ``channels_last`` passes image
    batches in the NHWC layout (for a model trained with ``train.channels_last``).
    """
    info = info or DistInfo()
    device = torch.device(device)
    indices = list(range(info.rank, len(dataset), info.world_size))
    loader = DataLoader(torch.utils.data.Subset(dataset, indices), batch_size=batch_size)
    was_training = model.training
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0.0
    for images, labels in loader:
        images, labels = to_device(images, device, channels_last), labels.to(device)
        logits = model(images).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum").item()
        correct += (logits.argmax(1) == labels).sum().item()
        count += labels.numel()
    model.train(was_training)
    loss_sum, correct, count = all_reduce_sum([loss_sum, correct, count], info, device)
    return {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1)}


def to_device(
    images: torch.Tensor, device: torch.device, channels_last: bool = False
) -> torch.Tensor:
    """``images`` on ``device``; a 4-D batch in the NHWC layout when ``channels_last``."""
    if channels_last and images.dim() == 4:
        return images.to(device, non_blocking=True, memory_format=torch.channels_last)
    return images.to(device, non_blocking=True)


class Trainer:
    """One run of :func:`fit` on this process: model, data order, optimiser, schedule and
    :class:`RunState`. Rank 0 writes the files."""

    def __init__(
        self,
        cfg: Config,
        device: torch.device,
        info: DistInfo,
        train_set: Dataset,
        val_set: Dataset | None,
        desc: str | None = None,
    ) -> None:
        self.cfg, self.device, self.info, self.desc = cfg, device, info, desc
        self.out = Path(cfg.out)
        self.train_set, self.val_set = train_set, val_set
        num_classes, in_channels = dataset_info(train_set)
        self.model = build_model(cfg.model, num_classes, in_channels).to(device)
        if cfg.train.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.meta = {
            "model": cfg.model.name,
            "attention": cfg.model.attention,
            "num_classes": num_classes,
            "in_channels": in_channels,
        }
        if cfg.data.batch_size % info.world_size:
            raise ValueError(
                f"data.batch_size={cfg.data.batch_size} (global) expected a multiple of the "
                f"{info.world_size} processes"
            )
        self.local_batch = cfg.data.batch_size // info.world_size
        self.sampler = ResumableSampler(
            train_set,
            num_replicas=info.world_size,
            rank=info.rank,
            seed=cfg.train.seed,
            batch_size=self.local_batch,
        )
        self.steps_per_epoch = self.sampler.batches_per_epoch()
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"{len(train_set)} training items give no batch of {self.local_batch} per process"
            )
        self.state = RunState(schedule_steps=self.steps_per_epoch * cfg.train.epochs)
        self.warmup_steps = int(round(cfg.schedule.warmup_epochs * self.steps_per_epoch))
        self.optimizer = build_optimizer(self.model, cfg)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, self._lr_factor)
        self.use_amp = cfg.train.amp != "off" and device.type == "cuda"
        self.amp_dtype = torch.bfloat16 if cfg.train.amp == "bf16" else torch.float16
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.use_amp and cfg.train.amp == "fp16")
        self.net: nn.Module = self.model
        self.logs: tuple[CsvLog, CsvLog] | None = None
        self.tb: Any = None

    def _lr_factor(self, step: int) -> float:
        s = self.state
        warmup = self.warmup_steps if s.schedule_start == 0 else 0
        return lr_factor(
            step - s.schedule_start,
            s.schedule_steps,
            warmup,
            self.cfg.schedule,
            self.steps_per_epoch,
            self.cfg.optim.lr,
        )

    # ------------------------------------------------------------------ restore / save
    def restore(self) -> list[str]:
        """Continue from ``out/last.pt``; returns notes on what a changed budget does."""
        path = self.out / CHECKPOINT_NAME
        ckpt = load_checkpoint(path)
        saved = ckpt.get("meta", {})
        if saved.get("model") != self.cfg.model.name or (
            saved.get("attention") != self.cfg.model.attention
        ):
            raise ValueError(
                f"checkpoint {path} is for model {saved.get('model')!r} with attention "
                f"{saved.get('attention')!r}, expected {self.cfg.model.name!r} with "
                f"{self.cfg.model.attention!r}"
            )
        load_model_state(self.model, ckpt["model"], str(path))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        if "scaler" in ckpt:
            self.scaler.load_state_dict(ckpt["scaler"])
        old_epochs = int(ckpt.get("config", {}).get("train", {}).get("epochs", 0))
        self.state = RunState.from_checkpoint(ckpt, self.steps_per_epoch * old_epochs)
        rng = ckpt["rng"]
        set_rng_state(rng[self.info.rank] if isinstance(rng, list) else rng)
        return self._rebudget(old_epochs)

    def _rebudget(self, old_epochs: int) -> list[str]:
        """Adapt the schedule to a changed ``train.epochs`` and say what it does."""
        new_epochs, s = self.cfg.train.epochs, self.state
        if new_epochs == old_epochs:
            if s.epoch >= new_epochs:
                return [
                    f"this run had already finished its {new_epochs} epochs: nothing to train; "
                    "the test split is scored again (give more train.epochs to extend it)"
                ]
            return []
        if new_epochs < s.epoch + (s.step > 0):
            raise ValueError(
                f"train.epochs={new_epochs} is less than the {s.epoch} epochs this run has "
                "already trained; give at least that many to resume it"
            )
        base = self.cfg.optim.lr
        before = base * self._lr_factor(max(s.global_step - 1, 0))
        if self.cfg.train.restart_schedule:
            s.schedule_start = s.global_step
            s.schedule_steps = (new_epochs - s.epoch) * self.steps_per_epoch - s.step
            how = (
                f"a fresh {self.cfg.schedule.name} schedule runs over the "
                f"{new_epochs - s.epoch} added epochs"
            )
        else:
            s.schedule_steps = (new_epochs * self.steps_per_epoch) - s.schedule_start
            how = (
                f"the {self.cfg.schedule.name} schedule is stretched to {new_epochs} epochs "
                "(train.restart_schedule=true runs a fresh one over the added epochs instead)"
            )
        after = base * self._lr_factor(s.global_step)
        for group in self.optimizer.param_groups:
            group["lr"] = after
        self.scheduler._last_lr = [after for _ in self.optimizer.param_groups]
        return [
            f"this run was planned for {old_epochs} epochs and now trains {new_epochs}: {how}; "
            f"the learning rate goes from {before:.3g} to {after:.3g} at epoch {s.epoch + 1}"
        ]

    def _gather_rng(self) -> Any:
        state = rng_state()
        if not self.info.enabled:
            return state
        import torch.distributed as dist

        states: list[Any] = [None] * self.info.world_size
        dist.all_gather_object(states, state)
        return states

    def save(self) -> None:
        """Write ``last.pt`` (every rank takes part in gathering the RNG states)."""
        rng = self._gather_rng()
        if not self.info.is_main:
            return
        save_checkpoint(
            self.out / CHECKPOINT_NAME,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "rng": rng,
                **self.state.to_checkpoint(),
                "config": self.cfg.to_dict(),
                "meta": self.meta,
            },
        )

    def _save_best(self, row: dict[str, Any]) -> None:
        self.state.best = {k: row[k] for k in ("epoch", "val_loss", "val_accuracy")}
        if self.info.is_main:
            save_checkpoint(
                self.out / BEST_NAME,
                {
                    "model": self.model.state_dict(),
                    "epoch": row["epoch"],
                    "best": self.state.best,
                    "config": self.cfg.to_dict(),
                    "meta": self.meta,
                },
            )

    # ------------------------------------------------------------------ training
    def open_logs(self, resume: bool) -> None:
        """Rank 0: the run folder, ``config.yaml``, the CSV logs (cut back to the checkpoint
        on resume) and TensorBoard."""
        if self.info.enabled:
            self.net = nn.parallel.DistributedDataParallel(
                self.model, device_ids=[self.device.index] if self.device.type == "cuda" else None
            )
        if not self.info.is_main:
            return
        s = self.state
        self.out.mkdir(parents=True, exist_ok=True)
        save_config(self.cfg, self.out / "config.yaml")
        self.logs = (
            CsvLog(self.out / "log.csv", EPOCH_COLUMNS, "epoch", s.epoch if resume else None),
            CsvLog(self.out / "steps.csv", STEP_COLUMNS, "step", s.global_step if resume else None),
        )
        self.tb = tensorboard(self.out)

    def train_epoch(self, bar: Any) -> None:
        """Train the rest of the epoch in progress (from ``state.step``), checkpointing every
        ``train.checkpoint_every`` steps."""
        cfg, s = self.cfg, self.state
        self.sampler.set_position(s.epoch, s.step)
        loader = DataLoader(
            self.train_set,
            batch_size=self.local_batch,
            sampler=self.sampler,
            num_workers=cfg.data.num_workers,
            generator=torch.Generator().manual_seed(cfg.train.seed * 1000 + s.epoch),
            pin_memory=self.device.type == "cuda",
        )
        bar.set_description(f"{self.desc or cfg.model.name} epoch {s.epoch + 1}/{cfg.train.epochs}")
        if s.step == 0:
            s.sums = EpochSums()
        tick = time.perf_counter()
        for images, labels in loader:
            step_loss, lr = self._step(images, labels)
            if self.logs is not None:
                self.logs[1].write(
                    {"step": s.global_step, "epoch": s.epoch + 1, "loss": step_loss, "lr": lr}
                )
                if self.tb is not None:
                    self.tb.add_scalar("train/loss", step_loss, s.global_step)
            bar.update(1)
            every = cfg.train.checkpoint_every
            if every and s.global_step % every == 0 and s.step < self.steps_per_epoch:
                s.train_seconds += time.perf_counter() - tick
                tick = time.perf_counter()
                self.save()
        s.train_seconds += time.perf_counter() - tick

    def _step(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        cfg, s = self.cfg, self.state
        images = to_device(images, self.device, cfg.train.channels_last)
        labels = labels.to(self.device, non_blocking=True)
        with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
            logits = self.net(images)
            loss = F.cross_entropy(
                logits.float(), labels, label_smoothing=cfg.train.label_smoothing
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if cfg.train.grad_clip > 0:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.train.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        s.global_step += 1
        s.step += 1
        n = labels.numel()
        batch = [loss.item() * n, float((logits.argmax(1) == labels).sum().item()), float(n)]
        s.sums.add(*batch)
        total = all_reduce_sum(batch, self.info, self.device)
        return total[0] / max(total[2], 1), lr

    def end_epoch(self, bar: Any) -> None:
        """Validate, log the epoch, keep ``best.pt``, and checkpoint the start of the next."""
        cfg, s = self.cfg, self.state
        sums = all_reduce_sum(s.sums.as_list(), self.info, self.device)
        val = {"loss": float("nan"), "accuracy": float("nan")}
        if self.val_set is not None:
            val = evaluate(
                self.model,
                self.val_set,
                batch_size=cfg.data.eval_batch_size,
                device=self.device,
                info=self.info,
                channels_last=cfg.train.channels_last,
            )
        row = {
            "epoch": s.epoch + 1,
            "step": s.global_step,
            "train_loss": sums[0] / max(sums[2], 1),
            "train_acc": sums[1] / max(sums[2], 1),
            "val_loss": val["loss"],
            "val_acc": val["accuracy"],
            "lr": self.optimizer.param_groups[0]["lr"],
            "seconds": s.train_seconds,
        }
        s.history.append(row)
        bar.set_postfix(loss=f"{row['train_loss']:.3f}", val_acc=f"{row['val_acc']:.3f}")
        if self.logs is not None:
            self.logs[0].write(row)
            if self.tb is not None:
                for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
                    self.tb.add_scalar(f"epoch/{key}", row[key], row["epoch"])
        if self.val_set is not None and (s.best is None or row["val_acc"] > s.best["val_accuracy"]):
            self._save_best({**row, "val_accuracy": row["val_acc"]})
        s.epoch, s.step, s.sums = s.epoch + 1, 0, EpochSums()
        self.save()

    def finish(self, test_set: Dataset) -> FitResult:
        """Load the chosen weights (``best.pt``'s epoch, or the last), score the test split
        once and write ``results.json``."""
        cfg, s = self.cfg, self.state
        chosen, chosen_by = s.epoch, "validation accuracy" if s.best else "last epoch"
        if s.best is not None:
            ckpt = load_checkpoint(self.out / BEST_NAME) if self.info.is_main else None
            state = _broadcast(ckpt["model"] if ckpt else None, self.info)
            load_model_state(self.model, state, str(self.out / BEST_NAME))
            chosen = int(s.best["epoch"])
        test = evaluate(
            self.model,
            test_set,
            batch_size=cfg.data.eval_batch_size,
            device=self.device,
            info=self.info,
            channels_last=cfg.train.channels_last,
        )
        params = count_params(self.model)
        if self.info.is_main:
            if self.tb is not None:
                self.tb.close()
            with atomic_write(self.out / "results.json", "w") as handle:
                json.dump(
                    {
                        "accuracy": test["accuracy"],
                        "loss": test["loss"],
                        "epoch": chosen,
                        "chosen_by": chosen_by,
                        "val_accuracy": s.best["val_accuracy"] if s.best else None,
                        "params": params,
                        "train_seconds": s.train_seconds,
                        "epochs": cfg.train.epochs,
                        "history": s.history,
                        "config": cfg.to_dict(),
                    },
                    handle,
                    indent=2,
                )
        return FitResult(
            accuracy=float(test["accuracy"]),
            loss=float(test["loss"]),
            params=params,
            train_seconds=s.train_seconds,
            history=s.history,
            out=self.out,
            model=self.model,
            epoch=chosen,
            chosen_by=chosen_by,
        )


def _broadcast(state: Any, info: DistInfo) -> Any:
    """Rank 0's ``state`` on every rank."""
    if not info.enabled:
        return state
    import torch.distributed as dist

    box = [state]
    dist.broadcast_object_list(box, src=0)
    return box[0]
