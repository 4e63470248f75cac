"""Fixation-prediction metrics of the MIT/Tuebingen saliency benchmark.

Every metric is a plain function on NumPy arrays. A saliency map is ``(H, W)`` (or a
batch ``(N, H, W)``, which returns an array of ``N`` scores); a fixation map is ``(H, W)``
and every pixel ``> 0`` is one fixated location (counts are reduced to a binary map, as
MATLAB's ``logical(fixationMap)`` does) or, equivalently, a pair ``(rows, cols)`` of
pixel indices as ``np.nonzero`` returns them (a pixel listed twice counts once); a
ground-truth density map is ``(H, W)``, non-negative.

The definitions are those of the benchmark's MATLAB code (``cvzoya/saliency``, folder
``code_forMetrics``: ``AUC_Judd.m``, ``AUC_Borji.m``, ``AUC_shuffled.m``, ``NSS.m``,
``CC.m``, ``KLdiv.m``, ``similarity.m``, ``InfoGain.m``, ``EMD.m``) as described in

    Z. Bylinskii, T. Judd, A. Oliva, A. Torralba, F. Durand. "What do different
    evaluation metrics tell us about saliency models?" IEEE TPAMI 41(3), 2019.

Where MATLAB resizes a map of another size (``imresize``) we raise ``ValueError``
instead: resizing must be explicit. Where MATLAB returns NaN or divides by zero for a
degenerate input (constant map, no fixations), each docstring says what we return.
NaN or Inf in any input raises ``ValueError``.

Speed: AUC is computed from the sorted fixation values and exact per-threshold pixel
counts obtained from one bucketed histogram of the map (only the pixels that share a
bucket with a fixation value are compared exactly), so no metric sorts every pixel.
``SaliencyEvaluator.update`` validates each map once and shares its sum, minimum, maximum
and sum of squares across the metrics; dot products run as single-threaded BLAS calls on
short rows (a multithreaded BLAS dot is slow on a busy machine); KLD and SIM are
rewritten so that each needs one scaled copy of the prediction (see ``_kld``, ``_sim``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = [
    "EPS",
    "METRICS",
    "SaliencyEvaluator",
    "auc_borji",
    "auc_judd",
    "auc_shuffled",
    "cc",
    "emd",
    "info_gain",
    "kld",
    "nss",
    "sim",
]

#: The regulariser of KLdiv.m and InfoGain.m: MATLAB's ``eps`` as the benchmark writes it,
#: 2.2204e-16 (the same literal as pysaliency's ``MIT_KLDiv``). MATLAB's exact ``eps`` is
#: 2^-52 = 2.220446e-16; the two differ by 2e-5 relative, which changes KLD only through
#: pixels where the prediction is 0 (``log(eps + P / eps)``).
EPS: float = 2.2204e-16

SeedLike = int | np.random.Generator | None


# --------------------------------------------------------------------------- checks
def _as_map(x: Any, name: str, *, allow_batch: bool = False) -> np.ndarray:
    """``x`` as a float64 array of ndim 2 (or 3 when ``allow_batch``), finite."""
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if hasattr(x, "detach"):  # torch tensor without importing torch
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.number)):
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got dtype {arr.dtype}")
    ndims = (2, 3) if allow_batch else (2,)
    if arr.ndim not in ndims:
        expected = "(H, W) or (N, H, W)" if allow_batch else "(H, W)"
        raise ValueError(f"{name} must have shape {expected}, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape})")
    return np.ascontiguousarray(arr, dtype=np.float64)  # finiteness: checked by _Map


def _as_fixations(x: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices (ascending, unique) of the fixated pixels.

    ``x`` is an ``(H, W)`` map (pixels ``> 0`` are fixated) or a pair ``(rows, cols)`` of
    integer pixel indices, as ``np.nonzero`` returns them.
    """
    if isinstance(x, tuple) and len(x) == 2:
        rows, cols = (np.asarray(v) for v in x)
        if rows.shape != cols.shape or rows.ndim != 1:
            raise ValueError(
                f"{name} as (rows, cols) needs two 1-D index arrays of one length, got shapes "
                f"{rows.shape} and {cols.shape}"
            )
        if rows.size and not (
            np.issubdtype(rows.dtype, np.integer) and np.issubdtype(cols.dtype, np.integer)
        ):
            raise TypeError(f"{name} indices must be integers, got {rows.dtype}, {cols.dtype}")
        h, w = shape
        if rows.size and (rows.min() < 0 or cols.min() < 0 or rows.max() >= h or cols.max() >= w):
            raise ValueError(f"{name} indices must lie inside the {h}x{w} map")
        return np.unique(rows.astype(np.intp) * w + cols)
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape (H, W), got shape {arr.shape}")
    if arr.shape != tuple(shape):
        raise ValueError(
            f"{name} has shape {arr.shape}, expected the saliency map's shape {tuple(shape)} "
            "(resize explicitly before evaluating)"
        )
    if arr.dtype == bool:
        return np.flatnonzero(arr)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric or boolean, got dtype {arr.dtype}")
    index = np.flatnonzero(
        np.greater(arr, 0, out=_buffer("mask", arr.size, np.bool_).reshape(arr.shape))
    )
    # NaN and -Inf make the minimum non-finite; +Inf is among the fixated values
    if np.issubdtype(arr.dtype, np.floating) and not (
        np.isfinite(arr.min()) and np.isfinite(arr.ravel().take(index)).all()
    ):
        raise ValueError(f"{name} must be finite, got NaN/Inf values")
    return index


