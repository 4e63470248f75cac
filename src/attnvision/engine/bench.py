"""Cost of a model or block: parameters, FLOPs and CPU latency.

FLOPs are counted by :class:`torch.utils.flop_counter.FlopCounterMode` (one multiply-add
counts as 2 FLOPs; convolutions, matrix products and attention kernels are counted, cheap
element-wise operations are not). Latency is the median wall time of ``repeats`` forward
passes after ``warmup`` passes, under ``torch.inference_mode``.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import torch
from torch import nn

from .._utils import count_params

#: the largest input :func:`bench` builds (values of float32: 1 GiB)
MAX_INPUT_VALUES = 2**28

__all__ = ["bench", "count_flops", "count_params", "measure_latency", "profile"]


def count_flops(module: nn.Module, example: torch.Tensor) -> int:
    """FLOPs of one forward pass of ``module`` on ``example`` (e.g. ``(1, C, H, W)``)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = module.training
    module.eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module(example)
    module.train(was_training)
    return int(counter.get_total_flops())


def measure_latency(
    module: nn.Module,
    example: torch.Tensor,
    *,
    warmup: int = 3,
    repeats: int = 20,
    threads: int | None = None,
) -> float:
    """Median forward time of ``module(example)`` in milliseconds.

    Args:
        threads: ``torch.set_num_threads`` during the measurement (restored after).
    """
    if repeats < 1:
        raise ValueError(f"repeats expected >= 1, got {repeats}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads expected >= 1, got {threads}")
    was_training = module.training
    module.eval()
    old_threads = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    times = []
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                module(example)
            for _ in range(repeats):
                if example.is_cuda:
                    torch.cuda.synchronize()
                start = time.perf_counter()
                module(example)
                if example.is_cuda:
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - start) * 1000.0)
    finally:
        torch.set_num_threads(old_threads)
        module.train(was_training)
    return float(statistics.median(times))


def profile(
    module: nn.Module, example: torch.Tensor, *, repeats: int = 20, threads: int | None = None
) -> dict[str, float]:
    """``{"params", "flops", "latency_ms"}`` for ``module`` on ``example``."""
    return {
        "params": count_params(module),
        "flops": count_flops(module, example),
        "latency_ms": measure_latency(module, example, repeats=repeats, threads=threads),
    }


def bench(
    shape: tuple[int, ...],
    *,
    model: str = "cnn",
    attention: list[str] | None = None,
    blocks: list[str] | None = None,
    num_classes: int = 10,
    repeats: int = 20,
    threads: int | None = None,
    seed: int = 0,
) -> list[tuple[str, dict[str, float]]]:
    """Costs of models or attention blocks on one input: ``[(label, profile), ...]``.

    Args:
        shape: input ``(N, C, H, W)``.
        model, attention: profile ``model`` once per attention name (``"none"``: without);
            labels ``model+name``.
        blocks: profile these attention blocks instead (``C`` channels), labelled by name.
        num_classes: of the models.
        repeats, threads: of :func:`measure_latency`.
        seed: of the random input.

    Raises:
        ValueError: a bad shape, unknown names, ``repeats`` or ``threads`` below 1.
    """
    if len(shape) != 4 or min(shape) < 1:
        raise ValueError(f"expected an input shape of 4 positive sizes N,C,H,W, got {shape}")
    if math.prod(shape) > MAX_INPUT_VALUES:
        raise ValueError(
            f"input {shape} holds {math.prod(shape):,} values; expected at most "
            f"{MAX_INPUT_VALUES:,} (1 GiB of float32)"
        )
    if repeats < 1:
        raise ValueError(f"repeats expected >= 1, got {repeats}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads expected >= 1, got {threads}")
    if num_classes < 1:
        raise ValueError(f"num_classes expected >= 1, got {num_classes}")
    torch.manual_seed(seed)
    x = torch.rand(shape)
    rows = []
    if blocks:
        from attnvision.layers import create_attention

        for name in blocks:
            block = create_attention(name, channels=shape[1])
            rows.append((name, profile(block, x, repeats=repeats, threads=threads)))
        return rows
    from attnvision.models import create_model

    for name in attention or ["none"]:
        kwargs: dict[str, Any] = {"num_classes": num_classes}
        if name != "none":
            kwargs["attention"] = name
        net = create_model(model, **kwargs)
        rows.append((f"{model}+{name}", profile(net, x, repeats=repeats, threads=threads)))
    return rows
