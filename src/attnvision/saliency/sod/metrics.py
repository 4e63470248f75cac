"""The SOD metrics: MAE, F-measure (adaptive, curve), S-measure, E-measure, weighted F.

What lives here: the per-image math on a prepared :class:`~.inputs._Image` (``_mae``,
``_fmeasure_at``, ``_precision_recall``, ``_emeasure_at``, ``_emeasure_curve``,
``_smeasure``, ``_weighted_fmeasure`` and their helpers) and the public functions of one
prediction/mask pair (:func:`prepare`, :func:`mae`, :func:`fmeasure`, ...). Definitions and
their references are in :mod:`attnvision.saliency.sod`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy import ndimage

from ..metrics.checks import _dot
from .inputs import EPS, MASK_THRESHOLD, _Bag, _Image, _Region

__all__ = [
    "emeasure",
    "emeasure_curve",
    "fmeasure",
    "fmeasure_from_pr",
    "mae",
    "precision_recall",
    "prepare",
    "smeasure",
    "weighted_fmeasure",
]


def _mae(image: _Image) -> float:
    region = image.whole
    fg_error = region.fg.n - region.fg.total()
    return (fg_error + region.bg.total()) / image.size


def _fmeasure_at(image: _Image, threshold: float, beta2: float) -> float:
    tp = image.whole.fg.count_ge(threshold)
    if tp == 0:
        return 0.0
    predicted = tp + image.whole.bg.count_ge(threshold)
    precision, recall = tp / predicted, tp / image.n_fg
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


def _precision_recall(image: _Image) -> tuple[np.ndarray, np.ndarray]:
    tp, fp = image.counts_ge
    predicted = tp + fp
    predicted[predicted == 0] = 1
    return tp / predicted, tp / max(image.n_fg, 1)


def _enhanced_sum(image: _Image, tp: Any, fp: Any) -> Any:
    size, n_fg = image.size, image.n_fg
    pred_fg = tp + fp
    pred_bg = size - pred_fg
    if n_fg == 0:
        return pred_bg
    if n_fg == size:
        return pred_fg
    fn = n_fg - tp
    tn = pred_bg - fn
    mean_pred, mean_gt = pred_fg / size, n_fg / size
    total = 0
    for count, a, b in (
        (tp, 1 - mean_pred, 1 - mean_gt),
        (fp, 1 - mean_pred, 0 - mean_gt),
        (fn, 0 - mean_pred, 1 - mean_gt),
        (tn, 0 - mean_pred, 0 - mean_gt),
    ):
        align = 2 * (a * b) / (a**2 + b**2 + EPS)
        total = total + (align + 1) ** 2 / 4 * count
    return total


def _emeasure_at(image: _Image, threshold: float) -> float:
    tp = image.whole.fg.count_ge(threshold)
    fp = image.whole.bg.count_ge(threshold)
    return float(_enhanced_sum(image, tp, fp) / (image.size - 1 + EPS))


def _emeasure_curve(image: _Image) -> np.ndarray:
    tp, fp = image.counts_ge
    return np.asarray(_enhanced_sum(image, tp, fp) / (image.size - 1 + EPS), dtype=np.float64)


def _smeasure(image: _Image, alpha: float) -> float:
    if image.n_fg == 0:
        return 1.0 - image.mean
    if image.n_fg == image.size:
        return image.mean
    whole = image.whole
    gt_mean = image.n_fg / image.size
    fg_score = _object_score(whole.fg, invert=False) * gt_mean
    bg_score = _object_score(whole.bg, invert=True) * (1 - gt_mean)
    object_score = fg_score + bg_score
    h, w = image.shape
    cy, cx = image.centroid
    area = h * w
    w_lt = cx * cy / area
    w_rt = cy * (w - cx) / area
    w_lb = (h - cy) * cx / area
    weights = (w_lt, w_rt, w_lb, 1 - w_lt - w_rt - w_lb)
    region_score = sum(
        _ssim(region) * weight
        for region, weight in zip(image.quadrants, weights)
        if region.size > 0
    )
    return max(0.0, alpha * object_score + (1 - alpha) * region_score)


@functools.lru_cache(maxsize=8)
def _grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of every pixel of an ``(h, w)`` image, flat int32 (read-only)."""
    rows, cols = (a.ravel() for a in np.indices((h, w), dtype=np.int32))
    rows.flags.writeable = cols.flags.writeable = False
    return rows, cols


