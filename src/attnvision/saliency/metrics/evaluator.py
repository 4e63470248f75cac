"""Streaming evaluation of the fixation metrics: :class:`SaliencyEvaluator`.

What lives here: :data:`METRICS` (metric name -> the inputs it needs besides the saliency
map), :data:`DEFAULT_METRICS`, and the evaluator, which validates each image's maps once,
shares their statistics across the metrics and calls each selected metric through one
name -> function table (``_SCORERS``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .auc import (
    _auc_borji,
    _auc_judd,
    _auc_shuffled,
    _check_steps,
    _expect_counts,
    _thresholds,
    _unit_cutoffs,
)
from .checks import _as_fixations, _as_map, _Map, _same_shape
from .distribution import _cc, _info_gain, _kld, _nss, _sim
from .transport import _RESIZE, _emd

__all__ = ["DEFAULT_METRICS", "METRICS", "SaliencyEvaluator"]


@dataclass(frozen=True)
class _Image:
    """One image's inputs, validated once: the map, fixated indices, density, baseline."""

    s: _Map
    fix: np.ndarray | None
    other: np.ndarray | None
    dens: _Map | None
    base: _Map | None
    index: int  # 0-based update order, seeds the random metrics


#: metric name -> (the inputs it needs besides the saliency map, its scorer)
_TABLE: dict[str, tuple[tuple[str, ...], Callable[[Any, _Image], float]]] = {
    "auc_judd": (("fixation_map",), lambda ev, im: _auc_judd(im.s, im.fix)),
    "auc_borji": (
        ("fixation_map",),
        lambda ev, im: _auc_borji(im.s, im.fix, ev.n_splits, ev.step_size, ev._rng(im, 1)),
    ),
    "auc_shuffled": (
        ("fixation_map", "other_fixation_map"),
        lambda ev, im: _auc_shuffled(
            im.s, im.fix, im.other, ev.n_splits, ev.step_size, ev._rng(im, 2)
        ),
    ),
    "nss": (("fixation_map",), lambda ev, im: _nss(im.s, im.fix)),
    "cc": (("density_map",), lambda ev, im: _cc(im.s, im.dens)),
    "kld": (("density_map",), lambda ev, im: _kld(im.s, im.dens)),
    "sim": (("density_map",), lambda ev, im: _sim(im.s, im.dens)),
    "info_gain": (
        ("fixation_map", "baseline_map"),
        lambda ev, im: _info_gain(im.s, im.fix, im.base),
    ),
    "emd": (
        ("density_map",),
        lambda ev, im: _emd(im.s, im.dens, ev.emd_downscale, ev.emd_resize),
    ),
}

#: metric name -> what it needs besides the saliency map
METRICS: dict[str, tuple[str, ...]] = {name: needs for name, (needs, _) in _TABLE.items()}
_SCORERS = {name: scorer for name, (_, scorer) in _TABLE.items()}

#: the suite used when no metric list is given (EMD, ~0.3 s per image, is opt-in)
DEFAULT_METRICS: tuple[str, ...] = ("auc_judd", "auc_borji", "nss", "cc", "kld", "sim")


