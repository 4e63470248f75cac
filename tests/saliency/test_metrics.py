"""Tests of attnvision.saliency.metrics: MATLAB definitions, pysaliency parity, edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from _data import require_data
from attnvision.saliency import metrics as M
from attnvision.saliency.density import density_map, fixation_map
from attnvision.saliency.metrics import auc as A
from attnvision.saliency.metrics import checks as C
from attnvision.saliency.metrics import transport as T


# ------------------------------------------------------------------ MATLAB re-implementations
def matlab_auc_judd(s: np.ndarray, f: np.ndarray, rng: np.random.Generator) -> float:
    """AUC_Judd.m line by line, with its jitter (rand / 1e7)."""
    s = s + rng.random(s.shape) / 1e7
    s = (s - s.min()) / (s.max() - s.min())
    flat, fix = s.ravel(), f.ravel() > 0
    sth = np.sort(flat[fix])[::-1]
    n_fix, n_pix = sth.size, flat.size
    ordered = np.sort(flat)
    tp = np.zeros(n_fix + 2)
    fp = np.zeros(n_fix + 2)
    tp[-1] = fp[-1] = 1
    for i, th in enumerate(sth, start=1):
        above = n_pix - np.searchsorted(ordered, th, side="left")
        tp[i] = i / n_fix
        fp[i] = (above - i) / (n_pix - n_fix)
    return float(np.sum(np.diff(fp) * (tp[1:] + tp[:-1]) / 2))


def matlab_fixed_step_auc(sth: np.ndarray, randfix: np.ndarray, step: float) -> float:
    """The split loop of AUC_Borji.m / AUC_shuffled.m."""
    aucs = []
    for s in range(randfix.shape[1]):
        cur = randfix[:, s]
        top = max(sth.max(), cur.max())
        thresholds = (np.arange(int(np.floor(top / step + 1e-9)) + 1) * step)[::-1]
        tp = [0.0] + [np.mean(sth >= th) for th in thresholds] + [1.0]
        fp = [0.0] + [np.mean(cur >= th) for th in thresholds] + [1.0]
        tp, fp = np.array(tp), np.array(fp)
        aucs.append(np.sum(np.diff(fp) * (tp[1:] + tp[:-1]) / 2))
    return float(np.mean(aucs))


def _unit(s):
    return (s - s.min()) / (s.max() - s.min())


def _random_fixations(rng, shape, n):
    f = np.zeros(shape)
    f.flat[rng.choice(f.size, n, replace=False)] = 1
    return f


# ------------------------------------------------------------------ known values
def test_auc_judd_known_value():
    # MATLAB: points (0,0), (0,.5), (.5,1), (1,1) -> 0.875
    s = np.array([[3.0, 2.0, 1.0, 0.0]])
    f = np.array([[1, 0, 1, 0]])
    assert M.auc_judd(s, f) == pytest.approx(0.875, abs=1e-15)


def test_auc_judd_perfect_and_reversed():
    rng = np.random.default_rng(0)
    f = _random_fixations(rng, (20, 20), 10)
    s = f + 0.01 * rng.random(f.shape)
    n_fix, n_neg = 10, 390
    # every negative lies below all fixations -> area 1
    assert M.auc_judd(s, f) == pytest.approx(1.0)
    # every negative above all fixations -> each adds 0.5 / n_fix
    assert M.auc_judd(-s, f) == pytest.approx(0.5 / n_fix)
    assert n_neg > 0


def test_nss_known_value_uses_sample_std():
    s = np.array([[0.0, 1.0], [2.0, 3.0]])
    f = np.array([[0, 0], [0, 1]])
    expected = (3 - 1.5) / np.std([0, 1, 2, 3], ddof=1)
    assert M.nss(s, f) == pytest.approx(expected, abs=1e-15)


def test_cc_sim_kld_identical_maps():
    rng = np.random.default_rng(1)
    g = rng.random((16, 20))
    assert M.cc(g, g) == pytest.approx(1.0)
    assert M.sim(g, g) == pytest.approx(1.0)
    assert M.kld(g, g) == pytest.approx(0.0, abs=1e-12)
    assert M.cc(-g, g) == pytest.approx(-1.0)


def test_kld_matches_formula():
    rng = np.random.default_rng(2)
    s, g = rng.random((8, 9)), rng.random((8, 9))
    p, q = g / g.sum(), s / s.sum()
    eps = 2.2204e-16
    assert M.kld(s, g) == pytest.approx(np.sum(p * np.log(eps + p / (q + eps))), rel=1e-12)


def test_kld_and_sim_on_maps_with_zeros_follow_the_formulas():
    # ground truth with exact zeros (a truncated blur) takes SIM's one-copy path
    rng = np.random.default_rng(16)
    g = rng.random((30, 40)) ** 3
    g[g < 0.05] = 0.0
    s = rng.random((30, 40)) + 0.2
    assert g.min() == 0
    p, q = g / g.sum(), s / s.sum()
    eps = 2.2204e-16
    assert M.kld(s, g) == pytest.approx(np.sum(p * np.log(eps + p / (q + eps))), rel=1e-13)
    a = (s - s.min()) / (s - s.min()).sum()
    assert M.sim(s, g) == pytest.approx(np.minimum(a, p).sum(), rel=1e-13)
    assert M.sim(g, s) == pytest.approx(np.minimum(a, p).sum(), rel=1e-13)


def test_info_gain_definition_and_self():
    rng = np.random.default_rng(3)
    s, b = rng.random((10, 12)), rng.random((10, 12))
    f = _random_fixations(rng, s.shape, 7)
    p = _unit(s) / _unit(s).sum()
    pb = _unit(b) / _unit(b).sum()
    eps = 2.2204e-16
    fix = f > 0
    expected = np.mean(np.log2(eps + p[fix]) - np.log2(eps + pb[fix]))
    assert M.info_gain(s, f, b) == pytest.approx(expected, rel=1e-12)
    assert M.info_gain(s, f, s) == 0.0


def test_emd_known_values():
    a = np.zeros((6, 6))
    a[1, 1] = 1.0
    b = np.zeros((6, 6))
    b[4, 5] = 1.0
    # histogram matching gives b the values of a; one unit of mass moves 5 cells
    assert M.emd(b, a, downscale=1) == pytest.approx(5.0, abs=1e-9)
    assert M.emd(a, a, downscale=1) == pytest.approx(0.0, abs=1e-9)
    two = np.zeros((4, 8))
    two[0, 0] = two[0, 7] = 1.0
    shifted = np.zeros((4, 8))
    shifted[3, 0] = shifted[3, 7] = 1.0
    assert M.emd(shifted, two, downscale=1) == pytest.approx(3.0, abs=1e-9)
    # block-mean reduction: a 4x4 block maps to one cell
    big = np.kron(a, np.ones((4, 4)))
    assert M.emd(np.kron(b, np.ones((4, 4))), big, downscale=4) == pytest.approx(5.0, abs=1e-9)


def _full_transport_lp(p: np.ndarray, q: np.ndarray) -> float:
    """EMD as the textbook LP: every cell of p to every cell of q, tight HiGHS tolerances."""
    from scipy.optimize import linprog
    from scipy.sparse import coo_matrix

    h, w = p.shape
    ys, xs = np.divmod(np.arange(h * w), w)
    cost = np.hypot(ys[:, None] - ys[None, :], xs[:, None] - xs[None, :]).ravel()
    n = h * w
    var = np.arange(n * n)
    a_eq = coo_matrix(
        (np.ones(2 * var.size), (np.concatenate([var // n, n + var % n]), np.tile(var, 2))),
        shape=(2 * n, n * n),
    )
    res = linprog(
        cost,
        A_eq=a_eq.tocsr(),
        b_eq=np.concatenate([p.ravel(), q.ravel()]) * n,  # masses near 1 for the tolerances
        bounds=(0, None),
        method="highs-ds",
        options={
            "presolve": False,  # see metrics.transport._transport_lp
            "primal_feasibility_tolerance": 1e-10,
            "dual_feasibility_tolerance": 1e-10,
        },
    )
    assert res.status == 0
    return res.fun / n


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_emd_column_generation_equals_the_full_transport_lp(seed):
    rng = np.random.default_rng(seed)
    shape = (7, 9)
    p = rng.random(shape) ** 4  # peaked masses: long transports
    q = rng.random(shape) ** 4
    q[rng.random(shape) < 0.3] = 0.0  # empty cells
    p, q = p / p.sum(), q / q.sum()
    assert T._emd_exact(p, q) == pytest.approx(_full_transport_lp(p, q), abs=1e-9)
    # the public function: the prediction is rank-matched to the ground truth first
    matched = T._match_histogram(q, p)
    assert M.emd(q, p, downscale=1) == pytest.approx(
        _full_transport_lp(p, matched / matched.sum()), abs=1e-9
    )


def test_emd_on_osie_solves_where_presolve_failed():
    """OSIE 1006: HiGHS' presolve called this transport problem infeasible (totals equal
    up to rounding); the solver must return the optimum."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    from attnvision.saliency.datasets import read_osie_fixations

    root = require_data("osie")
    rows = read_osie_fixations(root / "fixations.mat")["1006.jpg"]
    gt = density_map(rows, (600, 800), 24.0)
    img = Image.open(root / "stimuli" / "1006.jpg").convert("L")
    pred = gaussian_filter(np.asarray(img, dtype=np.float64) / 255.0, 8.0)
    value = M.emd(pred, gt)  # 19x25 cells, block mean
    assert 0 < value < 25
    # at 1/64 (10x13 cells) the whole textbook LP is small enough to compare
    g = T._area_downsample(gt, 64)
    s = T._match_histogram(T._area_downsample(pred, 64), g)
    assert M.emd(pred, gt, downscale=64) == pytest.approx(
        _full_transport_lp(g / g.sum(), s / s.sum()), abs=1e-9
    )


