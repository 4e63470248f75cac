"""Salient-object detection (SOD) metrics: MAE, F-measure, S-measure, E-measure, weighted F.

Plain functions score one prediction against one binary mask; :class:`SODEvaluator`
accumulates a whole dataset in streaming fashion and computes every figure from one pass
over each image.

Definitions follow PySODMetrics 1.6.2 (``py_sod_metrics``: ``MAE``, ``Fmeasure``,
``Smeasure``, ``Emeasure``, ``WeightedFmeasure``) and agree with it to about 1e-15 on the SOD
benchmark (the tests require 1e-9). Where the MATLAB code differs
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

How a mask is read (``mask_threshold=128``, ``strict_masks=False``, the defaults): masks as
the benchmarks ship them, with anti-aliased or resized edges, JPEG noise or soft values
averaged over annotators (PASCAL-S), are binarised as PySODMetrics binarises them:

* ``bool``: as given; numbers whose only values are 0 and 1: 0/1 masks (nonzero is
  foreground; PySODMetrics would call such a mask empty, since ``1 > 128`` is false);
* integers: grey levels 0..255 (other values are refused), foreground where
  ``level > mask_threshold`` (PySODMetrics ``gt > 128``); floats: levels / 255 in [0, 1]
  (or exactly 0/255), foreground where ``value > mask_threshold / 255``.
  :func:`~attnvision.saliency.datasets.read_mask` reads 8-bit images as levels (colour
  through PIL's luma, as ``cv2.IMREAD_GRAYSCALE``), 16-bit ones divided by 65535.
* ``strict_masks=True`` refuses every mask but ``bool``, 0/1 and 0/255 (naming the values
  found) instead of binarising.

With the defaults every figure equals PySODMetrics' on grey masks (tested to 1e-9 on
anti-aliased, JPEG-compressed and averaged masks). The MATLAB toolbox
(``performCalcu.m``) binarises ``im2double(gt) >= gtMapThreshold`` with ``0.5`` (its
``evaluate_models.m``; the original code used ``0.1``): foreground from level 128 instead
of 129, i.e. ``mask_threshold=127`` (``25`` for ``0.1``). For colour masks MATLAB takes
``rgb2gray`` of the double image (unrounded luma), PIL and OpenCV round the luma to 8 bits
first, so a pixel whose luma lies within half a level of the threshold can differ. On
0/255 masks all of these agree.

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

Speed: one ``bincount`` of ``level + 256 * mask + 512 * quadrant`` per image gives every
threshold count (curves, adaptive figures, MAE, the S-measure's means and variances); the
weighted F-measure needs SciPy's Euclidean feature transform (as PySODMetrics) and filters
only the foreground's bounding box; ``benchmarks/sod.py`` measures it against PySODMetrics
and one pass over the pixels (BENCHMARKS.md, "Salient-object metrics").

Layout: :mod:`.inputs` (input checks, masks, the per-image preparation), :mod:`.metrics`
(the metrics and their public functions), :mod:`.evaluator` (:class:`SODEvaluator`). Reading
SOD folders (:func:`~attnvision.saliency.datasets.match_by_stem`,
:func:`~attnvision.saliency.datasets.read_prediction`,
:func:`~attnvision.saliency.datasets.read_mask`) lives with the other file readers in
:mod:`attnvision.saliency.datasets`; the names are kept here too.
"""

from __future__ import annotations

from typing import Any

from .evaluator import CURVE_KEYS, SCALAR_KEYS, SODEvaluator
from .inputs import EPS, MASK_THRESHOLD, NUM_THRESHOLDS
from .metrics import (
    emeasure,
    emeasure_curve,
    fmeasure,
    fmeasure_from_pr,
    mae,
    precision_recall,
    prepare,
    smeasure,
    weighted_fmeasure,
)

__all__ = [
    "CURVE_KEYS",
    "EPS",
    "IMAGE_SUFFIXES",
    "MASK_THRESHOLD",
    "NUM_THRESHOLDS",
    "SCALAR_KEYS",
    "SODEvaluator",
    "emeasure",
    "emeasure_curve",
    "fmeasure",
    "fmeasure_from_pr",
    "mae",
    "match_by_stem",
    "precision_recall",
    "prepare",
    "read_mask",
    "read_prediction",
    "smeasure",
    "weighted_fmeasure",
]

_READERS = ("IMAGE_SUFFIXES", "match_by_stem", "read_mask", "read_prediction")


def __getattr__(name: str) -> Any:
    # the SOD folder readers live in saliency/datasets.py (which imports this package)
    if name in _READERS:
        from .. import datasets

        return getattr(datasets, name)
    raise AttributeError(f"module 'attnvision.saliency.sod' has no attribute {name!r}")
