"""Tests of attnvision.saliency.density: fixation maps, Gaussian blur, density maps."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from _data import require_data
from attnvision.saliency import density as De


def test_pixels_per_degree_known_value():
    # 40 cm wide, 1024 px, 75 cm away: the screen spans 2 atan(20 / 75) = 29.863 degrees
    assert De.pixels_per_degree(40.0, 1024, 75.0) == pytest.approx(1024 / 29.8628, rel=1e-4)
    # small-angle check: far away, ppd ~ resolution * distance * pi / (180 * width)
    far = De.pixels_per_degree(10.0, 1000, 10000.0)
    assert far == pytest.approx(1000 * 10000.0 * math.pi / (180 * 10.0), rel=1e-6)
    with pytest.raises(ValueError, match="distance_cm"):
        De.pixels_per_degree(40.0, 1024, 0)


def test_fixation_map_rounding_origin_and_counts():
    rows = np.array([[0.0, 0.0], [2.49, 1.5], [2.6, 1.4], [2.6, 1.4]])
    m = De.fixation_map(rows, (3, 4), binary=False)
    assert m[0, 0] == 1 and m[2, 2] == 1 and m[1, 3] == 2 and m.sum() == 4
    assert De.fixation_map(rows, (3, 4)).max() == 1.0
    one_based = De.fixation_map(rows + 1, (3, 4), origin=1, binary=False)
    assert np.array_equal(one_based, m)
    # per-observer lists are pooled
    pooled = De.fixation_map([rows[:2], rows[2:]], (3, 4), binary=False)
    assert np.array_equal(pooled, m)


def test_fixations_outside_are_dropped_and_counted():
    rows = np.array([[1.0, 1.0], [-0.6, 1.0], [4.5, 0.0], [3.4, 2.4], [1.0, 3.0]])
    with pytest.warns(UserWarning, match="3 of 5 fixations"):
        m, dropped = De.fixation_map(rows, (3, 4), return_dropped=True)
    assert dropped == 3
    assert m.sum() == 2 and m[1, 1] == 1 and m[2, 3] == 1  # nothing moved to the border
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        De.fixation_map(rows, (3, 4), warn=False)
    with pytest.warns(UserWarning, match="dropped"):
        d, n = De.density_map(rows, (3, 4), 1.0, return_dropped=True)
    assert n == 3 and d.sum() == pytest.approx(1.0)


def test_bad_fixations_and_shapes():
    with pytest.raises(ValueError, match=r"\(N, 2\+\)"):
        De.fixation_map(np.ones((3, 1)), (4, 4))
    with pytest.raises(ValueError, match="finite"):
        De.fixation_map([[np.nan, 1.0]], (4, 4))
    with pytest.raises(ValueError, match="shape"):
        De.fixation_map([[1.0, 1.0]], (0, 4))
    with pytest.raises(ValueError, match="origin"):
        De.fixation_map([[1.0, 1.0]], (4, 4), origin=2)
    with pytest.raises(ValueError, match="at least one fixation"):
        De.density_map([[10.0, 10.0]], (4, 4), 1.0)
    with pytest.raises(ValueError, match="ppd"):
        De.density_map([[1.0, 1.0]], (4, 4), 1.0, unit="deg")
    with pytest.raises(ValueError, match="unit"):
        De.density_map([[1.0, 1.0]], (4, 4), 1.0, unit="cm")
    with pytest.raises(ValueError, match="sigma"):
        De.density_map([[1.0, 1.0]], (4, 4), 0.0)


def test_density_map_is_normalised_blurred_binary_map():
    rng = np.random.default_rng(0)
    rows = np.column_stack([rng.uniform(0, 59, 30), rng.uniform(0, 39, 30)])
    d = De.density_map(rows, (40, 60), 3.0)
    assert d.shape == (40, 60) and d.min() >= 0
    assert d.sum() == pytest.approx(1.0, abs=1e-12)
    ref = gaussian_filter(De.fixation_map(rows, (40, 60)), 3.0, mode="constant")
    assert np.allclose(d, ref / ref.sum(), rtol=0, atol=1e-15)
    counts = De.density_map(np.vstack([rows, rows[:1]]), (40, 60), 3.0, binary=False)
    assert not np.allclose(counts, d)


def test_sigma_in_degrees():
    rows = [[20.0, 10.0], [5.0, 25.0]]
    a = De.density_map(rows, (32, 48), 0.5, unit="deg", ppd=24.0)
    b = De.density_map(rows, (32, 48), 12.0)
    assert np.array_equal(a, b)


@pytest.mark.parametrize("mode", ["constant", "reflect", "nearest", "mirror", "wrap"])
@pytest.mark.parametrize("sigma", [1.5, 6.0, 20.0])
def test_separable_and_fft_agree(mode, sigma):
    rng = np.random.default_rng(1)
    img = np.zeros((37, 29))
    img.flat[rng.choice(img.size, 15, replace=False)] = 1
    a = De.gaussian_blur(img, sigma, mode=mode, method="separable")
    b = De.gaussian_blur(img, sigma, mode=mode, method="fft")
    assert np.abs(a - b).max() < 1e-12
    assert np.array_equal(a, gaussian_filter(img, sigma, mode=mode))


def test_boundary_modes_differ_only_near_the_border():
    img = np.zeros((40, 40))
    img[1, 1] = 1.0  # next to the corner: zero padding loses mass
    lost = De.gaussian_blur(img, 3.0, mode="constant").sum()
    kept = De.gaussian_blur(img, 3.0, mode="reflect").sum()
    assert lost < 0.8 and kept == pytest.approx(1.0)
    centre = np.zeros((40, 40))
    centre[20, 20] = 1.0
    assert De.gaussian_blur(centre, 3.0, mode="constant").sum() == pytest.approx(1.0)


def test_density_map_symmetry():
    d = De.density_map([[10.0, 7.0]], (15, 21), 2.0)
    assert np.allclose(d, d[::-1, ::-1])  # centred fixation: point symmetric
    assert np.unravel_index(d.argmax(), d.shape) == (7, 10)


def test_to_unit_range():
    m = np.array([[2.0, 4.0], [3.0, 6.0]])
    assert np.array_equal(De.to_unit_range(m), [[0.0, 0.5], [0.25, 1.0]])
    assert np.array_equal(De.to_unit_range(np.full((2, 2), 7.0)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="finite"):
        De.to_unit_range(np.array([np.nan, 1.0]))


def test_osie_density_maps_real_data():
    from attnvision.saliency.datasets import read_osie_fixations

    root = require_data("osie")
    fx = read_osie_fixations(root / "fixations.mat")
    rows = fx["1001.jpg"]
    d, dropped = De.density_map(
        rows, (600, 800), 1.0, unit="deg", ppd=De.OSIE_PPD, return_dropped=True
    )
    assert d.sum() == pytest.approx(1.0) and dropped == 0
    # the density peaks where fixations cluster: the mean density at fixated pixels is
    # far above the uniform density
    fmap = De.fixation_map(rows, (600, 800))
    assert d[fmap > 0].mean() > 5.0 / d.size
