"""AUC-Judd, AUC-Borji and shuffled AUC (``AUC_Judd.m``, ``AUC_Borji.m``, ``AUC_shuffled.m``).

AUC-Judd is computed without sorting the pixels: the fixated values are sorted and exact
per-threshold pixel counts come from one bucketed histogram of the map, with only the
pixels that share a bucket with a fixated value compared exactly (``_count_ge_gt``).
AUC-Borji and shuffled AUC score sampled negatives at fixed thresholds ``0, step, 2 step,
...``; a split's negatives enter the area only through how many fall between consecutive
thresholds, so those numbers are drawn directly from their exact distribution
(``_split_areas``). Public functions take
``(H, W)`` maps or ``(N, H, W)`` batches; the ``_name`` twins work on prepared maps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import SeedLike, _as_fixations, _as_map, _batched, _buffer, _Map, _required, _rng

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
    # about 32 pixels a bucket: a histogram that stays in cache (finer ones were slower
    # on a busy machine), ~1% of the pixels compared exactly
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
    ge, gt = _counts(s, u)
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
        No fixations: ``ValueError`` (MATLAB returns NaN). Every pixel fixated:
        ``ValueError``.

    pysaliency (``general_roc(..., judd=1)`` on the fixated / non-fixated pixel values,
    i.e. ``AUC(nonfixations='unfixated', thresholds='fixations')`` without jitter) gives
    the same value whenever the fixated values are distinct and no non-fixated pixel
    equals a fixated value. With ties it joins tied points by one straight segment: a
    non-fixated pixel of value ``v`` adds ``(2 a + t_lo) / (2 Nfix)``, ``t_lo`` = number of
    fixated pixels at the largest fixated value ``<= v`` (``1`` when no fixated value is
    below), which differs from the expectation above.
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _required(
        _as_fixations(fixation_map, "fixation_map", s.shape[-2:]), "fixation_map", "AUC-Judd"
    )
    return _batched(_auc_judd, s, fix, check="range")


def _counts(s: _Map, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(#(x >= v), #(x > v))`` over the map's pixels for sorted distinct ``values``.

    One bucketed pass (``_count_ge_gt``) answers every request registered beforehand with
    ``_expect_counts`` (the evaluator registers AUC-Judd's fixated values and AUC-Borji's
    threshold cut-offs together); later requests for those values are looked up.
    """
    known = s._cache.get("counts")
    if known is not None:
        pos = np.searchsorted(known[0], values)
        if pos.size == 0 or (
            pos[-1] < known[0].size and np.array_equal(known[0].take(pos), values)
        ):
            return known[1].take(pos), known[2].take(pos)
    wanted = s._cache.pop("expect", [])
    union = np.unique(np.concatenate([values, *wanted])) if wanted else values
    ge, gt = _count_ge_gt(s.flat, union, s.lo, s.hi)
    s._cache["counts"] = (union, ge, gt)
    if union is values:
        return ge, gt
    pos = np.searchsorted(union, values)
    return ge.take(pos), gt.take(pos)


def _expect_counts(s: _Map, values: np.ndarray) -> None:
    """Register values whose pixel counts :func:`_counts` will be asked for."""
    s._cache.setdefault("expect", []).append(np.asarray(values, dtype=np.float64))


def _thresholds(step_size: float) -> np.ndarray:
    """Borji's thresholds ``0, step, 2 step, ... <= 1`` (ascending; MATLAB sweeps them
    descending up to the maximum value; thresholds above it add no area)."""
    return np.arange(int(np.floor(1.0 / step_size + 1e-9)) + 1) * step_size


def _unit_cutoffs(s: _Map, thresholds: np.ndarray) -> np.ndarray:
    """For each threshold ``t``, the smallest value ``x`` of the map's range whose rescaled
    value ``(x - min) * (1 / (max - min))`` (:meth:`_Map.unit_at`, in float64) is ``>= t``,
    so that ``#(unit >= t) = #(x >= cutoff)`` exactly; ``inf`` where no value reaches ``t``.
    Cached on the map per set of thresholds."""
    key = ("cutoffs", thresholds.size, float(thresholds[-1]))
    if key not in s._cache:
        s._cache[key] = _find_cutoffs(s, thresholds)
    return s._cache[key]


