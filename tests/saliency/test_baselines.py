"""Tests of attnvision.saliency.baselines: centre bias, spectral residual, Itti-Koch, FT."""

from __future__ import annotations

import numpy as np
import pytest

from _data import require_data
from attnvision.saliency import baselines as bl
from attnvision.saliency import itti_koch as ik
from attnvision.saliency.baselines import (
    center_bias,
    fit_center_bias,
    frequency_tuned,
    itti_koch,
    rgb_to_lab,
    spectral_residual,
)

IMAGE_FUNCS = [spectral_residual, itti_koch, frequency_tuned]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _blob_image(shape=(96, 128), center=(30, 90), radius=6, value=1.0, bg=0.3) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    img = np.full(shape, bg)
    img[(yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2] = value
    return img


# ----------------------------------------------------------------------------- centre bias


def test_center_bias_known_values_3x5():
    cb = center_bias((3, 5), 0.2)
    assert cb.shape == (3, 5) and cb.dtype == np.float64
    assert cb[1, 2] == 1.0
    # x of column 0: (0.5 / 5 - 0.5) / 0.2 = -2  ->  exp(-2)
    np.testing.assert_allclose(cb[1, 0], np.exp(-2.0), rtol=1e-15)
    # y of row 0: (0.5 / 3 - 0.5) / 0.2 = -5/3
    np.testing.assert_allclose(cb[0, 2], np.exp(-0.5 * (5 / 3) ** 2), rtol=1e-15)
    np.testing.assert_allclose(cb[0, 0], cb[0, 2] * cb[1, 0], rtol=1e-15)


@pytest.mark.parametrize("shape", [(7, 9), (6, 8), (1, 1), (13, 4)])
def test_center_bias_symmetric_and_in_range(shape):
    cb = center_bias(shape)
    assert cb.shape == shape
    assert np.all(cb > 0) and np.all(cb <= 1)
    np.testing.assert_array_equal(cb, cb[::-1, :])
    np.testing.assert_array_equal(cb, cb[:, ::-1])


def test_center_bias_accepts_image_shape_and_anisotropic_sigma():
    cb = center_bias((11, 21, 3), (0.1, 0.4))
    assert cb.shape == (11, 21)
    # the same normalised offset falls off faster along the narrower axis
    iso = center_bias((101, 101), (0.1, 0.4))
    assert iso[50, 70] > iso[70, 50]


def test_center_bias_matches_pysaliency_gaussian():
    pysaliency = pytest.importorskip("pysaliency")
    height, width = 30, 40
    # pysaliency puts pixel j at j / W; ours at (j + 0.5) / W, i.e. a shifted centre.
    ref_model = pysaliency.GaussianSaliencyMapModel(
        width=0.25, center_x=0.5 - 0.5 / width, center_y=0.5 - 0.5 / height
    )
    ref = ref_model.saliency_map(np.zeros((height, width, 3), np.uint8))
    np.testing.assert_allclose(center_bias((height, width), 0.25), ref, rtol=1e-12, atol=0)


def test_center_bias_center_option_moves_the_peak():
    cb = center_bias((21, 41), 0.1, center=(0.25, 0.75))
    assert np.unravel_index(np.argmax(cb), cb.shape) == (5, 30)


@pytest.mark.parametrize(
    "shape, sigma",
    [((0, 5), 0.2), ((5,), 0.2), (("a", 5), 0.2), ((4, 5), 0.0), ((4, 5), (0.1, -1.0))],
)
def test_center_bias_rejects_bad_arguments(shape, sigma):
    with pytest.raises(ValueError, match="center_bias"):
        center_bias(shape, sigma)


def test_fit_center_bias_known_tiny_case():
    # two fixations at the centres of opposite corner pixels of a 4 x 10 image
    fit = fit_center_bias([np.array([[0.0, 0.0], [9.0, 3.0]])], [(4, 10)])
    np.testing.assert_allclose(fit["center"], (0.5, 0.5))
    np.testing.assert_allclose(fit["sigma_frac"], (1.5 / 4, 4.5 / 10))


def test_fit_center_bias_recovers_a_gaussian():
    rng = _rng(1)
    shapes, points = [], []
    for _ in range(20):
        h, w = 300, 400
        xy = np.stack([rng.normal(0.55 * w, 0.2 * w, 500), rng.normal(0.4 * h, 0.1 * h, 500)], 1)
        points.append(xy - 0.5)
        shapes.append((h, w))
    fit = fit_center_bias(points, shapes)
    np.testing.assert_allclose(fit["center"], (0.4, 0.55), atol=0.01)
    np.testing.assert_allclose(fit["sigma_frac"], (0.1, 0.2), atol=0.01)
    assert center_bias((300, 400), **fit).shape == (300, 400)


def test_fit_center_bias_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        fit_center_bias([np.zeros((3, 3))], [(10, 10)])
    with pytest.raises(ValueError, match="one shape per fixation array"):
        fit_center_bias([np.zeros((3, 2))], [(10, 10), (10, 10)])
    with pytest.raises(ValueError, match="at least 2"):
        fit_center_bias([np.zeros((1, 2))], [(10, 10)])


# ----------------------------------------------------------------------------- all image maps


@pytest.mark.parametrize("func", IMAGE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("shape", [(37, 53, 3), (53, 37), (65, 129, 3), (8, 5)])
def test_maps_have_image_size_and_unit_range(func, shape):
    img = _rng(2).integers(0, 256, size=shape, dtype=np.uint8)
    sal = func(img)
    assert sal.shape == shape[:2] and sal.dtype == np.float64
    if func is itti_koch and min(shape[:2]) < 16:
        # documented: level 4 of an image under 16 px is a single pixel, so the map is flat
        np.testing.assert_array_equal(sal, 0.0)
    else:
        assert sal.min() == 0.0 and sal.max() == 1.0


@pytest.mark.parametrize("func", IMAGE_FUNCS, ids=lambda f: f.__name__)
def test_uint8_float_and_grey_rgb_inputs_agree(func):
    gray_u8 = _rng(3).integers(0, 256, size=(40, 60), dtype=np.uint8)
    by_u8 = func(gray_u8)
    np.testing.assert_allclose(func(gray_u8 / 255.0), by_u8, atol=1e-12)
    np.testing.assert_allclose(func(gray_u8.astype(np.float32) / 255), by_u8, atol=1e-5)
    np.testing.assert_allclose(func(np.repeat(gray_u8[:, :, None], 3, 2)), by_u8, atol=1e-9)


@pytest.mark.parametrize("func", IMAGE_FUNCS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [0.0, 0.4, 1.0])
def test_constant_image_gives_a_flat_map(func, value):
    sal = func(np.full((30, 50, 3), value))
    np.testing.assert_array_equal(sal, np.zeros((30, 50)))


BAD_IMAGES = [
    (np.zeros(10), ValueError, r"\(H, W, 3\) or \(H, W\).*shape \(10,\)"),
    (np.zeros((2, 4, 4, 3)), ValueError, r"shape \(2, 4, 4, 3\)"),
    (np.zeros((8, 8, 4)), ValueError, "expected 3 colour channels.*4 channels"),
    (np.zeros((8, 8, 1)), ValueError, "expected 3 colour channels.*1 channels"),
    (np.zeros((0, 8, 3)), ValueError, "non-empty"),
    (np.full((8, 8), np.nan), ValueError, "finite.*64 NaN"),
    (np.full((8, 8), 2.0), ValueError, r"in \[0, 1\].*\[2, 2\]"),
    (np.zeros((8, 8), np.int64), TypeError, "uint8.*int64"),
    (np.zeros((8, 8), bool), TypeError, "uint8.*bool"),
    ([[0.0, 1.0], [1.0, 0.0]], TypeError, "NumPy array.*list"),
]


@pytest.mark.parametrize("func", [*IMAGE_FUNCS, rgb_to_lab], ids=lambda f: f.__name__)
@pytest.mark.parametrize("bad, error, message", BAD_IMAGES)
def test_bad_images_are_rejected_with_a_clear_message(func, bad, error, message):
    with pytest.raises(error, match=f"{func.__name__}.*{message}"):
        func(bad)


# ----------------------------------------------------------------------------- spectral residual


def test_spectral_residual_is_shift_covariant():
    # 64 px wide: no resizing; with periodic blur the method commutes with circular shifts
    img = _rng(4).random((48, 64))
    sal = spectral_residual(img, sigma=2.0, blur_mode="wrap")
    shifted = spectral_residual(np.roll(img, (5, -9), axis=(0, 1)), sigma=2.0, blur_mode="wrap")
    np.testing.assert_allclose(shifted, np.roll(sal, (5, -9), axis=(0, 1)), atol=1e-10)


def test_spectral_residual_is_invariant_to_intensity_scaling():
    img = _rng(5).random((60, 90, 3))
    np.testing.assert_allclose(spectral_residual(0.25 * img), spectral_residual(img), atol=1e-5)


def test_spectral_residual_known_value_flat_spectrum():
    # an impulse has a flat amplitude spectrum: residual 0, so the method returns the impulse
    # itself (unblurred): 1 at the impulse, 0 elsewhere
    img = np.zeros((16, 64))
    img[5, 40] = 1.0
    sal = spectral_residual(img, sigma=0.0)
    expected = np.zeros((16, 64))
    expected[5, 40] = 1.0
    np.testing.assert_allclose(sal, expected, atol=1e-12)


def test_spectral_residual_peaks_near_a_single_blob():
    img = _blob_image()
    sal = spectral_residual(img)
    peak = np.unravel_index(np.argmax(sal), sal.shape)
    # the blob's centre (30, 90); sigma 8 px at 64 px wide is 16 px here
    assert np.hypot(peak[0] - 30, peak[1] - 90) <= 12
    assert sal[30, 90] > 0.9


def test_spectral_residual_differs_from_plain_phase_spectrum_only_by_the_residual():
    # avg_size=1 makes R = 0: the phase-only transform (Guo et al. 2008); different map
    img = _rng(6).random((48, 64))
    assert not np.allclose(spectral_residual(img, avg_size=1), spectral_residual(img))


def test_spectral_residual_rejects_bad_parameters():
    with pytest.raises(ValueError, match="width >= 1"):
        spectral_residual(np.zeros((8, 8)), width=0)
    with pytest.raises(ValueError, match="blur_mode in .*got 'foo'"):
        spectral_residual(np.zeros((8, 8)), blur_mode="foo")


# ----------------------------------------------------------------------------- Itti-Koch


def test_max_normalize_known_values():
    one_peak = np.zeros((9, 9))
    one_peak[4, 4] = 3.0
    np.testing.assert_allclose(ik._max_normalize(one_peak), one_peak / 3.0)
    two_equal = np.zeros((9, 9))
    two_equal[2, 2] = two_equal[6, 6] = 5.0
    np.testing.assert_array_equal(ik._max_normalize(two_equal), np.zeros((9, 9)))
    # peaks 1 and 0.5 after rescaling: factor (1 - 0.5)^2; a plateau counts once
    mixed = np.zeros((9, 9))
    mixed[1, 1] = 4.0
    mixed[6:8, 6:8] = 2.0
    np.testing.assert_allclose(ik._max_normalize(mixed), mixed / 4.0 * 0.25)
    # maxima below a tenth of the range are ignored
    low = mixed.copy()
    low[6:8, 6:8] = 0.3
    np.testing.assert_allclose(ik._max_normalize(low), low / 4.0)
    np.testing.assert_array_equal(ik._max_normalize(np.full((4, 4), 7.0)), np.zeros((4, 4)))


def test_gabor_kernels_are_zero_mean_and_oriented():
    for theta in (0.0, 45.0, 90.0, 135.0):
        for kernel in ik._gabor_pair(theta, 7.0, 7.0 / 3.0, 9):
            assert abs(kernel.sum()) < 1e-12
    even0 = ik._gabor_pair(0.0, 7.0, 7.0 / 3.0, 9)[0]
    np.testing.assert_allclose(ik._gabor_pair(90.0, 7.0, 7.0 / 3.0, 9)[0], even0.T, atol=1e-12)


def test_itti_koch_blob_gets_the_maximum():
    sal = itti_koch(_blob_image(shape=(192, 256), center=(60, 180), radius=10))
    peak = np.unravel_index(np.argmax(sal), sal.shape)
    assert np.hypot(peak[0] - 60, peak[1] - 180) <= 16  # one level-4 pixel
    assert sal[60, 180] > 0.8
    far = np.ones(sal.shape, bool)
    far[20:100, 140:220] = False
    assert sal[far].max() < 0.5


def test_itti_koch_colour_channel_finds_an_isoluminant_blob():
    # red (1, 0, 0) on green (0, 1, 0): equal intensity, so only colour opponency sees it
    img = np.zeros((192, 256, 3))
    img[..., 1] = 1.0
    yy, xx = np.mgrid[:192, :256]
    disk = (yy - 120) ** 2 + (xx - 70) ** 2 <= 100
    img[disk] = (1.0, 0.0, 0.0)
    sal = itti_koch(img)
    peak = np.unravel_index(np.argmax(sal), sal.shape)
    assert np.hypot(peak[0] - 120, peak[1] - 70) <= 16
    assert itti_koch(img.mean(axis=2)).max() == 0.0  # its intensity alone is flat


def test_pyramid_levels_stay_in_register():
    # a linear ramp: level-1 pixel k must hold the ramp's value at 2k + 0.5 (away from the
    # mirrored borders), the pixel-centre geometry of the bilinear resizing across scales
    ramp = np.tile(np.arange(32, dtype=np.float64), (8, 1))
    down = ik._pyr_down(ramp)
    assert down.shape == (4, 16)
    np.testing.assert_allclose(down[:, 2:-2], np.tile(2 * np.arange(2, 14) + 0.5, (4, 1)))
    assert ik._pyr_down(np.ones((7, 5))).shape == (4, 3)


def test_itti_koch_orientation_pop_out_without_border_artefacts():
    # vertical grating with one patch of horizontal grating: same intensity statistics, so
    # the orientation channel makes the patch salient; the gratings are mirror-symmetric at
    # the borders, so a pyramid out of register would show up as a bright left/top border
    size, period = 448, 28
    yy, xx = np.mgrid[:size, :size]
    img = 0.5 + 0.4 * np.cos(2 * np.pi * (xx + 0.5) / period)
    patch = (slice(252, 336), slice(56, 140))
    img[patch] = (0.5 + 0.4 * np.cos(2 * np.pi * (yy + 0.5) / period))[patch]
    sal = itti_koch(img)
    peak = np.unravel_index(np.argmax(sal), sal.shape)
    assert 252 - 16 <= peak[0] < 336 + 16 and 56 - 16 <= peak[1] < 140 + 16
    assert sal[:, :8].max() < 0.5 and sal[:8, :].max() < 0.5


def test_itti_koch_is_invariant_to_intensity_scaling():
    img = _rng(7).random((96, 128, 3))
    np.testing.assert_allclose(itti_koch(0.3 * img), itti_koch(img), atol=1e-5)


def test_itti_koch_rejects_bad_parameters():
    with pytest.raises(ValueError, match="center_levels >= 0"):
        itti_koch(np.zeros((8, 8)), center_levels=(-1,))
    with pytest.raises(ValueError, match="odd gabor_size"):
        itti_koch(np.zeros((8, 8)), gabor_size=4)


# ----------------------------------------------------------------------------- Lab and FT


def test_rgb_to_lab_known_values():
    rgb = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.5, 0.5]]])
    lab = rgb_to_lab(rgb)
    np.testing.assert_allclose(lab[0, 0], (100.0, 0.0, 0.0), atol=1e-9)
    np.testing.assert_allclose(lab[0, 1], (0.0, 0.0, 0.0), atol=1e-9)
    np.testing.assert_allclose(lab[0, 2], (53.2406, 80.0942, 67.2015), atol=1e-3)
    np.testing.assert_allclose(lab[0, 3, 1:], (0.0, 0.0), atol=1e-9)  # grey has a = b = 0


