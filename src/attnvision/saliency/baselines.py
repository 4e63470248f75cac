"""Classic saliency baselines: centre bias, spectral residual, Itti-Koch-Niebur, frequency-tuned.

Every image function takes an ``(H, W, 3)`` RGB image (``uint8``, or floating point in
``[0, 1]``) or a grayscale ``(H, W)`` image and returns an ``(H, W)`` ``float64`` map in
``[0, 1]`` at the image's size (min-max rescaled; a map without any contrast is returned as
all zeros). :func:`center_bias` needs only a shape. The module depends on NumPy, SciPy and
Pillow only.

Fixation-prediction baselines:

- :func:`center_bias`: a Gaussian at the image centre (and :func:`fit_center_bias`, its
  maximum-likelihood fit to fixations).
- :func:`spectral_residual`: Hou and Zhang, "Saliency detection: a spectral residual
  approach", CVPR 2007.
- :func:`itti_koch`: Itti, Koch and Niebur, "A model of saliency-based visual attention for
  rapid scene analysis", IEEE TPAMI 20(11), 1998.

Salient-object baselines (the centre prior is :func:`center_bias` as well):

- :func:`frequency_tuned`: Achanta, Hemami, Estrada and Suesstrunk, "Frequency-tuned salient
  region detection", CVPR 2009.

Example:
    >>> import numpy as np
    >>> from attnvision.saliency.baselines import center_bias, spectral_residual
    >>> center_bias((3, 5)).shape
    (3, 5)
    >>> image = np.zeros((48, 64, 3), np.uint8); image[20:28, 30:38] = 255
    >>> sal = spectral_residual(image)
    >>> sal.shape, float(sal.min()), float(sal.max())
    ((48, 64), 0.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = [
    "DEFAULT_CENTER_SIGMA_FRAC",
    "OSIE_CENTER_FIT",
    "center_bias",
    "fit_center_bias",
    "frequency_tuned",
    "itti_koch",
    "rgb_to_lab",
    "spectral_residual",
]

#: Default width of :func:`center_bias`: the standard deviation as a fraction of each side.
DEFAULT_CENTER_SIGMA_FRAC = 0.2

#: :func:`fit_center_bias` on OSIE's fixations of images 1001-1500 (the benchmark's training
#: images; 1501-1600 are its test images), rounded: ``center_bias(shape, **OSIE_CENTER_FIT)``.
OSIE_CENTER_FIT: dict[str, tuple[float, float]] = {
    "sigma_frac": (0.194, 0.215),
    "center": (0.467, 0.501),
}

# ITU-R BT.601 luma weights, as MATLAB's rgb2gray (used by Hou and Zhang's code).
_LUMA = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])

# The 5-tap binomial filter of Burt and Adelson's Gaussian pyramid (also Achanta et al.'s blur).
_BINOMIAL5 = np.array([1.0, 4.0, 6.0, 4.0, 1.0]) / 16.0


# --------------------------------------------------------------------------------------
# input checks and small helpers
# --------------------------------------------------------------------------------------


def _as_image(image: Any, func: str) -> np.ndarray:
    """Validate an image and return it as float64 in [0, 1], shape (H, W) or (H, W, 3)."""
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"{func}() expected a NumPy array of shape (H, W, 3) or (H, W), "
            f"got {type(image).__name__}"
        )
    if image.ndim not in (2, 3):
        raise ValueError(
            f"{func}() expected an image of shape (H, W, 3) or (H, W), "
            f"got an array of shape {image.shape}"
        )
    if image.ndim == 3 and image.shape[2] != 3:
        raise ValueError(
            f"{func}() expected 3 colour channels in an (H, W, 3) image, "
            f"got shape {image.shape} with {image.shape[2]} channels"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{func}() expected a non-empty image, got shape {image.shape}")
    if image.dtype == np.uint8:
        return image.astype(np.float64) / 255.0
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(
            f"{func}() expected a uint8 image or a floating-point image in [0, 1], "
            f"got dtype {image.dtype}"
        )
    out = image.astype(np.float64)
    if not np.isfinite(out).all():
        raise ValueError(
            f"{func}() expected finite pixel values, got {int((~np.isfinite(out)).sum())} "
            "NaN or infinite values"
        )
    lo, hi = float(out.min()), float(out.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(
            f"{func}() expected a floating-point image in [0, 1], got values in [{lo:g}, {hi:g}]"
        )
    return out


def _to_gray(image: np.ndarray) -> np.ndarray:
    return image @ _LUMA if image.ndim == 3 else image


def _rescale(values: np.ndarray, top: float = 1.0) -> np.ndarray:
    """Min-max rescale to [0, top]; a map without contrast becomes all zeros."""
    lo, hi = float(values.min()), float(values.max())
    if not hi - lo > 1e-12 * max(abs(hi), abs(lo), 1e-300):
        return np.zeros(values.shape, dtype=np.float64)
    out = (values - lo) * (top / (hi - lo))
    return np.clip(out, 0.0, top)


def _resize(values: np.ndarray, shape: tuple[int, int], method: str = "bilinear") -> np.ndarray:
    """Resize a 2-D map with Pillow (antialiased when shrinking), pixel centres aligned."""
    height, width = shape
    if values.shape == (height, width):
        return values.astype(np.float64, copy=True)
    resample = {"bilinear": Image.Resampling.BILINEAR, "bicubic": Image.Resampling.BICUBIC}
    picture = Image.fromarray(np.ascontiguousarray(values, dtype=np.float32), mode="F")
    return np.asarray(picture.resize((width, height), resample[method]), dtype=np.float64)


def _check_shape(shape: Any, func: str) -> tuple[int, int]:
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{func}() expected a shape (H, W) of integers, got {shape!r}") from None
    except ValueError:
        raise ValueError(f"{func}() expected a shape (H, W) of integers, got {shape!r}") from None
    if len(dims) not in (2, 3) or dims[0] <= 0 or dims[1] <= 0:
        raise ValueError(f"{func}() expected a shape (H, W) of positive sizes, got {shape!r}")
    return dims[0], dims[1]


def _pair(value: float | Sequence[float], name: str, func: str) -> tuple[float, float]:
    values = (value, value) if np.isscalar(value) else tuple(value)  # type: ignore[arg-type]
    if len(values) != 2:
        raise ValueError(f"{func}() expected {name} as a number or a pair (y, x), got {value!r}")
    out = (float(values[0]), float(values[1]))
    if not all(np.isfinite(out)):
        raise ValueError(f"{func}() expected finite {name}, got {value!r}")
    return out


# --------------------------------------------------------------------------------------
# centre bias
# --------------------------------------------------------------------------------------


def center_bias(
    shape: Sequence[int],
    sigma_frac: float | Sequence[float] = DEFAULT_CENTER_SIGMA_FRAC,
    *,
    center: Sequence[float] = (0.5, 0.5),
) -> np.ndarray:
    """A Gaussian centre-bias map (also the centre prior of salient-object detection).

    ``map[i, j] = exp(-((y - cy)^2 / sy^2 + (x - cx)^2 / sx^2) / 2)`` with the pixel centres
    in normalised coordinates ``y = (i + 0.5) / H``, ``x = (j + 0.5) / W``; so the width
    follows the image's aspect ratio (``sy`` and ``sx`` are fractions of the height and the
    width). The peak is 1 at the centre and the map is symmetric under flips about the
    image's centre lines. Observers look at the middle of a picture (Tatler, "The central
    fixation bias in scene viewing", JoV 2007); this map is the standard baseline for it
    (pysaliency's ``GaussianSaliencyMapModel`` is the same map for ``sy == sx``, up to its
    pixel-corner coordinates).

    Args:
        shape: ``(H, W)`` (an image's ``(H, W, C)`` shape is accepted too).
        sigma_frac: standard deviation as a fraction of each side, one number or
            ``(sy, sx)``. The default 0.2 is a round value close to the maximum-likelihood
            fit to OSIE's fixations on images 1001-1500 (``sy = 0.194``, ``sx = 0.215``,
            centre ``(0.467, 0.501)``: observers look slightly above the middle); that fit
            is :data:`OSIE_CENTER_FIT` (see :func:`fit_center_bias` and
            ``benchmarks/saliency_baselines.py``).
        center: ``(cy, cx)`` in normalised coordinates; ``(0.5, 0.5)`` is the image centre.

    Returns:
        ``(H, W)`` float64 map in ``(0, 1]`` (not rescaled: a Gaussian with peak 1).

    Raises:
        ValueError: on a shape that is not ``(H, W)`` of positive sizes, or a width that is
            not positive.
    """
    height, width = _check_shape(shape, "center_bias")
    sy, sx = _pair(sigma_frac, "sigma_frac", "center_bias")
    cy, cx = _pair(center, "center", "center_bias")
    if sy <= 0 or sx <= 0:
        raise ValueError(f"center_bias() expected sigma_frac > 0, got {sigma_frac!r}")
    # offsets in pixels first: (i + 0.5 - H / 2) is exact, so flips are exact symmetries
    ys = (np.arange(height, dtype=np.float64) + 0.5 - cy * height) / (sy * height)
    xs = (np.arange(width, dtype=np.float64) + 0.5 - cx * width) / (sx * width)
    return np.exp(-0.5 * ys[:, None] ** 2) * np.exp(-0.5 * xs[None, :] ** 2)


def fit_center_bias(
    fixations: Iterable[np.ndarray], shapes: Iterable[Sequence[int]]
) -> dict[str, tuple[float, float]]:
    """Maximum-likelihood axis-aligned Gaussian of fixation positions, for :func:`center_bias`.

    Each fixation ``(x, y)`` (0-based pixel coordinates, ``(0, 0)`` the centre of the top-left
    pixel) of an ``(H, W)`` image is mapped to the normalised position
    ``((x + 0.5) / W, (y + 0.5) / H)``; the fit is the mean and the (biased, maximum-likelihood)
    standard deviation of those positions per axis, pooled over all images. Fit it on a
    training split only, and score it on other images.

    Args:
        fixations: per image, an ``(N, 2)`` array of ``(x, y)`` fixation coordinates.
        shapes: per image, its ``(H, W)``.

    Returns:
        ``{"sigma_frac": (sy, sx), "center": (cy, cx)}``; ``center_bias(shape, **fit)`` draws it.

    Raises:
        ValueError: when an array is not ``(N, 2)``, the counts of arrays and shapes differ,
            or there are fewer than two fixations in all.
    """
    xs: list[np.ndarray] = []
    ys: list[np.ndarray] = []
    shapes = list(shapes)
    fixations = list(fixations)
    if len(fixations) != len(shapes):
        raise ValueError(
            f"fit_center_bias() expected one shape per fixation array, got {len(fixations)} "
            f"fixation arrays and {len(shapes)} shapes"
        )
    for points, shape in zip(fixations, shapes):
        height, width = _check_shape(shape, "fit_center_bias")
        points = np.asarray(points, dtype=np.float64)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(
                f"fit_center_bias() expected fixations as (N, 2) arrays of (x, y), "
                f"got shape {points.shape}"
            )
        xs.append((points[:, 0] + 0.5) / width)
        ys.append((points[:, 1] + 0.5) / height)
    x = np.concatenate(xs) if xs else np.empty(0)
    y = np.concatenate(ys) if ys else np.empty(0)
    if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(
            f"fit_center_bias() expected at least 2 finite fixations, got {x.size} fixations"
        )
    return {
        "sigma_frac": (float(y.std()), float(x.std())),
        "center": (float(y.mean()), float(x.mean())),
    }


# --------------------------------------------------------------------------------------
# spectral residual
# --------------------------------------------------------------------------------------


def spectral_residual(
    image: np.ndarray,
    *,
    width: int = 64,
    avg_size: int = 3,
    sigma: float = 8.0,
    blur_mode: str = "reflect",
) -> np.ndarray:
    """Spectral-residual saliency (Hou and Zhang, CVPR 2007, eqs. 5-9).

    Steps, as in the paper: the grayscale image (BT.601 luma, as MATLAB's ``rgb2gray``) is
    resized to ``width`` pixels wide (64 in the paper; the height keeps the aspect ratio;
    Pillow bicubic, antialiased); ``A = |FFT|``, ``P = angle(FFT)``, ``L = log A``; the
    spectral residual ``R = L - h * L`` with ``h`` the ``avg_size x avg_size`` (3 x 3) mean
    filter (replicated borders, as the authors' MATLAB code); ``S = g * |IFFT(exp(R + iP))|^2``
    with ``g`` a Gaussian of standard deviation ``sigma`` (8 in the paper, in pixels of the
    64-px-wide map; the authors' released code uses 2.5); then ``S`` is resized back to
    ``(H, W)`` (bilinear) and rescaled to ``[0, 1]``.

    One choice the paper leaves open: frequencies whose amplitude is zero (at most ``1e-12``
    of the largest, i.e. zero up to rounding) have no phase, so they are left out of the
    reconstruction instead of being given amplitude ``exp(R)``; a constant image therefore
    gives a flat map (returned as all zeros) rather than a spike. Real photographs have no
    such frequencies, so this changes nothing for them.

    Scaling the image intensity by a constant adds ``log k`` to ``L`` and leaves ``R`` and the
    map unchanged.

    Args:
        image: ``(H, W, 3)`` or ``(H, W)``, ``uint8`` or float in ``[0, 1]``.
        width: width of the analysed image in pixels.
        avg_size: side of the local-average filter on the log spectrum.
        sigma: standard deviation of the final Gaussian blur, in pixels at ``width``.
        blur_mode: border handling of that blur (``scipy.ndimage`` mode; ``"constant"``
            zero-pads like MATLAB's ``imfilter``, which darkens the borders).

    Returns:
        ``(H, W)`` float64 map in ``[0, 1]``.

    Raises:
        ValueError, TypeError: on an array that is not an image (see the module docstring).
    """
    gray = _to_gray(_as_image(image, "spectral_residual"))
    modes = ("reflect", "constant", "nearest", "mirror", "wrap")
    if blur_mode not in modes:
        raise ValueError(
            f"spectral_residual() expected blur_mode in {', '.join(modes)}, got {blur_mode!r}"
        )
    if int(width) < 1 or int(avg_size) < 1 or not float(sigma) >= 0:
        raise ValueError(
            "spectral_residual() expected width >= 1, avg_size >= 1 and sigma >= 0, got "
            f"width={width}, avg_size={avg_size}, sigma={sigma}"
        )
    height_in, width_in = gray.shape
    small_h = max(1, int(round(height_in * width / width_in)))
    small = _resize(gray, (small_h, int(width)), "bicubic")

    spectrum = np.fft.fft2(small)
    amplitude = np.abs(spectrum)
    floor = 1e-12 * float(amplitude.max())
    if floor <= 0.0:  # a black image
        return np.zeros((height_in, width_in), dtype=np.float64)
    present = amplitude > floor
    log_amp = np.log(np.maximum(amplitude, floor))
    residual = log_amp - ndimage.uniform_filter(log_amp, size=int(avg_size), mode="nearest")
    phase = np.exp(1j * np.angle(spectrum))
    rebuilt = np.where(present, np.exp(residual) * phase, 0.0)
    sal = np.abs(np.fft.ifft2(rebuilt)) ** 2
    if sigma > 0:
        sal = ndimage.gaussian_filter(sal, float(sigma), mode=blur_mode)
    sal = _rescale(sal)
    return _rescale(_resize(sal, (height_in, width_in), "bilinear"))


# --------------------------------------------------------------------------------------
# frequency-tuned salient-object baseline
# --------------------------------------------------------------------------------------

# sRGB (D65) to CIE XYZ, IEC 61966-2-1, and the D65 reference white.
_RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
_WHITE_D65 = _RGB_TO_XYZ.sum(axis=1)


def rgb_to_lab(image: np.ndarray) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB image.

    sRGB companding is undone (``c / 12.92`` below 0.04045, ``((c + 0.055) / 1.055)^2.4``
    above), linear RGB goes to XYZ with the IEC 61966-2-1 matrix, and XYZ to Lab with the
    CIE 1976 formulas against the D65 white (the matrix's row sums), as
    ``skimage.color.rgb2lab``. A grayscale ``(H, W)`` image is converted as ``r = g = b``.

    Args:
        image: ``(H, W, 3)`` or ``(H, W)``, ``uint8`` or float in ``[0, 1]``.

    Returns:
        ``(H, W, 3)`` float64 array: L in ``[0, 100]``, a and b roughly in ``[-128, 127]``.
    """
    return _lab(_as_image(image, "rgb_to_lab"))


def _lab(rgb: np.ndarray) -> np.ndarray:
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = (linear @ _RGB_TO_XYZ.T) / _WHITE_D65
    eps = (6.0 / 29.0) ** 3
    f = np.where(xyz > eps, np.cbrt(xyz), xyz / (3.0 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    lab = np.empty_like(f)
    lab[..., 0] = 116.0 * f[..., 1] - 16.0
    lab[..., 1] = 500.0 * (f[..., 0] - f[..., 1])
    lab[..., 2] = 200.0 * (f[..., 1] - f[..., 2])
    return lab


def frequency_tuned(image: np.ndarray) -> np.ndarray:
    """Frequency-tuned salient-region map (Achanta et al., CVPR 2009, eq. 5).

    ``S(x, y) = || I_mu - I_whc(x, y) ||``: the Euclidean distance, in CIE L*a*b* (D65, see
    :func:`rgb_to_lab`), between the mean Lab vector of the image and each pixel of the image
    blurred with the 5 x 5 separable binomial kernel ``[1 4 6 4 1] / 16`` (mirrored borders;
    the blur is applied to the Lab channels). The map is rescaled to ``[0, 1]``. Unlike
    the other maps it changes when the intensity is scaled (Lab is not linear in RGB).

    Args:
        image: ``(H, W, 3)`` or ``(H, W)``, ``uint8`` or float in ``[0, 1]``.

    Returns:
        ``(H, W)`` float64 map in ``[0, 1]``.

    Raises:
        ValueError, TypeError: on an array that is not an image (see the module docstring).
    """
    lab = _lab(_as_image(image, "frequency_tuned"))
    mean = lab.reshape(-1, 3).mean(axis=0)
    blurred = ndimage.convolve1d(lab, _BINOMIAL5, axis=0, mode="reflect")
    blurred = ndimage.convolve1d(blurred, _BINOMIAL5, axis=1, mode="reflect")
    return _rescale(np.sqrt(((blurred - mean) ** 2).sum(axis=2)))


from .itti_koch import itti_koch  # noqa: E402  (it reads this module's helpers)
