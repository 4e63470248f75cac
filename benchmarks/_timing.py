"""Timing helpers shared by the benchmark scripts (one place for how we time).

- :func:`environment`: the header line every script prints (torch, threads, CPUs, load);
- :func:`clock`: ``"wall"`` (``time.perf_counter``) or ``"cpu"`` (this process's CPU time:
  on a shared machine, with one thread, time spent waiting for a core is not counted);
- :func:`interleaved`: median seconds per call of several callables, timed in rotating
  order so that a slow patch of the machine hits every one alike;
- :func:`timed`: one call, its result and its seconds;
- :func:`summary_line`: the ``SUMMARY |`` line ``make bench`` collects into its table.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from typing import Any

CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter, "cpu": time.process_time}


def load_average() -> float:
    """The 1-minute load average (NaN where the OS has none)."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def clock(name: str) -> Callable[[], float]:
    """The clock called ``name`` (``wall`` or ``cpu``)."""
    if name not in CLOCKS:
        raise SystemExit(f"expected a clock in {', '.join(CLOCKS)}, got {name!r}")
    return CLOCKS[name]


def environment(script: str, **extra: Any) -> str:
    """``# <script>: torch 2.x, N threads, M CPUs, load average L, k=v, ...``."""
    import torch

    parts = [
        f"torch {torch.__version__}",
        f"{torch.get_num_threads()} threads",
        f"{os.cpu_count()} CPUs",
        f"load average {load_average():.2f}",
        *(f"{k.replace('_', ' ')} {v}" for k, v in extra.items()),
    ]
    return f"# {script}: " + ", ".join(parts)


def interleaved(
    runs: dict[str, Callable[[], Any]],
    repeats: int,
    *,
    warmup: int = 1,
    inner: int = 1,
    timer: Callable[[], float] = time.perf_counter,
    between: Callable[[], Any] | None = None,
) -> dict[str, float]:
    """Median seconds per call of each of ``runs``.

    Each repeat calls every run ``inner`` times, starting from a rotating position of the
    list; ``between`` (e.g. ``gc.collect``) runs after each timing, outside it.
    """
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            runs[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(repeats):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            start = timer()
            for _ in range(inner):
                runs[name]()
            samples[name].append((timer() - start) / inner)
            if between is not None:
                between()
    return {name: statistics.median(values) for name, values in samples.items()}


def timed(
    fn: Callable[[], Any], timer: Callable[[], float] = time.perf_counter
) -> tuple[Any, float]:
    """``(fn(), seconds)``."""
    start = timer()
    result = fn()
    return result, timer() - start


def ratio(ours: float | None, peer: float | None) -> str:
    """``ours / peer`` as ``x1.23`` (``-`` when either is missing)."""
    if not ours or not peer:
        return "-"
    return f"x{ours / peer:.2f}"


def summary_line(claim: str, value: str, data: str, command: str) -> str:
    """One row of the current-results table (``make bench`` collects these lines)."""
    import torch

    return f"SUMMARY | {claim} | {value} | {data} | {torch.get_num_threads()} | `{command}` |"
