"""Spatial transformer networks (Jaderberg et al., NeurIPS 2015) and their plain baselines.

- ``cnn``: a small plain CNN for digit canvases, with an optional attention block after
  every conv stage (the classifier of the ``attnvision compare`` job).
- ``st_cnn``: the same CNN with a :class:`~attnvision.layers.stn.SpatialTransformer` in
  front (ST-CNN, sec. 4.1); the transformer is the submodule ``stn`` (``stn.loc`` gives the
  transform parameters, ``stn.sampler`` the warped input).
- ``fcn``: a fully connected baseline (FCN, sec. 4.1) for a fixed input size.
- ``st_fcn``: a spatial transformer in front of it (ST-FCN), which warps any input size to
  the FCN's size.
- ``conv_fc``: the convolutional baseline of the RAM paper (Mnih et al. 2014, sec. 4.1), one
  strided conv layer and one fully connected hidden layer, for a fixed input size.
- :class:`TransformerFront`: a spatial transformer in front of any classifier (how
  ``model.transformer`` and the ``stn`` rows of ``attnvision compare`` build an ST-network
  from the plain one), optionally frozen at the identity as a control.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..layers import create_attention
from ..layers.stn import SpatialTransformer
from .registry import register_model

AttentionSpec = str | Callable[[int], nn.Module] | None


def make_attention(
    attention: AttentionSpec, channels: int, options: dict[str, Any] | None = None
) -> nn.Module:
    """An attention block for ``channels``: a registered name, a callable
    ``channels -> nn.Module``, or ``None`` / ``"none"`` (identity)."""
    if attention is None or isinstance(attention, str):
        return create_attention(attention, channels, **(options or {}))
    if callable(attention):
        if options:
            raise TypeError("attention_options only apply to a named attention, not a callable")
        module = attention(channels)
        if not isinstance(module, nn.Module):
            raise TypeError(
                f"attention callable must return an nn.Module, got {type(module).__name__}"
            )
        return module
    raise TypeError(
        "expected attention to be a name, a callable channels -> nn.Module or None, got "
        f"{type(attention).__name__}"
    )


def _check_input(x: torch.Tensor, channels: int, min_size: int, owner: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{owner} expected a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != channels:
        raise ValueError(
            f"{owner} expected input of shape (N, {channels}, H, W), got {tuple(x.shape)}"
        )
    if x.shape[2] < min_size or x.shape[3] < min_size:
        raise ValueError(f"{owner} expected H, W >= {min_size}, got {x.shape[2]}x{x.shape[3]}")


def _fixed_shape(in_channels: int, in_size: int | Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)`` of a network for one input size (``in_size``: a side or ``(H, W)``)."""
    size = (in_size, in_size) if isinstance(in_size, int) else tuple(in_size)
    return (in_channels, int(size[0]), int(size[1]))


def _check_fixed_input(x: torch.Tensor, in_shape: tuple[int, int, int], owner: str) -> None:
    if not isinstance(x, torch.Tensor) or tuple(x.shape[1:]) != in_shape:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{owner} expected input of shape (N, *{in_shape}), got {got}")