def _find_cutoffs(s: _Map, thresholds: np.ndarray) -> np.ndarray:
    lo, hi = s.lo, s.hi
    if hi <= lo:  # a constant map rescales to 0
        return np.where(thresholds <= 0, lo, np.inf)
    r = 1.0 / (hi - lo)

    def reaches(x: np.ndarray) -> np.ndarray:
        return (x - lo) * r >= thresholds

    x = np.clip(lo + thresholds * (hi - lo), lo, hi)  # usually within an ulp or two
    for _ in range(8):  # step down while the value below still reaches t
        below = np.maximum(np.nextafter(x, -np.inf), lo)
        move = reaches(below) & (below < x)
        if not move.any():
            break
        x = np.where(move, below, x)
    for _ in range(8):  # step up while x does not reach t
        move = ~reaches(x) & (x < hi)
        if not move.any():
            break
        x = np.where(move, np.nextafter(x, np.inf), x)
    below = np.maximum(np.nextafter(x, -np.inf), lo)
    if not ((reaches(x) | (x >= hi)) & ~(reaches(below) & (below < x))).all():
        x = _bisect_cutoffs(reaches, lo, hi, thresholds.size)  # e.g. subnormal spacing
    return np.where(reaches(x), x, np.inf)


def _ordered(x: np.ndarray) -> np.ndarray:
    """int64 keys in the order of the float64 values (``-0.0`` and ``0.0`` share one)."""
    bits = np.asarray(x, dtype=np.float64).view(np.int64)
    return np.where(bits < 0, np.iinfo(np.int64).min - bits, bits)


def _from_ordered(key: np.ndarray) -> np.ndarray:
    return np.where(key < 0, np.iinfo(np.int64).min - key, key).view(np.float64)


def _bisect_cutoffs(reaches, lo: float, hi: float, n: int) -> np.ndarray:
    """The smallest float64 in ``[lo, hi]`` where ``reaches`` turns true, by bisection over
    the ordered float64 values (``hi`` where it never does)."""
    low = np.full(n, _ordered(np.float64(lo)))  # invariant: answer in [low, high]
    high = np.full(n, _ordered(np.float64(hi)))
    while (low < high).any():
        mid = low + (high - low) // 2
        ok = reaches(_from_ordered(mid))
        high = np.where(ok, mid, high)
        low = np.where(ok, low, mid + 1)
    return _from_ordered(low)


