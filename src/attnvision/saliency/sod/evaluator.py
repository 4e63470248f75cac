"""Streaming evaluation of a SOD dataset: :class:`SODEvaluator` and its result keys.

One ``update(pred, mask)`` per image prepares the pair once (:mod:`.inputs`) and computes
every figure from that preparation (:mod:`.metrics`); ``results()`` averages over images
as PySODMetrics does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .inputs import MASK_THRESHOLD, NUM_THRESHOLDS, _check_mask_threshold, _Image
from .metrics import (
    _emeasure_at,
    _emeasure_curve,
    _fmeasure_at,
    _mae,
    _precision_recall,
    _smeasure,
    _weighted_fmeasure,
    fmeasure_from_pr,
)

__all__ = ["CURVE_KEYS", "SCALAR_KEYS", "SODEvaluator"]

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
        normalize, resize, mask_threshold, strict_masks: see :func:`prepare` (grey masks
            are binarised at ``> 128`` of 255 by default, as PySODMetrics does).

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
        mask_threshold: float = MASK_THRESHOLD,
        strict_masks: bool = False,
    ) -> None:
        self.beta2, self.alpha, self.wfm_beta2 = beta2, alpha, wfm_beta2
        self.normalize, self.resize = normalize, resize
        self.mask_threshold = _check_mask_threshold(mask_threshold)
        self.strict_masks = bool(strict_masks)
        self.count = 0
        self._scalars = dict.fromkeys(("mae", "smeasure", "weighted_fmeasure"), 0.0)
        self._scalars.update(adaptive_fmeasure=0.0, adaptive_emeasure=0.0)
        self._curves = {key: np.zeros(NUM_THRESHOLDS) for key in CURVE_KEYS}

    def update(self, pred: Any, mask: Any) -> dict[str, float]:
        """Add one ``(H, W)`` prediction and its mask; returns that image's figures.

        The returned dict has the nine keys of :data:`SCALAR_KEYS`, for this image alone
        (``mean_*``/``max_*`` over its own curves). Same as ``add(score(pred, mask))``.
        """
        return self.add(self.score(pred, mask))

    def score(self, pred: Any, mask: Any) -> dict[str, Any]:
        """One image's figures without adding them: the five per-image scalars (``mae``,
        ``smeasure``, ``weighted_fmeasure``, ``adaptive_fmeasure``, ``adaptive_emeasure``)
        and its four ``(256,)`` curves (:data:`CURVE_KEYS`), for :meth:`add` (in this or
        another process)."""
        image = _Image(
            pred,
            mask,
            normalize=self.normalize,
            resize=self.resize,
            mask_threshold=self.mask_threshold,
            strict_masks=self.strict_masks,
        )
        precision, recall = _precision_recall(image)
        threshold = image.adaptive_threshold
        return {
            "mae": float(_mae(image)),
            "smeasure": float(_smeasure(image, self.alpha)),
            "weighted_fmeasure": float(_weighted_fmeasure(image, self.wfm_beta2)),
            "adaptive_fmeasure": float(_fmeasure_at(image, threshold, self.beta2)),
            "adaptive_emeasure": float(_emeasure_at(image, threshold)),
            "precision": precision,
            "recall": recall,
            "fmeasure_curve": fmeasure_from_pr(precision, recall, self.beta2),
            "emeasure_curve": _emeasure_curve(image),
        }

    def add(self, scores: dict[str, Any]) -> dict[str, float]:
        """Add one image's :meth:`score`; returns its nine figures (:data:`SCALAR_KEYS`).
        Adding the same scores in the same order gives the same results, wherever they
        were computed."""
        for key in self._scalars:
            self._scalars[key] += scores[key]
        for key in CURVE_KEYS:
            self._curves[key] += scores[key]
        self.count += 1
        fcurve, ecurve = scores["fmeasure_curve"], scores["emeasure_curve"]
        figures = {key: scores[key] for key in self._scalars}
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