class SmallCNN(nn.Module):
    """Plain CNN classifier: ``(N, in_channels, H, W) -> (N, num_classes)`` logits, H, W >= 28.

    Each stage ``stages[i]`` is conv 3x3 -> batch norm -> ReLU -> ``attn`` (the attention
    block, identity by default) -> max-pool 2x2; then adaptive average pooling to
    ``head_pool`` x ``head_pool``, optionally a hidden ReLU layer, and a linear classifier,
    so any input size works.

    The default ``head_pool=1`` is global average pooling: the classifier is (nearly)
    translation invariant. ``head_pool > 1`` keeps the layout of the features, as the fully
    connected classifiers of the STN paper do; an ST-CNN then gains from centring the
    object, one more signal for its localisation network (with global pooling only the
    zoom and the cropping of clutter help; docs/benchmark-log.md, "STN on cluttered
    60x60", compares both on cluttered MNIST).

    Args:
        in_channels: input channels (1 for digit canvases).
        num_classes: number of classes.
        widths: output channels of the conv stages.
        attention: a name from :func:`attnvision.layers.list_attention`, a callable
            ``channels -> nn.Module`` or ``None``; placed after each stage's activation.
        attention_options: keyword options for a named attention block.
        dropout: dropout before the classifier.
        head_pool: side of the adaptive average pooling before the classifier (1: global).
        head_hidden: width of a hidden ReLU layer before the classifier (0: none).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        widths: Sequence[int] = (16, 32, 64),
        attention: AttentionSpec = None,
        attention_options: dict[str, Any] | None = None,
        dropout: float = 0.0,
        head_pool: int = 1,
        head_hidden: int = 0,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        stages = []
        channels = in_channels
        for width in widths:
            stage = nn.Sequential()
            stage.add_module("conv", nn.Conv2d(channels, width, 3, padding=1, bias=False))
            stage.add_module("bn", nn.BatchNorm2d(width))
            stage.add_module("act", nn.ReLU(inplace=True))
            stage.add_module("attn", make_attention(attention, width, attention_options))
            stage.add_module("pool", nn.MaxPool2d(2))
            stages.append(stage)
            channels = width
        self.stages = nn.Sequential(*stages)
        head_pool, head_hidden = int(head_pool), int(head_hidden)
        if head_pool < 1 or head_hidden < 0:
            raise ValueError(
                f"expected head_pool >= 1 and head_hidden >= 0, got {head_pool}, {head_hidden}"
            )
        self.pool = nn.AdaptiveAvgPool2d(head_pool)
        self.dropout = nn.Dropout(dropout)
        features = channels * head_pool**2
        if head_hidden:
            self.head = nn.Sequential(
                nn.Linear(features, head_hidden),
                nn.ReLU(inplace=True),
                nn.Dropout(dropout),
                nn.Linear(head_hidden, num_classes),
            )
        else:
            self.head = nn.Linear(features, num_classes)
        self.min_size = 2 ** len(widths)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, widths[-1], H / 2^S, W / 2^S)``."""
        return self.stages(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, num_classes)`` logits."""
        _check_input(x, self.in_channels, self.min_size, type(self).__name__)
        x = self.pool(self.forward_features(x)).flatten(1)
        return self.head(self.dropout(x))


class STCNN(nn.Module):
    """ST-CNN (Jaderberg et al. 2015, sec. 4.1): a spatial transformer, then :class:`SmallCNN`.

    ``(N, in_channels, H, W) -> (N, num_classes)``. The transformer (``self.stn``) warps the
    input to ``out_size`` (default: the input size) before the classifier (``self.cnn``).

    Args:
        transform: the transformer's transform (``"affine"``, ``"tps"``, ...).
        out_size: size of the warped image (the paper uses half the canvas for clutter).
        stn_options: further :class:`SpatialTransformer` options (``loc_channels``, ...).
        **cnn_options: :class:`SmallCNN` options (``widths``, ``attention``, ...).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        transform: str = "affine",
        out_size: int | Sequence[int] | None = None,
        stn_options: dict[str, Any] | None = None,
        **cnn_options: Any,
    ) -> None:
        super().__init__()
        self.stn = SpatialTransformer(
            in_channels, transform=transform, out_size=out_size, **(stn_options or {})
        )
        self.cnn = SmallCNN(in_channels, num_classes, **cnn_options)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, num_classes)`` logits."""
        _check_input(x, self.cnn.in_channels, 1, type(self).__name__)
        return self.cnn(self.stn(x))


class TransformerFront(nn.Module):
    """A spatial transformer in front of a classifier: ``net(stn(x))`` (Jaderberg et al.
    2015, sec. 4.1, with any network in place of their CNN).

    ``(N, in_channels, H, W) -> net's output``. The submodules are ``stn``
    (:class:`~attnvision.layers.stn.SpatialTransformer`) and ``net`` (the classifier, as
    built), so the ST-network has exactly the classifier's parameters plus the
    transformer's.

    Args:
        net: the classifier.
        in_channels: channels of the input (and of the transformer's output).
        identity: a control: the transformer is frozen at the identity (its last layer at
            zero so that it outputs the identity parameters, every parameter with
            ``requires_grad=False``): it runs the same localisation network as the trained
            one but reads the whole input at its own size (``init_scale`` and ``out_size``
            are ignored), so it returns its input unchanged up to float rounding.
        **stn_options: :class:`SpatialTransformer` options (``transform``, ``out_size``,
            ``init_scale``, ``loc``, ``loc_norm``, ...).

    Example:
        >>> front = TransformerFront(SmallCNN(1, 10), 1, transform="translation", init_scale=0.5)
        >>> front(torch.rand(2, 1, 60, 60)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self, net: nn.Module, in_channels: int, *, identity: bool = False, **stn_options: Any
    ) -> None:
        super().__init__()
        if identity:
            stn_options = {**stn_options, "init_scale": 1.0, "out_size": None}
        self.stn = SpatialTransformer(in_channels, **stn_options)
        self.net = net
        self.identity = bool(identity)
        if identity:
            self.stn.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> the classifier's output on the warped input."""
        return self.net(self.stn(x))

    def extra_repr(self) -> str:
        return "identity (frozen control)" if self.identity else ""


class FCN(nn.Module):
    """Fully connected baseline (FCN, Jaderberg et al. 2015, sec. 4.1).

    ``(N, in_channels, in_size, in_size) -> (N, num_classes)``: flatten, ``hidden`` ReLU
    layers, linear classifier.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        in_size: int | Sequence[int] = 28,
        hidden: Sequence[int] = (256, 256),
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_shape = _fixed_shape(in_channels, in_size)
        layers: list[nn.Module] = [nn.Flatten(1)]
        features = in_channels * self.in_shape[1] * self.in_shape[2]
        for width in hidden:
            layers += [nn.Linear(features, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            features = width
        layers.append(nn.Linear(features, num_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, num_classes)`` logits; ``(C, H, W)`` must be ``in_shape``."""
        _check_fixed_input(x, self.in_shape, "FCN")
        return self.net(x)


class ConvFC(nn.Module):
    """The convolutional baseline of Mnih et al. 2014 (sec. 4.1, "Convolutional, 2 layers"
    in their tables 1-2): one conv layer of ``filters`` ``kernel`` x ``kernel`` filters with
    stride ``stride`` and ReLU, one fully connected ReLU layer of ``hidden`` units, a linear
    classifier. ``(N, in_channels, in_size, in_size) -> (N, num_classes)`` logits.

    The hidden layer reads the whole feature map, so the network is not translation
    invariant beyond its stride: the weak-but-cheap baseline against which the paper's RAM
    halves the error on cluttered digits (8.09 % -> 4.04 %).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        in_size: int | Sequence[int] = 60,
        filters: int = 8,
        kernel: int = 10,
        stride: int = 5,
        hidden: int = 256,
    ) -> None:
        super().__init__()
        self.in_shape = _fixed_shape(in_channels, in_size)
        if min(self.in_shape[1:]) < kernel or min(filters, kernel, stride, hidden) < 1:
            raise ValueError(
                f"ConvFC expected in_size >= kernel and filters, kernel, stride, hidden >= 1, "
                f"got in_size {self.in_shape[1:]}, filters {filters}, kernel {kernel}, "
                f"stride {stride}, hidden {hidden}"
            )
        out_h, out_w = ((n - kernel) // stride + 1 for n in self.in_shape[1:])
        self.conv = nn.Conv2d(in_channels, filters, kernel, stride=stride)
        self.fc = nn.Linear(filters * out_h * out_w, hidden)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, num_classes)`` logits; ``(C, H, W)`` must be ``in_shape``."""
        _check_fixed_input(x, self.in_shape, "ConvFC")
        x = torch.relu(self.conv(x)).flatten(1)
        return self.head(torch.relu(self.fc(x)))


class STFCN(nn.Module):
    """ST-FCN (Jaderberg et al. 2015): a spatial transformer warping any input to the
    FCN's ``in_size``, then :class:`FCN`. ``(N, C, H, W) -> (N, num_classes)``."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        in_size: int | Sequence[int] = 28,
        transform: str = "affine",
        stn_options: dict[str, Any] | None = None,
        **fcn_options: Any,
    ) -> None:
        super().__init__()
        self.fcn = FCN(in_channels, num_classes, in_size=in_size, **fcn_options)
        self.stn = SpatialTransformer(
            in_channels,
            transform=transform,
            out_size=self.fcn.in_shape[1:],
            **(stn_options or {}),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W) -> (N, num_classes)`` logits."""
        return self.fcn(self.stn(x))


@register_model("cnn")
def cnn(num_classes: int = 10, in_channels: int = 1, **kwargs: Any) -> SmallCNN:
    """Plain CNN baseline for digit canvases (any size >= 28); ``attention=`` after each
    stage. See :class:`SmallCNN`."""
    return SmallCNN(in_channels, num_classes, **kwargs)


@register_model("st_cnn")
def st_cnn(num_classes: int = 10, in_channels: int = 1, **kwargs: Any) -> STCNN:
    """ST-CNN (Jaderberg et al. 2015): spatial transformer (``transform="affine"|"tps"|...``)
    in front of :class:`SmallCNN`. See :class:`STCNN`."""
    return STCNN(in_channels, num_classes, **kwargs)


@register_model("fcn")
def fcn(num_classes: int = 10, in_channels: int = 1, **kwargs: Any) -> FCN:
    """Fully connected baseline for a fixed ``in_size``. See :class:`FCN`."""
    return FCN(in_channels, num_classes, **kwargs)


@register_model("st_fcn")
def st_fcn(num_classes: int = 10, in_channels: int = 1, **kwargs: Any) -> STFCN:
    """ST-FCN (Jaderberg et al. 2015): spatial transformer in front of :class:`FCN`."""
    return STFCN(in_channels, num_classes, **kwargs)


@register_model("conv_fc")
def conv_fc(num_classes: int = 10, in_channels: int = 1, **kwargs: Any) -> ConvFC:
    """The RAM paper's convolutional baseline (one strided conv layer, one fully connected
    hidden layer) for a fixed ``in_size`` (default 60). See :class:`ConvFC`."""
    return ConvFC(in_channels, num_classes, **kwargs)
