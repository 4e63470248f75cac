"""Per-image work of the folder evaluations, in this process or in worker processes.

What lives here: :func:`ordered_map` (run a function over tasks with ``workers``
processes, results in task order, with progress) and the two per-image tasks of
:mod:`attnvision.saliency.folders`: :func:`score_fixation_image` (read a prediction and
its ground truth, build the fixation maps, score with a
:class:`~attnvision.saliency.metrics.SaliencyEvaluator`) and :func:`score_sod_image`
(read a prediction and its mask, score with a
:class:`~attnvision.saliency.sod.SODEvaluator`). Tasks are small picklable records
(paths, fixation rows, options); every random choice is made by the caller in image
order and every image is scored as the ``index``-th, so the figures are the same for any
number of workers.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import progress

__all__ = ["FixationTask", "SODTask", "ordered_map", "score_fixation_image", "score_sod_image"]


def check_workers(workers: Any) -> int:
    """``workers`` as a positive int (``0``: one per CPU core)."""
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)):
        raise TypeError(f"expected workers as an integer, got {type(workers).__name__}")
    if workers < 0:
        raise ValueError(f"expected workers >= 0 (0: one per CPU core), got {workers}")
    return int(workers) or (os.cpu_count() or 1)


def ordered_map(
    fn: Callable[[Any], Any],
    tasks: Sequence[Any],
    *,
    workers: int = 1,
    desc: str = "",
    show_progress: bool = False,
) -> list[Any]:
    """``[fn(task) for task in tasks]`` with progress; with ``workers > 1`` in that many
    processes (``forkserver``, else ``spawn``: no fork of a threaded parent), results in
    task order. The first task that raises stops the run with its exception.

    ``fn`` must be a module-level function and the tasks picklable when ``workers > 1``.
    """
    workers = check_workers(workers)
    tasks = list(tasks)
    if workers == 1 or len(tasks) < 2:
        return [fn(task) for task in progress(tasks, desc=desc, unit="img", enabled=show_progress)]
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    workers = min(workers, len(tasks))
    chunk = max(1, min(16, len(tasks) // (4 * workers)))
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        results = pool.map(fn, tasks, chunksize=chunk)
        out = list(
            progress(results, desc=desc, unit="img", total=len(tasks), enabled=show_progress)
        )
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return out


# --------------------------------------------------------------------------- fixations
@dataclass(frozen=True)
class FixationTask:
    """One image of :func:`attnvision.saliency.folders.evaluate_folders`.

    ``fixations`` and each of ``others`` are rows ``(x, y, ...)``; ``others`` holds the
    other images' rows with their ``(H, W)`` (shuffled AUC's negatives, chosen by the
    caller). ``evaluator`` is the keyword arguments of the ``SaliencyEvaluator``.
    """

    index: int
    pred: Path
    gt: Path
    evaluator: tuple[tuple[str, Any], ...]
    fixations: np.ndarray | None = None
    others: tuple[tuple[np.ndarray, tuple[int, int]], ...] | None = None
    baseline: Path | None = None
    resize: bool = False


@functools.lru_cache(maxsize=4)
def _evaluator(options: tuple[tuple[str, Any], ...]) -> Any:
    from .metrics import SaliencyEvaluator

    return SaliencyEvaluator(**dict(options))


@functools.lru_cache(maxsize=4)
def _baseline(path: Path, shape: tuple[int, int]) -> np.ndarray:
    from .datasets import read_map, resize_map

    base = read_map(path)
    return base if base.shape == shape else resize_map(base, shape)


def other_fixation_map(
    others: Sequence[tuple[np.ndarray, tuple[int, int]]], shape: tuple[int, int]
) -> np.ndarray:
    """The fixations of other images, each scaled from its ``(H, W)`` to ``shape``, as one
    fixation map (shuffled AUC's negatives; Borji et al. 2013)."""
    from .density import fixation_map

    other = np.zeros(shape)
    for rows, (oh, ow) in others:
        rows = np.array(rows, dtype=np.float64)
        rows[:, 0] *= shape[1] / ow
        rows[:, 1] *= shape[0] / oh
        other += fixation_map(rows, shape, warn=False)
    return other


def score_fixation_image(task: FixationTask) -> dict[str, float]:
    """Read, check and score one image (see :class:`FixationTask`)."""
    from .datasets import read_map, resize_map
    from .density import fixation_map

    gt, pred = read_map(task.gt), read_map(task.pred)
    if pred.shape != gt.shape:
        if not task.resize:
            raise ValueError(
                f"prediction {task.pred} has shape {pred.shape} but ground truth "
                f"{task.gt} has shape {gt.shape} (pass --resize to resize predictions)"
            )
        pred = resize_map(pred, gt.shape)
    inputs: dict[str, Any] = {}
    if task.fixations is not None:
        inputs["fixation_map"] = fixation_map(task.fixations, gt.shape, warn=False)
    if task.others is not None:
        inputs["other_fixation_map"] = other_fixation_map(task.others, gt.shape)
    if task.baseline is not None:
        inputs["baseline_map"] = _baseline(task.baseline, gt.shape)
    try:
        return _evaluator(task.evaluator).score(pred, density_map=gt, index=task.index, **inputs)
    except ValueError as exc:
        raise ValueError(f"{task.pred}: {exc}") from None


# --------------------------------------------------------------------------- salient objects
@dataclass(frozen=True)
class SODTask:
    """One prediction/mask pair of :func:`attnvision.saliency.folders.evaluate_sod_folders`;
    ``evaluator`` is the keyword arguments of the ``SODEvaluator``."""

    pred: Path
    mask: Path
    evaluator: tuple[tuple[str, Any], ...]


@functools.lru_cache(maxsize=4)
def _sod_evaluator(options: tuple[tuple[str, Any], ...]) -> Any:
    from .sod import SODEvaluator

    return SODEvaluator(**dict(options))


def score_sod_image(task: SODTask) -> dict[str, Any]:
    """Read, check and score one pair (:meth:`SODEvaluator.score`)."""
    from .datasets import read_mask, read_prediction

    evaluator = _sod_evaluator(task.evaluator)
    pred = read_prediction(task.pred)
    mask = read_mask(
        task.mask, mask_threshold=evaluator.mask_threshold, strict_masks=evaluator.strict_masks
    )
    if pred.shape != mask.shape and not evaluator.resize:
        raise ValueError(
            f"prediction {task.pred} has shape {tuple(pred.shape)} but mask {task.mask} "
            f"has shape {tuple(mask.shape)} (pass --resize to resize predictions)"
        )
    try:
        return evaluator.score(pred, mask)
    except ValueError as exc:
        raise ValueError(f"{task.pred}: {exc}") from None
