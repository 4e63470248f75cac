"""Salient-object detection (SOD) metrics: MAE, F-measure, S-measure, E-measure, weighted F.

Plain functions score one prediction against one binary mask; :class:`SODEvaluator`
accumulates a whole dataset in streaming fashion and computes every figure from one pass
over each image.

Definitions follow PySODMetrics 1.6.2 (``py_sod_metrics``: ``MAE``, ``Fmeasure``,
``Smeasure``, ``Emeasure``, ``WeightedFmeasure``) and agree with it to about 1e-15 on the SOD
benchmark (the tests require 1e-9, the issue 1e-6). Where the MATLAB code differs
(ArcherFMY/sal_eval_toolbox ``performCalcu.m``, Fan et al.'s S- and E-measure code,
Margolin et al.'s ``WFb.m``) the docstrings say so and which one each figure follows.

How a prediction is read (``normalize=None``, the default):

* ``uint8`` (0..255): ``p = v / 255`` followed by min-max normalisation
  ``(p - min) / (max - min)`` when ``max > min`` (PySODMetrics ``prepare_data``, MATLAB
  ``mapminmax(im2double(.))``); a constant map stays ``v / 255``. The MATLAB toolbox divides
  by the maximum only for its F-measure and PR curve (``sMap ./ max``); that is the same map
  whenever the minimum is 0, as it is for every map of the SOD benchmark.
* floating point (0..1): used as given, in float64 (PySODMetrics with ``normalize=False``);
  ``normalize=True`` applies the min-max step to floats too.

Masks are binary: ``bool``, or numbers whose only values are ``{0, 1}`` or ``{0, 255}``;
nonzero is foreground. (PySODMetrics thresholds grey masks at ``> 128``, the MATLAB toolbox at
``>= 0.5 * 255``; for binary masks both agree with this, and other masks are refused rather
than binarised silently.)

Thresholds. Curves have 256 entries; entry ``t`` binarises the prediction as
``floor(255 * p) >= t`` (``t = 0..255``, ascending). PySODMetrics and the MATLAB toolbox store
the same 256 values in the opposite order (their index 0 is threshold 255): compare with
``curve[::-1]``. The adaptive threshold is ``min(2 * mean(p), 1)`` applied to the unquantised
``p`` with ``>=`` (Achanta et al. 2009; PySODMetrics and MATLAB ``Fmeasure_calu.m`` alike).

``eps`` below is ``np.spacing(1) = 2.22e-16`` (MATLAB's ``eps``), as in PySODMetrics.

References:
    MAE: Perazzi et al., "Saliency filters", CVPR 2012.
    F-measure: Achanta et al., "Frequency-tuned salient region detection", CVPR 2009.
    S-measure: Fan et al., "Structure-measure: A new way to evaluate foreground maps",
    ICCV 2017. E-measure: Fan et al., "Enhanced-alignment measure for binary foreground map
    evaluation", IJCAI 2018. Weighted F: Margolin et al., "How to evaluate foreground maps?",
    CVPR 2014.

Example:
    >>> import numpy as np
    >>> from attnvision.saliency import sod
    >>> mask = np.zeros((8, 8), bool); mask[2:6, 2:6] = True
    >>> pred = (mask * 255).astype(np.uint8)
    >>> sod.mae(pred, mask), round(sod.smeasure(pred, mask), 6)
    (0.0, 1.0)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from .._utils import open_image

__all__ = [
    "SODEvaluator",
    "emeasure",
    "emeasure_curve",
    "fmeasure",
    "fmeasure_from_pr",
    "mae",
    "precision_recall",
    "match_by_stem",
    "prepare",
    "read_mask",
    "read_prediction",
    "smeasure",
    "weighted_fmeasure",
]

EPS = float(np.spacing(1))
NUM_THRESHOLDS = 256

#: Keys of :meth:`SODEvaluator.results` holding one float each.
SCALAR_KEYS = (
    "mae",
    "smeasure",
    "weighted_fmeasure",
    "adaptive_fmeasure",
    "mean_fmeasure",
    "max_fmeasure",
    "adaptive_emeasure",
    "mean_emeasure",
    "max_emeasure",
)
#: Keys of :meth:`SODEvaluator.results` holding an array over the 256 thresholds.
CURVE_KEYS = ("precision", "recall", "fmeasure_curve", "emeasure_curve")


# ----------------------------------------------------------------------------- input


def _to_numpy(x: Any, what: str) -> np.ndarray:
    if type(x).__module__.startswith("torch"):
        x = x.detach().cpu().numpy()
    if not isinstance(x, np.ndarray):
        try:
            x = np.asarray(x)
        except Exception as exc:  # pragma: no cover - exotic inputs
            raise ValueError(f"expected {what} as an array, got {type(x).__name__}") from exc
    if x.ndim != 2:
        raise ValueError(f"expected {what} of shape (H, W), got shape {tuple(x.shape)}")
    if x.size == 0:
        raise ValueError(f"expected a non-empty {what}, got shape {tuple(x.shape)}")
    return x


def _binary_mask(mask: Any) -> np.ndarray:
    mask = _to_numpy(mask, "mask")
    if mask.dtype == bool:
        return mask
    if not (np.issubdtype(mask.dtype, np.integer) or np.issubdtype(mask.dtype, np.floating)):
        raise ValueError(f"expected a binary mask (bool, 0/1 or 0/255), got dtype {mask.dtype}")
    values = np.unique(mask)
    if not (set(values.tolist()) <= {0, 1} or set(values.tolist()) <= {0, 255}):
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if values.size > 6 else "")
        raise ValueError(f"expected a binary mask (values 0/1 or 0/255), got values {shown}")
    return mask != 0


def _resize_pred(pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    height, width = shape
    if pred.dtype == np.uint8:
        return np.asarray(Image.fromarray(pred).resize((width, height), Image.BILINEAR))
    out = Image.fromarray(pred.astype(np.float32)).resize((width, height), Image.BILINEAR)
    return np.clip(np.asarray(out, dtype=np.float64), 0.0, 1.0)


def _check_pred(pred: np.ndarray) -> None:
    if pred.dtype == np.uint8:
        return
    if not np.issubdtype(pred.dtype, np.floating):
        raise ValueError(f"expected pred as uint8 (0..255) or float (0..1), got dtype {pred.dtype}")
    low, high = float(np.min(pred)), float(np.max(pred))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError("expected a finite pred, got NaN or infinite values")
    if low < 0.0 or high > 1.0:
        raise ValueError(
            f"expected float pred values in [0, 1], got min {low:g} and max {high:g} "
            "(pass uint8 0..255 maps as uint8)"
        )


@dataclass(frozen=True)
class _Bag:
    """A multiset of prediction values: ``values`` each counted ``counts`` times (or once)."""

    values: np.ndarray
    counts: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.values.size if self.counts is None else self.counts.sum())

    def total(self, values: np.ndarray | None = None) -> float:
        values = self.values if values is None else values
        if self.counts is None:
            return float(np.sum(values))
        return float((self.counts * values).sum())

    def single_value(self) -> float | None:
        """The one value of the bag when all its members are equal, else ``None``."""
        present = self.values if self.counts is None else self.values[self.counts > 0]
        if present.size and present.min() == present.max():
            return float(present[0])
        return None

    def count_ge(self, threshold: float) -> int:
        hit = self.values >= threshold
        return int(np.count_nonzero(hit) if self.counts is None else self.counts[hit].sum())

    def quantised_hist(self) -> np.ndarray:
        """Counts of ``floor(255 * value)`` over the 256 levels (PySODMetrics' quantisation)."""
        levels = (self.values * 255).astype(np.uint8)
        if self.counts is None:
            return np.bincount(levels, minlength=NUM_THRESHOLDS)
        return np.bincount(levels, weights=self.counts, minlength=NUM_THRESHOLDS).astype(np.int64)


class _Region:
    """Foreground and background bags of one image region."""

    __slots__ = ("bg", "fg", "size")

    def __init__(self, fg: _Bag, bg: _Bag) -> None:
        self.fg, self.bg = fg, bg
        self.size = fg.n + bg.n


class _Image:
    """One prediction and its mask, prepared once and shared by every metric.

    uint8 predictions are handled through a 256-entry value table and per-region
    histograms (one ``np.bincount`` per quadrant); float predictions pixel by pixel.
    """

    def __init__(
        self, pred: Any, mask: Any, *, normalize: bool | None = None, resize: bool = False
    ) -> None:
        pred = _to_numpy(pred, "pred")
        gt = _binary_mask(mask)
        if pred.dtype == bool:
            raise ValueError(
                "expected pred as uint8 (0..255) or float (0..1), got dtype bool "
                "(use pred.astype(np.uint8) * 255)"
            )
        if pred.shape != gt.shape:
            if not resize:
                raise ValueError(
                    f"pred has shape {tuple(pred.shape)} but its mask has shape "
                    f"{tuple(gt.shape)}; resize explicitly (resize=True) or pass maps of the "
                    "mask's size"
                )
            _check_pred(pred)
            pred = _resize_pred(pred, gt.shape)
        _check_pred(pred)
        self.gt = gt
        self.shape = gt.shape
        self.size = gt.size
        rows = np.count_nonzero(gt, axis=1)
        self.rows = rows
        self.n_fg = int(rows.sum())
        if pred.dtype == np.uint8:
            self.v: np.ndarray | None = pred
            table = np.arange(256) / 255
            if normalize is None or normalize:
                low, high = table[pred.min()], table[pred.max()]
                if high != low:
                    table = (table - low) / (high - low)
            self.table: np.ndarray | None = table
            self._p: np.ndarray | None = None
        else:
            self.v = self.table = None
            p = np.asarray(pred, dtype=np.float64)
            if normalize:
                low, high = p.min(), p.max()
                if high != low:
                    p = (p - low) / (high - low)
            self._p = p

    # -- shared pieces ----------------------------------------------------------------

    @cached_property
    def code(self) -> np.ndarray:
        """``v + 256 * gt`` (uint8 path): the histogram bin of every pixel."""
        code = self.gt.astype(np.intp)
        code <<= 8
        code += self.v
        return code

    @cached_property
    def cols(self) -> np.ndarray:
        """Foreground pixels per column."""
        return np.count_nonzero(self.gt, axis=0)

    @cached_property
    def centroid(self) -> tuple[int, int]:
        """Foreground centroid, rounded half to even, plus one (MATLAB's 1-based split)."""
        h, w = self.shape
        if self.n_fg == 0:
            cy, cx = np.round(h / 2), np.round(w / 2)
        else:
            cy = np.round(np.dot(np.arange(h), self.rows) / self.n_fg)
            cx = np.round(np.dot(np.arange(w), self.cols) / self.n_fg)
        return int(cy) + 1, int(cx) + 1

    def _quadrant_slices(self) -> list[tuple[slice, slice]]:
        h, w = self.shape
        cy, cx = self.centroid
        return [
            (slice(0, cy), slice(0, cx)),
            (slice(0, cy), slice(cx, w)),
            (slice(cy, h), slice(0, cx)),
            (slice(cy, h), slice(cx, w)),
        ]

    def _region_from_counts(self, counts: np.ndarray) -> _Region:
        return _Region(_Bag(self.table, counts[256:]), _Bag(self.table, counts[:256]))

    @cached_property
    def quadrants(self) -> list[_Region]:
        regions = []
        for rows, cols in self._quadrant_slices():
            if self.v is not None:
                counts = np.bincount(self.code[rows, cols].ravel(), minlength=512)
                regions.append(self._region_from_counts(counts))
            else:
                p, g = self._p[rows, cols], self.gt[rows, cols]
                regions.append(_Region(_Bag(p[g]), _Bag(p[~g])))
        return regions

    @cached_property
    def whole(self) -> _Region:
        if self.v is not None:
            if "quadrants" in self.__dict__:
                counts = sum(np.concatenate([r.bg.counts, r.fg.counts]) for r in self.quadrants)
            else:
                counts = np.bincount(self.code.ravel(), minlength=512)
            return self._region_from_counts(counts)
        return _Region(_Bag(self._p[self.gt]), _Bag(self._p[~self.gt]))

    @cached_property
    def mean(self) -> float:
        region = self.whole
        return (region.fg.total() + region.bg.total()) / self.size

    @cached_property
    def adaptive_threshold(self) -> float:
        return min(2 * self.mean, 1.0)

    @cached_property
    def error(self) -> np.ndarray:
        """``|p - gt|`` per pixel, float64 ``(H, W)``."""
        if self.v is not None:
            table = np.concatenate([self.table, 1 - self.table])
            return table.take(self.code)
        return np.abs(self._p - self.gt)

    @cached_property
    def counts_ge(self) -> tuple[np.ndarray, np.ndarray]:
        """Foreground / background pixel counts with ``floor(255 p) >= t`` for t = 0..255."""
        fg = self.whole.fg.quantised_hist()[::-1].cumsum()[::-1]
        bg = self.whole.bg.quantised_hist()[::-1].cumsum()[::-1]
        return fg, bg

    # -- metrics ------------------------------------------------------------------------

    def mae(self) -> float:
        region = self.whole
        fg_error = region.fg.n - region.fg.total()
        return (fg_error + region.bg.total()) / self.size

    def fmeasure_at(self, threshold: float, beta2: float) -> float:
        tp = self.whole.fg.count_ge(threshold)
        if tp == 0:
            return 0.0
        predicted = tp + self.whole.bg.count_ge(threshold)
        precision, recall = tp / predicted, tp / self.n_fg
        return (1 + beta2) * precision * recall / (beta2 * precision + recall)

    def precision_recall(self) -> tuple[np.ndarray, np.ndarray]:
        tp, fp = self.counts_ge
        predicted = tp + fp
        predicted[predicted == 0] = 1
        return tp / predicted, tp / max(self.n_fg, 1)

    def _enhanced_sum(self, tp: Any, fp: Any) -> Any:
        size, n_fg = self.size, self.n_fg
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

    def emeasure_at(self, threshold: float) -> float:
        tp = self.whole.fg.count_ge(threshold)
        fp = self.whole.bg.count_ge(threshold)
        return float(self._enhanced_sum(tp, fp) / (self.size - 1 + EPS))

    def emeasure_curve(self) -> np.ndarray:
        tp, fp = self.counts_ge
        return np.asarray(self._enhanced_sum(tp, fp) / (self.size - 1 + EPS), dtype=np.float64)

    def smeasure(self, alpha: float) -> float:
        if self.n_fg == 0:
            return 1.0 - self.mean
        if self.n_fg == self.size:
            return self.mean
        whole = self.whole
        gt_mean = self.n_fg / self.size
        fg_score = _object_score(whole.fg, invert=False) * gt_mean
        bg_score = _object_score(whole.bg, invert=True) * (1 - gt_mean)
        object_score = fg_score + bg_score
        h, w = self.shape
        cy, cx = self.centroid
        area = h * w
        w_lt = cx * cy / area
        w_rt = cy * (w - cx) / area
        w_lb = (h - cy) * cx / area
        weights = (w_lt, w_rt, w_lb, 1 - w_lt - w_rt - w_lb)
        region_score = sum(
            _ssim(region) * weight
            for region, weight in zip(self.quadrants, weights)
            if region.size > 0
        )
        return max(0.0, alpha * object_score + (1 - alpha) * region_score)

    def weighted_fmeasure(self, beta2: float) -> float:
        if self.n_fg == 0:
            return 0.0
        gt = self.gt
        # Nearest foreground pixel of every pixel (itself for foreground pixels), the same
        # feature transform PySODMetrics takes from distance_transform_edt(gt == 0).
        nearest = ndimage.distance_transform_edt(~gt, return_distances=False, return_indices=True)
        h, w = self.shape
        # Pixel dependency only matters on the foreground: filter the error map, with the
        # background replaced by the error of its nearest foreground pixel, inside the
        # foreground's bounding box plus the 3-pixel reach of the 7x7 kernel. Nearest
        # foreground pixels all lie inside that window.
        fg_rows = np.flatnonzero(self.rows)
        fg_cols = np.flatnonzero(self.cols)
        y0, y1 = max(fg_rows[0] - 3, 0), min(fg_rows[-1] + 4, h)
        x0, x1 = max(fg_cols[0] - 3, 0), min(fg_cols[-1] + 4, w)
        window = (slice(y0, y1), slice(x0, x1))
        if self.v is not None:
            table = np.concatenate([self.table, 1 - self.table])
            error = table.take(self.code[window])
        else:
            error = np.abs(self._p[window] - gt[window])
        flat = nearest[0][window] - y0
        flat = flat.astype(np.intp)
        flat *= x1 - x0
        flat += nearest[1][window]
        flat -= x0
        spread = error.ravel().take(flat)
        kernel = _gauss1d()
        spread = ndimage.correlate1d(spread, kernel, axis=0, mode="constant", cval=0.0)
        spread = ndimage.correlate1d(spread, kernel, axis=1, mode="constant", cval=0.0)
        np.minimum(spread, error, out=spread)
        fg_weighted = float(spread[gt[window]].sum())
        # Pixel importance: background errors (= p) weigh 2 - 0.5 ** (distance / 5); only
        # background pixels with p > 0 contribute.
        if self.v is not None:
            positive = np.flatnonzero(self.table > 0)
            first = positive[0] if positive.size else 256
            contributing = self.v >= first if first < 256 else np.zeros(self.shape, bool)
        else:
            contributing = self._p > 0
        contributing &= ~gt
        index = np.flatnonzero(contributing)
        if self.v is not None:
            values = self.table.take(self.v.ravel().take(index))
        else:
            values = self._p.ravel().take(index)
        rows, cols = np.divmod(index, w)
        rows -= nearest[0].ravel().take(index)
        cols -= nearest[1].ravel().take(index)
        rows *= rows
        cols *= cols
        rows += cols  # squared distance, exact in int64
        importance = 2 - np.exp(np.log(0.5) / 5 * np.sqrt(rows, dtype=np.float64))
        bg_weighted = float((values * importance).sum())
        tp_w = self.n_fg - fg_weighted
        fp_w = bg_weighted
        recall = 1 - fg_weighted / self.n_fg
        precision = tp_w / (tp_w + fp_w + EPS)
        return (1 + beta2) * recall * precision / (recall + beta2 * precision + EPS)


def _gauss1d(size: int = 7, sigma: float = 5.0) -> np.ndarray:
    """1-D factor of MATLAB's ``fspecial('gaussian', size, sigma)`` (the 2-D kernel is its
    outer product with itself)."""
    x = np.arange(size) - (size - 1) / 2
    g = np.exp(-(x * x) / (2 * sigma * sigma))
    return g / g.sum()


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


# ----------------------------------------------------------------------------- functions


def prepare(pred: Any, mask: Any, *, normalize: bool | None = None, resize: bool = False) -> Any:
    """Check and prepare one prediction/mask pair; every metric accepts the result in place of
    ``pred`` (with ``mask=None``) so that several metrics share the work.

    Args:
        pred: ``(H, W)`` prediction, uint8 0..255 or float 0..1 (NumPy or torch).
        mask: ``(H, W)`` binary mask (bool, 0/1 or 0/255).
        normalize: min-max normalise ``pred``; ``None`` means yes for uint8, no for floats.
        resize: resize ``pred`` (bilinear, PIL; uint8 stays uint8, floats are resized in
            float32) to the mask's shape when they differ; otherwise a shape mismatch raises
            ``ValueError`` naming both shapes. (The MATLAB toolbox resizes every map silently
            with ``imresize``, bicubic; PySODMetrics does not resize.)

    Raises:
        ValueError: empty or non-2-D input, NaN/inf, float values outside [0, 1], a dtype
            other than uint8/float, a non-binary mask, or shapes that differ without ``resize``.
    """
    return _image(pred, mask, normalize, resize)


def _image(pred: Any, mask: Any, normalize: bool | None, resize: bool) -> _Image:
    if isinstance(pred, _Image):
        return pred
    return _Image(pred, mask, normalize=normalize, resize=resize)


def mae(pred: Any, mask: Any, *, normalize: bool | None = None, resize: bool = False) -> float:
    """Mean absolute error ``mean |p - gt|`` over the ``(H, W)`` image (Perazzi et al. 2012).

    Same figure as PySODMetrics ``MAE`` and MATLAB ``CalMAE.m`` (which min-max normalises).
    See :func:`prepare` for the arguments.
    """
    return float(_image(pred, mask, normalize, resize).mae())


def fmeasure(
    pred: Any,
    mask: Any,
    *,
    threshold: float | str = "adaptive",
    beta2: float = 0.3,
    normalize: bool | None = None,
    resize: bool = False,
) -> float:
    """F-measure ``(1 + b2) P R / (b2 P + R)`` of ``p >= threshold`` (Achanta et al. 2009).

    ``threshold="adaptive"`` is ``min(2 mean(p), 1)``; a float threshold in [0, 1] compares the
    unquantised ``p``. ``beta2`` is beta squared (0.3 by convention). When no foreground pixel
    is hit the F-measure is 0 (PySODMetrics and MATLAB ``Fmeasure_calu.m`` alike); with an
    empty mask it is therefore 0. For the 256-threshold curve use :func:`precision_recall`
    and :func:`fmeasure_from_pr`. See :func:`prepare` for the other arguments.
    """
    image = _image(pred, mask, normalize, resize)
    if threshold == "adaptive":
        threshold = image.adaptive_threshold
    elif isinstance(threshold, str):
        raise ValueError(f"expected threshold='adaptive' or a float, got {threshold!r}")
    return float(image.fmeasure_at(float(threshold), beta2))


def precision_recall(
    pred: Any, mask: Any, *, normalize: bool | None = None, resize: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall of ``floor(255 p) >= t`` for ``t = 0..255`` (two ``(256,)`` arrays).

    Precision is 0 where nothing is predicted (0/0; MATLAB sets its NaN to 0 too); recall is 0
    for an empty mask (PySODMetrics; MATLAB gives NaN). MATLAB's curves are the same values
    in reverse order (``[::-1]``). See :func:`prepare` for the arguments.
    """
    return _image(pred, mask, normalize, resize).precision_recall()


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
    normalize: bool | None = None,
    resize: bool = False,
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
    See :func:`prepare` for the other arguments.
    """
    return float(_image(pred, mask, normalize, resize).smeasure(alpha))


def emeasure(
    pred: Any,
    mask: Any,
    *,
    threshold: float | str = "adaptive",
    normalize: bool | None = None,
    resize: bool = False,
) -> float:
    """Enhanced-alignment measure of ``p >= threshold`` (Fan et al. 2018, Eq. 6).

    ``sum(phi) / (H W - 1 + eps)`` with the enhanced alignment matrix ``phi`` counted per
    confusion cell; for an empty (full) mask ``phi`` is 1 on predicted background
    (foreground) and 0 elsewhere. ``threshold="adaptive"`` is ``min(2 mean(p), 1)``.
    Same figure as PySODMetrics ``Emeasure`` (adaptive). See :func:`prepare`.
    """
    image = _image(pred, mask, normalize, resize)
    if threshold == "adaptive":
        threshold = image.adaptive_threshold
    elif isinstance(threshold, str):
        raise ValueError(f"expected threshold='adaptive' or a float, got {threshold!r}")
    return image.emeasure_at(float(threshold))


def emeasure_curve(
    pred: Any, mask: Any, *, normalize: bool | None = None, resize: bool = False
) -> np.ndarray:
    """E-measure of ``floor(255 p) >= t`` for ``t = 0..255``: a ``(256,)`` array computed from
    per-level counts, not 256 binarisations (PySODMetrics' curve in reverse order)."""
    return _image(pred, mask, normalize, resize).emeasure_curve()


def weighted_fmeasure(
    pred: Any,
    mask: Any,
    *,
    beta2: float = 1.0,
    normalize: bool | None = None,
    resize: bool = False,
) -> float:
    """Weighted F-measure of Margolin et al. 2014 (``WFb.m``), ``beta2 = 1`` by default.

    Errors ``E = |p - gt|``; on the foreground each error is replaced by ``min(E, EA)`` where
    ``EA`` is ``E`` (background pixels taking the error of their nearest foreground pixel)
    filtered with MATLAB's ``fspecial('gaussian', 7, 5)`` and zero padding; background
    errors are weighted by ``2 - 0.5 ** (d / 5)`` with ``d`` the Euclidean distance to the
    foreground. ``R = 1 - mean(E_w on fg)``, ``P = TP_w / (TP_w + FP_w + eps)``,
    ``F = (1 + b2) R P / (R + b2 P + eps)``. An empty mask scores 0 (PySODMetrics; MATLAB's
    ``WFb.m`` is undefined there). Nearest pixels come from SciPy's feature transform, as in
    PySODMetrics, so ties are broken identically. See :func:`prepare`.
    """
    return float(_image(pred, mask, normalize, resize).weighted_fmeasure(beta2))


# ----------------------------------------------------------------------------- evaluator


class SODEvaluator:
    """Streaming evaluator for every SOD figure over a dataset.

    Call :meth:`update` once per image and :meth:`results` at the end. Each image is prepared
    once (normalised, histogrammed by mask, split into quadrants) and every metric reads the
    same preparation; curves come from one histogram per image.

    Dataset figures follow PySODMetrics: scalars are means over images; ``precision``,
    ``recall``, ``fmeasure_curve`` and ``emeasure_curve`` are means over images of the
    per-image ``(256,)`` curves (ascending thresholds ``t = 0..255``; PySODMetrics and MATLAB
    store them reversed); ``mean_*`` and ``max_*`` are the mean and maximum of those mean
    curves. The MATLAB toolbox instead reports ``max(fmeasure_from_pr(precision, recall))``
    as its maximum F and leaves all-zero maps out of its averages.

    Args:
        beta2: beta squared of the F-measure (0.3).
        alpha: S-measure balance between object and region terms (0.5).
        wfm_beta2: beta squared of the weighted F-measure (1.0, as in ``WFb.m``).
        normalize, resize: see :func:`prepare`.

    Example:
        >>> import numpy as np
        >>> ev = SODEvaluator()
        >>> mask = np.zeros((16, 16), bool); mask[4:12, 4:12] = True
        >>> _ = ev.update((mask * 200).astype(np.uint8), mask)
        >>> round(ev.results()["mae"], 6)
        0.0
    """

    def __init__(
        self,
        *,
        beta2: float = 0.3,
        alpha: float = 0.5,
        wfm_beta2: float = 1.0,
        normalize: bool | None = None,
        resize: bool = False,
    ) -> None:
        self.beta2, self.alpha, self.wfm_beta2 = beta2, alpha, wfm_beta2
        self.normalize, self.resize = normalize, resize
        self.count = 0
        self._scalars = dict.fromkeys(("mae", "smeasure", "weighted_fmeasure"), 0.0)
        self._scalars.update(adaptive_fmeasure=0.0, adaptive_emeasure=0.0)
        self._curves = {key: np.zeros(NUM_THRESHOLDS) for key in CURVE_KEYS}

    def update(self, pred: Any, mask: Any) -> dict[str, float]:
        """Add one ``(H, W)`` prediction and its binary mask; returns that image's figures.

        The returned dict has the nine keys of :data:`SCALAR_KEYS`, for this image alone
        (``mean_*``/``max_*`` over its own curves).
        """
        image = _Image(pred, mask, normalize=self.normalize, resize=self.resize)
        if 0 < image.n_fg < image.size:
            image.quadrants  # noqa: B018 - the whole-image histogram is their sum
        precision, recall = image.precision_recall()
        fcurve = fmeasure_from_pr(precision, recall, self.beta2)
        ecurve = image.emeasure_curve()
        threshold = image.adaptive_threshold
        figures = {
            "mae": float(image.mae()),
            "smeasure": float(image.smeasure(self.alpha)),
            "weighted_fmeasure": float(image.weighted_fmeasure(self.wfm_beta2)),
            "adaptive_fmeasure": float(image.fmeasure_at(threshold, self.beta2)),
            "adaptive_emeasure": float(image.emeasure_at(threshold)),
        }
        for key, value in figures.items():
            self._scalars[key] += value
        for key, curve in zip(CURVE_KEYS, (precision, recall, fcurve, ecurve)):
            self._curves[key] += curve
        self.count += 1
        figures.update(
            mean_fmeasure=float(fcurve.mean()),
            max_fmeasure=float(fcurve.max()),
            mean_emeasure=float(ecurve.mean()),
            max_emeasure=float(ecurve.max()),
        )
        return {key: figures[key] for key in SCALAR_KEYS}

    def results(self) -> dict[str, Any]:
        """Dataset figures: floats under :data:`SCALAR_KEYS`, ``(256,)`` arrays under
        :data:`CURVE_KEYS` (means over the images seen so far).

        Raises:
            ValueError: when no image was added.
        """
        if self.count == 0:
            raise ValueError("SODEvaluator.results() needs at least one image, got 0 updates")
        n = self.count
        out: dict[str, Any] = {key: value / n for key, value in self._scalars.items()}
        curves = {key: curve / n for key, curve in self._curves.items()}
        out.update(
            mean_fmeasure=float(curves["fmeasure_curve"].mean()),
            max_fmeasure=float(curves["fmeasure_curve"].max()),
            mean_emeasure=float(curves["emeasure_curve"].mean()),
            max_emeasure=float(curves["emeasure_curve"].max()),
        )
        result = {key: float(out[key]) for key in SCALAR_KEYS}
        result.update(curves)
        return result


# ----------------------------------------------------------------------------- files

#: File name endings read as images by :func:`match_by_stem` (case-insensitive).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def _images_by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder of images, got {str(folder)!r}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in found:
                raise ValueError(
                    f"two images share the name {path.stem!r} in {folder}: "
                    f"{found[path.stem].name} and {path.name}"
                )
            found[path.stem] = path
    return found


def match_by_stem(
    pred_dir: str | os.PathLike[str], mask_dir: str | os.PathLike[str]
) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Pair predictions with masks by file stem (``a.png`` with ``a.jpg``).

    Returns:
        ``(pairs, masks_without_prediction, predictions_without_mask)``: ``pairs`` is a
        list of ``(stem, prediction_path, mask_path)`` sorted by stem; the other two list the
        stems that have no partner (sorted). Nothing is skipped silently: the caller decides.

    Raises:
        NotADirectoryError: a folder is missing. ValueError: two files share a stem, or a
        folder holds no image.
    """
    preds = _images_by_stem(Path(pred_dir))
    masks = _images_by_stem(Path(mask_dir))
    for folder, found in ((pred_dir, preds), (mask_dir, masks)):
        if not found:
            raise ValueError(
                f"expected images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}, found none"
            )
    stems = sorted(preds.keys() & masks.keys())
    pairs = [(stem, preds[stem], masks[stem]) for stem in stems]
    return pairs, sorted(masks.keys() - preds.keys()), sorted(preds.keys() - masks.keys())


def read_prediction(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a predicted map as ``(H, W)``: uint8 for 8-bit images (colour images converted
    to grey with PIL's ITU-R 601 luma), float64 in [0, 1] for 16-bit (divided by 65535) and
    for 32-bit float TIFFs (taken as they are)."""
    from PIL import Image

    with Image.open(path) as image:
        if image.mode == "F":
            return np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            return np.asarray(image, dtype=np.float64) / 65535.0
        if image.mode == "I":
            raise ValueError(f"expected an 8- or 16-bit prediction, got 32-bit integers: {path}")
        return np.asarray(image.convert("L"), dtype=np.uint8)


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a ground-truth mask as a ``(H, W)`` bool array (foreground = nonzero).

    Raises:
        ValueError: the image is not binary (values other than 0 and 255 after conversion
            to 8-bit grey), naming the file.
    """
    with open_image(path) as image:
        grey = np.asarray(image.convert("L"))
    try:
        return _binary_mask(grey)
    except ValueError as exc:
        raise ValueError(f"{exc}: {path}") from None
