"""Recurrent Attention Model (Mnih et al., "Recurrent Models of Visual Attention", NeurIPS 2014).

At each of ``glimpses`` steps a retina-like sensor reads ``num_scales`` patches centred
at the current location (sec. 3, "Sensor"), a glimpse network mixes what and where, a
recurrent core updates its state, and a location network proposes the next location
as a Gaussian with fixed standard deviation (the policy, trained with REINFORCE and a
learned baseline, sec. 3.2 / eq. 2). The classifier reads the last state.

Locations ``(x, y)`` are normalised to ``[-1, 1]``: ``(-1, -1)`` is the top-left corner
of the image, ``(1, 1)`` the bottom-right one, ``(0, 0)`` its centre. Named submodules:
``sensor`` (output: the glimpses), ``locator`` (output: ``(mean, location)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._common import crop_windows, gather_grid
from .registry import register_model


@dataclass
class RAMOutput:
    """What :class:`RAM` returns.

    Attributes:
        log_probs: ``(N, num_classes)`` class log-probabilities after the last glimpse.
        locations: ``(N, T, 2)`` the ``(x, y)`` of every glimpse, in ``[-1, 1]``.
        means: ``(N, T - 1, 2)`` the policy means that produced locations ``1 .. T - 1``.
        loc_log_probs: ``(N, T - 1)`` log-density of each sampled location under its policy.
        baselines: ``(N, T - 1)`` the learned reward baseline at each decision.
    """

    log_probs: torch.Tensor
    locations: torch.Tensor
    means: torch.Tensor
    loc_log_probs: torch.Tensor
    baselines: torch.Tensor

    @property
    def logits(self) -> torch.Tensor:
        """Alias of :attr:`log_probs` (valid logits for ``argmax`` / cross-entropy)."""
        return self.log_probs


@dataclass
class RAMLoss:
    """The three terms of the RAM objective and their sum (scalars)."""

    nll: torch.Tensor
    reinforce: torch.Tensor
    baseline: torch.Tensor
    total: torch.Tensor


@dataclass
class Retina:
    """An image batch prepared once for all the glimpses of a forward pass
    (:meth:`GlimpseSensor.prepare`).

    Attributes:
        image: ``(N, C, H, W)``, the images.
        integral: ``(N, C, H + 1, W + 1)`` summed-area table (float64):
            ``integral[..., i, j]`` is the sum of ``image[..., :i, :j]``.
    """

    image: torch.Tensor
    integral: torch.Tensor


class GlimpseSensor(nn.Module):
    """Retina-like glimpse sensor ``rho(x, l)``: ``(N, C, H, W), (N, 2) -> (N, S, C, g, g)``.

    Scale ``s`` reads a ``g * scale**s`` square centred at ``l`` (integer pixel crop, zero
    padding outside the image) and average-pools it down to ``g x g``. The centre
    ``((x + 1) / 2 * W, (y + 1) / 2 * H)`` (continuous pixel coordinates) is rounded to the
    nearest pixel corner, so the crop of side ``m`` spans columns ``cx - m/2 .. cx + m/2 - 1``.

    The pooled scales are read from a summed-area table of the image: four lookups per
    output pixel whatever the scale, with lookups clamped to the image, which is the zero
    padding. Build the table once with :meth:`prepare` and pass the :class:`Retina`
    instead of the image when taking several glimpses of the same images (RAM does).
    Equal to cropping then ``avg_pool2d`` up to float rounding (the first scale exactly).
    """

    def __init__(self, patch_size: int = 8, num_scales: int = 3, scale: int = 2) -> None:
        super().__init__()
        if patch_size < 1 or num_scales < 1 or scale < 1:
            raise ValueError(
                "GlimpseSensor expected patch_size, num_scales, scale >= 1, got "
                f"{patch_size}, {num_scales}, {scale}"
            )
        self.patch_size = patch_size
        self.num_scales = num_scales
        self.scale = scale

    @staticmethod
    def prepare(x: torch.Tensor) -> Retina:
        """``(N, C, H, W)`` -> :class:`Retina` (the images and their summed-area table;
        float32 on Apple's MPS, which has no float64)."""
        dtype = torch.float32 if x.device.type == "mps" else torch.float64
        integral = F.pad(x.to(dtype).cumsum(2).cumsum(3), (1, 0, 1, 0))
        return Retina(x, integral)

    def forward(self, x: torch.Tensor | Retina, loc: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` (or its :class:`Retina`), ``(N, 2)`` ->
        ``(N, num_scales, C, patch_size, patch_size)``."""
        retina = x if isinstance(x, Retina) else self.prepare(x)
        image, g = retina.image, self.patch_size
        n, _, height, width = image.shape
        batch = torch.arange(n, device=loc.device)
        cx = (loc[:, 0].detach().to(torch.float64) + 1.0) / 2.0 * width
        cy = (loc[:, 1].detach().to(torch.float64) + 1.0) / 2.0 * height
        steps = torch.arange(g + 1, device=loc.device)
        out = []
        for s in range(self.num_scales):
            factor = self.scale**s
            size = g * factor
            left = torch.floor(cx - size / 2.0 + 0.5).to(torch.int64)
            top = torch.floor(cy - size / 2.0 + 0.5).to(torch.int64)
            if factor == 1:
                out.append(crop_windows(image, batch, top, left, g))
                continue
            # box sums over the pooling cells from the table's corners; lookups outside the
            # image clamp to its edge, which counts the outside as zeros
            rows = (top[:, None] + factor * steps).clamp(0, height)
            cols = (left[:, None] + factor * steps).clamp(0, width)
            corners = gather_grid(retina.integral, batch, rows, cols)
            boxes = corners[..., 1:, 1:] - corners[..., :-1, 1:]
            boxes = boxes - corners[..., 1:, :-1] + corners[..., :-1, :-1]
            out.append((boxes / factor**2).to(image.dtype))
        return torch.stack(out, dim=1)


class GlimpseNetwork(nn.Module):
    """``g = ReLU(Linear(h_g) + Linear(h_l))`` with ``h_g = ReLU(Linear(rho))`` and
    ``h_l = ReLU(Linear(l))`` (Mnih et al. 2014, sec. 4)."""

    def __init__(self, glimpse_features: int, what: int = 128, where: int = 128, out: int = 256):
        super().__init__()
        self.what = nn.Linear(glimpse_features, what)
        self.where = nn.Linear(2, where)
        self.what_out = nn.Linear(what, out)
        self.where_out = nn.Linear(where, out)

    def forward(self, glimpse: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """``(N, S, C, g, g)``, ``(N, 2)`` -> ``(N, out)``."""
        h_g = F.relu(self.what(glimpse.flatten(1)))
        h_l = F.relu(self.where(loc))
        return F.relu(self.what_out(h_g) + self.where_out(h_l))


class Locator(nn.Module):
    """Location policy: ``h -> (mean, location)``, ``mean = tanh(Linear(h))`` and
    ``location = clamp(mean + std * eps, -1, 1)`` (``eps`` standard normal; in eval mode
    the mean itself). Reads ``h`` detached, so only REINFORCE trains it."""

    def __init__(self, hidden: int, std: float = 0.17) -> None:
        super().__init__()
        self.fc = nn.Linear(hidden, 2)
        self.std = std

    def forward(
        self, h: torch.Tensor, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(N, hidden)`` -> ``(mean, location)``, each ``(N, 2)``; location detached."""
        mean = torch.tanh(self.fc(h.detach()))
        if not self.training:
            return mean, mean.detach()
        noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
        return mean, (mean.detach() + self.std * noise).clamp(-1.0, 1.0)

    def log_prob(self, mean: torch.Tensor, loc: torch.Tensor) -> torch.Tensor:
        """Log-density of ``loc`` under ``N(mean, std^2 I)``: ``(N, 2) -> (N,)``."""
        return torch.distributions.Normal(mean, self.std).log_prob(loc).sum(dim=1)


class RAM(nn.Module):
    """Recurrent Attention Model: ``(N, C, H, W) -> RAMOutput``.

    Args:
        in_channels: input channels.
        num_classes: number of classes.
        glimpses: number of glimpses ``T`` (the first one at the image centre).
        patch_size: retina patch side ``g``.
        num_scales: number of retina scales (each ``scale`` times wider).
        scale: growth factor between scales.
        hidden: width of the recurrent core (and of the glimpse vector).
        core: ``"rnn"`` (ReLU RNN, as for MNIST in the paper) or ``"lstm"``.
        std: standard deviation of the location policy.

    Example:
        >>> ram = RAM(glimpses=4)
        >>> out = ram(torch.rand(2, 1, 60, 60))
        >>> out.log_probs.shape, out.locations.shape
        (torch.Size([2, 10]), torch.Size([2, 4, 2]))
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        glimpses: int = 6,
        patch_size: int = 8,
        num_scales: int = 3,
        scale: int = 2,
        hidden: int = 256,
        core: str = "rnn",
        std: float = 0.17,
    ) -> None:
        super().__init__()
        if glimpses < 1:
            raise ValueError(f"RAM expected glimpses >= 1, got {glimpses}")
        if core not in ("rnn", "lstm"):
            raise ValueError(f"RAM expected core 'rnn' or 'lstm', got {core!r}")
        self.in_channels = in_channels
        self.glimpses = glimpses
        self.sensor = GlimpseSensor(patch_size, num_scales, scale)
        self.glimpse = GlimpseNetwork(num_scales * in_channels * patch_size**2, out=hidden)
        self.core_type = core
        self.core: nn.Module = (
            nn.RNNCell(hidden, hidden, nonlinearity="relu")
            if core == "rnn"
            else nn.LSTMCell(hidden, hidden)
        )
        self.locator = Locator(hidden, std)
        self.baseline = nn.Linear(hidden, 1)
        self.classifier = nn.Linear(hidden, num_classes)
        self.hidden = hidden

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> RAMOutput:
        """``(N, C, H, W)`` -> :class:`RAMOutput`; ``generator`` drives the location noise."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"RAM expected a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"RAM expected input of shape (N, {self.in_channels}, H, W), got {tuple(x.shape)}"
            )
        n = x.shape[0]
        h = x.new_zeros((n, self.hidden))
        c = x.new_zeros((n, self.hidden))
        loc = x.new_zeros((n, 2))
        locations, means, log_pis, baselines = [loc], [], [], []
        retina = self.sensor.prepare(x)
        for t in range(self.glimpses):
            g = self.glimpse(self.sensor(retina, loc), loc)
            if self.core_type == "lstm":
                h, c = self.core(g, (h, c))
            else:
                h = self.core(g, h)
            if t == self.glimpses - 1:
                break
            mean, loc = self.locator(h, generator)
            locations.append(loc)
            means.append(mean)
            log_pis.append(self.locator.log_prob(mean, loc))
            baselines.append(self.baseline(h.detach()).squeeze(1))
        empty = x.new_zeros((n, 0))
        return RAMOutput(
            log_probs=F.log_softmax(self.classifier(h), dim=1),
            locations=torch.stack(locations, dim=1),
            means=torch.stack(means, dim=1) if means else x.new_zeros((n, 0, 2)),
            loc_log_probs=torch.stack(log_pis, dim=1) if log_pis else empty,
            baselines=torch.stack(baselines, dim=1) if baselines else empty,
        )

    @staticmethod
    def loss(output: RAMOutput, target: torch.Tensor, reinforce_weight: float = 1.0) -> RAMLoss:
        """The hybrid objective (Mnih et al. 2014, sec. 3.2): classification NLL, REINFORCE
        with reward 1 for a correct final answer (else 0) and advantage ``R - b_t``
        (baseline detached), and the baseline's mean squared error to ``R``.
        ``total = nll + reinforce_weight * reinforce + baseline``."""
        nll = F.nll_loss(output.log_probs, target)
        reward = (output.log_probs.argmax(dim=1) == target).to(output.log_probs.dtype)
        reward = reward[:, None].expand_as(output.baselines)
        if output.baselines.shape[1] == 0:
            zero = nll.new_zeros(())
            return RAMLoss(nll, zero, zero, nll)
        advantage = reward - output.baselines.detach()
        reinforce = -(output.loc_log_probs * advantage).sum(dim=1).mean()
        baseline = F.mse_loss(output.baselines, reward)
        return RAMLoss(nll, reinforce, baseline, nll + reinforce_weight * reinforce + baseline)


@register_model("ram")
def ram(num_classes: int = 10, in_channels: int = 1, **kwargs: object) -> RAM:
    """Recurrent Attention Model (Mnih et al. 2014); forward returns a :class:`RAMOutput`,
    :meth:`RAM.loss` the three terms of its objective."""
    return RAM(in_channels, num_classes, **kwargs)  # type: ignore[arg-type]