def test_rgb_to_lab_matches_skimage():
    color = pytest.importorskip("skimage.color")
    img = _rng(8).random((20, 30, 3))
    # skimage divides by the rounded D65 white (0.95047, 1, 1.08883); we by the matrix's
    # row sums, so pure white maps to a = b = 0 exactly: a difference below 0.005
    np.testing.assert_allclose(rgb_to_lab(img), color.rgb2lab(img), atol=5e-3)


def test_frequency_tuned_known_values_for_a_square():
    img = np.full((40, 40, 3), 0.5)
    img[10:20, 10:20] = (0.9, 0.1, 0.1)  # area fraction p = 100 / 1600
    sal = frequency_tuned(img)
    # Lab mean = (1 - p) Lab_bg + p Lab_sq with p = 100 / 1600 = 1 / 16. A pixel whose blurred
    # value mixes a fraction a of the square sits |a - p| |Lab_sq - Lab_bg| from the mean:
    # the interior of the square (a = 1) is the maximum, a pixel 2 px outside an edge
    # (a = 1/16, the binomial kernel's end tap) the minimum 0, and the far background (a = 0)
    # is p / (1 - p) = 1/15 of the way up.
    np.testing.assert_allclose(sal[12:18, 12:18], 1.0, atol=1e-12)
    np.testing.assert_allclose(sal[15, 21], 0.0, atol=1e-12)
    np.testing.assert_allclose(sal[25:, 25:], 1.0 / 15.0, atol=1e-12)


