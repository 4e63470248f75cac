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

Speed: AUC-Judd is computed from the sorted fixation values and exact per-threshold pixel
counts obtained from one bucketed histogram of the map (only the pixels that share a
bucket with a fixation value are compared exactly), so no metric sorts every pixel;
AUC-Borji's pixel shares per threshold come from the same pass, and the sampled AUCs draw
each split's numbers of negatives per threshold bin directly (see :mod:`.auc`).
``SaliencyEvaluator.update`` validates each map once and shares its sum, minimum, maximum
and sum of squares across the metrics; fixation maps are scanned 8 bytes at a time; dot
products run as single-threaded BLAS calls on short rows (a multithreaded BLAS dot is slow
on a busy machine); KLD and SIM are rewritten so that each needs one scaled copy of the
prediction (see ``_kld``, ``_sim``). ``benchmarks/saliency.py`` measures each metric
against pysaliency and against one pass over the pixels (BENCHMARKS.md, "Fixation
metrics").

Layout: :mod:`.checks` (input checks, the shared per-map statistics), :mod:`.auc` (the three
AUCs), :mod:`.distribution` (NSS, CC, KLD, SIM, information gain), :mod:`.transport` (EMD),
:mod:`.evaluator` (:class:`SaliencyEvaluator`, :data:`METRICS`, :data:`DEFAULT_METRICS`).
Everything public is importable from ``attnvision.saliency.metrics``.
"""

from __future__ import annotations

from .auc import auc_borji, auc_judd, auc_shuffled
from .checks import EPS
from .distribution import cc, info_gain, kld, nss, sim
from .evaluator import DEFAULT_METRICS, METRICS, SaliencyEvaluator
from .transport import emd

__all__ = [
    "DEFAULT_METRICS",
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