def test_emd_on_one_row_is_the_distance_between_cdfs():
    rng = np.random.default_rng(3)
    p, q = rng.random((1, 40)), rng.random((1, 40))
    p, q = p / p.sum(), q / q.sum()
    # on a line the optimal transport cost is the L1 distance of the cumulative sums
    expected = np.abs(np.cumsum(p) - np.cumsum(q)).sum()
    assert T._emd_exact(p, q) == pytest.approx(expected, abs=1e-9)


def test_imresize_matrix_follows_matlab():
    # output size ceil(n / 32); 1-based output x is centred at x * 32 - 15.5; rows sum to 1
    rows, cols = T._imresize_matrix(600, 1 / 32), T._imresize_matrix(800, 1 / 32)
    assert rows.shape == (19, 600) and cols.shape == (25, 800)
    assert np.allclose(cols.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    # away from the borders the symmetric cubic kernel reproduces a linear ramp exactly
    ramp = cols @ np.arange(1, 801, dtype=float)
    x = np.arange(1, 26)
    assert np.allclose(ramp[2:22], 32 * x[2:22] - 15.5, rtol=0, atol=1e-9)
    # at the border the input is mirrored with the edge pixel repeated (np.pad "symmetric")
    v = np.random.default_rng(4).random(800)
    padded = np.pad(v, 100, mode="symmetric")  # padded[100 + k - 1] = v(k), k 1-based
    k = np.arange(-48, 83)  # every input index within 2 * 32 of u = 16.5
    w = T._cubic((16.5 - k) / 32) / 32
    assert (cols @ v)[0] == pytest.approx(w @ padded[100 + k - 1] / w.sum(), abs=1e-12)
    # 800 = 25 * 32: the grid is symmetric, so flipping the input flips the output
    assert np.allclose(cols @ v[::-1], (cols @ v)[::-1], rtol=0, atol=1e-12)
    # antialiasing: the kernel spans 4 * 32 input pixels, with negative lobes
    assert np.count_nonzero(cols[12]) == 128 and cols.min() < 0
    # a constant map stays constant, also through the 2-D resize
    assert np.allclose(T._imresize(np.full((600, 800), 0.3), 32), 0.3, rtol=0, atol=1e-15)


def test_emd_resize_option_and_errors():
    rng = np.random.default_rng(5)
    g = rng.random((64, 96))
    s = rng.random((64, 96))
    block = M.emd(s, g, downscale=16)
    matlab = M.emd(s, g, downscale=16, resize="matlab")
    assert block > 0 and matlab > 0 and block != matlab
    assert M.emd(g, g, downscale=16, resize="matlab") == pytest.approx(0.0, abs=1e-9)
    ev = M.SaliencyEvaluator(["emd"], emd_downscale=16, emd_resize="matlab")
    assert ev.update(s, density_map=g)["emd"] == matlab
    with pytest.raises(ValueError, match="resize must be one of 'block', 'matlab', got 'bicubic'"):
        M.emd(s, g, resize="bicubic")
    with pytest.raises(ValueError, match="emd_resize"):
        M.SaliencyEvaluator(["emd"], emd_resize="nearest")


# ------------------------------------------------------------------ AUC-Judd expectation
def test_auc_judd_is_the_expectation_of_matlab_jitter():
    """Ties broken by MATLAB's jitter: our closed form equals the Monte Carlo mean."""
    rng = np.random.default_rng(4)
    s = rng.integers(0, 4, size=(12, 15)).astype(float)  # heavy ties
    f = _random_fixations(rng, s.shape, 30)
    runs = np.array([matlab_auc_judd(s, f, np.random.default_rng(k)) for k in range(2000)])
    se = runs.std(ddof=1) / np.sqrt(runs.size)
    assert se > 0
    assert abs(M.auc_judd(s, f) - runs.mean()) < 4 * se


def test_auc_judd_constant_map_expectation():
    rng = np.random.default_rng(5)
    f = _random_fixations(rng, (6, 7), 5)
    c = np.full((6, 7), 0.3)
    assert M.auc_judd(c, f) == pytest.approx(0.5 + 0.5 / 6, abs=1e-15)
    runs = np.array([matlab_auc_judd(c, f, np.random.default_rng(k)) for k in range(2000)])
    assert abs(M.auc_judd(c, f) - runs.mean()) < 4 * runs.std(ddof=1) / np.sqrt(runs.size)


def test_auc_judd_equals_matlab_without_ties():
    rng = np.random.default_rng(6)
    s = rng.random((25, 30))
    f = _random_fixations(rng, s.shape, 40)
    # jitter of 1e-7 cannot reorder these values (gaps >> 1e-7 with overwhelming odds)
    gaps = np.diff(np.sort(s.ravel()))
    assert gaps.min() > 2e-7
    ours = M.auc_judd(s, f)
    assert ours == pytest.approx(matlab_auc_judd(s, f, np.random.default_rng(0)), abs=1e-6)


def test_auc_counts_exact_for_values_sharing_a_bucket():
    """Values closer than a histogram bucket must still be compared exactly."""
    rng = np.random.default_rng(7)
    base = rng.random((40, 50))
    s = base.copy()
    s[:20] = 0.5 + rng.integers(0, 3, size=(20, 50)) * 1e-13  # many near-identical values
    f = _random_fixations(rng, s.shape, 60)
    flat, fix = s.ravel(), f.ravel() > 0
    for values in (flat, flat - 0.7, np.round(flat * 255), -np.round(flat * 255)):
        u = np.unique(values[fix])
        ge, gt = A._count_ge_gt(values, u, values.min(), values.max())
        assert np.array_equal(ge, [(values >= v).sum() for v in u])
        assert np.array_equal(gt, [(values > v).sum() for v in u])


# ------------------------------------------------------------------ Borji / shuffled
def _bins(values: np.ndarray, step: float) -> np.ndarray:
    """Numbers of ``values`` in each threshold bin ``[k step, (k + 1) step)`` (last open)."""
    t = A._thresholds(step)
    ge = np.array([(values >= th).sum() for th in t])
    return -np.diff(ge, append=0)


def test_split_areas_are_the_matlab_loop_for_any_draws():
    """Given the negatives' numbers per threshold bin, the area is AUC_Borji.m's loop."""
    rng = np.random.default_rng(8)
    s = rng.random((30, 40)) ** 3
    f = _random_fixations(rng, s.shape, 25)
    flat = _unit(s).ravel()
    sth = flat[f.ravel() > 0]
    for step in (0.1, 0.25, 0.05):
        draws = flat[rng.integers(0, s.size, size=(25, 20))]
        per_bin = np.stack([_bins(draws[:, j], step) for j in range(20)])
        tp = A._fraction_ge(np.sort(sth), A._thresholds(step))
        expected = matlab_fixed_step_auc(sth, draws, step)
        assert A._split_areas(tp, per_bin, 25) == pytest.approx(expected, abs=1e-12)


def test_unit_cutoffs_count_exactly():
    """#(x >= cutoff) equals #(rescaled x >= t), also for values on and next to t."""
    rng = np.random.default_rng(3)
    t = A._thresholds(0.1)
    for lo, span in ((0.0, 1.0), (-3.0, 7.0), (1e6, 1e-3), (-1e-300, 1e-300), (5.0, 0.0)):
        base = rng.random(4000)
        base[:11] = t  # exactly on a threshold before rescaling back
        x = lo + base * span
        x = np.concatenate([x, np.nextafter(x[:11], np.inf), np.nextafter(x[:11], -np.inf)])
        m = C._Map(x.reshape(1, -1))
        unit = m.unit_at(np.arange(m.n))
        cut = A._unit_cutoffs(m, t)
        got = [np.count_nonzero(x >= c) for c in cut]
        assert got == [np.count_nonzero(unit >= th) for th in t], (lo, span)


def _split_values(fn, n: int) -> np.ndarray:
    return np.array([fn(seed) for seed in range(n)])


@pytest.mark.parametrize("kind", ["borji", "shuffled"])
def test_sampled_aucs_have_matlabs_distribution(kind):
    """One split per seed, 1500 seeds: mean and spread of our splits (numbers per threshold
    bin drawn directly) against MATLAB's explicit draws; and the mean against the exact
    expectation (the area is linear in fp: fp -> its expected value)."""
    rng = np.random.default_rng(21)
    s = rng.random((30, 40)) ** 2
    f = _random_fixations(rng, s.shape, 25)
    other = _random_fixations(rng, s.shape, 60)
    flat = _unit(s).ravel()
    sth = flat[f.ravel() > 0]
    n = 1500
    if kind == "borji":
        ours = _split_values(lambda k: M.auc_borji(s, f, n_splits=1, seed=k), n)
        draws = flat[rng.integers(0, s.size, size=(25, n))]
        pool = flat
    else:
        ours = _split_values(lambda k: M.auc_shuffled(s, f, other, n_splits=1, seed=k), n)
        ind = np.flatnonzero(other.ravel() > 0)
        draws = np.stack([flat[ind[rng.permutation(ind.size)[:25]]] for _ in range(n)], axis=1)
        pool = flat[ind]
    theirs = np.array([matlab_fixed_step_auc(sth, draws[:, [j]], 0.1) for j in range(n)])
    t = A._thresholds(0.1)
    tp = A._fraction_ge(np.sort(sth), t)
    expected = A._split_areas(tp, _bins(pool, 0.1)[None, :] * (25 / pool.size), 25)
    se = np.sqrt(ours.var() / n + theirs.var() / n)
    assert abs(ours.mean() - theirs.mean()) < 4 * se
    assert abs(ours.mean() - expected) < 4 * ours.std() / np.sqrt(n)
    assert 0.85 < ours.std() / theirs.std() < 1.15
    # the seeds are explicit: same seed, same score
    assert M.auc_borji(s, f, seed=3) == M.auc_borji(s, f, seed=3)
    assert M.auc_borji(s, f, seed=3) != M.auc_borji(s, f, seed=4)


def test_auc_shuffled_empty_other_map_raises():
    f = np.zeros((5, 5))
    f[2, 2] = 1
    with pytest.raises(ValueError, match="other_fixation_map"):
        M.auc_shuffled(np.random.default_rng(0).random((5, 5)), f, np.zeros((5, 5)))


# ------------------------------------------------------------------ edge cases
def test_constant_and_zero_maps_are_defined():
    f = np.zeros((5, 6))
    f[1, 2] = f[3, 4] = 1
    c = np.full((5, 6), 2.0)
    g = np.random.default_rng(0).random((5, 6))
    assert M.nss(c, f) == 0.0
    assert M.cc(c, g) == 0.0
    assert M.cc(g, c) == 0.0
    assert M.auc_borji(c, f) == pytest.approx(0.5)
    assert M.auc_shuffled(c, f, f) == pytest.approx(0.5)
    assert M.sim(c, g) == pytest.approx(np.minimum(1 / 30, _unit(g) / _unit(g).sum()).sum())
    z = np.zeros((5, 6))
    assert M.sim(z, g) == 0.0
    assert np.isfinite(M.kld(z, g)) and M.kld(z, g) > 30  # zero map keeps zero mass
    assert np.isfinite(M.info_gain(c, f, g))


def test_no_fixations_are_an_error_alone_and_left_out_by_the_evaluator():
    s = np.random.default_rng(0).random((4, 4))
    none = np.zeros((4, 4))
    one = np.zeros((4, 4))
    one[1, 2] = 1
    for fn, name in ((M.nss, "NSS"), (M.auc_judd, "AUC-Judd"), (M.auc_borji, "AUC-Borji")):
        with pytest.raises(ValueError, match=f"no fixated pixel .*: {name} is undefined"):
            fn(s, none)
    with pytest.raises(ValueError, match="information gain is undefined"):
        M.info_gain(s, none, s)
    with pytest.raises(ValueError, match="shuffled AUC is undefined"):
        M.auc_shuffled(s, none, one)
    ev = M.SaliencyEvaluator(["nss", "auc_judd"])
    ev.update(s, none)
    ev.update(s, one)
    assert ev.counts() == {"nss": 1, "auc_judd": 1}  # counted, not silently averaged in
    assert ev.results()["nss"] == pytest.approx(M.nss(s, one))


def test_coordinates_instead_of_a_fixation_map_point_to_fixation_map():
    s = np.random.default_rng(0).random((10, 12))
    with pytest.raises(ValueError, match=r"for \(N, 2\) fixation coordinates .*fixation_map"):
        M.nss(s, np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]))


