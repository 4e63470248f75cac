"""The fixation model: a probability density over the image (the DeepGaze II recipe), and
the saliency map it gives for each metric.

:class:`FixationDensityNet` follows DeepGaze II (M. Kümmerer, T. S. A. Wallis, L. A. Gatys,
M. Bethge, "Understanding Low- and High-Level Contributions to Fixation Prediction", ICCV
2017, Sec. 3) on a frozen ImageNet-trained EfficientNet-Lite
(:mod:`attnvision.saliency.encoders`): features of several encoder blocks (with channel
dropout in training), each standardised per channel and mapped by a 1x1 convolution, are
upsampled to one grid
(stride 8 of the network input) and summed; two more 1x1 convolutions with softplus give
one value per cell, which is blurred by a Gaussian of learned width, added to a learned
centre-bias log prior, and normalised by a softmax over all cells. The output is a log
probability per cell; :func:`upsample_log_density` turns it into a log density over the
image's pixels (bilinear, renormalised), and :func:`log_likelihoods` reads that density at
given pixels without forming it. Training maximises the log-likelihood of real fixations
(``benchmarks/train_saliency.py``).

Because the model is a density, one map does not serve every metric: the MIT/Tuebingen
benchmark (Kümmerer, Wallis, Bethge, "Saliency Benchmarking Made Easy", ECCV 2018;
``saliency_benchmarking/saliency_map_provider.py`` with pysaliency's map models) scores
each metric on the map that maximises its expected value under the model.
:func:`metric_map` gives them:

- AUC-Judd, AUC-Borji, NSS, information gain: the density ``p`` itself (for AUC the
  benchmark equalises its histogram, which keeps the ranking and so the score).
- shuffled AUC: ``log p - log p_baseline``, the log ratio to a centre-bias density
  (pysaliency's ``ShuffledAUCSaliencyMapModel``).
- CC and KLD: the density blurred with the ground truth's Gaussian (zero padding), the
  expected empirical saliency map (pysaliency's ``BluringSaliencyMapModel`` with
  ``mode="constant"``).
- SIM: the map maximising the expected SIM against empirical maps of fixations sampled
  from ``p`` (pysaliency's ``SIMSaliencyMapModel``, which finds it by stochastic gradient
  ascent; :func:`sim_map` finds it exactly from the optimality condition).

Example:
    >>> import torch
    >>> net = FixationDensityNet(sources=(4, 15)).eval()  # random weights
    >>> with torch.no_grad():
    ...     log_p = net(torch.zeros(1, 3, 96, 128))
    >>> log_p.shape, round(float(log_p.exp().sum()), 4)
    (torch.Size([1, 1, 12, 16]), 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .encoders import EfficientNetLite

__all__ = [
    "METRIC_MAPS",
    "CentreBias",
    "FixationDensityNet",
    "FixationReadout",
    "LearnedBlur",
    "log_likelihoods",
    "metric_map",
    "sim_map",
    "upsample_log_density",
]


class LearnedBlur(nn.Module):
    """Separable Gaussian blur of ``(N, C, h, w)`` maps with a learned width.

    ``sigma = exp(log_sigma) * max(h, w)`` cells (a fraction of the map's long side, so the
    same model blurs any input size alike); the kernel is cut at ``3 sigma`` (radius
    ``int(3 sigma + 0.5)``) and the border repeated: SciPy's
    ``gaussian_filter(x, sigma, mode="nearest", truncate=3)``. DeepGaze II's finaliser
    blurs the readout before the centre bias.
    """

    def __init__(self, sigma_frac: float = 0.02) -> None:
        super().__init__()
        if not sigma_frac > 0:
            raise ValueError(f"LearnedBlur expected sigma_frac > 0, got {sigma_frac}")
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma_frac)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sigma = self.log_sigma.exp().to(x.dtype) * max(x.shape[-2:])
        radius = min(max(1, int(3.0 * float(sigma.detach()) + 0.5)), max(x.shape[-2:]) - 1)
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        k = torch.exp(-0.5 * (t / sigma) ** 2)
        k = k / k.sum()
        c = x.shape[1]
        y = F.pad(x, (radius, radius, radius, radius), mode="replicate")
        y = F.conv2d(y, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(y, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


class CentreBias(nn.Module):
    """A learned centre-bias log prior: a ``grid`` of log values in normalised image
    coordinates, bilinearly resized to the map (so it stretches with the image's aspect).
    ``forward(h, w)`` -> ``(1, 1, h, w)``; it starts flat (zeros)."""

    def __init__(self, grid: Sequence[int] = (12, 16)) -> None:
        super().__init__()
        gh, gw = (int(v) for v in grid)
        if gh < 1 or gw < 1:
            raise ValueError(f"CentreBias expected a grid of positive sides, got {tuple(grid)}")
        self.log_prior = nn.Parameter(torch.zeros(1, 1, gh, gw))

    def forward(self, h: int, w: int) -> torch.Tensor:
        return F.interpolate(self.log_prior, size=(h, w), mode="bilinear", align_corners=False)


class FixationReadout(nn.Module):
    """DeepGaze II's readout and finaliser on a list of feature maps.

    In training, whole channels of the encoder's activations are dropped with probability
    ``dropout`` (``Dropout2d``: set to 0, the activation's floor, the others scaled by
    ``1 / (1 - dropout)``); each source ``i`` is then standardised per channel (buffers
    ``mean{i}``, ``std{i}``, set from training features by :meth:`set_feature_stats`),
    mapped by a 1x1 convolution to
    ``first`` channels and resized bilinearly to the output grid; the sum goes through
    ``softplus -> 1x1 (hidden) -> softplus -> 1x1 (1)``, :class:`LearnedBlur`, plus
    :class:`CentreBias`, and a log-softmax over all cells.

    Args:
        channels: channels of each source.
        first, hidden: widths of the readout's two hidden layers.
        prior_grid: size of the centre-bias grid.
        dropout: channel dropout on the encoder's activations (training only).

    Shapes:
        ``forward(features, size)``: ``features[i]`` ``(N, channels[i], h_i, w_i)``,
        ``size = (h, w)`` -> ``(N, 1, h, w)`` log probabilities, ``logsumexp == 0`` per image.
    """

    def __init__(
        self,
        channels: Sequence[int],
        first: int = 8,
        hidden: int = 16,
        prior_grid: Sequence[int] = (12, 16),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.channels = [int(c) for c in channels]
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"FixationReadout expected channels >= 1, got {list(channels)}")
        for i, c in enumerate(self.channels):
            self.register_buffer(f"mean{i}", torch.zeros(c))
            self.register_buffer(f"std{i}", torch.ones(c))
        self.dropout = nn.Dropout2d(float(dropout))
        self.first = nn.ModuleList(nn.Conv2d(c, first, 1) for c in self.channels)
        self.layers = nn.Sequential(
            nn.Softplus(), nn.Conv2d(first, hidden, 1), nn.Softplus(), nn.Conv2d(hidden, 1, 1)
        )
        self.blur = LearnedBlur()
        self.prior = CentreBias(prior_grid)

    def set_feature_stats(self, stats: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Per-source ``(mean, std)`` of the channels, from training features."""
        if len(stats) != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} (mean, std) pairs, got {len(stats)}")
        for i, (mean, std) in enumerate(stats):
            getattr(self, f"mean{i}").copy_(mean)
            getattr(self, f"std{i}").copy_(std.clamp_min(1e-3))

    def forward(self, features: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        if len(features) != len(self.channels):
            raise ValueError(f"expected {len(self.channels)} feature maps, got {len(features)}")
        z = None
        for i, (f, conv) in enumerate(zip(features, self.first)):
            if f.dim() != 4 or f.shape[1] != self.channels[i]:
                raise ValueError(
                    f"feature map {i} expected (N, {self.channels[i]}, h, w), got {tuple(f.shape)}"
                )
            mean = getattr(self, f"mean{i}").view(1, -1, 1, 1)
            std = getattr(self, f"std{i}").view(1, -1, 1, 1)
            y = conv((self.dropout(f.to(mean.dtype)) - mean) / std)
            if tuple(y.shape[-2:]) != tuple(size):
                y = F.interpolate(y, size=size, mode="bilinear", align_corners=False)
            z = y if z is None else z + y
        z = self.blur(self.layers(z)) + self.prior(*size)
        n = z.shape[0]
        return F.log_softmax(z.reshape(n, -1), 1).reshape_as(z)


class FixationDensityNet(nn.Module):
    """Where people look, as a log probability over a grid: a frozen EfficientNet-Lite and a
    :class:`FixationReadout` on the features of its ``sources`` blocks.

    Args:
        variant: the encoder (:class:`~attnvision.saliency.encoders.EfficientNetLite`).
        sources: encoder blocks whose outputs feed the readout; ``"head"`` is the head
            convolution's 1280 channels (the features the ImageNet classifier reads).
        stride: the output grid is ``ceil(H / stride) x ceil(W / stride)``.
        first, hidden, prior_grid, dropout: of :class:`FixationReadout`.

    Shapes:
        ``(N, 3, H, W)`` normalised RGB (:func:`~attnvision.saliency.encoders.normalize`)
        -> ``(N, 1, ceil(H / stride), ceil(W / stride))`` log probabilities per cell.
    """

    def __init__(
        self,
        variant: str = "lite0",
        sources: Sequence[int | str] = (4, 10, 15, "head"),
        stride: int = 8,
        first: int = 8,
        hidden: int = 16,
        prior_grid: Sequence[int] = (12, 16),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        use_head = "head" in list(sources)
        self.encoder = EfficientNetLite(variant, head=use_head, num_classes=0)
        n_blocks = len(self.encoder.blocks)
        blocks = []
        for s in sources:
            b = n_blocks if s == "head" else s
            if not (s == "head" or (isinstance(b, int) and 0 <= b < n_blocks)):
                raise ValueError(
                    f"expected sources among 0..{n_blocks - 1} and 'head', got {list(sources)}"
                )
            blocks.append(b)
        self.blocks = blocks
        if int(stride) < 1:
            raise ValueError(f"expected stride >= 1, got {stride}")
        self.stride = int(stride)
        channels = [self.encoder.feature_info[b]["channels"] for b in blocks]
        self.readout = FixationReadout(channels, first, hidden, prior_grid, dropout)
        self.encoder.requires_grad_(False)
        self.encoder.eval()  # from the start, not only after .train() / .eval()

    def train(self, mode: bool = True) -> FixationDensityNet:
        super().train(mode)
        self.encoder.eval()  # frozen: batch norm keeps its ImageNet statistics
        return self

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder features the readout reads (training precomputes them once)."""
        return self.encoder.forward_features(x, self.blocks)

    def grid(self, shape: Sequence[int]) -> tuple[int, int]:
        """The output grid ``(h, w)`` for an input of spatial ``shape`` ``(H, W)``."""
        return math.ceil(shape[-2] / self.stride), math.ceil(shape[-1] / self.stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.features(x), self.grid(x.shape))


def upsample_log_density(log_p: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Log probabilities over a grid ``(N, 1, h, w)`` -> log density over the pixels of an
    ``size = (H, W)`` image ``(N, 1, H, W)``: the probabilities resized bilinearly and
    renormalised to sum 1 per image (``logsumexp == 0``)."""
    p = F.interpolate(log_p.exp(), size=tuple(size), mode="bilinear", align_corners=False)
    p = p / p.sum((2, 3), keepdim=True)
    return p.clamp_min(torch.finfo(p.dtype).tiny).log()


def log_likelihoods(log_p: torch.Tensor, pixels: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``upsample_log_density(log_p[i:i+1], size)`` at given pixels, without the full map.

    The bilinear resize is linear in the probabilities: the value at a pixel is a weighted
    sum of (at most) four cells, read by ``grid_sample`` at the pixel's centre (the same
    sampling as ``F.interpolate(..., align_corners=False)``), and the normaliser is
    ``sum_c w_c p_c`` with ``w`` the column sums of the resize (computed once per size).

    Args:
        log_p: ``(N, 1, h, w)`` log probabilities over cells (differentiable).
        pixels: ``(M, 3)`` integer rows ``(image index in the batch, y, x)``.
        size: ``(H, W)`` of the images.

    Returns:
        ``(M,)`` natural-log densities per pixel (as :func:`upsample_log_density`, which
        clamps at the smallest float; here exact).
    """
    n, _, h, w = log_p.shape
    big_h, big_w = (int(v) for v in size)
    weights = _resize_weights((h, w), (big_h, big_w), log_p.dtype, log_p.device)
    p = log_p.exp()
    log_z = torch.log((p[:, 0] * weights).sum((1, 2)))  # (N,)
    idx = pixels[:, 0].long()
    gy = (pixels[:, 1].to(p.dtype) + 0.5) / big_h * 2 - 1
    gx = (pixels[:, 2].to(p.dtype) + 0.5) / big_w * 2 - 1
    grid = torch.stack([gx, gy], -1)[:, None, None, :]  # (M, 1, 1, 2)
    vals = F.grid_sample(
        p[idx], grid, mode="bilinear", padding_mode="border", align_corners=False
    ).reshape(-1)
    return vals.log() - log_z[idx]


_RESIZE_WEIGHTS: dict[tuple, torch.Tensor] = {}


def _resize_weights(
    small: tuple[int, int], big: tuple[int, int], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``(h, w)`` weights ``w_c``: the sum over the ``big`` bilinear resize's pixels of cell
    ``c``'s coefficient (the resize's adjoint applied to ones)."""
    key = (small, big, dtype, str(device))
    if key not in _RESIZE_WEIGHTS:
        with torch.enable_grad():
            x = torch.zeros(1, 1, *small, dtype=dtype, device=device, requires_grad=True)
            y = F.interpolate(x, size=big, mode="bilinear", align_corners=False)
            (grad,) = torch.autograd.grad(y.sum(), x)
        if len(_RESIZE_WEIGHTS) > 16:
            _RESIZE_WEIGHTS.clear()
        _RESIZE_WEIGHTS[key] = grad[0, 0]
    return _RESIZE_WEIGHTS[key]


# --------------------------------------------------------------------------- metric maps

#: the map :func:`metric_map` gives for each metric name of :mod:`attnvision.saliency.metrics`
METRIC_MAPS: dict[str, str] = {
    "auc_judd": "density",
    "auc_borji": "density",
    "nss": "density",
    "info_gain": "density",
    "auc_shuffled": "log ratio to the baseline density",
    "cc": "density blurred with the ground truth's Gaussian",
    "kld": "density blurred with the ground truth's Gaussian",
    "sim": "expected-SIM maximiser (sim_map)",
}


def _blur(p: np.ndarray, sigma: float) -> np.ndarray:
    from .density import gaussian_blur

    return gaussian_blur(p, sigma, mode="constant")


def metric_map(
    log_density: np.ndarray,
    metric: str,
    *,
    sigma: float | None = None,
    baseline_log_density: np.ndarray | None = None,
    fixations: int = 140,
    seed: int = 0,
) -> np.ndarray:
    """The saliency map a density model gives for ``metric`` (Kümmerer et al., ECCV 2018).

    Args:
        log_density: ``(H, W)`` log density over pixels (``logsumexp == 0``).
        metric: a name of :data:`METRIC_MAPS`.
        sigma: the ground truth's Gaussian in pixels (``cc``, ``kld``, ``sim``; OSIE:
            1 degree = :data:`attnvision.saliency.density.OSIE_PPD` px).
        baseline_log_density: ``(H, W)`` log density of the baseline (``auc_shuffled``:
            the centre bias whose fixations are the negatives).
        fixations, seed: of :func:`sim_map`.

    Returns:
        ``(H, W)`` float64 map.
    """
    lp = np.asarray(log_density, dtype=np.float64)
    if lp.ndim != 2:
        raise ValueError(f"expected an (H, W) log density, got shape {lp.shape}")
    if metric not in METRIC_MAPS:
        raise ValueError(f"expected metric one of {', '.join(METRIC_MAPS)}, got {metric!r}")
    if metric == "auc_shuffled":
        if baseline_log_density is None:
            raise ValueError("auc_shuffled needs baseline_log_density")
        base = np.asarray(baseline_log_density, dtype=np.float64)
        if base.shape != lp.shape:
            raise ValueError(f"baseline shape {base.shape} differs from the map's {lp.shape}")
        return lp - base
    p = np.exp(lp)
    if METRIC_MAPS[metric] == "density":
        return p
    if sigma is None or not sigma > 0:
        raise ValueError(f"{metric} needs the ground truth's sigma > 0 (pixels), got {sigma}")
    if metric == "sim":
        return sim_map(lp, sigma, fixations=fixations, seed=seed)
    return _blur(p, sigma)


def sim_map(
    log_density: np.ndarray,
    sigma: float,
    *,
    fixations: int = 140,
    samples: int = 200,
    downscale: int = 4,
    seed: int = 0,
) -> np.ndarray:
    """The map maximising the expected SIM under a density (pysaliency's
    ``SIMSaliencyMapModel``), from its optimality condition.

    SIM with a map ``s`` summing to 1 is ``sum_i min(s_i, e_i)`` for an empirical map ``e``
    (``fixations`` points drawn from the density, binary, blurred with ``sigma``,
    normalised; the default 140 is OSIE's mean number of fixations per image, 98,321 / 700;
    the Tuebingen benchmark uses its datasets' counts likewise). ``E[min(s_i, e_i)]`` has
    derivative ``P(e_i > s_i)`` in ``s_i``, so the maximiser on the simplex (a concave
    problem) has ``P(e_i > s_i) = lambda`` wherever ``s_i > 0``: ``s_i`` is the
    ``(1 - lambda)`` quantile of ``e_i``, with ``lambda`` found by bisection so that
    ``sum s = 1``. The quantiles are estimated from
    ``samples`` empirical maps drawn with ``numpy.random.default_rng(seed)`` at
    ``1 / downscale`` of the resolution (area-summed density, ``sigma / downscale``);
    the result is resized back bilinearly. pysaliency reaches the same map by stochastic
    gradient ascent on sampled fixations.
    """
    lp = np.asarray(log_density, dtype=np.float64)
    h, w = lp.shape
    d = max(1, int(downscale))
    p = torch.from_numpy(np.exp(lp))[None, None]
    hs, ws = max(1, h // d), max(1, w // d)
    small = F.adaptive_avg_pool2d(p, (hs, ws))[0, 0].numpy()
    small = small / small.sum()
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(fixations, small.ravel(), size=samples) > 0  # binary maps
    emp = np.empty((samples, hs * ws))
    for k in range(samples):
        e = _blur(counts[k].reshape(hs, ws).astype(np.float64), sigma / d)
        emp[k] = e.ravel() / e.sum()
    emp.sort(0)  # per pixel, the sorted sample of e_i

    def quantile_map(lam: float) -> np.ndarray:  # linear between order statistics
        pos = (1.0 - lam) * (samples - 1)
        i = int(math.floor(pos))
        j = min(i + 1, samples - 1)
        return emp[i] + (pos - i) * (emp[j] - emp[i])

    # sum(quantile_map) falls continuously from sum(max_k e_k) >= 1 at lambda = 0 to
    # sum(min_k e_k) <= 1 at lambda = 1
    lo, hi = 0.0, 1.0
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if quantile_map(mid).sum() > 1.0:
            lo = mid
        else:
            hi = mid
    s = torch.from_numpy(quantile_map(lo).reshape(1, 1, hs, ws))
    out = F.interpolate(s, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()
    return out / out.sum()
