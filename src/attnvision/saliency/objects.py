"""The salient-object model: an ImageNet-pretrained EfficientNet-Lite with a light
feature-pyramid decoder, attention blocks on its skip connections, and deep supervision.

:class:`SalientObjectNet` reads the encoder (:mod:`attnvision.saliency.encoders`) at
strides 2, 4, 8, 16 and 32. Each skip connection is reduced by a 1x1 convolution to its
level's width (narrow at the fine levels, where the maps are large) and passed through
one of this library's attention blocks
(:func:`attnvision.layers.create_attention`, e.g. CBAM, Woo et al. ECCV 2018, or coordinate
attention, Hou et al. CVPR 2021; ``attention=None`` for the ablation without them); the
decoder goes top-down as a feature pyramid (Lin et al., "Feature Pyramid Networks", CVPR
2017): the coarser level projected to the finer level's width (1x1), upsampled
bilinearly, added to the skip, and fused by a depthwise-separable 3x3 convolution. A 3x3
side head on every level gives logits, and all of them are trained against the mask
(deep supervision: Lee et al., "Deeply-Supervised Nets", AISTATS 2015; as in DSS, Hou et
al. CVPR 2017, and BASNet, Qin et al. CVPR 2019); the finest (stride 2) is the prediction.

Example:
    >>> import torch
    >>> net = SalientObjectNet(widths=(8, 8, 16, 16, 16)).eval()  # random weights
    >>> with torch.no_grad():
    ...     logits = net(torch.zeros(1, 3, 64, 96))
    >>> logits.shape
    torch.Size([1, 1, 64, 96])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers.registry import create_attention
from .encoders import EfficientNetLite

__all__ = ["SalientObjectNet"]


class _ConvBNReLU(nn.Sequential):
    """``Conv2d -> BatchNorm2d -> ReLU``: ``(N, C_in, H, W) -> (N, C_out, H, W)``; a ``k x k``
    convolution is depthwise-separable (a depthwise ``k x k`` then a pointwise 1x1)."""

    def __init__(self, c_in: int, c_out: int, k: int = 1) -> None:
        if k == 1:
            convs: list[nn.Module] = [nn.Conv2d(c_in, c_out, 1, bias=False)]
        else:
            convs = [
                nn.Conv2d(c_in, c_in, k, padding=k // 2, groups=c_in, bias=False),
                nn.Conv2d(c_in, c_out, 1, bias=False),
            ]
        super().__init__(*convs, nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class SalientObjectNet(nn.Module):
    """Salient-object segmentation: ``(N, 3, H, W)`` normalised RGB -> ``(N, 1, H, W)`` logits.

    Args:
        variant: the encoder (``"lite0"``, ``"lite1"``, ``"lite2"``).
        widths: channels of the decoder levels at strides 2, 4, 8, 16 and 32.
        attention: attention block on each skip connection (a name of
            :func:`attnvision.layers.list_attention`, options in ``attention_options``);
            ``None`` or ``"none"``: identity (the ablation).
        attention_options: keyword options of the block (e.g. ``{"rd_ratio": 1 / 8}``).
        frozen_blocks: the stem and this many first encoder blocks keep their weights
            (``0``: the whole encoder is fine-tuned; ``len(encoder.blocks)`` or more: it is
            frozen).
        drop_path_rate: stochastic depth of the encoder while fine-tuning.

    Submodules ``skips[i].attn`` hold the attention blocks, so
    :func:`attnvision.explain.capture` records their maps. :meth:`forward_all` returns the
    side outputs of all levels, finest first, each at the input size (for deep supervision).
    The encoder's batch norm always runs on its running statistics (small batches).
    """

    def __init__(
        self,
        variant: str = "lite0",
        widths: Sequence[int] = (16, 32, 48, 64, 64),
        attention: str | None = "cbam",
        attention_options: dict | None = None,
        frozen_blocks: int = 0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.encoder = EfficientNetLite(
            variant, head=False, num_classes=0, drop_path_rate=drop_path_rate
        )
        info = self.encoder.feature_info
        stride2 = max(f["block"] for f in info if f["stride"] == 2)
        self.blocks = [stride2, *self.encoder.pyramid]
        self.widths = [int(w) for w in widths]
        if len(self.widths) != len(self.blocks) or min(self.widths) < 1:
            raise ValueError(
                f"SalientObjectNet expected {len(self.blocks)} widths >= 1, got {list(widths)}"
            )
        opts = dict(attention_options or {})
        self.skips = nn.ModuleList()
        for b, w in zip(self.blocks, self.widths):
            skip = nn.Sequential()
            skip.add_module("reduce", _ConvBNReLU(info[b]["channels"], w))
            skip.add_module("attn", create_attention(attention, w, **opts))
            self.skips.append(skip)
        ws = self.widths
        self.project = nn.ModuleList(
            nn.Conv2d(ws[i + 1], ws[i], 1, bias=False) if ws[i + 1] != ws[i] else nn.Identity()
            for i in range(len(ws) - 1)
        )
        self.fuse = nn.ModuleList(_ConvBNReLU(w, w, 3) for w in ws[:-1])
        self.side = nn.ModuleList(nn.Conv2d(w, 1, 3, padding=1) for w in ws)
        self._encoder_bn_eval()  # from the start, not only after .train() / .eval()
        self.frozen_blocks = int(frozen_blocks)
        if self.frozen_blocks > 0:
            for module in (self.encoder.conv_stem, self.encoder.bn0):
                module.requires_grad_(False)
            for block in self.encoder.blocks[: self.frozen_blocks]:
                block.requires_grad_(False)

    def train(self, mode: bool = True) -> SalientObjectNet:
        super().train(mode)
        self._encoder_bn_eval()
        return self

    def _encoder_bn_eval(self) -> None:
        # batch norm on its running statistics (ImageNet's, then as fine-tuned): batches of
        # a few images give poor batch statistics
        for m in self.encoder.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The encoder features the decoder reads (strides 2, 4, 8, 16, 32)."""
        return self.encoder.forward_features(x, self.blocks)

    def decode(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Decoder levels from :meth:`features`, finest (stride 2) first:
        ``(N, widths[i], H / s, W / s)``."""
        skips = [skip(f) for skip, f in zip(self.skips, features)]
        levels = [skips[-1]]
        for i in range(len(skips) - 2, -1, -1):
            up = F.interpolate(
                self.project[i](levels[0]),
                size=skips[i].shape[-2:],
                mode="bilinear",
                align_corners=False,
            )
            levels.insert(0, self.fuse[i](skips[i] + up))
        return levels

    def side_outputs(self, levels: list[torch.Tensor], size: tuple[int, int]) -> list[torch.Tensor]:
        """The logits of every side head at ``size``, finest first (deep supervision)."""
        return [
            F.interpolate(head(f), size=size, mode="bilinear", align_corners=False)
            for head, f in zip(self.side, levels)
        ]

    def forward_all(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The logits of every side head at the input size, finest first."""
        return self.side_outputs(self.decode(self.features(x)), tuple(x.shape[-2:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        finest = self.decode(self.features(x))[0]
        return F.interpolate(
            self.side[0](finest), size=x.shape[-2:], mode="bilinear", align_corners=False
        )

    def parameter_groups(self) -> Sequence[list[nn.Parameter]]:
        """``(encoder, decoder)`` trainable parameters (for two learning rates)."""
        enc = [p for p in self.encoder.parameters() if p.requires_grad]
        dec = [p for n, p in self.named_parameters() if not n.startswith("encoder.")]
        return enc, dec