def _same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape != b.shape:
        raise ValueError(
            f"{name_b} has shape {b.shape}, expected the {name_a}'s shape {a.shape} "
            "(resize explicitly before evaluating)"
        )


def _rng(seed: SeedLike) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None:
        raise ValueError("expected an explicit integer seed or numpy Generator, got None")
    return np.random.default_rng(seed)


_WORKSPACE = threading.local()


def _buffer(slot: str, n: int, dtype: Any) -> np.ndarray:
    """A reusable scratch array of ``n`` items for this thread.

    Large temporaries are fresh ``mmap`` pages on every call; touching them costs about
    as much as the arithmetic, so the hot loops reuse one buffer per slot.
    """
    cache = getattr(_WORKSPACE, "buffers", None)
    if cache is None:
        cache = _WORKSPACE.buffers = {}
    buf = cache.get(slot)
    if buf is None or buf.size < n or buf.dtype != np.dtype(dtype):
        buf = cache[slot] = np.empty(n, dtype=dtype)
    return buf[:n]


_DOT_CHUNK = 8192  # OpenBLAS runs dot products this short on one thread


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``a . b`` of two 1-D float64 arrays as single-threaded BLAS dots of short rows.

    A multithreaded BLAS dot is slow on a busy machine (thread start-up dominates), a
    Python loop over short dots costs a call per chunk and ``einsum`` is slower than BLAS
    on one thread; a batched ``matmul`` of ``(m, 1, c) @ (m, c, 1)`` runs one short dot
    per row in a single call.
    """
    n = a.size
    c = _DOT_CHUNK
    m = n // c * c
    total = float(np.dot(a[m:], b[m:])) if m < n else 0.0
    if m:
        total += float((a[:m].reshape(-1, 1, c) @ b[:m].reshape(-1, c, 1)).sum())
    return total


class _Map:
    """A validated float64 map with statistics computed once and shared by the metrics."""

    def __init__(self, arr: np.ndarray, name: str = "saliency_map") -> None:
        self.arr = arr
        self.flat = arr.ravel()
        self.n = self.flat.size
        self.total = float(self.flat.sum())  # NaN/Inf propagate: one pass checks them
        if not np.isfinite(self.total):
            bad = int(np.count_nonzero(~np.isfinite(self.flat)))
            if bad:
                raise ValueError(f"{name} must be finite, got {bad} NaN/Inf values")
            raise ValueError(f"{name} values are too large: their sum overflows float64")
        self._lo: float | None = None
        self._hi: float | None = None
        self._cache: dict[str, Any] = {}

    @property
    def lo(self) -> float:
        if self._lo is None:
            self._lo = float(self.flat.min())
        return self._lo

    @property
    def hi(self) -> float:
        if self._hi is None:
            self._hi = float(self.flat.max())
        return self._hi

    def moments(self) -> tuple[float, float]:
        """Mean and sum of squared deviations ``sum((x - mean)^2)``.

        From one dot product (``sum x^2 - n mean^2``); when that loses more than 7 of
        float64's digits to cancellation the two-pass formula is used instead.
        """
        if "moments" not in self._cache:
            mean = self.total / self.n
            sq = _dot(self.flat, self.flat)
            ss = sq - self.total * mean
            if ss < 1e-7 * sq:
                d = self.flat - mean
                ss = _dot(d, d)
            self._cache["moments"] = (mean, max(ss, 0.0))
        return self._cache["moments"]

    def unit(self) -> np.ndarray:
        """Rescaled to ``[0, 1]``; a constant map becomes all zeros."""
        if "unit" not in self._cache:
            lo, hi = self.lo, self.hi
            if hi > lo:
                u = self.flat - lo
                u *= 1.0 / (hi - lo)
            else:
                u = np.zeros_like(self.flat)
            self._cache["unit"] = u
        return self._cache["unit"]

    def shift_mass(self) -> float:
        """``sum(x - min)``, the normaliser of the rescaled map (0 for a constant map)."""
        if "mass" not in self._cache:
            lo = self.lo
            mass = self.total - self.n * lo  # without another pass over the pixels
            if mass <= 1e-7 * abs(self.total):  # cancellation, or a constant map
                mass = float(np.sum(self.flat - lo))
            self._cache["mass"] = max(mass, 0.0)
        return self._cache["mass"]

    def shifted_dist(self, slot: str, *, zero_stays_zero: bool) -> np.ndarray:
        """``(x - min) / sum(x - min)`` in the scratch buffer ``slot``: the map rescaled to
        ``[0, 1]`` and divided by its sum (the ``max - min`` factor cancels). A constant
        map becomes uniform, or stays all zero when it is zero and ``zero_stays_zero``
        (similarity.m)."""
        out = _buffer(slot, self.n, np.float64)
        mass = self.shift_mass()
        if mass > 0:
            np.subtract(self.flat, self.lo, out=out)
            out *= 1.0 / mass
        elif zero_stays_zero and self.lo == 0:
            out.fill(0.0)
        else:
            out.fill(1.0 / self.n)
        return out

    def shifted_at(self, index: np.ndarray) -> np.ndarray:
        """``(x - min) / sum(x - min)`` at the flat indices ``index`` (uniform if constant)."""
        mass = self.shift_mass()
        if mass > 0:
            return (self.flat[index] - self.lo) / mass
        return np.full(index.size, 1.0 / self.n)


def _batched(fn, saliency_map: np.ndarray, *others: Any) -> Any:
    if saliency_map.ndim == 3:
        return np.array([fn(_Map(m), *others) for m in saliency_map], dtype=np.float64)
    return fn(_Map(saliency_map), *others)


# --------------------------------------------------------------------------- NSS
def _nss(s: _Map, fix: np.ndarray) -> float:
    if fix.size == 0:
        return float("nan")
    if s.n < 2:
        raise ValueError(f"NSS needs at least 2 pixels, got {s.n}")
    mean, ss = s.moments()
    if ss == 0:
        return 0.0
    return float((s.flat[fix].mean() - mean) / np.sqrt(ss / (s.n - 1)))


def nss(saliency_map: Any, fixation_map: Any) -> float | np.ndarray:
    """Normalized Scanpath Saliency (Peters et al. 2005; NSS.m of the MIT benchmark).

    ``NSS = mean over fixated pixels of (S - mean(S)) / std(S)`` with MATLAB's sample
    standard deviation (``N - 1`` in the denominator). Each fixated pixel counts once.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        fixation_map: ``(H, W)``, fixated pixels ``> 0``.

    Returns:
        The score (a float, or ``(N,)`` scores for a batch). A constant map scores
        ``0.0`` (chance; MATLAB gives NaN from 0/0, pysaliency 0). No fixations: NaN
        (as MATLAB).

    pysaliency's ``NSS`` averages per fixation (a pixel fixated twice counts twice) and
    divides by the population std (``N``): for one fixation per pixel
    ``ours = pysaliency * sqrt((N - 1) / N)``, ``N`` = number of pixels.
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _as_fixations(fixation_map, "fixation_map", s.shape[-2:])
    return _batched(_nss, s, fix)


