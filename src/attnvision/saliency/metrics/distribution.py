"""NSS, CC, KLD, SIM and information gain: the fixation metrics that are sums over pixels.

Each public function takes a saliency map ``(H, W)`` or a batch ``(N, H, W)`` and returns a
float or ``(N,)`` scores; its ``_name`` twin works on prepared :class:`~.checks._Map`
objects so that :class:`~.evaluator.SaliencyEvaluator` shares one validation and one set
of statistics per map. Definitions: ``NSS.m``, ``CC.m``, ``KLdiv.m``, ``similarity.m`` and
``InfoGain.m`` of the MIT benchmark (``cvzoya/saliency``); each docstring says where
MATLAB and pysaliency differ and what a degenerate input gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import (
    EPS,
    _as_fixations,
    _as_map,
    _batched,
    _buffer,
    _dot,
    _Map,
    _required,
    _same_shape,
)

__all__ = ["cc", "info_gain", "kld", "nss", "sim"]


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
        ``0.0`` (chance; MATLAB gives NaN from 0/0, pysaliency 0). No fixations:
        ``ValueError`` (MATLAB returns NaN; :class:`SaliencyEvaluator` leaves such images
        out of its means and counts them).

    pysaliency's ``NSS`` averages per fixation (a pixel fixated twice counts twice) and
    divides by the population std (``N``): for one fixation per pixel
    ``ours = pysaliency * sqrt((N - 1) / N)``, ``N`` = number of pixels.
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _required(
        _as_fixations(fixation_map, "fixation_map", s.shape[-2:]), "fixation_map", "NSS"
    )
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
        as uniform (MATLAB gives NaN). No fixations: ``ValueError``. pysaliency's
        ``information_gain`` works on a probabilistic model's log-density per fixation (a
        pixel fixated twice counts twice, no ``eps``, no rescaling to ``[0, 1]``).
    """
    s = _as_map(saliency_map, "saliency_map", allow_batch=True)
    fix = _required(
        _as_fixations(fixation_map, "fixation_map", s.shape[-2:]),
        "fixation_map",
        "information gain",
    )
    base = _as_map(baseline_map, "baseline_map")
    _same_shape(s[0] if s.ndim == 3 else s, base, "saliency map", "baseline_map")
    bm = _Map(base, "baseline_map")
    return _batched(lambda m: _info_gain(m, fix, bm), s)
