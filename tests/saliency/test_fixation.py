"""The fixation density model: a normalised log density, its pieces (learned blur, centre
bias, readout), the exact log-likelihood shortcut, and the metric-specific maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from attnvision.saliency import density, metrics
from attnvision.saliency import fixation as fx


def test_frozen_encoder_uses_its_running_statistics_from_the_start():
    """Fresh from the constructor (no .eval()), the encoder's features of an image do not
    depend on the other images of the batch (batch norm on running statistics)."""
    torch.manual_seed(0)
    net = fx.FixationDensityNet(sources=(4, 15))
    assert net.training and not net.encoder.training
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        for both, alone in zip(net.features(x), net.features(x[:1])):
            torch.testing.assert_close(both[:1], alone)


def test_network_gives_a_log_density_on_its_grid():
    torch.manual_seed(0)
    net = fx.FixationDensityNet(sources=(4, 10, "head"), dropout=0.5).eval()
    assert net.blocks == [4, 10, 16]
    assert not any(p.requires_grad for p in net.encoder.parameters())
    with torch.no_grad():
        out = net(torch.randn(2, 3, 100, 140))
    assert out.shape == (2, 1, 13, 18) and net.grid((100, 140)) == (13, 18)
    torch.testing.assert_close(out.exp().sum((1, 2, 3)), torch.ones(2))
    net.train()
    assert not net.encoder.training and net.readout.training  # the encoder stays frozen
    with pytest.raises(ValueError, match="sources among 0..15 and 'head'"):
        fx.FixationDensityNet(sources=(4, 16))


def test_learned_blur_is_scipys_gaussian_filter():
    blur = fx.LearnedBlur(sigma_frac=0.05)
    x = torch.rand(1, 1, 30, 40, dtype=torch.float64)
    sigma = 0.05 * 40
    expected = gaussian_filter(x[0, 0].numpy(), sigma, mode="nearest", truncate=3.0)
    with torch.no_grad():
        np.testing.assert_allclose(blur.double()(x)[0, 0].numpy(), expected, atol=1e-12)
    with pytest.raises(ValueError, match="sigma_frac > 0"):
        fx.LearnedBlur(0.0)


def test_centre_bias_and_readout():
    prior = fx.CentreBias((3, 4))
    with torch.no_grad():
        prior.log_prior[0, 0, 1, 1:3] = 2.0
    with torch.no_grad():
        grid = prior(6, 8)
    assert grid.shape == (1, 1, 6, 8) and float(grid[0, 0, 2:4, 3:5].min()) > 1.0
    assert float(grid[0, 0, 0, 0]) == 0.0
    ro = fx.FixationReadout([5, 7], first=4, hidden=6, prior_grid=(2, 2)).eval()
    mean, std = torch.arange(5.0), torch.full((5,), 2.0)
    ro.set_feature_stats([(mean, std), (torch.zeros(7), torch.ones(7))])
    f0, f1 = torch.randn(1, 5, 6, 8), torch.randn(1, 7, 3, 4)
    with torch.no_grad():
        out = ro([f0, f1], (6, 8))
        shifted = ro([f0 * 2 + mean.view(1, 5, 1, 1), f1], (6, 8))  # standardisation undone
        ro.set_feature_stats([(torch.zeros(5), torch.ones(5)), (torch.zeros(7), torch.ones(7))])
        torch.testing.assert_close(ro([f0, f1], (6, 8)), shifted)
    torch.testing.assert_close(torch.logsumexp(out.flatten(), 0), torch.tensor(0.0))
    with pytest.raises(ValueError, match=r"feature map 1 expected \(N, 7, h, w\)"):
        ro([f0, f0], (6, 8))
    with pytest.raises(ValueError, match="expected 2 feature maps, got 1"):
        ro([f0], (6, 8))


def test_log_likelihoods_equal_the_upsampled_density_at_the_pixels():
    torch.manual_seed(0)
    log_p = torch.log_softmax(torch.randn(2, 9 * 12, dtype=torch.float64), 1).view(2, 1, 9, 12)
    full = fx.upsample_log_density(log_p, (61, 83))
    torch.testing.assert_close(
        torch.logsumexp(full.flatten(1), 1), torch.zeros(2, dtype=torch.float64)
    )
    pixels = torch.stack(
        [torch.randint(0, 2, (300,)), torch.randint(0, 61, (300,)), torch.randint(0, 83, (300,))],
        1,
    )
    pixels[:2] = torch.tensor([[0, 0, 0], [1, 60, 82]])  # corners: the border clamp
    ll = fx.log_likelihoods(log_p, pixels, (61, 83))
    torch.testing.assert_close(ll, full[pixels[:, 0], 0, pixels[:, 1], pixels[:, 2]])


def _peaky_log_density(shape=(60, 80)) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    p = np.exp(-((yy - 20.0) ** 2 + (xx - 25.0) ** 2) / 30.0) + 0.3 * np.exp(
        -((yy - 40.0) ** 2 + (xx - 60.0) ** 2) / 80.0
    )
    p += 1e-4
    return np.log(p / p.sum())


def test_metric_maps_follow_the_tuebingen_definitions():
    lp = _peaky_log_density()
    p = np.exp(lp)
    for name in ("auc_judd", "auc_borji", "nss", "info_gain"):
        np.testing.assert_allclose(fx.metric_map(lp, name), p)
    np.testing.assert_allclose(
        fx.metric_map(lp, "cc", sigma=3.0), density.gaussian_blur(p, 3.0, mode="constant")
    )
    base = np.full(lp.shape, -np.log(lp.size))
    np.testing.assert_allclose(
        fx.metric_map(lp, "auc_shuffled", baseline_log_density=base), lp - base
    )
    with pytest.raises(ValueError, match="needs the ground truth's sigma"):
        fx.metric_map(lp, "kld")
    with pytest.raises(ValueError, match="needs baseline_log_density"):
        fx.metric_map(lp, "auc_shuffled")
    with pytest.raises(ValueError, match="expected metric one of"):
        fx.metric_map(lp, "emd")


def test_sim_map_beats_the_blurred_density_on_expected_sim():
    """The SIM map maximises the expected SIM against empirical maps drawn from the density:
    on fresh draws (another seed) it scores above the density and its blurred version."""
    lp = _peaky_log_density()
    sigma, n_fix = 3.0, 15
    s = fx.sim_map(lp, sigma, fixations=n_fix, downscale=1, samples=300, seed=0)
    assert s.shape == lp.shape and s.min() >= 0 and s.sum() == pytest.approx(1.0)
    p = np.exp(lp)
    candidates = {"sim": s, "density": p, "blurred": density.gaussian_blur(p, sigma)}
    rng = np.random.default_rng(123)
    scores = {k: [] for k in candidates}
    for _ in range(200):
        counts = rng.multinomial(n_fix, p.ravel()).reshape(p.shape) > 0
        gt = density.gaussian_blur(counts.astype(np.float64), sigma)
        for k, m in candidates.items():
            scores[k].append(metrics.sim(m, gt))
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    assert mean["sim"] > mean["blurred"] + 0.01 and mean["sim"] > mean["density"] + 0.01