# --------------------------------------------------------------------------- CC
def _cc(s: _Map, g: _Map) -> float:
    ma, saa = s.moments()
    mb, sbb = g.moments()
    if saa == 0.0 or sbb == 0.0:
        return 0.0
    norm = np.sqrt(saa * sbb)
    raw = _dot(s.flat, g.flat)
    cov = raw - s.n * ma * mb
    if abs(raw) > 1e7 * norm:  # cancellation: use the two-pass formula
        cov = _dot(s.flat - ma, g.flat - mb)
    return float(cov / norm)


def cc(saliency_map: Any, gt_density_map: Any) -> float | np.ndarray:
    """Pearson's linear correlation coefficient (CC.m of the MIT benchmark).

    ``CC = cov(S, G) / (std(S) std(G))`` over all pixels; MATLAB first standardises
    both maps (which does not change the value) and calls ``corr2``.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        gt_density_map: ``(H, W)`` ground-truth map (blurred fixations).

    Returns:
        The score in ``[-1, 1]``. If either map is constant the score is ``0.0``
        (MATLAB gives NaN; pysaliency gives 0 when only the prediction is constant, NaN
        when both are). Otherwise identical to pysaliency's ``CC``.
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    g = _as_map(gt_density_map, "gt_density_map")
    _same_shape(s[0] if s.ndim == 3 else s, g, "saliency map", "gt_density_map")
    return _batched(_cc, s, _Map(g, "gt_density_map"))


# --------------------------------------------------------------------------- KLD
def _kld_parts(m: _Map) -> tuple[np.ndarray, float, float]:
    """``(x, shift, total)`` with ``P = (x - shift) / total`` the KLD distribution."""
    lo = m.lo
    if lo < 0:  # shift a map with negative values to start at 0 (as pysaliency)
        return m.flat, lo, float(np.sum(m.flat - lo))
    return m.flat, 0.0, m.total


def _kld(s: _Map, g: _Map) -> float:
    # sum P log(eps + P / (Q + eps)) with Q = S / a, P = G / b, computed without forming
    # P and Q: with c = a / b, P / (Q + eps) = c G / (S + a eps), so
    # log(eps + P / (Q + eps)) = log(c) + log(eps / c + G / (S + a eps)) and, as sum P = 1,
    # KLD = log(c) + sum G log(eps / c + G / (S + a eps)) / b: four passes and a dot.
    sx, s_shift, a = _kld_parts(s)
    gx, g_shift, b = _kld_parts(g)
    if s_shift or g_shift or a <= 0 or b <= 0:
        q = (sx - s_shift) / a if a > 0 else sx - s_shift
        p = (gx - g_shift) / b if b > 0 else gx - g_shift
        return float(np.sum(p * np.log(EPS + p / (q + EPS))))
    c = a / b
    tmp = np.add(sx, a * EPS, out=_buffer("float", sx.size, np.float64))
    np.divide(gx, tmp, out=tmp)
    tmp += EPS / c
    np.log(tmp, out=tmp)
    return float(np.log(c) + _dot(gx, tmp) / b)


def kld(saliency_map: Any, gt_density_map: Any) -> float | np.ndarray:
    """KL divergence of the prediction from the ground truth (KLdiv.m of the MIT benchmark).

    ``P = G / sum(G)``, ``Q = S / sum(S)`` and ``KLD = sum P log(eps + P / (Q + eps))``
    (natural log) with ``eps = 2.2204e-16`` (:data:`EPS`). Lower is better.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        gt_density_map: ``(H, W)``.

    Returns:
        The divergence (``>= 0`` up to the regulariser). An all-zero map stays all zero
        (as in MATLAB, giving a large finite value). A map with negative values is first
        shifted by its minimum (MATLAB leaves it undefined; pysaliency shifts too).
        For non-negative maps this equals pysaliency's ``MIT_KLDiv`` except for an
        all-zero map, which pysaliency makes uniform.
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    g = _as_map(gt_density_map, "gt_density_map")
    _same_shape(s[0] if s.ndim == 3 else s, g, "saliency map", "gt_density_map")
    return _batched(_kld, s, _Map(g, "gt_density_map"))