class SaliencyEvaluator:
    """Accumulate fixation metrics over a dataset, one image at a time.

    Example:
        >>> ev = SaliencyEvaluator(["auc_judd", "nss", "cc"])  # doctest: +SKIP
        >>> for pred, fix, dens in data:  # doctest: +SKIP
        ...     ev.update(pred, fix, dens)
        >>> ev.results()  # doctest: +SKIP
        {'auc_judd': 0.87, 'nss': 2.1, 'cc': 0.6}

    ``update`` validates the maps once and computes every metric on them; AUC-Borji and
    shuffled AUC of image ``i`` (0-based update order) use the generators
    ``numpy.random.default_rng([seed, i, 1])`` and ``default_rng([seed, i, 2])``, so
    results do not depend on which metrics are selected. ``results()`` is the mean per
    metric over the images where it is defined (images without fixations give NaN and are
    left out; ``counts()`` says how many images entered each mean).

    Args:
        metrics: names from :data:`METRICS` (default :data:`DEFAULT_METRICS`).
        seed: seed of the random metrics.
        n_splits, step_size: of AUC-Borji and shuffled AUC (MATLAB: 100 and 0.1).
        emd_downscale: reduction factor for EMD (MATLAB: 32).
        emd_resize: how EMD reduces the maps, ``"block"`` or ``"matlab"`` (see :func:`emd`).
    """

    def __init__(
        self,
        metrics: Iterable[str] | None = None,
        *,
        seed: int = 0,
        n_splits: int = 100,
        step_size: float = 0.1,
        emd_downscale: int = 32,
        emd_resize: str = "block",
    ) -> None:
        names = list(DEFAULT_METRICS if metrics is None else metrics)
        unknown = [m for m in names if m not in METRICS]
        if unknown:
            from attnvision._utils import close_matches

            hint = close_matches(unknown[0], list(METRICS))
            raise ValueError(
                f"unknown metric {unknown[0]!r}{hint}; expected some of {', '.join(METRICS)}"
            )
        if not names:
            raise ValueError("expected at least one metric, got none")
        _check_steps(n_splits, step_size)
        self.metrics: tuple[str, ...] = tuple(dict.fromkeys(names))
        self.seed = int(seed)
        self.n_splits = int(n_splits)
        self.step_size = float(step_size)
        self.emd_downscale = int(emd_downscale)
        if emd_resize not in _RESIZE:
            raise ValueError(
                f"emd_resize must be one of {', '.join(map(repr, _RESIZE))}, got {emd_resize!r}"
            )
        self.emd_resize = emd_resize
        self.per_image: list[dict[str, Any]] = []

    def needs(self) -> set[str]:
        """The inputs ``update`` needs for the selected metrics."""
        return {need for m in self.metrics for need in METRICS[m]}

    def _rng(self, image: _Image, stream: int) -> np.random.Generator:
        """The generator of one random metric on one image: ``default_rng([seed, i, stream])``."""
        return np.random.default_rng([self.seed, image.index, stream])

    def reset(self) -> None:
        """Forget every image seen so far."""
        self.per_image.clear()

    def update(
        self,
        saliency_map: Any,
        fixation_map: Any = None,
        density_map: Any = None,
        *,
        other_fixation_map: Any = None,
        baseline_map: Any = None,
        name: str | None = None,
    ) -> dict[str, float]:
        """Score one image and remember the scores (``add(score(...), name)``).

        Args:
            saliency_map: ``(H, W)`` prediction.
            fixation_map: ``(H, W)`` binary (or count) fixation map.
            density_map: ``(H, W)`` ground-truth density (blurred fixations).
            other_fixation_map: ``(H, W)`` fixations of other images (shuffled AUC).
            baseline_map: ``(H, W)`` baseline prediction (information gain).
            name: an identifier stored with the scores.

        Returns:
            ``{metric: score}`` for this image.
        """
        scores = self.score(
            saliency_map,
            fixation_map,
            density_map,
            other_fixation_map=other_fixation_map,
            baseline_map=baseline_map,
            index=len(self.per_image),
        )
        self.add(scores, name)
        return scores

    def score(
        self,
        saliency_map: Any,
        fixation_map: Any = None,
        density_map: Any = None,
        *,
        other_fixation_map: Any = None,
        baseline_map: Any = None,
        index: int,
    ) -> dict[str, float]:
        """Score one image without remembering it, as the ``index``-th image (0-based; it
        seeds AUC-Borji and shuffled AUC): with :meth:`add` in index order, images scored in
        any order or process give the same results as :meth:`update`."""
        given = {
            "fixation_map": fixation_map,
            "density_map": density_map,
            "other_fixation_map": other_fixation_map,
            "baseline_map": baseline_map,
        }
        missing = sorted(k for k in self.needs() if given[k] is None)
        if missing:
            raise ValueError(
                f"metrics {', '.join(self.metrics)} need {', '.join(missing)}, got None"
            )
        arr = _as_map(saliency_map, "saliency_map")
        s = _Map(arr)
        fix = other = dens = base = None
        if fixation_map is not None:
            fix = _as_fixations(fixation_map, "fixation_map", arr.shape)
        if other_fixation_map is not None:
            other = _as_fixations(other_fixation_map, "other_fixation_map", arr.shape)
        if density_map is not None:
            dens_arr = _as_map(density_map, "density_map")
            _same_shape(arr, dens_arr, "saliency map", "density_map")
            dens = _Map(dens_arr, "density_map")
        if baseline_map is not None:
            base_arr = _as_map(baseline_map, "baseline_map")
            _same_shape(arr, base_arr, "saliency map", "baseline_map")
            base = _Map(base_arr, "baseline_map")
        if fix is not None and "auc_judd" in self.metrics and "auc_borji" in self.metrics:
            # one bucketed pass of the map counts pixels for both AUCs
            cut = _unit_cutoffs(s, _thresholds(self.step_size))
            _expect_counts(s, cut[np.isfinite(cut)])
        image = _Image(s, fix, other, dens, base, int(index))
        return {metric: _SCORERS[metric](self, image) for metric in self.metrics}

    def add(self, scores: dict[str, float], name: str | None = None) -> None:
        """Remember one image's :meth:`score` (``name`` defaults to its position)."""
        if set(scores) != set(self.metrics):
            raise ValueError(
                f"expected scores of {', '.join(self.metrics)}, got {', '.join(scores)}"
            )
        row = {m: float(scores[m]) for m in self.metrics}
        self.per_image.append(
            {"name": name if name is not None else str(len(self.per_image)), **row}
        )

    def counts(self) -> dict[str, int]:
        """How many images have a defined (non-NaN) score, per metric."""
        return {
            m: int(sum(1 for row in self.per_image if not np.isnan(row[m]))) for m in self.metrics
        }

    def results(self) -> dict[str, float]:
        """Mean score per metric over the images seen (NaN scores left out)."""
        if not self.per_image:
            raise ValueError("SaliencyEvaluator.results() called before any update()")
        out: dict[str, float] = {}
        for m in self.metrics:
            values = np.array([row[m] for row in self.per_image], dtype=np.float64)
            values = values[~np.isnan(values)]
            out[m] = float(values.mean()) if values.size else float("nan")
        return out
