"""The Itti-Koch-Niebur saliency model (a classic fixation baseline).

L. Itti, C. Koch, E. Niebur, "A model of saliency-based visual attention for rapid scene
analysis", IEEE TPAMI 20(11), 1998: Gaussian pyramids of intensity, colour opponency and
Gabor orientation, centre-surround differences, the map normalisation operator N(.) and
the sum into one conspicuity map. Re-exported by :mod:`attnvision.saliency.baselines`,
whose input conventions and helpers it shares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from .baselines import _BINOMIAL5, _as_image, _rescale, _resize

__all__ = ["itti_koch"]


def _pyr_down(level: np.ndarray) -> np.ndarray:
    """One octave of a Gaussian pyramid, pixel centres kept in register.

    5-tap binomial blur, then the mean of each 2 x 2 block (an odd side is first extended
    by repeating its last row/column): together the 6-tap binomial ``[1 5 10 10 5 1] / 32``
    centred between the pixel pairs, so output pixel ``k`` sits at input ``2k + 0.5``, the
    geometry the bilinear resizing of ``_resize`` assumes. (Keeping every other pixel,
    ``blurred[::2]``, would shift each level by half a pixel of the finer one: coarse levels
    would no longer line up with fine ones, which shows as bright left and top borders.)
    """
    pad = ((0, level.shape[0] % 2), (0, level.shape[1] % 2))
    if any(p[1] for p in pad):
        level = np.pad(level, pad, mode="edge")
    blurred = ndimage.convolve1d(level, _BINOMIAL5, axis=0, mode="reflect")
    blurred = ndimage.convolve1d(blurred, _BINOMIAL5, axis=1, mode="reflect")
    blurred = 0.5 * (blurred[0::2] + blurred[1::2])
    return 0.5 * (blurred[:, 0::2] + blurred[:, 1::2])


def _pyramid(base: np.ndarray, levels: int) -> list[np.ndarray]:
    out = [base]
    for _ in range(levels - 1):
        out.append(_pyr_down(out[-1]))
    return out


def _gabor_pair(theta_deg: float, period: float, sigma: float, size: int) -> list[np.ndarray]:
    """Even (zero-mean) and odd Gabor kernels, carrier along direction ``theta``."""
    half = size // 2
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    theta = np.deg2rad(theta_deg)
    along = xx * np.cos(theta) - yy * np.sin(theta)  # y grows downwards in images
    envelope = np.exp(-(xx**2 + yy**2) / (2.0 * sigma**2))
    even = envelope * np.cos(2.0 * np.pi * along / period)
    even -= envelope * (even.sum() / envelope.sum())  # zero DC response
    odd = envelope * np.sin(2.0 * np.pi * along / period)
    return [even, odd]


def _max_normalize(feature: np.ndarray, top: float = 1.0) -> np.ndarray:
    """Itti et al.'s N(.) operator (1998, section 2.2).

    Rescale to ``[0, top]``, find the global maximum ``M = top`` and the mean ``m_bar`` of the
    other local maxima, and multiply the map by ``(M - m_bar)^2``. Local maxima are pixels not
    smaller than any of their 8 neighbours and at least ``top / 10`` (the threshold of the
    SaliencyToolbox and iLab code); an 8-connected group of such pixels (a plateau) counts as
    one maximum. Without other maxima ``m_bar = 0``. A map without contrast becomes zeros.
    """
    scaled = _rescale(feature, top)
    if not scaled.any():
        return scaled
    peak_mask = scaled >= ndimage.maximum_filter(scaled, size=3, mode="constant", cval=-np.inf)
    peak_mask &= scaled >= 0.1 * top
    labels, count = ndimage.label(peak_mask, structure=np.ones((3, 3)))
    peaks = np.asarray(ndimage.maximum(scaled, labels, np.arange(1, count + 1)), dtype=float)
    others = np.sort(peaks)[:-1]  # drop the global maximum (one group)
    m_bar = float(others.mean()) if others.size else 0.0
    return scaled * (top - m_bar) ** 2


def itti_koch(
    image: np.ndarray,
    *,
    center_levels: Sequence[int] = (2, 3, 4),
    deltas: Sequence[int] = (3, 4),
    orientations: Sequence[float] = (0.0, 45.0, 90.0, 135.0),
    gabor_period: float = 7.0,
    gabor_sigma: float = 7.0 / 3.0,
    gabor_size: int = 9,
    map_level: int = 4,
) -> np.ndarray:
    """Itti-Koch-Niebur saliency (IEEE TPAMI 20(11):1254-1259, 1998, section 2).

    Steps, as in the paper (equation numbers of the paper):

    - Intensity ``I = (r + g + b) / 3``. ``r, g, b`` are divided by ``I`` where
      ``I > max(I) / 10`` and set to 0 elsewhere (hue is not perceivable at low luminance);
      then ``R = r - (g + b) / 2``, ``G = g - (r + b) / 2``, ``B = b - (r + g) / 2``,
      ``Y = (r + g) / 2 - |r - g| / 2 - b``, negative values set to 0.
    - Dyadic Gaussian pyramids of I, R, G, B, Y, levels 0 to 8 (Burt and Adelson's 5-tap
      binomial ``[1 4 6 4 1] / 16`` and a 2 x 2 mean, i.e. the 6-tap binomial centred
      between pixel pairs so that all levels stay in register; mirrored borders; a level
      never smaller than 1 pixel).
    - Orientation ``O(s, theta)`` at every level: Gabor energy ``|I(s) * g_even| +
      |I(s) * g_odd|`` for ``theta`` in 0/45/90/135 degrees (``gabor_size`` x ``gabor_size``
      kernels, period ``gabor_period`` px, isotropic Gaussian envelope ``gabor_sigma`` px,
      even kernel made zero-mean; the SaliencyToolbox's defaults 9 / 7 / 7/3).
    - Centre-surround feature maps at ``c`` in {2, 3, 4}, ``s = c + delta``, ``delta`` in
      {3, 4}: ``|I(c) - I(s)|`` (eq. 1), ``|(R(c) - G(c)) - (G(s) - R(s))|`` (eq. 2),
      ``|(B(c) - Y(c)) - (Y(s) - B(s))|`` (eq. 3), ``|O(c, theta) - O(s, theta)|`` (eq. 4);
      the surround is interpolated to the centre's size (bilinear): 42 maps. Eqs. 2 and 3
      are computed as the centre-surround contrast of the opponent signals,
      ``|(R - G)(c) - (R - G)(s)|`` and ``|(B - Y)(c) - (B - Y)(s)|``, as the
      SaliencyToolbox and the iLab code do: read literally (``(R - G)(c) + (R - G)(s)``)
      they respond most to a uniform red or green area and not to a red-green border.
    - ``N(.)``: rescale to ``[0, M]``, multiply by ``(M - m_bar)^2`` with ``m_bar`` the mean of
      the local maxima other than the global one (see ``_max_normalize``; ``M = 1``).
    - Conspicuity maps at level ``map_level`` (4), by across-scale addition (resize, sum):
      ``I_bar = sum N(I(c, s))`` (eq. 5), ``C_bar = sum [N(RG(c, s)) + N(BY(c, s))]``
      (eq. 6), ``O_bar = sum_theta N(sum_{c,s} N(O(c, s, theta)))`` (eq. 7).
    - ``S = (N(I_bar) + N(C_bar) + N(O_bar)) / 3`` (eq. 8), resized to ``(H, W)`` (bilinear)
      and rescaled to ``[0, 1]``. No winner-take-all dynamics (the paper's section 2.3).

    A grayscale image is treated as the grey RGB image ``r = g = b``: its colour maps are 0.
    The maps live at level 4 (1/16 of the image's size): an image under 32 pixels on a side
    gets a coarse map, and one under 16 pixels (level 4 is one pixel) a flat one (zeros).
    Scaling the image intensity by a constant leaves the map unchanged (every feature map
    scales with it and ``N(.)`` rescales; the colour channels are ratios).

    Args:
        image: ``(H, W, 3)`` or ``(H, W)``, ``uint8`` or float in ``[0, 1]``.
        center_levels: the centre levels ``c``.
        deltas: the surround offsets ``delta``.
        orientations: Gabor orientations in degrees.
        gabor_period: Gabor carrier period in pixels (at each pyramid level).
        gabor_sigma: Gabor envelope standard deviation in pixels.
        gabor_size: Gabor kernel side (odd).
        map_level: pyramid level of the conspicuity and saliency maps.

    Returns:
        ``(H, W)`` float64 map in ``[0, 1]``.

    Raises:
        ValueError, TypeError: on an array that is not an image (see the module docstring),
            or on levels that are negative.
    """
    rgb = _as_image(image, "itti_koch")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    centers = [int(c) for c in center_levels]
    offsets = [int(d) for d in deltas]
    if not centers or not offsets or min(centers) < 0 or min(offsets) < 1 or map_level < 0:
        raise ValueError(
            "itti_koch() expected center_levels >= 0, deltas >= 1 and map_level >= 0, got "
            f"center_levels={tuple(center_levels)}, deltas={tuple(deltas)}, "
            f"map_level={map_level}"
        )
    if int(gabor_size) < 1 or int(gabor_size) % 2 == 0:
        raise ValueError(f"itti_koch() expected an odd gabor_size >= 1, got {gabor_size}")
    n_levels = max(max(centers) + max(offsets), map_level) + 1
    height, width = rgb.shape[:2]

    r, g, b = rgb[:, :, 0], rgb[:, :, 1], rgb[:, :, 2]
    intensity = (r + g + b) / 3.0
    lit = intensity > 0.1 * float(intensity.max())
    safe = np.where(lit, intensity, 1.0)
    r, g, b = (np.where(lit, ch / safe, 0.0) for ch in (r, g, b))
    red = np.maximum(r - (g + b) / 2.0, 0.0)
    green = np.maximum(g - (r + b) / 2.0, 0.0)
    blue = np.maximum(b - (r + g) / 2.0, 0.0)
    yellow = np.maximum((r + g) / 2.0 - np.abs(r - g) / 2.0 - b, 0.0)

    pyr_i = _pyramid(intensity, n_levels)
    pyr_r, pyr_g, pyr_b, pyr_y = (_pyramid(ch, n_levels) for ch in (red, green, blue, yellow))
    kernels = [_gabor_pair(t, gabor_period, gabor_sigma, int(gabor_size)) for t in orientations]
    used = sorted({*centers, *(c + d for c in centers for d in offsets)})
    pyr_o = [
        {
            lev: sum(np.abs(ndimage.convolve(pyr_i[lev], k, mode="reflect")) for k in pair)
            for lev in used
        }
        for pair in kernels
    ]
    out_shape = pyr_i[map_level].shape

    def across(maps: list[np.ndarray]) -> np.ndarray:
        return sum((_resize(m, out_shape) for m in maps), np.zeros(out_shape))

    def cs(center: np.ndarray, surround: np.ndarray) -> np.ndarray:
        return np.abs(center - _resize(surround, center.shape))

    pairs = [(c, c + d) for c in centers for d in offsets]
    i_bar = across([_max_normalize(cs(pyr_i[c], pyr_i[s])) for c, s in pairs])
    c_bar = across(
        [
            _max_normalize(cs(pyr_r[c] - pyr_g[c], pyr_r[s] - pyr_g[s]))
            + _max_normalize(cs(pyr_b[c] - pyr_y[c], pyr_b[s] - pyr_y[s]))
            for c, s in pairs
        ]
    )
    o_bar = sum(
        (
            _max_normalize(across([_max_normalize(cs(po[c], po[s])) for c, s in pairs]))
            for po in pyr_o
        ),
        np.zeros(out_shape),
    )
    sal = (_max_normalize(i_bar) + _max_normalize(c_bar) + _max_normalize(o_bar)) / 3.0
    return _rescale(_resize(_rescale(sal), (height, width)))