_IMPORTANCE = np.zeros(0)


def _importance(squared: np.ndarray) -> np.ndarray:
    """``2 - 0.5 ** (sqrt(d2) / 5)`` (``WFb.m``'s background weight) for integer squared
    distances, from a table grown as needed: the same float64 values as PySODMetrics'
    ``2 - np.exp(np.log(0.5) / 5 * Dst)`` with ``Dst = sqrt(d2)``, without an ``exp`` per pixel.
    """
    global _IMPORTANCE
    need = int(squared.max()) + 1 if squared.size else 0
    table = _IMPORTANCE
    if table.size < need:
        d = np.sqrt(np.arange(max(need, 2 * table.size, 1 << 16), dtype=np.float64))
        table = 2 - np.exp(np.log(0.5) / 5 * d)
        _IMPORTANCE = table
    return table[squared]  # fancy indexing: take() is slow with int32 indices


def _weighted_fmeasure(image: _Image, beta2: float) -> float:
    if image.n_fg == 0:
        return 0.0
    gt = image.gt
    # Nearest foreground pixel of every pixel (itself for foreground pixels), the same
    # feature transform PySODMetrics takes from distance_transform_edt(gt == 0).
    nearest = ndimage.distance_transform_edt(~gt, return_distances=False, return_indices=True)
    h, w = image.shape
    # Pixel dependency only matters on the foreground: filter the error map, with the
    # background replaced by the error of its nearest foreground pixel, inside the
    # foreground's bounding box plus the 3-pixel reach of the 7x7 kernel. Nearest
    # foreground pixels all lie inside that window.
    fg_rows = np.flatnonzero(image.rows)
    fg_cols = np.flatnonzero(image.cols)
    y0, y1 = max(fg_rows[0] - 3, 0), min(fg_rows[-1] + 4, h)
    x0, x1 = max(fg_cols[0] - 3, 0), min(fg_cols[-1] + 4, w)
    window = (slice(y0, y1), slice(x0, x1))
    # E = |p - gt| = 1 - p on the foreground. Only foreground errors are ever read (the
    # spread takes each pixel's nearest foreground error), so the background is set to 0,
    # which also makes min(EA, E) zero there (EA >= 0) and the foreground sum a plain sum.
    error = image.values(window)
    np.subtract(1.0, error, out=error)
    error *= gt[window]
    flat = nearest[0][window] * (x1 - x0)  # the nearest pixel's index inside the window
    flat += nearest[1][window]
    flat -= y0 * (x1 - x0) + x0
    spread = error.ravel()[flat]  # fancy indexing: take() is slow with int32 indices
    spread = ndimage.correlate1d(spread, _KERNEL, axis=0, mode="constant", cval=0.0)
    spread = ndimage.correlate1d(spread, _KERNEL, axis=1, mode="constant", cval=0.0)
    fg_weighted = float(np.minimum(spread, error, out=spread).sum())
    # Pixel importance: background errors (= p) weigh 2 - 0.5 ** (distance / 5); only
    # background pixels with p > 0 contribute.
    if image.v is not None:
        positive = np.flatnonzero(image.table > 0)
        contributing = image.v >= positive[0] if positive.size else np.zeros(gt.shape, bool)
    else:
        contributing = image._p > 0
    contributing &= ~gt
    index = np.flatnonzero(contributing)
    if image.v is not None:
        values = image.table[image.v.ravel().take(index)]
    else:
        values = image._p.ravel().take(index)
    grid_rows, grid_cols = _grid(h, w)
    dy = nearest[0].ravel().take(index) - grid_rows.take(index)
    dx = nearest[1].ravel().take(index) - grid_cols.take(index)
    dy *= dy
    dx *= dx
    dy += dx  # squared distance, exact in integers
    bg_weighted = _dot(values, _importance(dy))
    tp_w = image.n_fg - fg_weighted
    fp_w = bg_weighted
    recall = 1 - fg_weighted / image.n_fg
    precision = tp_w / (tp_w + fp_w + EPS)
    return (1 + beta2) * recall * precision / (recall + beta2 * precision + EPS)