# --------------------------------------------------------------------------- SIM
def _sim(s: _Map, g: _Map) -> float:
    s_mass, g_mass = s.shift_mass(), g.shift_mass()
    if s_mass > 0 and g_mass > 0 and g.lo == 0:
        # min((s - lo_s) / mass_s, g / mass_g) = min(k (s - lo_s), g) / mass_g with
        # k = mass_g / mass_s: one scaled copy of the prediction instead of two
        k = g_mass / s_mass
        tmp = np.subtract(s.flat, s.lo, out=_buffer("float", s.n, np.float64))
        tmp *= k
        np.minimum(tmp, g.flat, out=tmp)
        return float(tmp.sum() / g_mass)
    a = s.shifted_dist("sim_a", zero_stays_zero=True)
    b = g.shifted_dist("sim_b", zero_stays_zero=True)
    return float(np.minimum(a, b, out=a).sum())


def sim(saliency_map: Any, gt_density_map: Any) -> float | np.ndarray:
    """Similarity, i.e. histogram intersection (similarity.m of the MIT benchmark).

    Each map is rescaled to ``[0, 1]`` and divided by its sum; ``SIM = sum min(P, Q)``.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        gt_density_map: ``(H, W)``.

    Returns:
        The score in ``[0, 1]`` (1 = identical distributions). An all-zero map stays zero
        (score 0, as in MATLAB); a constant non-zero map becomes uniform (MATLAB gives NaN).
        pysaliency's ``SIM`` does not rescale to ``[0, 1]`` (it only shifts negative maps):
        ``ours(a, b) == pysaliency.SIM(a - a.min(), b - b.min())`` for non-constant maps.
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    g = _as_map(gt_density_map, "gt_density_map")
    _same_shape(s[0] if s.ndim == 3 else s, g, "saliency map", "gt_density_map")
    return _batched(_sim, s, _Map(g, "gt_density_map"))


# --------------------------------------------------------------------------- AUC
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


# --------------------------------------------------------------------------- IG
def _info_gain(s: _Map, fix: np.ndarray, base: _Map) -> float:
    if fix.size == 0:
        return float("nan")
    p = s.shifted_at(fix)
    pb = base.shifted_at(fix)
    return float(np.mean(np.log2(EPS + p) - np.log2(EPS + pb)))


def info_gain(saliency_map: Any, fixation_map: Any, baseline_map: Any) -> float | np.ndarray:
    """Information gain over a baseline, in bits per fixation (InfoGain.m; Kümmerer et al. 2015).

    Both maps are rescaled to ``[0, 1]`` and divided by their sums; the score is the mean
    over fixated pixels of ``log2(eps + P) - log2(eps + B)``, ``eps = 2.2204e-16``.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``.
        fixation_map: ``(H, W)``.
        baseline_map: ``(H, W)``, e.g. a centre-bias map.

    Returns:
        Bits per fixation (positive = better than the baseline). A constant map is taken
        as uniform (MATLAB gives NaN). No fixations: NaN. pysaliency's ``information_gain``
        works on a probabilistic model's log-density per fixation (a pixel fixated twice
        counts twice, no ``eps``, no rescaling to ``[0, 1]``).
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _as_fixations(fixation_map, "fixation_map", s.shape[-2:])
    base = _as_map(baseline_map, "baseline_map")
    _same_shape(s[0] if s.ndim == 3 else s, base, "saliency map", "baseline_map")
    bm = _Map(base, "baseline_map")
    return _batched(lambda m: _info_gain(m, fix, bm), s)


