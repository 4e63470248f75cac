"""Ground-truth saliency maps from eye fixations.

Fixations are rows ``(x, y[, observer, duration])`` in pixel coordinates of the image,
``x`` to the right and ``y`` down, 0-based with ``(0, 0)`` the centre of the top-left
pixel (pass ``origin=1`` for MATLAB's 1-based coordinates, as in OSIE's ``fixations.mat``).
A fixation falls on pixel ``(floor(y + 0.5), floor(x + 0.5))`` (MATLAB's ``round`` for
positive coordinates). All observers are pooled.

The ground truth follows the MIT saliency benchmark (Judd et al. 2009; Bylinskii et al.
2019): a binary map of the fixated pixels, blurred by a Gaussian of about one degree of
visual angle, normalised. :func:`density_map` sums to 1 (a probability map, as KLD and
SIM expect); :func:`to_unit_range` rescales to ``[0, 1]`` for storage as an image.

Fixations outside the image are dropped, never moved (OSIE's own MATLAB code clamps
them to the border): the functions warn with their number and can return it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "OSIE_PPD",
    "density_map",
    "fixation_map",
    "gaussian_blur",
    "pixels_per_degree",
    "to_unit_range",
]

#: Pixels per degree of visual angle used for OSIE (800x600 stimuli). The OSIE authors'
#: own code (NUS-VIP/predicting-human-gaze-beyond-pixels, ``src/common/config.m``) blurs
#: fixation maps with a Gaussian of sigma ``params.eye.radius = 24`` pixels as its one
#: degree, i.e. 24 px/deg. (Xu et al., JoV 2014, give the viewing geometry in the paper;
#: we could not read the paper text here, so the value is the authors' code's.)
OSIE_PPD: float = 24.0

_MODES = ("constant", "reflect", "nearest", "mirror", "wrap")
_NUMPY_PAD = {
    "reflect": "symmetric",
    "nearest": "edge",
    "mirror": "reflect",
    "wrap": "wrap",
}


def pixels_per_degree(screen_width_cm: float, resolution_x: int, distance_cm: float) -> float:
    """Pixels per degree of visual angle, averaged over the screen width.

    ``ppd = resolution_x / (2 * atan(screen_width / (2 * distance)))`` with the angle in
    degrees (the whole screen's horizontal visual angle divided into its pixels).

    Args:
        screen_width_cm: visible width of the screen.
        resolution_x: horizontal resolution in pixels.
        distance_cm: eye-to-screen distance.

    Example:
        >>> round(pixels_per_degree(40.0, 1024, 75.0), 2)
        34.29
    """
    for name, value in (
        ("screen_width_cm", screen_width_cm),
        ("resolution_x", resolution_x),
        ("distance_cm", distance_cm),
    ):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    angle = 2.0 * math.degrees(math.atan(screen_width_cm / (2.0 * distance_cm)))
    return float(resolution_x) / angle


def _as_fixation_rows(fixations: Any) -> np.ndarray:
    """Pool fixations: an ``(N, k>=2)`` array or a sequence of them (one per observer)."""
    if isinstance(fixations, np.ndarray) or not isinstance(fixations, Sequence):
        arr = np.asarray(fixations, dtype=np.float64)
    else:
        parts = [np.asarray(p, dtype=np.float64) for p in fixations]
        if parts and all(p.ndim == 2 for p in parts):
            arr = np.concatenate(parts, axis=0) if parts else np.zeros((0, 2))
        else:
            arr = np.asarray(fixations, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 2))
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise ValueError(
            f"fixations must be rows (x, y[, observer, duration]) of shape (N, 2+), got "
            f"shape {arr.shape}"
        )
    if not np.isfinite(arr[:, :2]).all():
        raise ValueError("fixations must have finite x and y, got NaN/Inf")
    return arr


def _check_shape(shape: Any) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be (H, W), got {shape!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"shape must be positive (H, W), got {shape!r}")
    return h, w


def fixation_map(
    fixations: Any,
    shape: tuple[int, int],
    *,
    binary: bool = True,
    origin: int = 0,
    return_dropped: bool = False,
    warn: bool = True,
) -> np.ndarray | tuple[np.ndarray, int]:
    """Pool fixations into an ``(H, W)`` map of fixated pixels.

    Args:
        fixations: rows ``(x, y[, observer, duration])``, ``(N, 2+)``, or a list of such
            arrays (one per observer), pooled.
        shape: ``(H, W)`` of the image.
        binary: 1 at every fixated pixel (MIT benchmark); ``False`` counts fixations.
        origin: 0 for 0-based coordinates, 1 for MATLAB's 1-based ones.
        return_dropped: also return the number of fixations outside the image.
        warn: warn (``UserWarning``) when fixations are dropped.

    Returns:
        ``(H, W)`` float64 map (and the dropped count when ``return_dropped``).
    """
    h, w = _check_shape(shape)
    if origin not in (0, 1):
        raise ValueError(f"origin must be 0 or 1, got {origin!r}")
    rows = _as_fixation_rows(fixations)
    cols = np.floor(rows[:, 0] - origin + 0.5).astype(np.int64)
    lines = np.floor(rows[:, 1] - origin + 0.5).astype(np.int64)
    inside = (cols >= 0) & (cols < w) & (lines >= 0) & (lines < h)
    dropped = int(rows.shape[0] - np.count_nonzero(inside))
    if dropped and warn:
        warnings.warn(
            f"{dropped} of {rows.shape[0]} fixations lie outside the {h}x{w} image and were "
            "dropped",
            UserWarning,
            stacklevel=2,
        )
    flat = lines[inside] * w + cols[inside]
    out = np.bincount(flat, minlength=h * w).astype(np.float64).reshape(h, w)
    if binary:
        out = (out > 0).astype(np.float64)
    return (out, dropped) if return_dropped else out


def _gaussian_kernel1d(sigma: float, radius: int) -> np.ndarray:
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(
    image: Any,
    sigma: float,
    *,
    mode: str = "constant",
    method: str = "auto",
    truncate: float = 4.0,
) -> np.ndarray:
    """Gaussian filter of an ``(H, W)`` map, separable or by FFT.

    Both methods apply the same sampled kernel ``exp(-x^2 / (2 sigma^2))``, normalised to
    sum 1 and cut at ``truncate * sigma`` (SciPy's ``gaussian_filter`` convention), so they
    agree to rounding. ``method="auto"`` uses the separable filter (cost ``~ H W sigma``)
    for ``sigma <= 12`` and FFT convolution (cost ``~ H W log(H W)``) above.

    Boundary (``mode``): ``"constant"`` (default) pads with zeros, so mass blurred past the
    border is lost before normalisation. This is what the MIT benchmark does: its
    ``antonioGaussian.m`` zero-pads the map to twice a power of two and multiplies by a
    Gaussian transfer function in the Fourier domain (cut-off ``fc`` cycles per image,
    spatial ``sigma = n2 / (sqrt(2) pi fc / sqrt(log 2))`` for padded size ``n2``), and
    ``imfilter(map, G, 0)`` (used by OSIE's code) pads with zeros as well. SciPy's other
    modes (``"reflect"``, ``"nearest"``, ``"mirror"``, ``"wrap"``) keep the mass inside.

    Args:
        image: ``(H, W)`` map.
        sigma: standard deviation in pixels (``> 0``).
        mode: boundary handling, one of SciPy's ndimage modes listed above.
        method: ``"auto"``, ``"separable"`` or ``"fft"``.
        truncate: kernel radius in standard deviations.
    """
    arr = np.asarray(image, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"image must have shape (H, W), got shape {arr.shape}")
    if not (np.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive number of pixels, got {sigma!r}")
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
    if method not in ("auto", "separable", "fft"):
        raise ValueError(f"method must be 'auto', 'separable' or 'fft', got {method!r}")
    if method == "auto":
        method = "separable" if sigma <= 12 else "fft"
    if method == "separable":
        from scipy.ndimage import gaussian_filter

        return gaussian_filter(arr, sigma, mode=mode, truncate=truncate, cval=0.0)
    from scipy.signal import fftconvolve

    radius = int(truncate * float(sigma) + 0.5)
    k = _gaussian_kernel1d(float(sigma), radius)
    if mode == "constant":
        padded = np.pad(arr, radius, mode="constant")
    else:
        padded = np.pad(arr, radius, mode=_NUMPY_PAD[mode])
    out = fftconvolve(padded, np.outer(k, k), mode="valid")
    return np.ascontiguousarray(out)


def to_unit_range(saliency: Any) -> np.ndarray:
    """Rescale a map to ``[0, 1]``: ``(m - min) / (max - min)``; a constant map gives zeros."""
    arr = np.asarray(saliency, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("expected a finite map, got NaN/Inf values")
    lo, hi = (arr.min(), arr.max()) if arr.size else (0.0, 0.0)
    if hi > lo:
        return (arr - lo) / (hi - lo)
    return np.zeros_like(arr)


def density_map(
    fixations: Any,
    shape: tuple[int, int],
    sigma: float,
    *,
    unit: str = "px",
    ppd: float | None = None,
    binary: bool = True,
    origin: int = 0,
    mode: str = "constant",
    method: str = "auto",
    truncate: float = 4.0,
    return_dropped: bool = False,
) -> np.ndarray | tuple[np.ndarray, int]:
    """Ground-truth fixation density: blurred pooled fixations, summing to 1.

    ``D = G_sigma * F / sum(G_sigma * F)`` with ``F`` the (binary by default) fixation map
    of :func:`fixation_map` and ``G_sigma`` the Gaussian of :func:`gaussian_blur`.

    Args:
        fixations: rows ``(x, y[, observer, duration])`` or a list of per-observer arrays.
        shape: ``(H, W)``.
        sigma: Gaussian standard deviation, in pixels (``unit="px"``) or in degrees of
            visual angle (``unit="deg"``, then ``sigma_px = sigma * ppd``; see
            :func:`pixels_per_degree`, :data:`OSIE_PPD`).
        unit: ``"px"`` or ``"deg"``.
        ppd: pixels per degree, required with ``unit="deg"``.
        binary: one count per fixated pixel (MIT benchmark) or every fixation counted.
        origin: 0 or 1 (MATLAB) based coordinates.
        mode, method, truncate: of :func:`gaussian_blur`.
        return_dropped: also return the number of fixations outside the image.

    Returns:
        ``(H, W)`` float64 map, non-negative, summing to 1.

    Raises:
        ValueError: no fixation inside the image, or a bad sigma/unit/ppd.

    Example:
        >>> d = density_map([[10, 5], [30, 20]], (40, 60), sigma=3)
        >>> round(float(d.sum()), 6)
        1.0
    """
    if unit not in ("px", "deg"):
        raise ValueError(f"unit must be 'px' or 'deg', got {unit!r}")
    if unit == "deg":
        if ppd is None or not (np.isfinite(ppd) and ppd > 0):
            raise ValueError(f"unit='deg' needs a positive ppd (pixels per degree), got {ppd!r}")
        sigma_px = float(sigma) * float(ppd)
    else:
        sigma_px = float(sigma)
    if not (np.isfinite(sigma_px) and sigma_px > 0):
        raise ValueError(f"sigma must be positive, got {sigma!r} {unit}")
    fmap, dropped = fixation_map(
        fixations, shape, binary=binary, origin=origin, return_dropped=True, warn=False
    )
    if dropped:
        warnings.warn(
            f"{dropped} fixations lie outside the {shape[0]}x{shape[1]} image and were dropped",
            UserWarning,
            stacklevel=2,
        )
    if not fmap.any():
        raise ValueError(f"expected at least one fixation inside the {shape} image, got none")
    blurred = gaussian_blur(fmap, sigma_px, mode=mode, method=method, truncate=truncate)
    np.maximum(blurred, 0.0, out=blurred)  # FFT rounding can leave tiny negatives
    total = blurred.sum()
    if total <= 0:  # pragma: no cover - a positive map blurred keeps positive mass
        raise ValueError("the blurred fixation map has no mass")
    out = blurred / total
    return (out, dropped) if return_dropped else out
