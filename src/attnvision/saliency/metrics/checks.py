"""Input checks and shared per-map work of the fixation metrics.

What lives here: :data:`EPS` (the benchmark's regulariser), the conversion of saliency,
density and fixation maps to validated float64 arrays (``_as_map``, ``_as_fixations``,
``_same_shape``), explicit seeding (``_rng``), per-thread scratch buffers (``_buffer``),
single-threaded BLAS dot products of long vectors (``_dot``) and ``_Map``: one validated
map whose sum, minimum, maximum, moments and rescaled copies are computed once and shared
by every metric that reads it. The metrics themselves live in :mod:`.auc`,
:mod:`.distribution` and :mod:`.transport`.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

#: The regulariser of KLdiv.m and InfoGain.m: MATLAB's ``eps`` as the benchmark writes it,
#: 2.2204e-16 (the same literal as pysaliency's ``MIT_KLDiv``). MATLAB's exact ``eps`` is
#: 2^-52 = 2.220446e-16; the two differ by 2e-5 relative, which changes KLD only through
#: pixels where the prediction is 0 (``log(eps + P / eps)``).
EPS: float = 2.2204e-16

SeedLike = int | np.random.Generator | None


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
        if arr.shape[1] == 2 and tuple(shape)[1] != 2:
            raise ValueError(
                f"{name} has shape {arr.shape}, expected a map of the saliency map's shape "
                f"{tuple(shape)}; for (N, 2) fixation coordinates (x, y) make one with "
                "attnvision.saliency.fixation_map(coordinates, shape)"
            )
        raise ValueError(
            f"{name} has shape {arr.shape}, expected the saliency map's shape {tuple(shape)} "
            "(resize explicitly before evaluating)"
        )
    if arr.dtype == bool:
        return np.flatnonzero(arr)
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"{name} must be numeric or boolean, got dtype {arr.dtype}")
    index = _flatnonzero_sparse(np.greater(arr.ravel(), 0, out=_buffer("mask", arr.size, np.bool_)))
    # NaN and -Inf make the minimum non-finite; +Inf is among the fixated values
    if np.issubdtype(arr.dtype, np.floating) and not (
        np.isfinite(arr.min()) and np.isfinite(arr.ravel().take(index)).all()
    ):
        raise ValueError(f"{name} must be finite, got NaN/Inf values")
    return index


def _flatnonzero_sparse(mask: np.ndarray) -> np.ndarray:
    """``np.flatnonzero`` of a contiguous 1-D bool array with few true entries (a fixation
    map): finds the nonzero 8-byte words first, then the bytes inside them."""
    n = mask.size
    m = n - n % 8
    words = np.flatnonzero(mask[:m].view(np.uint64) != 0)  # (nonzero on uint64 is slow)
    if words.size > m // 64:  # not sparse: the word scan would not pay
        return np.flatnonzero(mask)
    rows, cols = np.nonzero(mask[:m].reshape(-1, 8).take(words, axis=0))
    index = words.take(rows) * 8 + cols
    return np.concatenate([index, m + np.flatnonzero(mask[m:])]) if m < n else index


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
    """A validated float64 map with statistics computed once and shared by the metrics.

    Finiteness is checked on construction by the statistics a metric reads anyway:
    ``check="total"`` computes the sum (NaN and Inf propagate), ``check="range"`` the
    minimum and maximum (all the AUCs need); each statistic computed later checks itself.
    """

    def __init__(self, arr: np.ndarray, name: str = "saliency_map", check: str = "total") -> None:
        self.arr = arr
        self.flat = arr.ravel()
        self.n = self.flat.size
        self.name = name
        self._total: float | None = None
        self._lo: float | None = None
        self._hi: float | None = None
        self._cache: dict[str, Any] = {}
        if check == "total":
            self.total  # noqa: B018 - computed to check
        else:
            self.lo, self.hi  # noqa: B018 - computed to check

    def _finite(self, value: float, what: str) -> float:
        if not np.isfinite(value):
            bad = int(np.count_nonzero(~np.isfinite(self.flat)))
            if bad:
                raise ValueError(f"{self.name} must be finite, got {bad} NaN/Inf values")
            raise ValueError(f"{self.name} values are too large: their {what} overflows float64")
        return value

    @property
    def total(self) -> float:
        if self._total is None:
            self._total = self._finite(float(self.flat.sum()), "sum")
        return self._total

    @property
    def lo(self) -> float:
        if self._lo is None:
            self._lo = self._finite(float(self.flat.min()), "minimum")
        return self._lo

    @property
    def hi(self) -> float:
        if self._hi is None:
            self._hi = self._finite(float(self.flat.max()), "maximum")
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

    def unit_at(self, index: np.ndarray) -> np.ndarray:
        """The map rescaled to ``[0, 1]``, ``(x - min) * (1 / (max - min))``, at the flat
        indices ``index``; a constant map rescales to zeros."""
        lo, hi = self.lo, self.hi
        if hi > lo:
            u = self.flat.take(index) - lo
            u *= 1.0 / (hi - lo)
            return u
        return np.zeros(index.size)

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


def _batched(fn, saliency_map: np.ndarray, *others: Any, check: str = "total") -> Any:
    """``fn(_Map(map), *others)`` for an ``(H, W)`` map, or an array over a batch."""
    if saliency_map.ndim == 3:
        return np.array([fn(_Map(m, check=check), *others) for m in saliency_map], dtype=np.float64)
    return fn(_Map(saliency_map, check=check), *others)


def _required(index: np.ndarray, name: str, metric: str) -> np.ndarray:
    """``index`` unless it is empty: a metric over fixations of a map without any is an
    error for a single call (MATLAB returns NaN; :class:`SaliencyEvaluator` leaves such
    images out of its means and counts them instead)."""
    if index.size == 0:
        raise ValueError(
            f"{name} has no fixated pixel (no value > 0): {metric} is undefined without fixations"
        )
    return index