# --------------------------------------------------------------------------- EMD
def _area_downsample(m: np.ndarray, factor: int) -> np.ndarray:
    """Mean over ``factor x factor`` blocks (the last partial blocks are averaged too)."""
    h, w = m.shape
    hh, ww = -(-h // factor), -(-w // factor)
    padded = np.zeros((hh * factor, ww * factor))
    weight = np.zeros_like(padded)
    padded[:h, :w] = m
    weight[:h, :w] = 1.0
    sums = padded.reshape(hh, factor, ww, factor).sum(axis=(1, 3))
    counts = weight.reshape(hh, factor, ww, factor).sum(axis=(1, 3))
    return sums / counts


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with ``a = -0.5`` (MATLAB imresize's ``cubic``)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * (
        (ax > 1) & (ax <= 2)
    )


def _imresize_matrix(in_len: int, scale: float) -> np.ndarray:
    """The ``(ceil(in_len * scale), in_len)`` matrix of MATLAB's ``imresize(.., scale)``.

    Bicubic, with antialiasing when shrinking (the kernel is stretched by ``1 / scale``
    and scaled by ``scale``), output pixel ``x`` (1-based) centred at input coordinate
    ``x / scale + (1 - 1 / scale) / 2``, weights normalised to sum 1 per output pixel and
    indices beyond the border mirrored (``[1..n, n..1]``), as ``imresize.m``'s
    ``contributions``.
    """
    out_len = int(np.ceil(in_len * scale))
    width = 4.0 / scale if scale < 1 else 4.0
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - width / 2)
    idx = left[:, None] + np.arange(int(np.ceil(width)) + 2)[None, :]
    dist = u[:, None] - idx
    weights = scale * _cubic(scale * dist) if scale < 1 else _cubic(dist)
    weights /= weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    cols = mirror[np.mod(idx.astype(np.int64) - 1, 2 * in_len)]
    out = np.zeros((out_len, in_len))
    np.add.at(out, (np.broadcast_to(np.arange(out_len)[:, None], cols.shape), cols), weights)
    return out


