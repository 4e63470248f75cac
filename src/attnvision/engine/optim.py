"""Optimiser and learning-rate schedule of a training run.

:func:`build_optimizer` makes SGD (momentum, optionally Nesterov) or AdamW from the config;
:func:`lr_factor` is the per-step multiplier of the base learning rate (warm-up, then
cosine, step or constant).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import Config, ScheduleConfig

__all__ = ["build_optimizer", "lr_factor"]


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
    params = [p for p in model.parameters() if p.requires_grad]
    if o.name == "sgd":
        return torch.optim.SGD(
            params, lr=o.lr, momentum=o.momentum, nesterov=o.nesterov, weight_decay=o.weight_decay
        )
    if len(o.betas) != 2:
        raise ValueError(f"config key 'optim.betas' expected 2 numbers, got {o.betas!r}")
    return torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
