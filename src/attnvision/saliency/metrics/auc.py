"""AUC-Judd, AUC-Borji and shuffled AUC (``AUC_Judd.m``, ``AUC_Borji.m``, ``AUC_shuffled.m``).

AUC-Judd is computed without sorting the pixels: the fixated values are sorted and exact
per-threshold pixel counts come from one bucketed histogram of the map, with only the
pixels that share a bucket with a fixated value compared exactly (``_count_ge_gt``).
AUC-Borji and shuffled AUC sample negatives with an explicit seed and score them at fixed
thresholds ``0, step, 2 step, ...`` (``_roc_area_fixed_steps``). Public functions take
``(H, W)`` maps or ``(N, H, W)`` batches; the ``_name`` twins work on prepared maps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import SeedLike, _as_fixations, _as_map, _batched, _buffer, _Map, _rng

__all__ = ["auc_borji", "auc_judd", "auc_shuffled"]


_ROUND = 2.0**52  # adding it to a float in [0, 2^51] rounds it to an integer in the low bits
_ROUND_BITS = int(np.float64(_ROUND).view(np.int64))


def _bucket_index(x: np.ndarray, origin: float, scale: float, out: np.ndarray) -> np.ndarray:
    """``round((x - origin) * scale)`` as ``intp`` in ``out`` (a float64 buffer, reused).

    Every step is a correctly rounded monotone operation, so the index is non-decreasing
    in ``x``; the float-to-integer conversion is the bit pattern of ``y + 2^52`` (exact for
    ``0 <= y < 2^51``), cheaper than a casting multiply.
    """
    if origin == 0:
        np.multiply(x, scale, out=out)
    else:
        np.subtract(x, origin, out=out)
        out *= scale
    out += _ROUND
    bits = out.view(np.int64)
    bits -= _ROUND_BITS
    return bits.view(np.intp)


def _count_ge_gt(s: np.ndarray, u: np.ndarray, lo: float, hi: float) -> tuple:
    """Exact counts ``#(s >= u_j)`` and ``#(s > u_j)`` for sorted values ``u``.

    Pixels are put into ``K + 1`` buckets by the monotone map ``round((s - o) * K / (hi - o))``
    (``o = 0`` for a non-negative map, else its minimum) and counted with one ``bincount``;
    bucket ``b(x) > b(u)`` implies ``x > u``, so only the pixels in the buckets holding a
    value of ``u`` need an exact comparison.
    """
    n = s.size
    if hi <= lo:
        ge = np.where(u <= lo, n, 0)
        gt = np.where(u < lo, n, 0)
        return ge.astype(np.int64), gt.astype(np.int64)
    k = int(min(1 << 16, max(64, n // 32)))
    # a non-negative map is bucketed from 0 (one pass fewer: no subtraction)
    origin = 0.0 if lo >= 0 else lo
    scale = k / (hi - origin)
    if not np.isfinite(scale):  # range below float resolution of the scale: compare directly
        ge = np.array([np.count_nonzero(s >= v) for v in u], dtype=np.int64)
        gt = np.array([np.count_nonzero(s > v) for v in u], dtype=np.int64)
        return ge, gt
    k += 1  # (hi - origin) * scale rounds to at most k: buckets 0..k
    b = _bucket_index(s, origin, scale, _buffer("float", n, np.float64))
    bu = _bucket_index(u, origin, scale, np.empty(u.size))
    hist = np.bincount(b, minlength=k)
    flag = np.zeros(k, dtype=bool)
    flag[bu] = True
    # the pixels near a value of u, compared exactly
    vals = np.sort(np.compress(np.take(flag, b, out=_buffer("mask", n, np.bool_)), s))
    hist[flag] = 0
    above = np.zeros(k + 1, dtype=np.int64)  # above[j] = unflagged pixels in buckets >= j
    above[:k] = np.cumsum(hist[::-1])[::-1]
    base = above[bu + 1]
    m = vals.size
    ge = base + (m - np.searchsorted(vals, u, side="left"))
    gt = base + (m - np.searchsorted(vals, u, side="right"))
    return ge, gt


def _auc_judd(s: _Map, fix: np.ndarray) -> float:
    flat = s.flat
    n_pix = s.n
    fixvals = flat[fix]
    n_fix = fixvals.size
    if n_fix == 0:
        return float("nan")
    n_neg = n_pix - n_fix
    if n_neg == 0:
        raise ValueError("auc_judd needs at least one non-fixated pixel, every pixel is fixated")
    u, t = np.unique(fixvals, return_counts=True)  # ascending distinct fixation values
    ge, gt = _count_ge_gt(flat, u, s.lo, s.hi)
    # For a pixel of value v: a = #fixations > v, t = #fixations == v. With ties broken
    # uniformly at random its expected share of the trapezoid area (times n_fix) is
    # a + t/2 + 1/2, less 1/(2 (t + 1)) when no fixation lies below v (a + t = n_fix).
    sum_a = float(np.sum(t * (n_pix - ge)))
    sum_t = float(np.sum(t * (ge - gt)))
    below_min = float(n_pix - ge[0])
    at_min = float(ge[0] - gt[0])
    total = sum_a + 0.5 * sum_t + 0.5 * n_pix - 0.5 * below_min - 0.5 * at_min / (t[0] + 1)
    # remove the fixated pixels themselves (they are not negatives)
    a_fix = np.concatenate([np.cumsum(t[::-1])[::-1][1:], [0]])  # fixations above u_j
    own = np.sum(t * (a_fix + 0.5 * t + 0.5)) - 0.5 * t[0] / (t[0] + 1)
    return float((total - own) / (n_fix * n_neg))


def auc_judd(saliency_map: Any, fixation_map: Any) -> float | np.ndarray:
    """AUC-Judd (AUC_Judd.m of the MIT benchmark), with the jitter replaced by its expectation.

    MATLAB's AUC_Judd adds ``rand / 1e7`` to every pixel to break ties, sorts the values
    at the fixated pixels, and for the ``i``-th largest threshold takes
    ``tp = i / Nfix`` and ``fp = (#pixels >= thresh - i) / (Npixels - Nfix)``; the score
    is ``trapz(fp, tp)`` over ``(0, 0), ..., (1, 1)``. With distinct values a non-fixated
    pixel lying below exactly ``k`` fixated values adds ``(k + 1/2) / Nfix`` to the area
    (``1`` when ``k = Nfix``), divided by ``Npixels - Nfix``. With ties broken uniformly at
    random, a non-fixated pixel of value ``v`` with ``a`` fixated values above ``v`` and
    ``t`` equal to ``v`` ends up below ``a + J`` of them, ``J`` uniform on ``0..t``, so its
    expected share is ``(a + t/2 + 1/2) / Nfix``, minus ``1 / (2 Nfix (t + 1))`` when no
    fixated value is below ``v``. Summed exactly, this is the mean of MATLAB's score over
    its jitter in the limit of a jitter smaller than every gap between distinct values
    (MATLAB's absolute ``1e-7`` also reorders values closer than that). Deterministic.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        fixation_map: ``(H, W)``, fixated pixels ``> 0`` (each counted once).

    Returns:
        The score in ``[0, 1]``; a constant map gives ``0.5 + 0.5 / (Nfix + 1)``.
        No fixations: NaN (as MATLAB). Every pixel fixated: ``ValueError``.

    pysaliency (``general_roc(..., judd=1)`` on the fixated / non-fixated pixel values,
    i.e. ``AUC(nonfixations='unfixated', thresholds='fixations')`` without jitter) gives
    the same value whenever the fixated values are distinct and no non-fixated pixel
    equals a fixated value. With ties it joins tied points by one straight segment: a
    non-fixated pixel of value ``v`` adds ``(2 a + t_lo) / (2 Nfix)``, ``t_lo`` = number of
    fixated pixels at the largest fixated value ``<= v`` (``1`` when no fixated value is
    below), which differs from the expectation above.
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _as_fixations(fixation_map, "fixation_map", s.shape[-2:])
    return _batched(_auc_judd, s, fix)


def _roc_area_fixed_steps(sth: np.ndarray, negs: np.ndarray, step_size: float) -> float:
    """Mean over the columns of ``negs`` of Borji's fixed-threshold trapezoid AUC."""
    n_steps = int(np.floor(1.0 / step_size + 1e-9))
    thresholds = (np.arange(n_steps, -1, -1) * step_size)[:, None]  # descending, (T, 1)
    tp = (sth[None, :] >= thresholds).mean(axis=1)  # (T,)
    # (T, n_neg, n_splits) comparisons are small (T <= 11 for the default step)
    fp = (negs[None, :, :] >= thresholds[:, :, None]).mean(axis=1)  # (T, n_splits)
    n_splits = negs.shape[1]
    x = np.vstack([np.zeros((1, n_splits)), fp, np.ones((1, n_splits))])
    y = np.concatenate([[0.0], tp, [1.0]])[:, None]
    area = np.sum(np.diff(x, axis=0) * (y[1:] + y[:-1]) / 2.0, axis=0)
    return float(area.mean())


def _check_steps(n_splits: int, step_size: float) -> None:
    if int(n_splits) != n_splits or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    if not (0 < step_size <= 1):
        raise ValueError(f"step_size must be in (0, 1], got {step_size!r}")


def _auc_borji(
    s: _Map, fix: np.ndarray, n_splits: int, step_size: float, rng: np.random.Generator
) -> float:
    flat = s.unit()
    sth = flat[fix]
    if sth.size == 0:
        return float("nan")
    idx = rng.integers(0, flat.size, size=(sth.size, n_splits))
    return _roc_area_fixed_steps(sth, flat[idx], step_size)


def auc_borji(
    saliency_map: Any,
    fixation_map: Any,
    *,
    n_splits: int = 100,
    step_size: float = 0.1,
    seed: SeedLike = 0,
) -> float | np.ndarray:
    """AUC-Borji (AUC_Borji.m of the MIT benchmark).

    The map is rescaled to ``[0, 1]``; for each of ``n_splits`` splits, ``Nfix`` pixels are
    drawn uniformly with replacement from the whole map as negatives; thresholds run
    ``0 : step_size : max`` (taken as ``k * step_size``), ``tp`` / ``fp`` are the fractions
    of fixated / sampled values ``>= thresh`` and the split's AUC is the trapezoid area
    through ``(0, 0)`` and ``(1, 1)``. The score is the mean over splits.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        fixation_map: ``(H, W)``.
        n_splits: random splits (MATLAB: 100).
        step_size: threshold step (MATLAB: 0.1).
        seed: an ``int`` seed or a ``numpy.random.Generator``; the same seed gives the same
            score (MATLAB uses its global random state).

    Returns:
        The score in ``[0, 1]``. A constant map becomes all zeros and scores 0.5. No
        fixations: NaN. pysaliency has no fixed-step AUC; its ``AUC(nonfixations='uniform')``
        uses every pixel and every threshold.
    """
    _check_steps(n_splits, step_size)
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _as_fixations(fixation_map, "fixation_map", s.shape[-2:])
    rng = _rng(seed)
    return _batched(lambda m: _auc_borji(m, fix, int(n_splits), step_size, rng), s)


def _auc_shuffled(
    s: _Map,
    fix: np.ndarray,
    other: np.ndarray,
    n_splits: int,
    step_size: float,
    rng: np.random.Generator,
) -> float:
    flat = s.unit()
    sth = flat[fix]
    if sth.size == 0:
        return float("nan")
    ind = other
    if ind.size == 0:
        raise ValueError("auc_shuffled needs other_fixation_map with fixations, got none")
    n_oth = min(sth.size, ind.size)
    picks = np.stack([ind[rng.permutation(ind.size)[:n_oth]] for _ in range(n_splits)], axis=1)
    return _roc_area_fixed_steps(sth, flat[picks], step_size)


def auc_shuffled(
    saliency_map: Any,
    fixation_map: Any,
    other_fixation_map: Any,
    *,
    n_splits: int = 100,
    step_size: float = 0.1,
    seed: SeedLike = 0,
) -> float | np.ndarray:
    """Shuffled AUC (AUC_shuffled.m of the MIT benchmark; Borji et al. 2013).

    As :func:`auc_borji`, but each split's negatives are ``min(Nfix, Nother)`` locations
    drawn without replacement from the fixated pixels of ``other_fixation_map`` (the union
    of the fixations on other images; Borji uses 10 random others), which discounts
    centre bias.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        fixation_map: ``(H, W)``.
        other_fixation_map: ``(H, W)``, fixations of other images.
        n_splits, step_size, seed: as :func:`auc_borji`.

    Returns:
        The score in ``[0, 1]``; a constant map scores 0.5. No fixations: NaN. An empty
        ``other_fixation_map`` raises ``ValueError`` (MATLAB divides by zero).
        pysaliency's ``AUC(nonfixations='shuffled')`` instead takes every fixation of all
        other images as negatives and every map value as a threshold (no sampling, no
        fixed steps), per fixation rather than per fixated pixel.
    """
    _check_steps(n_splits, step_size)
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _as_fixations(fixation_map, "fixation_map", s.shape[-2:])
    other = _as_fixations(other_fixation_map, "other_fixation_map", s.shape[-2:])
    rng = _rng(seed)
    return _batched(lambda m: _auc_shuffled(m, fix, other, int(n_splits), step_size, rng), s)