def test_single_fixation():
    rng = np.random.default_rng(10)
    s = rng.random((9, 11))
    f = np.zeros_like(s)
    f[4, 5] = 1
    rank_below = np.sum(s < s[4, 5])
    # one fixation: negatives above it add 1/2, below it 1
    expected = (rank_below + 0.5 * (s.size - 1 - rank_below)) / (s.size - 1)
    assert M.auc_judd(s, f) == pytest.approx(expected)
    assert M.nss(s, f) == pytest.approx((s[4, 5] - s.mean()) / s.std(ddof=1))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_rejected(bad):
    s = np.ones((4, 4))
    s[1, 1] = bad
    f = np.eye(4)
    for fn in (M.nss, M.auc_judd, M.cc, M.kld, M.sim):
        with pytest.raises(ValueError, match="finite"):
            fn(s, f)
    with pytest.raises(ValueError, match="finite"):
        M.cc(np.ones((4, 4)) + np.eye(4), s)


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(4, 5\).*\(4, 4\)"):
        M.nss(np.ones((4, 4)), np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(4, 4\)"):
        M.cc(np.ones((4, 4)), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        M.sim(np.ones(4), np.ones(4))


def test_bad_types_and_options():
    with pytest.raises(TypeError):
        M.nss("map", np.ones((2, 2)))
    with pytest.raises(ValueError, match="n_splits"):
        M.auc_borji(np.ones((3, 3)), np.eye(3), n_splits=0)
    with pytest.raises(ValueError, match="step_size"):
        M.auc_borji(np.ones((3, 3)), np.eye(3), step_size=0)
    with pytest.raises(ValueError, match="seed"):
        M.auc_borji(np.ones((3, 3)), np.eye(3), seed=None)
    with pytest.raises(ValueError, match="every pixel"):
        M.auc_judd(np.random.default_rng(0).random((2, 2)), np.ones((2, 2)))


def test_batches_equal_loops():
    rng = np.random.default_rng(11)
    batch = rng.random((3, 10, 12))
    f = _random_fixations(rng, (10, 12), 8)
    g = rng.random((10, 12))
    for fn, other in ((M.nss, f), (M.auc_judd, f), (M.cc, g), (M.kld, g), (M.sim, g)):
        out = fn(batch, other)
        assert out.shape == (3,)
        assert np.allclose(out, [fn(m, other) for m in batch], rtol=0, atol=1e-14)


def test_cc_stays_exact_under_large_offsets():
    rng = np.random.default_rng(12)
    a, b = rng.random((30, 30)), rng.random((30, 30))
    ref = np.corrcoef(a.ravel(), b.ravel())[0, 1]
    assert M.cc(a + 1e9, b + 1e9) == pytest.approx(ref, abs=1e-6)
    assert M.nss(a + 1e9, a > 0.9) == pytest.approx(M.nss(a, a > 0.9), abs=1e-6)


# ------------------------------------------------------------------ evaluator
def test_evaluator_means_and_determinism():
    rng = np.random.default_rng(13)
    names = ["auc_judd", "auc_borji", "auc_shuffled", "nss", "cc", "kld", "sim", "info_gain"]
    data = []
    for _ in range(3):
        s = rng.random((12, 14))
        f = _random_fixations(rng, s.shape, 6)
        data.append((s, f, rng.random(s.shape), _random_fixations(rng, s.shape, 20)))
    base = rng.random((12, 14))

    def run(metrics):
        ev = M.SaliencyEvaluator(metrics, seed=7)
        for s, f, g, o in data:
            ev.update(s, f, g, other_fixation_map=o, baseline_map=base)
        return ev

    ev = run(names)
    res = ev.results()
    assert set(res) == set(names)
    assert res["nss"] == pytest.approx(np.mean([M.nss(s, f) for s, f, _, _ in data]))
    assert res["cc"] == pytest.approx(np.mean([M.cc(s, g) for s, _, g, _ in data]))
    assert res["auc_judd"] == pytest.approx(np.mean([M.auc_judd(s, f) for s, f, _, _ in data]))
    # image i's random metrics use default_rng([seed, i, 1]) (Borji) and [seed, i, 2]
    s1, f1, _, o1 = data[1]
    assert ev.per_image[1]["auc_borji"] == M.auc_borji(
        s1, f1, seed=np.random.default_rng([7, 1, 1])
    )
    assert ev.per_image[1]["auc_shuffled"] == M.auc_shuffled(
        s1, f1, o1, seed=np.random.default_rng([7, 1, 2])
    )
    # the random metrics do not depend on which other metrics are selected
    assert run(["auc_borji"]).results()["auc_borji"] == res["auc_borji"]
    assert run(names).results() == res
    assert ev.counts() == dict.fromkeys(names, 3)


def test_evaluator_errors_and_nan_images():
    with pytest.raises(ValueError, match="unknown metric 'aucjudd'.*auc_judd"):
        M.SaliencyEvaluator(["aucjudd"])
    ev = M.SaliencyEvaluator(["nss", "cc"])
    with pytest.raises(ValueError, match="density_map"):
        ev.update(np.ones((3, 3)), np.eye(3))
    with pytest.raises(ValueError, match="before any update"):
        ev.results()
    s = np.random.default_rng(0).random((3, 3))
    ev.update(s, np.zeros((3, 3)), s)
    ev.update(s, np.eye(3), s)
    assert ev.counts() == {"nss": 1, "cc": 2}
    assert ev.results()["nss"] == pytest.approx(M.nss(s, np.eye(3)))


def test_importing_saliency_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import sys, attnvision.saliency as s; s.density_map([[1, 1]], (4, 4), 1.0); "
        "s.metrics.nss(s.density_map([[1, 1]], (4, 4), 1.0), [[0, 0, 0, 0]] * 3 + [[0, 1, 0, 0]]); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# ------------------------------------------------------------------ pysaliency parity
def _pysaliency():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pysaliency.metrics as pm
        from pysaliency.roc import general_roc
    return pm, general_roc


def _check_against_pysaliency(s, fmap, gt):
    pm, general_roc = _pysaliency()
    fix = fmap > 0
    ys, xs = np.nonzero(fix)
    n = s.size
    assert M.cc(s, gt) == pytest.approx(pm.CC(s, gt), abs=1e-6)
    assert M.kld(s, gt) == pytest.approx(pm.MIT_KLDiv(s, gt), abs=1e-6)
    assert M.nss(s, fmap) == pytest.approx(
        pm.NSS(s, xs, ys).mean() * np.sqrt((n - 1) / n), abs=1e-6
    )
    assert M.sim(s, gt) == pytest.approx(pm.SIM(s - s.min(), gt - gt.min()), abs=1e-6)
    fixvals = s[fix]
    tie_free = np.unique(fixvals).size == fixvals.size and not np.isin(fixvals, s[~fix]).any()
    pys_auc = general_roc(fixvals.astype(float), s[~fix].astype(float), judd=1)[0]
    if tie_free:
        assert M.auc_judd(s, fmap) == pytest.approx(pys_auc, abs=1e-9)
    return tie_free


def test_pysaliency_parity_synthetic_with_ties_and_constants():
    rng = np.random.default_rng(14)
    f = _random_fixations(rng, (20, 24), 15)
    gt = density_map(np.argwhere(f > 0)[:, ::-1], (20, 24), 2.0)
    tie_free = _check_against_pysaliency(rng.random((20, 24)), f, gt)
    assert tie_free
    ties = rng.integers(0, 3, size=(20, 24)).astype(float)
    assert not _check_against_pysaliency(ties, f, gt)
    pm, general_roc = _pysaliency()
    # with ties pysaliency joins tied points by one segment; ours is the jitter expectation
    pys = general_roc(ties[f > 0], ties[f == 0], judd=1)[0]
    assert abs(M.auc_judd(ties, f) - pys) > 1e-3
    # the relation stated in auc_judd's docstring: a non-fixated pixel of value v adds
    # (2 a + t_lo) / (2 Nfix) in pysaliency, a = #fixated values > v, t_lo = number of
    # fixated pixels at the largest fixated value <= v
    pos, neg = ties[f > 0], ties[f == 0]
    shares = []
    for v in neg:
        a = np.sum(pos > v)
        below = pos[pos <= v]
        t_lo = np.sum(pos == below.max()) if below.size else 0
        shares.append((2 * a + t_lo) / (2 * pos.size))
    assert pys == pytest.approx(np.mean(shares), abs=1e-12)
    # constant prediction: both define CC as 0 and KLD the same way
    c = np.full((20, 24), 0.25)
    assert M.cc(c, gt) == pm.CC(c, gt) == 0.0
    assert M.kld(c, gt) == pytest.approx(pm.MIT_KLDiv(c, gt), abs=1e-9)
    one = np.zeros_like(f)
    one[5, 6] = 1
    _check_against_pysaliency(rng.random((20, 24)), one, gt)


def test_pysaliency_parity_on_osie():
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    from attnvision.saliency.datasets import read_osie_fixations

    root = require_data("osie")
    fixations = read_osie_fixations(root / "fixations.mat")
    yy, xx = np.mgrid[0:600, 0:800]
    centre = np.exp(-((xx - 399.5) ** 2 / (2 * 160.0**2) + (yy - 299.5) ** 2 / (2 * 120.0**2)))
    checked_auc = 0
    for name in ("1001.jpg", "1555.jpg"):
        rows = fixations[name]
        fmap = fixation_map(rows, (600, 800), warn=False)
        gt = density_map(rows, (600, 800), 24.0)
        img = Image.open(root / "stimuli" / name).convert("L")
        blurred = gaussian_filter(np.asarray(img, dtype=np.float64) / 255.0, 8.0)
        for pred in (centre, blurred, gt):
            checked_auc += _check_against_pysaliency(pred, fmap, gt)
        # the Gaussian centre map has ties (it is symmetric): AUC is the jitter expectation
        assert 0.5 < M.auc_judd(centre, fmap) < 1.0
    assert checked_auc >= 2


def test_fixations_as_index_pairs():
    rng = np.random.default_rng(15)
    s = rng.random((10, 12))
    f = _random_fixations(rng, s.shape, 9)
    rows, cols = np.nonzero(f)
    dup = (np.concatenate([rows, rows[:2]]), np.concatenate([cols, cols[:2]]))
    for fn in (M.nss, M.auc_judd, M.auc_borji):
        assert fn(s, dup) == fn(s, f)
    with pytest.raises(ValueError, match="inside the 10x12 map"):
        M.nss(s, (np.array([10]), np.array([0])))
    with pytest.raises(TypeError, match="integers"):
        M.nss(s, (np.array([1.5]), np.array([0.0])))
