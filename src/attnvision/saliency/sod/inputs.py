"""One prediction and its mask, checked and prepared once for every SOD metric.

What lives here: the input checks (``_to_numpy``, ``_check_pred``, ``_binary_mask``), the
explicit resize (``_resize_pred``), and ``_Image``: the prediction read as PySODMetrics
reads it (see :mod:`attnvision.saliency.sod`), split by the mask into foreground and
background value bags (``_Bag``, ``_Region``) for the whole image and its four S-measure
quadrants, with the per-level threshold counts the curves are made of. The metrics that
read an ``_Image`` live in :mod:`.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

EPS = float(np.spacing(1))
NUM_THRESHOLDS = 256


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


#: PySODMetrics' ``gt > 128``: a grey mask pixel is foreground above this value of 255.
MASK_THRESHOLD = 128


def _check_mask_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)):
        raise TypeError(f"expected mask_threshold as a number, got {type(threshold).__name__}")
    if not 0 <= threshold < 255:
        raise ValueError(f"expected mask_threshold in [0, 255), got {threshold!r}")
    return float(threshold)


def _shown_values(mask: np.ndarray) -> str:
    """The first distinct values of a mask, for an error message (sorted, at most six)."""
    if mask.dtype == np.uint8:
        values = np.flatnonzero(np.bincount(mask.ravel(), minlength=256))
    else:
        values = np.unique(mask)
    return ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if values.size > 6 else "")


def _only(mask: np.ndarray, value: float) -> bool:
    """Whether every nonzero entry of ``mask`` equals ``value``."""
    return np.count_nonzero(mask) == np.count_nonzero(mask == value)


def _binary_mask(
    mask: Any, *, threshold: float = MASK_THRESHOLD, strict: bool = False
) -> np.ndarray:
    """The foreground of ``mask`` as a bool ``(H, W)`` array (see the package docstring).

    ``bool`` masks are used as they are and masks whose values are all 0 or 1 are 0/1
    masks. Otherwise integer masks are grey levels 0..255 and float masks lie in [0, 1]
    (grey level / 255); a pixel is foreground when its grey level is ``> threshold``
    (PySODMetrics' ``gt > 128``). ``strict`` refuses everything but bool, 0/1 and 0/255.
    """
    mask = _to_numpy(mask, "mask")
    if mask.dtype == bool:
        return mask
    integer = np.issubdtype(mask.dtype, np.integer)
    if not (integer or np.issubdtype(mask.dtype, np.floating)):
        raise ValueError(f"expected a mask of bool, integer or float dtype, got {mask.dtype}")
    low, high = mask.min(), mask.max()
    if not integer and not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError("expected a finite mask, got NaN or infinite values")
    if low >= 0 and high <= 1 and (integer or _only(mask, 1)):
        return mask.view(bool) if mask.dtype == np.uint8 else mask != 0  # a 0/1 mask
    if strict:
        if low >= 0 and high == 255 and _only(mask, 255):
            return mask != 0
        raise ValueError(
            f"expected a binary mask (values 0/1 or 0/255), got values {_shown_values(mask)} "
            "(grey masks are binarised at > 128 unless strict masks are asked for)"
        )
    threshold = _check_mask_threshold(threshold)
    if integer:
        if low < 0 or high > 255:
            raise ValueError(
                f"expected an integer mask with grey levels 0..255, got min {low} and max {high}"
            )
        return mask > threshold
    if low >= 0 and high == 255 and _only(mask, 255):
        return mask != 0  # a 0/255 float mask
    if low < 0 or high > 1:
        raise ValueError(
            f"expected a float mask in [0, 1] (or 0/255), got min {low:g} and max {high:g} "
            "(pass 0..255 grey masks as uint8)"
        )
    return mask > threshold / 255


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

    @cached_property
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
        self,
        pred: Any,
        mask: Any,
        *,
        normalize: bool | None = None,
        resize: bool = False,
        mask_threshold: float = MASK_THRESHOLD,
        strict_masks: bool = False,
    ) -> None:
        pred = _to_numpy(pred, "pred")
        gt = _binary_mask(mask, threshold=mask_threshold, strict=strict_masks)
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
            self._shift: tuple[float, float] | None = None  # (low, high - low) of min-max
            if normalize is None or normalize:
                low, high = table[pred.min()], table[pred.max()]
                if high != low:
                    self._shift = (low, high - low)
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

    def values(self, window: tuple[slice, slice]) -> np.ndarray:
        """``p`` on ``window`` as a new float64 array; for uint8 maps the table's own
        arithmetic per pixel (identical values, faster than a lookup)."""
        if self.v is None:
            return self._p[window].copy()
        p = self.v[window].astype(np.float64)
        p /= 255
        if self._shift is not None:
            p -= self._shift[0]
            p /= self._shift[1]
        return p

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

    @cached_property
    def quadrants(self) -> list[_Region]:
        """The four regions split at :attr:`centroid`: top-left, top-right, bottom-left,
        bottom-right (uint8 path: their ``v + 256 gt`` histograms from one ``bincount``)."""
        h, w = self.shape
        cy, cx = self.centroid
        if self.v is not None:
            code = np.multiply(self.gt, 256, dtype=np.uint16)
            code += self.v
            code[cy:] += 1024
            code[:, cx:] += 512
            counts = np.bincount(code.ravel(), minlength=2048).reshape(4, 512)
            return [_Region(_Bag(self.table, c[256:]), _Bag(self.table, c[:256])) for c in counts]
        regions = []
        for rows, cols in ((slice(0, cy), slice(0, cx)), (slice(0, cy), slice(cx, w)),
                           (slice(cy, h), slice(0, cx)), (slice(cy, h), slice(cx, w))):  # fmt: skip
            p, g = self._p[rows, cols], self.gt[rows, cols]
            regions.append(_Region(_Bag(p[g]), _Bag(p[~g])))
        return regions

    @cached_property
    def whole(self) -> _Region:
        """The whole image (uint8 path: the sum of the quadrants' histograms)."""
        if self.v is not None:
            fg = sum(r.fg.counts for r in self.quadrants)
            bg = sum(r.bg.counts for r in self.quadrants)
            return _Region(_Bag(self.table, fg), _Bag(self.table, bg))
        return _Region(_Bag(self._p[self.gt]), _Bag(self._p[~self.gt]))

    @cached_property
    def mean(self) -> float:
        region = self.whole
        return (region.fg.total() + region.bg.total()) / self.size

    @cached_property
    def adaptive_threshold(self) -> float:
        return min(2 * self.mean, 1.0)

    @cached_property
    def counts_ge(self) -> tuple[np.ndarray, np.ndarray]:
        """Foreground / background pixel counts with ``floor(255 p) >= t`` for t = 0..255."""
        fg = self.whole.fg.quantised_hist()[::-1].cumsum()[::-1]
        bg = self.whole.bg.quantised_hist()[::-1].cumsum()[::-1]
        return fg, bg