# ----------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def osie() -> tuple:
    """The OSIE folder and its fixations as {image name: (N, 2) 0-based (x, y)}."""
    from scipy.io import loadmat

    root = require_data("osie")
    records = loadmat(root / "fixations.mat", squeeze_me=True, struct_as_record=False)
    points = {}
    for record in records["fixations"]:
        xs = np.concatenate([np.atleast_1d(s.fix_x) for s in record.subjects]) - 1
        ys = np.concatenate([np.atleast_1d(s.fix_y) for s in record.subjects]) - 1
        points[str(record.img)] = np.stack([xs, ys], axis=1).astype(np.float64)
    return root, points


def test_center_bias_default_is_close_to_the_fit_on_osie_training_images(osie):
    _, points = osie
    names = [f"{n}.jpg" for n in range(1001, 1501)]
    fit = fit_center_bias([points[n] for n in names], [(600, 800)] * len(names))
    # the values of OSIE_CENTER_FIT (and of center_bias's docstring)
    np.testing.assert_allclose(fit["sigma_frac"], bl.OSIE_CENTER_FIT["sigma_frac"], atol=5e-4)
    np.testing.assert_allclose(fit["center"], bl.OSIE_CENTER_FIT["center"], atol=5e-4)
    assert all(abs(v - bl.DEFAULT_CENTER_SIGMA_FRAC) < 0.02 for v in fit["sigma_frac"])


def test_baselines_on_real_osie_images_predict_fixations(osie):
    """On 10 real OSIE images, every baseline puts fixations well above its mean (NSS)."""
    from PIL import Image

    root, points = osie
    scores: dict[str, list[float]] = {"center_bias": [], "spectral_residual": [], "itti": []}
    for name in [f"{n}.jpg" for n in range(1001, 1011)]:
        image = np.asarray(Image.open(root / "stimuli" / name).convert("RGB"))
        xs, ys = points[name][:, 0], points[name][:, 1]
        inside = (xs >= 0) & (xs < image.shape[1]) & (ys >= 0) & (ys < image.shape[0])
        rows, cols = np.round(ys[inside]).astype(int), np.round(xs[inside]).astype(int)
        maps = (center_bias(image.shape), spectral_residual(image), itti_koch(image))
        for key, sal in zip(scores, maps):
            assert sal.shape == image.shape[:2]
            # NSS: map standardised over the image, averaged at the fixated pixels
            scores[key].append((sal[rows, cols].mean() - sal.mean()) / sal.std())
    means = {key: float(np.mean(values)) for key, values in scores.items()}
    assert all(value > 0.3 for value in means.values()), means