def _fraction_ge(sorted_values: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Fraction of ``sorted_values`` that are ``>= t`` for each threshold ``t``."""
    n = sorted_values.size
    return (n - np.searchsorted(sorted_values, thresholds, side="left")) / n


def _split_areas(tp: np.ndarray, per_bin: np.ndarray, n_neg: int) -> float:
    """Mean over splits of Borji's trapezoid AUC (``trapz(fp, tp)`` through ``(0, 0)``, the
    thresholds from the highest down, and ``(1, 1)``).

    ``tp[k]``: fraction of fixated values ``>= t_k`` (ascending thresholds); ``per_bin``:
    ``(n_splits, K)`` numbers of a split's ``n_neg`` negatives in ``[t_k, t_k+1)`` (the last
    bin open above), so that ``fp[k]`` is the fraction of negatives ``>= t_k``.
    """
    # the area is linear in fp: through x_0 = 0, x_1..x_K, x_K+1 = 1 it is
    # sum_i x_i (y_i-1 - y_i+1) / 2 + (y_K + 1) / 2, so its mean over splits is the area
    # of the mean fp
    fp = np.cumsum(per_bin.sum(axis=0)[::-1]) / (n_neg * per_bin.shape[0])  # descending
    y = np.concatenate([[0.0], tp[::-1], [1.0]])
    return float(np.dot(fp, y[:-2] - y[2:]) / 2.0 + (y[-2] + 1.0) / 2.0)


def _check_steps(n_splits: int, step_size: float) -> None:
    if int(n_splits) != n_splits or n_splits < 1:
        raise ValueError(f"n_splits must be a positive integer, got {n_splits!r}")
    if not (0 < step_size <= 1):
        raise ValueError(f"step_size must be in (0, 1], got {step_size!r}")


def _auc_borji(
    s: _Map, fix: np.ndarray, n_splits: int, step_size: float, rng: np.random.Generator
) -> float:
    if fix.size == 0:
        return float("nan")
    t = _thresholds(step_size)
    tp = _fraction_ge(np.sort(s.unit_at(fix)), t)
    # a split's negatives enter the AUC only through how many fall in each threshold bin:
    # Nfix uniform draws with replacement put multinomial counts there (cell shares =
    # the map's pixel shares per bin, counted exactly)
    cut = _unit_cutoffs(s, t)
    finite = np.isfinite(cut)
    ge = np.zeros(t.size, dtype=np.int64)
    ge[finite] = _counts(s, cut[finite])[0]
    ge[:-1] -= ge[1:]  # pixels per bin [t_k, t_k+1)
    per_bin = rng.multinomial(fix.size, ge / s.n, size=n_splits)
    return _split_areas(tp, per_bin, fix.size)


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

    The sampled values enter a split's area only through how many of them fall in each
    threshold bin ``[k step, (k + 1) step)``; ``Nfix`` draws with replacement put
    multinomial numbers there, with the map's pixel shares per bin (counted exactly) as
    probabilities. Those numbers are drawn directly (one draw per split instead of
    ``Nfix`` pixel indices), so every split has exactly the distribution MATLAB's
    ``randi`` sampling gives it, and the expected score is the fixed-step AUC against all
    pixels. A given seed gives other values than explicit pixel draws would.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        fixation_map: ``(H, W)``.
        n_splits: random splits (MATLAB: 100).
        step_size: threshold step (MATLAB: 0.1).
        seed: an ``int`` seed or a ``numpy.random.Generator``; the same seed gives the same
            score (MATLAB uses its global random state).

    Returns:
        The score in ``[0, 1]``. A constant map becomes all zeros and scores 0.5. No
        fixations: ``ValueError``. pysaliency has no fixed-step AUC; its
        ``AUC(nonfixations='uniform')`` uses every pixel and every threshold.
    """
    _check_steps(n_splits, step_size)
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _required(
        _as_fixations(fixation_map, "fixation_map", s.shape[-2:]), "fixation_map", "AUC-Borji"
    )
    rng = _rng(seed)
    return _batched(lambda m: _auc_borji(m, fix, int(n_splits), step_size, rng), s, check="range")


def _auc_shuffled(
    s: _Map,
    fix: np.ndarray,
    other: np.ndarray,
    n_splits: int,
    step_size: float,
    rng: np.random.Generator,
) -> float:
    if fix.size == 0:
        return float("nan")
    if other.size == 0:
        raise ValueError("auc_shuffled needs other_fixation_map with fixations, got none")
    t = _thresholds(step_size)
    tp = _fraction_ge(np.sort(s.unit_at(fix)), t)
    # min(Nfix, Nother) draws without replacement from the other fixated pixels: their
    # numbers per threshold bin are multivariate hypergeometric
    population = np.sort(s.unit_at(other))
    ge = population.size - np.searchsorted(population, t, side="left")
    ge[:-1] -= ge[1:]  # other fixated pixels per bin [t_k, t_k+1)
    n_oth = min(fix.size, other.size)
    per_bin = rng.multivariate_hypergeometric(ge, n_oth, size=n_splits)
    return _split_areas(tp, per_bin, n_oth)


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
    centre bias. As in :func:`auc_borji` the draws are made as numbers per threshold bin:
    drawing without replacement (``randperm``) makes them multivariate hypergeometric over
    the other fixated pixels' values.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        fixation_map: ``(H, W)``.
        other_fixation_map: ``(H, W)``, fixations of other images.
        n_splits, step_size, seed: as :func:`auc_borji`.

    Returns:
        The score in ``[0, 1]``; a constant map scores 0.5. No fixations: ``ValueError``. An empty
        ``other_fixation_map`` raises ``ValueError`` (MATLAB divides by zero).
        pysaliency's ``AUC(nonfixations='shuffled')`` instead takes every fixation of all
        other images as negatives and every map value as a threshold (no sampling, no
        fixed steps), per fixation rather than per fixated pixel.
    """
    _check_steps(n_splits, step_size)
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _required(
        _as_fixations(fixation_map, "fixation_map", s.shape[-2:]), "fixation_map", "shuffled AUC"
    )
    other = _as_fixations(other_fixation_map, "other_fixation_map", s.shape[-2:])
    rng = _rng(seed)
    return _batched(
        lambda m: _auc_shuffled(m, fix, other, int(n_splits), step_size, rng), s, check="range"
    )