def _imresize(m: np.ndarray, factor: int) -> np.ndarray:
    """MATLAB's ``imresize(m, 1 / factor)`` of a float map (bicubic, antialiased)."""
    rows = _imresize_matrix(m.shape[0], 1.0 / factor)
    cols = _imresize_matrix(m.shape[1], 1.0 / factor)
    return rows @ m @ cols.T


def _match_histogram(src: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Give ``src`` the value distribution of ``ref`` by rank (ties keep pixel order)."""
    out = np.empty(src.size)
    out[np.argsort(src.ravel(), kind="stable")] = np.sort(ref.ravel())
    return out.reshape(src.shape)


def _transport_lp(cost: np.ndarray, ii: np.ndarray, jj: np.ndarray, a: np.ndarray, b: np.ndarray):
    """Solve the transport problem restricted to the edges ``(ii, jj)`` (SciPy HiGHS)."""
    from scipy.optimize import linprog
    from scipy.sparse import csc_matrix

    ns, m = a.size, ii.size
    a_eq = csc_matrix(
        (np.ones(2 * m), (np.concatenate([ii, ns + jj]), np.tile(np.arange(m), 2))),
        shape=(ns + b.size, m),
    )
    # masses scaled to a mean of about 1 for the absolute tolerances; no presolve: HiGHS'
    # presolve finds the one redundant row of a transport problem and can then declare
    # it infeasible over a rounding-level imbalance of the two totals
    res = linprog(
        cost[ii, jj],
        A_eq=a_eq,
        b_eq=np.concatenate([a, b]) * ns,
        bounds=(0, None),
        method="highs-ds",
        options={
            "presolve": False,
            "primal_feasibility_tolerance": 1e-10,
            "dual_feasibility_tolerance": 1e-10,
        },
    )
    if res.status == 0:
        res.fun /= ns
    return res


def _emd_exact(p: np.ndarray, q: np.ndarray, *, tol: float = 1e-10) -> float:
    """Earth mover's distance between two equal-mass 2-D histograms, Euclidean cost.

    The exact optimum of the transport linear program, found by column generation:
    with a metric ground distance only the surplus ``(p - q)+`` has to move to the
    deficit ``(q - p)+``; a restricted problem over a few edges per cell (the largest
    entries of an entropic (Sinkhorn) plan, plus a north-west-corner basis so that it is
    feasible) is solved with HiGHS' dual simplex, the edges whose reduced cost under the
    duals is below ``-tol`` are added, and this repeats until none is: the restricted
    optimum is then optimal for the full problem (LP duality), to ``tol`` per unit mass.
    """
    h, w = p.shape
    d = p.ravel() - q.ravel()
    src = np.flatnonzero(d > 0)
    dst = np.flatnonzero(d < 0)
    if src.size == 0 or dst.size == 0:
        return 0.0
    a, b = d[src], -d[dst]
    unit = a.sum()  # moved mass; solved for unit mass, balanced exactly
    a, b = a / unit, b / b.sum()
    ns, nd = a.size, b.size
    sy, sx = np.divmod(src, w)
    ty, tx = np.divmod(dst, w)
    cost = np.hypot(sy[:, None] - ty[None, :], sx[:, None] - tx[None, :])
    # a guess at the optimal plan's support: an entropic plan (Sinkhorn, eps = 0.2 cells)
    kernel = np.exp(cost * -5.0)
    u, v = np.ones(ns), np.ones(nd)
    for _ in range(200):
        u = a / np.maximum(kernel @ v, 1e-300)
        v = b / np.maximum(kernel.T @ u, 1e-300)
    plan = u[:, None] * kernel * v[None, :]
    sel = np.zeros((ns, nd), dtype=bool)
    k = min(8, nd)
    sel[np.repeat(np.arange(ns), k), np.argpartition(-plan, k - 1, axis=1)[:, :k].ravel()] = True
    k = min(8, ns)
    sel[np.argpartition(-plan, k - 1, axis=0)[:k].ravel(), np.tile(np.arange(nd), k)] = True
    i = j = 0
    ra, rb = a.copy(), b.copy()
    while i < ns and j < nd:  # north-west corner: a feasible basis
        sel[i, j] = True
        if ra[i] < rb[j]:
            rb[j] -= ra[i]
            i += 1
        else:
            ra[i] -= rb[j]
            j += 1
    for _ in range(100):
        ii, jj = np.nonzero(sel)
        res = _transport_lp(cost, ii, jj, a, b)
        if res.status != 0:  # pragma: no cover - a balanced transport problem is feasible
            raise ValueError(f"emd: the transport problem failed to solve ({res.message})")
        y = res.eqlin.marginals
        reduced = cost - y[:ns, None] - y[None, ns:]
        reduced[sel] = np.inf
        bad = reduced < -tol
        if not bad.any():
            return float(res.fun * unit)
        # add, for every row and column with a violated edge, its 4 most negative edges
        for axis in (1, 0):
            k = min(4, reduced.shape[axis])
            best = np.argpartition(reduced, k - 1, axis=axis)
            best = best[:, :k] if axis == 1 else best[:k]
            keep = np.take_along_axis(bad, best, axis=axis)
            if axis == 1:
                sel[np.broadcast_to(np.arange(ns)[:, None], best.shape)[keep], best[keep]] = True
            else:
                sel[best[keep], np.broadcast_to(np.arange(nd)[None, :], best.shape)[keep]] = True
    raise ValueError("emd: column generation did not converge")  # pragma: no cover


_RESIZE = {"block": _area_downsample, "matlab": _imresize}


def _emd(sm: _Map, gm: _Map, downscale: int, resize: str = "block") -> float:
    s, g = sm.arr, gm.arr
    im1 = _RESIZE[resize](g, downscale) if downscale > 1 else g
    im2 = _RESIZE[resize](s, downscale) if downscale > 1 else s
    im2 = _match_histogram(im2, im1)
    if im1.sum() <= 0:
        raise ValueError("emd needs a ground-truth map with positive mass, got an all-zero map")
    p = im1 / im1.sum()
    q = im2 / im2.sum()
    return _emd_exact(p, q)


def emd(
    saliency_map: Any, gt_density_map: Any, *, downscale: int = 32, resize: str = "block"
) -> float | np.ndarray:
    """Earth mover's distance (EMD.m of the MIT benchmark; Pele and Werman 2009).

    As MATLAB: both maps are reduced by ``downscale`` (32: 600x800 -> 19x25), the
    prediction is histogram-matched to the ground truth, both are divided by their sums,
    and the EMD with Euclidean ground distance (in reduced-grid cells, not thresholded)
    and no extra-mass penalty (``emd_hat_gd_metric_mex(P, Q, D, 0)``) is computed: the
    exact optimum of the transport linear program, by column generation with SciPy's
    HiGHS (optimal to 1e-10 per unit of mass; about 0.1-0.4 s for a 19x25 grid).

    Differences from EMD.m: histogram matching is exact by rank instead of
    ``histMatchMaps``' 256-bin ``imhist`` / ``histoMatch`` interpolation; FastEMD rounds
    the masses to integers (a factor of 1e6), we solve in float64. The reduction is a
    block mean by default (``resize="block"``, the mean of each ``downscale x downscale``
    block); ``resize="matlab"`` is ``imresize(map, 1/downscale)``: bicubic with
    antialiasing, mirrored borders, as MATLAB (its undershoot can give cells slightly
    below 0; they enter the transport through ``P - Q`` like any other cell). Lower is
    better. Not part of the default suite.

    Args:
        saliency_map: ``(H, W)`` or ``(N, H, W)``, non-negative.
        gt_density_map: ``(H, W)`` with positive mass.
        downscale: integer reduction factor (1 keeps full resolution).
        resize: ``"block"`` (block mean) or ``"matlab"`` (``imresize``, bicubic).

    Returns:
        The distance in cells of the reduced grid (0 for identical maps).
    """
    if int(downscale) != downscale or downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale!r}")
    if resize not in _RESIZE:
        raise ValueError(f"resize must be one of {', '.join(map(repr, _RESIZE))}, got {resize!r}")
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    g = _as_map(gt_density_map, "gt_density_map")
    _same_shape(s[0] if s.ndim == 3 else s, g, "saliency map", "gt_density_map")
    if g.min() < 0:
        raise ValueError(f"emd expects a non-negative gt_density_map, got minimum {g.min()}")
    gm = _Map(g, "gt_density_map")
    return _batched(lambda m: _emd(m, gm, int(downscale), resize), s)


# --------------------------------------------------------------------------- evaluator
#: metric name -> what it needs besides the saliency map
METRICS: dict[str, tuple[str, ...]] = {
    "auc_judd": ("fixation_map",),
    "auc_borji": ("fixation_map",),
    "auc_shuffled": ("fixation_map", "other_fixation_map"),
    "nss": ("fixation_map",),
    "cc": ("density_map",),
    "kld": ("density_map",),
    "sim": ("density_map",),
    "info_gain": ("fixation_map", "baseline_map"),
    "emd": ("density_map",),
}

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
        """Score one image and remember the scores.

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
        index = len(self.per_image)
        scores: dict[str, float] = {}
        for metric in self.metrics:
            if metric == "auc_judd":
                scores[metric] = _auc_judd(s, fix)
            elif metric == "auc_borji":
                rng = np.random.default_rng([self.seed, index, 1])
                scores[metric] = _auc_borji(s, fix, self.n_splits, self.step_size, rng)
            elif metric == "auc_shuffled":
                rng = np.random.default_rng([self.seed, index, 2])
                scores[metric] = _auc_shuffled(s, fix, other, self.n_splits, self.step_size, rng)
            elif metric == "nss":
                scores[metric] = _nss(s, fix)
            elif metric == "cc":
                scores[metric] = _cc(s, dens)
            elif metric == "kld":
                scores[metric] = _kld(s, dens)
            elif metric == "sim":
                scores[metric] = _sim(s, dens)
            elif metric == "info_gain":
                scores[metric] = _info_gain(s, fix, base)
            elif metric == "emd":
                scores[metric] = _emd(s, dens, self.emd_downscale, self.emd_resize)
        self.per_image.append({"name": name if name is not None else str(index), **scores})
        return scores

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