def _gauss1d(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """1-D factor of MATLAB's ``fspecial('gaussian', size, sigma)`` (the 2-D kernel is its
    outer product with itself)."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


_KERNEL = _gauss1d()


def _object_score(bag: _Bag, *, invert: bool) -> float:
    """Fan et al.'s object similarity ``2 m / (m^2 + 1 + s + eps)`` with ``m, s`` the mean and
    sample standard deviation (ddof 1) of ``p`` on the foreground or ``1 - p`` on the
    background (``invert``)."""
    values = 1 - bag.values if invert else bag.values
    n = bag.n
    single = bag.single_value()
    mean = (1 - single if invert else single) if single is not None else bag.total(values) / n
    if n > 1:
        std = float(np.sqrt(bag.total((values - mean) ** 2) / (n - 1)))
    else:
        std = 0.0
    return 2 * mean / (mean**2 + 1 + std + EPS)


def _ssim(region: _Region) -> float:
    """Fan et al.'s region SSIM of one quadrant (S-measure, Eq. 5), with ``N - 1 + eps`` in the
    denominators as PySODMetrics does."""
    fg, bg = region.fg, region.bg
    n = region.size
    n_fg = fg.n
    # A region whose prediction takes one value has variance exactly 0 (see smeasure()).
    fg_single, bg_single = fg.single_value(), bg.single_value()
    if n_fg == 0:
        single = bg_single
    elif bg.n == 0:
        single = fg_single
    else:
        single = fg_single if fg_single is not None and fg_single == bg_single else None
    x = single if single is not None else (fg.total() + bg.total()) / n
    y = n_fg / n
    denom = n - 1 + EPS
    if single is not None:
        sigma_x = 0.0
        fg_dev = bg_dev = 0.0
    else:
        fg_dev = fg.total(fg.values - x)
        bg_dev = bg.total(bg.values - x)
        sigma_x = (fg.total((fg.values - x) ** 2) + bg.total((bg.values - x) ** 2)) / denom
    sigma_y = (n_fg * (1 - y) ** 2 + (n - n_fg) * y**2) / denom
    sigma_xy = (fg_dev * (1 - y) + bg_dev * (0 - y)) / denom
    alpha = 4 * x * y * sigma_xy
    beta = (x**2 + y**2) * (sigma_x + sigma_y)
    if alpha != 0:
        return alpha / (beta + EPS)
    return 1.0 if beta == 0 else 0.0


def prepare(
    pred: Any,
    mask: Any,
    *,
    normalize: bool | None = None,
    resize: bool = False,
    mask_threshold: float = MASK_THRESHOLD,
    strict_masks: bool = False,
) -> Any:
    """Check and prepare one prediction/mask pair; every metric accepts the result in place of
    ``pred`` (with ``mask=None``) so that several metrics share the work.

    Args:
        pred: ``(H, W)`` prediction, uint8 0..255 or float 0..1 (NumPy or torch).
        mask: ``(H, W)`` ground truth: bool, 0/1, or grey levels (integers 0..255, floats
            0..1) binarised at ``mask_threshold`` (see :mod:`attnvision.saliency.sod`).
        normalize: min-max normalise ``pred``; ``None`` means yes for uint8, no for floats.
        resize: resize ``pred`` (bilinear, PIL; uint8 stays uint8, floats are resized in
            float32) to the mask's shape when they differ; otherwise a shape mismatch raises
            ``ValueError`` naming both shapes. (The MATLAB toolbox resizes every map silently
            with ``imresize``, bicubic; PySODMetrics does not resize.)
        mask_threshold: a grey mask pixel is foreground when its level (of 255) is above
            this (128: PySODMetrics' ``gt > 128``; 127 gives the MATLAB toolbox's
            ``gt >= 0.5``).
        strict_masks: refuse masks that are not bool, 0/1 or 0/255 instead of binarising.

    Raises:
        ValueError: empty or non-2-D input, NaN/inf, float values outside [0, 1], a dtype
            other than uint8/float, a mask outside its range (or not binary with
            ``strict_masks``), or shapes that differ without ``resize``.
    """
    if isinstance(pred, _Image):
        return pred
    return _Image(
        pred,
        mask,
        normalize=normalize,
        resize=resize,
        mask_threshold=mask_threshold,
        strict_masks=strict_masks,
    )


def _image(pred: Any, mask: Any, options: dict[str, Any]) -> _Image:
    """``pred`` when it is already prepared, else :func:`prepare` with ``options``."""
    if isinstance(pred, _Image):
        if options:
            raise TypeError(
                f"options {', '.join(sorted(options))} apply when preparing, not to a "
                "prepared image"
            )
        return pred
    return prepare(pred, mask, **options)


def mae(
    pred: Any,
    mask: Any,
    **options: Any,
) -> float:
    """Mean absolute error ``mean |p - gt|`` over the ``(H, W)`` image (Perazzi et al. 2012).

    Same figure as PySODMetrics ``MAE`` and MATLAB ``CalMAE.m`` (which min-max normalises).
    ``options`` are :func:`prepare`'s keywords.
    """
    return float(_mae(_image(pred, mask, options)))


def fmeasure(
    pred: Any,
    mask: Any,
    *,
    threshold: float | str = "adaptive",
    beta2: float = 0.3,
    **options: Any,
) -> float:
    """F-measure ``(1 + b2) P R / (b2 P + R)`` of ``p >= threshold`` (Achanta et al. 2009).

    ``threshold="adaptive"`` is ``min(2 mean(p), 1)``; a float threshold in [0, 1] compares the
    unquantised ``p``. ``beta2`` is beta squared (0.3 by convention). When no foreground pixel
    is hit the F-measure is 0 (PySODMetrics and MATLAB ``Fmeasure_calu.m`` alike); with an
    empty mask it is therefore 0. For the 256-threshold curve use :func:`precision_recall`
    and :func:`fmeasure_from_pr`. ``options`` are :func:`prepare`'s keywords.
    """
    image = _image(pred, mask, options)
    if threshold == "adaptive":
        threshold = image.adaptive_threshold
    elif isinstance(threshold, str):
        raise ValueError(f"expected threshold='adaptive' or a float, got {threshold!r}")
    return float(_fmeasure_at(image, float(threshold), beta2))


def precision_recall(
    pred: Any,
    mask: Any,
    **options: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of ``floor(255 p) >= t`` for ``t = 0..255`` (two ``(256,)`` arrays).

    Precision is 0 where nothing is predicted (0/0; MATLAB sets its NaN to 0 too); recall is 0
    for an empty mask (PySODMetrics; MATLAB gives NaN). MATLAB's curves are the same values
    in reverse order (``[::-1]``).
    ``options`` are :func:`prepare`'s keywords.
    """
    return _precision_recall(_image(pred, mask, options))


def fmeasure_from_pr(precision: Any, recall: Any, beta2: float = 0.3) -> np.ndarray:
    """F-measure curve ``(1 + b2) P R / (b2 P + R)`` of precision/recall arrays, 0 where
    ``P R = 0``.

    Applied to one image's curves it gives that image's F curve. Applied to the *dataset
    mean* precision and recall it gives the MATLAB toolbox's ``Fmeasure_Curve`` (and its
    ``MaxFmeasure`` as the maximum), which is not the PySODMetrics curve: that one, which
    :class:`SODEvaluator` reports as ``fmeasure_curve``, is the mean of per-image F curves.
    """
    precision = np.asarray(precision, dtype=np.float64)
    recall = np.asarray(recall, dtype=np.float64)
    numerator = (1 + beta2) * precision * recall
    denominator = np.where(numerator == 0, 1, beta2 * precision + recall)
    return numerator / denominator


def smeasure(
    pred: Any,
    mask: Any,
    *,
    alpha: float = 0.5,
    **options: Any,
) -> float:
    """Structure measure ``max(0, alpha S_object + (1 - alpha) S_region)`` (Fan et al. 2017).

    ``1 - mean(p)`` for an empty mask and ``mean(p)`` for a full one. The regions are the four
    quadrants split at the rounded foreground centroid (round half to even, MATLAB's 1-based
    split), weighted by area; SSIM denominators use ``N - 1 + eps``.

    Where a quadrant's prediction *and* mask are both constant SSIM is 0/0; the definition
    (Fan et al.'s code) then scores 1, which is what this function returns. PySODMetrics
    computes the quadrant mean with floating-point rounding, so its variance there is often a
    tiny positive number instead of 0 and its score drops to 0: the figures differ only in
    that degenerate case (for example a constant prediction). An empty quadrant (centroid on
    the last row or column) has weight 0 and is skipped; PySODMetrics and MATLAB return NaN.
    ``options`` are :func:`prepare`'s keywords.
    """
    return float(_smeasure(_image(pred, mask, options), alpha))


def emeasure(
    pred: Any,
    mask: Any,
    *,
    threshold: float | str = "adaptive",
    **options: Any,
) -> float:
    """Enhanced-alignment measure of ``p >= threshold`` (Fan et al. 2018, Eq. 6).

    ``sum(phi) / (H W - 1 + eps)`` with the enhanced alignment matrix ``phi`` counted per
    confusion cell; for an empty (full) mask ``phi`` is 1 on predicted background
    (foreground) and 0 elsewhere. ``threshold="adaptive"`` is ``min(2 mean(p), 1)``.
    Same figure as PySODMetrics ``Emeasure`` (adaptive). ``options`` are :func:`prepare`'s
    keywords.
    """
    image = _image(pred, mask, options)
    if threshold == "adaptive":
        threshold = image.adaptive_threshold
    elif isinstance(threshold, str):
        raise ValueError(f"expected threshold='adaptive' or a float, got {threshold!r}")
    return _emeasure_at(image, float(threshold))


def emeasure_curve(
    pred: Any,
    mask: Any,
    **options: Any,
) -> np.ndarray:
    """E-measure of ``floor(255 p) >= t`` for ``t = 0..255``: a ``(256,)`` array computed from
    per-level counts, not 256 binarisations (PySODMetrics' curve in reverse order)."""
    return _emeasure_curve(_image(pred, mask, options))


def weighted_fmeasure(
    pred: Any,
    mask: Any,
    *,
    beta2: float = 1.0,
    **options: Any,
) -> float:
    """Weighted F-measure of Margolin et al. 2014 (``WFb.m``), ``beta2 = 1`` by default.

    Errors ``E = |p - gt|``; on the foreground each error is replaced by ``min(E, EA)`` where
    ``EA`` is ``E`` (background pixels taking the error of their nearest foreground pixel)
    filtered with MATLAB's ``fspecial('gaussian', 7, 5)`` and zero padding; background
    errors are weighted by ``2 - 0.5 ** (d / 5)`` with ``d`` the Euclidean distance to the
    foreground. ``R = 1 - mean(E_w on fg)``, ``P = TP_w / (TP_w + FP_w + eps)``,
    ``F = (1 + b2) R P / (R + b2 P + eps)``. An empty mask scores 0 (PySODMetrics; MATLAB's
    ``WFb.m`` is undefined there). Nearest pixels come from SciPy's feature transform, as in
    PySODMetrics, so ties are broken identically. ``options`` are :func:`prepare`'s keywords.
    """
    return float(_weighted_fmeasure(_image(pred, mask, options), beta2))
