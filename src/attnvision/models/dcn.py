"""Dynamic Capacity Network (Almahairi et al., "Dynamic Capacity Networks", ICML 2016).

A cheap *coarse* network reads the whole image and gives one feature vector per region
(a ``patch_size`` x ``patch_size`` cell of a regular grid). The saliency of a region is
the norm of the gradient of the entropy of the coarse prediction with respect to that
region's coarse features (sec. 3.1, eq. 4-5). The ``k`` most salient regions are re-read
by an expensive *fine* network, whose features replace the coarse ones there (eq. 3);
the *top* network classifies the mixed feature map. The hint loss (sec. 3.2, eq. 6) pulls
the coarse features of the chosen regions towards the fine ones.

The forward pass returns a :class:`DCNOutput` with the logits, the chosen regions and the
hint loss; the submodule ``selector`` outputs the regions too, so hooks can record them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._common import crop_windows
from .registry import register_model


@dataclass
class DCNOutput:
    """What :class:`DCN` returns.

    Attributes:
        logits: ``(N, num_classes)``.
        regions: ``(N, k, 2)`` int64 ``(row, col)`` of the chosen regions on the region grid.
        boxes: ``(N, k, 4)`` int64 pixel boxes ``(top, left, bottom, right)`` (exclusive end).
        hint_loss: scalar, mean squared distance between coarse and (detached) fine features
            of the chosen regions (0 when none are chosen).
        saliency: ``(N, h, w)`` entropy-gradient norms (zeros for ``mode="fine"``).
        coarse_logits: ``(N, num_classes)`` of the coarse-only prediction (``None`` for
            ``mode="fine"``).
    """

    logits: torch.Tensor
    regions: torch.Tensor
    boxes: torch.Tensor
    hint_loss: torch.Tensor
    saliency: torch.Tensor
    coarse_logits: torch.Tensor | None


class TopKRegions(nn.Module):
    """``(N, h, w)`` saliency -> ``(N, k, 2)`` ``(row, col)`` of the ``k`` largest values."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, saliency: torch.Tensor) -> torch.Tensor:
        """Indices sorted by decreasing saliency (ties: lower flat index first)."""
        width = saliency.shape[-1]
        flat = saliency.flatten(1)
        k = min(self.k, flat.shape[1])
        index = torch.topk(flat, k, dim=1, sorted=True).indices
        return torch.stack([index // width, index % width], dim=-1)


def _conv_bn_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class FineNetwork(nn.Module):
    """The fine network: a fully convolutional trunk at the input's resolution.

    (conv 3x3 + BN + ReLU) x2, max-pool 2, (conv 3x3 + BN + ReLU) x2 -> ``(N, D, H/2, W/2)``;
    the feature vector of a region is the maximum over the trunk's cells inside it. Run on
    the whole image, it gives the fine-only feature map. Run on a window around one region
    (the region plus :attr:`margin` pixels on each side, read from the zero-padded image),
    it gives exactly the same vector for that region: :attr:`margin` covers the trunk's
    receptive field, and ``valid`` (1 inside the image, 0 outside) zeroes every
    intermediate map outside the image, as the whole-image pass's zero padding does. So a
    region's fine features see its neighbourhood, as in the paper, where the fine layers
    are convolutional over the input, and the DCN with every region chosen is the
    fine-only model.
    """

    #: pixels of context each side of a region: the trunk's receptive field beyond it. A
    #: half-resolution cell j reads pooled cells j-2 .. j+2 (two 3x3 convs), i.e. input
    #: pixels 2j-4 .. 2j+5, and the two full-resolution 3x3 convs widen that by 2 more
    #: each side: 2j-6 .. 2j+7, so 6 pixels beyond the region (even: the window stays on
    #: the pooling grid). The test checks that 6 is exact and 4 is not enough.
    margin = 6

    def __init__(self, in_channels: int, width: int, features: int) -> None:
        super().__init__()
        self.full_res = nn.Sequential(
            nn.Sequential(*_conv_bn_relu(in_channels, width)),
            nn.Sequential(*_conv_bn_relu(width, width)),
        )
        self.half_res = nn.Sequential(
            nn.Sequential(*_conv_bn_relu(width, 2 * width)),
            nn.Sequential(*_conv_bn_relu(2 * width, features)),
        )

    def trunk(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``(N, C, H, W)`` -> ``(N, D, H/2, W/2)``; ``valid`` ``(N, 1, H, W)`` masks every
        map outside the image (``None``: all of ``x`` is image)."""
        half_valid = None if valid is None else valid[:, :, ::2, ::2]
        for layer in self.full_res:
            x = layer(x) if valid is None else layer(x) * valid
        x = F.max_pool2d(x, 2)
        for layer in self.half_res:
            x = layer(x) if half_valid is None else layer(x) * half_valid
        return x

    def forward(self, windows: torch.Tensor, valid: torch.Tensor, patch_size: int) -> torch.Tensor:
        """``(M, C, p + 2 margin, p + 2 margin)`` windows and their ``valid`` masks -> ``(M, D)``:
        the features of the region at the centre of each window."""
        cells = self.trunk(windows, valid)
        lo = self.margin // 2
        return cells[:, :, lo : lo + patch_size // 2, lo : lo + patch_size // 2].amax(dim=(2, 3))


def _entropy(logits: torch.Tensor) -> torch.Tensor:
    log_p = F.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)


class DCN(nn.Module):
    """Dynamic Capacity Network: ``(N, C, H, W) -> DCNOutput``.

    ``H`` and ``W`` must be multiples of ``patch_size`` (even); the region grid is
    ``(H / patch_size, W / patch_size)``.

    - coarse network ``coarse``: 2x average pooling, two conv 3x3 + BN + ReLU, max-pool to
      one vector per region -> ``(N, D, h, w)``;
    - fine network ``fine`` (:class:`FineNetwork`): (conv 3x3 + BN + ReLU) x2, max-pool 2,
      (conv 3x3 + BN + ReLU) x2 at full resolution, maximum over each region's cells ->
      ``(D,)``; for a chosen region it reads the region plus 6 pixels of context each side
      and gives the same vector as the whole-image pass;
    - top network ``top``: conv 3x3 + ReLU, global max-pool, linear.

    Args:
        in_channels: input channels.
        num_classes: number of classes.
        k: number of regions re-read by the fine network.
        patch_size: side of a region in pixels (even).
        features: ``D``, the width of coarse and fine features.
        coarse_width: hidden width of the coarse network.
        fine_width: hidden width of the fine network.
        mode: ``"dcn"`` (default), ``"coarse"`` (coarse features only) or ``"fine"`` (fine
            features everywhere: the fine-only model).

    Example:
        >>> net = DCN(k=4, patch_size=10)
        >>> out = net(torch.rand(2, 1, 100, 100))
        >>> out.logits.shape, out.regions.shape
        (torch.Size([2, 10]), torch.Size([2, 4, 2]))
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        k: int = 6,
        patch_size: int = 10,
        features: int = 64,
        coarse_width: int = 24,
        fine_width: int = 32,
        mode: str = "dcn",
    ) -> None:
        super().__init__()
        if patch_size < 2 or patch_size % 2:
            raise ValueError(f"DCN expected an even patch_size >= 2, got {patch_size}")
        if k < 0:
            raise ValueError(f"DCN expected k >= 0, got {k}")
        if mode not in ("dcn", "coarse", "fine"):
            raise ValueError(f"DCN expected mode 'dcn', 'coarse' or 'fine', got {mode!r}")
        self.in_channels = in_channels
        self.patch_size = patch_size
        self.mode = mode
        self.coarse = nn.Sequential(
            nn.AvgPool2d(2),
            *_conv_bn_relu(in_channels, coarse_width),
            *_conv_bn_relu(coarse_width, features),
            nn.MaxPool2d(patch_size // 2),
        )
        self.fine = FineNetwork(in_channels, fine_width, features)
        self.top = nn.Sequential(
            nn.Conv2d(features, features, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(1),
            nn.Linear(features, num_classes),
        )
        self.selector = TopKRegions(k)

    def _check(self, x: torch.Tensor) -> tuple[int, int]:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"DCN expected a torch.Tensor, got {type(x).__name__}")
        p = self.patch_size
        if x.dim() != 4 or x.shape[1] != self.in_channels or x.shape[2] % p or x.shape[3] % p:
            raise ValueError(
                f"DCN(patch_size={p}) expected input (N, {self.in_channels}, H, W) with H and "
                f"W multiples of {p}, got {tuple(x.shape)}"
            )
        return x.shape[2] // p, x.shape[3] // p

    def windows(self, x: torch.Tensor, regions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fine network's windows around ``regions`` ``(N, k, 2)``: each region plus
        ``fine.margin`` pixels each side, zeros outside the image, ``(N * k, C, s, s)``, and
        their ``(N * k, 1, s, s)`` masks (1 inside the image)."""
        p, m = self.patch_size, self.fine.margin
        n, k = regions.shape[:2]
        side = p + 2 * m
        top = (regions[..., 0] * p - m).flatten()
        left = (regions[..., 1] * p - m).flatten()
        batch = torch.arange(n, device=x.device).repeat_interleave(k)
        picked = crop_windows(x, batch, top, left, side)
        ones = x.new_ones((1, 1, x.shape[2], x.shape[3]))
        return picked, crop_windows(ones, torch.zeros_like(batch), top, left, side)

    def fine_features(self, x: torch.Tensor) -> torch.Tensor:
        """The fine-only feature map ``(N, D, h, w)``: the fine trunk over the whole image,
        then the maximum over each region's cells."""
        self._check(x)
        return F.max_pool2d(self.fine.trunk(x), self.patch_size // 2)

    def region_saliency(self, coarse: torch.Tensor) -> torch.Tensor:
        """``(N, D, h, w)`` coarse features -> ``(N, h, w)``: the L2 norm over ``D`` of the
        gradient of the coarse prediction's entropy (eq. 4-5). Computed on a detached copy,
        so it works under ``torch.no_grad()`` and does not touch parameter gradients."""
        with torch.enable_grad():
            leaf = coarse.detach().requires_grad_(True)
            entropy = _entropy(self.top(leaf)).sum()
            (grad,) = torch.autograd.grad(entropy, leaf)
        return grad.norm(dim=1)

    def _boxes(self, regions: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        top, left = regions[..., 0] * p, regions[..., 1] * p
        return torch.stack([top, left, top + p, left + p], dim=-1)

    def forward(self, x: torch.Tensor) -> DCNOutput:
        """``(N, C, H, W)`` -> :class:`DCNOutput`."""
        h, w = self._check(x)
        n = x.shape[0]
        if self.mode == "fine":
            features = self.fine_features(x)
            grid = torch.stack(
                torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), dim=-1
            )
            regions = grid.reshape(1, h * w, 2).expand(n, -1, -1).to(x.device)
            return DCNOutput(
                logits=self.top(features),
                regions=regions,
                boxes=self._boxes(regions),
                hint_loss=x.new_zeros(()),
                saliency=x.new_zeros((n, h, w)),
                coarse_logits=None,
            )
        coarse = self.coarse(x)  # (N, D, h, w)
        coarse_logits = self.top(coarse)
        saliency = self.region_saliency(coarse)
        if self.mode == "coarse" or self.selector.k == 0:
            regions = torch.zeros((n, 0, 2), dtype=torch.int64, device=x.device)
            return DCNOutput(
                coarse_logits,
                regions,
                self._boxes(regions),
                x.new_zeros(()),
                saliency,
                coarse_logits,
            )
        regions = self.selector(saliency)  # (N, k, 2)
        k = regions.shape[1]
        windows, valid = self.windows(x, regions)
        fine = self.fine(windows, valid, self.patch_size).reshape(n, k, -1).transpose(1, 2)
        flat_index = (regions[..., 0] * w + regions[..., 1]).unsqueeze(1).expand_as(fine)
        coarse_flat = coarse.flatten(2)  # (N, D, h * w)
        mixed = coarse_flat.scatter(2, flat_index, fine).reshape_as(coarse)
        chosen = torch.gather(coarse_flat, 2, flat_index)
        hint = (chosen - fine.detach()).pow(2).sum(dim=1).mean()
        return DCNOutput(
            logits=self.top(mixed),
            regions=regions,
            boxes=self._boxes(regions),
            hint_loss=hint,
            saliency=saliency,
            coarse_logits=coarse_logits,
        )


@register_model("dcn")
def dcn(num_classes: int = 10, in_channels: int = 1, **kwargs: object) -> DCN:
    """Dynamic Capacity Network (Almahairi et al. 2016); ``k``, ``patch_size``, ``mode``
    and widths are options. The forward pass returns a :class:`DCNOutput`."""
    return DCN(in_channels, num_classes, **kwargs)  # type: ignore[arg-type]
