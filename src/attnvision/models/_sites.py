"""Where :func:`attnvision.models.attach` puts a block, family by family, and what
``where=`` selects.

Each finder recognises the blocks of one family (by class; timm's classes only when timm
is already imported, i.e. when the model can be one of its) and returns a :class:`Site`
per block: the path the new block will have, its channel count read from the block, the
attention module already there (if any) and how to install the new one. The placements
and the papers behind them are listed in :mod:`attnvision.models.attach`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from torch import nn
from torchvision.models import convnext as tv_convnext
from torchvision.models import densenet as tv_densenet
from torchvision.models import efficientnet as tv_efficientnet
from torchvision.models import mobilenetv2 as tv_mobilenetv2
from torchvision.models import mobilenetv3 as tv_mobilenetv3
from torchvision.models import regnet as tv_regnet
from torchvision.models import resnet as tv_resnet
from torchvision.models import vgg as tv_vgg
from torchvision.ops import SqueezeExcitation

from . import resnet, resnet_cifar
from ._surgery import (
    channels_before,
    extend,
    extended_kind,
    in_channels,
    insert_child,
    is_plain_sequential,
    out_channels,
    preserves_channels,
)

Where = str | Sequence[str] | Callable[[str, nn.Module], bool] | None


@dataclass
class Site:
    """One place for a new attention block.

    Attributes:
        path: module path the new block will have.
        channels: ``C`` of the feature map there, read from the host.
        host: the block it goes into (the new block follows its train / eval mode).
        install: puts a new block there.
        existing: path of the attention module already there (``None``: the place is free).
        existing_type: that module's class name, for messages.
    """

    path: str
    channels: int
    host: nn.Module
    install: Callable[[nn.Module], None]
    existing: str | None = None
    existing_type: str = ""


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _timm(module: str) -> Any:
    return sys.modules.get(f"timm.models.{module}")


def _is_empty(module: nn.Module | None) -> bool:
    return module is None or type(module) is nn.Identity


def _slot(name: str, block: nn.Module, slot: str, channels: int) -> Site:
    """A slot the block's own ``forward`` already calls (``None`` / ``nn.Identity`` = free)."""
    current = getattr(block, slot)
    return Site(
        _join(name, slot),
        channels,
        block,
        lambda new: setattr(block, slot, new),
        None if _is_empty(current) else _join(name, slot),
        "" if _is_empty(current) else type(current).__name__,
    )


def _extended(name: str, host_name: str, host: nn.Module, kind: str, channels: int) -> Site:
    """``host`` (at ``name.host_name``) extended to run a child ``attn`` (``kind``)."""
    path = _join(name, host_name, "attn")
    taken = extended_kind(host) is not None
    return Site(
        path,
        channels,
        host,
        lambda new: extend(host, kind, new),
        path if taken else None,
        type(host.attn).__name__ if taken else "",
    )


# --------------------------------------------------------------------------- ResNets


# torchvision's blocks have attnvision's attribute names, so attnvision's forward (with
# ``self.attn`` before the addition) serves them as it is.


class _TVBasicBlockAttn(tv_resnet.BasicBlock):
    """torchvision ``BasicBlock`` with ``self.attn`` after ``bn2`` (set by ``attach``)."""

    attn: nn.Module
    forward = resnet.BasicBlock.forward


class _TVBottleneckAttn(tv_resnet.Bottleneck):
    """torchvision ``Bottleneck`` with ``self.attn`` after ``bn3`` (set by ``attach``)."""

    attn: nn.Module
    forward = resnet.Bottleneck.forward


_TV_SWAP: dict[type[nn.Module], type[nn.Module]] = {
    tv_resnet.BasicBlock: _TVBasicBlockAttn,
    tv_resnet.Bottleneck: _TVBottleneckAttn,
}


def _tv_resnet(name: str, m: nn.Module) -> list[Site] | None:
    """torchvision ResNet / ResNeXt / Wide ResNet blocks: ``block.attn`` on the residual
    branch after the last batch norm, before the addition (the block's class becomes a
    subclass whose ``forward`` calls it; keys ``layer1.0.attn.*`` as attnvision's)."""
    kind = type(m)
    if kind not in _TV_SWAP and kind not in _TV_SWAP.values():
        return None
    channels = m.bn3.num_features if isinstance(m, tv_resnet.Bottleneck) else m.bn2.num_features
    swapped = kind in _TV_SWAP.values()

    def install(new: nn.Module) -> None:
        if type(m) in _TV_SWAP:
            m.__class__ = _TV_SWAP[type(m)]
        m.attn = new

    path = _join(name, "attn")
    existing = type(m.attn).__name__ if swapped else ""
    return [Site(path, channels, m, install, path if swapped else None, existing)]


def _ours(name: str, m: nn.Module) -> list[Site] | None:
    """attnvision's ResNet blocks (ImageNet and CIFAR): their ``attn`` slot."""
    if isinstance(m, resnet.Bottleneck):
        return [_slot(name, m, "attn", m.bn3.num_features)]
    if isinstance(m, resnet.BasicBlock | resnet_cifar.CifarBasicBlock):
        return [_slot(name, m, "attn", m.bn2.num_features)]
    return None


# timm blocks with an attention slot ``se`` their forward calls: the module whose input is
# the slot's output gives the channels (timm's own ``feature_info`` reads them that way).
_TIMM_SLOTS: dict[tuple[str, str], Callable[[Any], int | None]] = {
    ("timm.models.resnet", "BasicBlock"): lambda m: m.bn2.num_features,
    ("timm.models.resnet", "Bottleneck"): lambda m: m.bn3.num_features,
    ("timm.models._efficientnet_blocks", "DepthwiseSeparableConv"): lambda m: in_channels(
        m.conv_pw
    ),
    ("timm.models._efficientnet_blocks", "InvertedResidual"): lambda m: in_channels(m.conv_pwl),
    ("timm.models._efficientnet_blocks", "CondConvResidual"): lambda m: in_channels(m.conv_pwl),
    ("timm.models._efficientnet_blocks", "EdgeResidual"): lambda m: in_channels(m.conv_pwl),
    ("timm.models._efficientnet_blocks", "UniversalInvertedResidual"): lambda m: in_channels(
        m.pw_proj
    ),
    ("timm.models.regnet", "Bottleneck"): lambda m: in_channels(m.conv3),
    ("timm.models.regnet", "PreBottleneck"): lambda m: in_channels(m.norm3),
}


def _timm_slot(name: str, m: nn.Module) -> list[Site] | None:
    """timm's ResNet, EfficientNet / MobileNet / EfficientNet-Lite and RegNet blocks: the
    ``se`` slot (ResNet: after the last norm before the addition; the others: after the
    depthwise (or fused expansion, or grouped 3x3) convolution, where their SE sits)."""
    rule = _TIMM_SLOTS.get((type(m).__module__, type(m).__name__))
    if rule is None:
        return None
    channels = rule(m)
    if channels is None:
        raise TypeError(f"attach cannot find the channels of {name!r} ({type(m).__name__})")
    return [_slot(name, m, "se", channels)]


# --------------------------------------------------------------------------- inverted residuals


def _depthwise_key(seq: nn.Sequential) -> str | None:
    """The last child of ``seq`` whose first convolution is depthwise."""
    found = None
    for key, child in seq._modules.items():
        conv = next((c for c in child.modules() if isinstance(c, nn.Conv2d)), None)
        if conv is not None and 1 < conv.groups == conv.in_channels == conv.out_channels:
            found = key
    return found


def _tv_branch(name: str, m: nn.Module) -> list[Site] | None:
    """torchvision blocks whose branch is an ``nn.Sequential``: ``attn`` is inserted into
    it where the family's SE sits (after the depthwise convolution of MobileNetV2/V3 and
    EfficientNet, after the fused expansion of EfficientNetV2's Fused-MBConv, after the
    grouped 3x3 of RegNet); an SE there is what ``replace=True`` replaces."""
    if isinstance(m, tv_mobilenetv2.InvertedResidual):
        branch, seq = "conv", m.conv
        after = _depthwise_key(seq)
    elif isinstance(m, tv_mobilenetv3.InvertedResidual | tv_efficientnet.MBConv):
        branch, seq = "block", m.block
        after = _depthwise_key(seq)
    elif isinstance(m, tv_efficientnet.FusedMBConv):
        branch, seq = "block", m.block
        after = next(iter(seq._modules))
    elif isinstance(m, tv_regnet.ResBottleneckBlock):
        branch, seq = "f", m.f
        after = "b"
    else:
        return None
    if after is None or not is_plain_sequential(seq):
        raise TypeError(f"attach cannot find the depthwise convolution of {name!r}")
    taken = [
        (k, c) for k, c in seq._modules.items() if k == "attn" or isinstance(c, SqueezeExcitation)
    ]
    existing = taken[0][0] if taken else None
    channels = out_channels(seq._modules[after])
    if channels is None:
        raise TypeError(f"attach cannot find the channels after {_join(name, branch, after)!r}")

    def install(new: nn.Module) -> None:
        insert_child(seq, "attn", new, after=after, remove=existing)

    return [
        Site(
            _join(name, branch, "attn"),
            channels,
            m,
            install,
            _join(name, branch, existing) if existing else None,
            type(taken[0][1]).__name__ if taken else "",
        )
    ]


# ----------------------------------------------------------------- ConvNeXt, DenseNet, VGG


def _convnext(name: str, m: nn.Module) -> list[Site] | None:
    """ConvNeXt blocks: the end of the residual branch, after the layer scale and before
    drop path and the addition (the SE / CBAM place of a residual block); the drop-path
    module (torchvision's ``stochastic_depth``, timm's ``drop_path``) runs ``attn`` first."""
    if isinstance(m, tv_convnext.CNBlock):
        channels = int(m.layer_scale.shape[0])
        return [_extended(name, "stochastic_depth", m.stochastic_depth, "before", channels)]
    module = _timm("convnext")
    if module is not None and isinstance(m, module.ConvNeXtBlock):
        channels = out_channels(m.conv_dw)
        assert channels is not None
        return [_extended(name, "drop_path", m.drop_path, "before", channels)]
    return None


def _densenet(name: str, m: nn.Module) -> list[Site] | None:
    """DenseNet: after each dense block, on the concatenation of its features (before the
    transition, or the final norm); ``attn`` is a child of the dense block."""
    module = _timm("densenet")
    if not isinstance(m, tv_densenet._DenseBlock) and not (
        module is not None and isinstance(m, module.DenseBlock)
    ):
        return None
    layers = [layer for key, layer in m.items() if key != "attn"]
    first = in_channels(layers[0].norm1)
    grown = [out_channels(layer.conv2) for layer in layers]
    if first is None or None in grown:
        raise TypeError(f"attach cannot find the channels of dense block {name!r}")
    return [_extended(name, "", m, "dense", first + sum(grown))]  # type: ignore[operator]


def _vgg(name: str, m: nn.Module) -> list[Site] | None:
    """VGG: after the last convolution + ReLU of each stage, before its max pooling (the
    module before each ``MaxPool2d`` of ``features`` runs ``attn`` after itself)."""
    module = _timm("vgg")
    if not isinstance(m, tv_vgg.VGG) and not (module is not None and isinstance(m, module.VGG)):
        return None
    features = m.features
    keys = list(features._modules)
    sites = []
    for i, key in enumerate(keys):
        if i == 0 or not isinstance(features._modules[key], nn.MaxPool2d):
            continue
        channels = channels_before(features, i)
        if channels is None:
            raise TypeError(
                f"attach cannot find the channels before {_join(name, 'features', key)!r}"
            )
        host = features._modules[keys[i - 1]]
        sites.append(_extended(_join(name, "features"), keys[i - 1], host, "after", channels))
    return sites


_FINDERS = (_tv_resnet, _ours, _timm_slot, _tv_branch, _convnext, _densenet, _vgg)


def family_sites(name: str, module: nn.Module) -> list[Site] | None:
    """The sites of ``module`` (at path ``name``) when it is a block of a family ``attach``
    knows, else ``None``."""
    for finder in _FINDERS:
        sites = finder(name, module)
        if sites is not None:
            return sites
    return None


# --------------------------------------------------------------------------- where=


def _attention_channels(m: nn.Module) -> int | None:
    """``C`` of an attention module ``attach`` can replace where it stands: torchvision's
    ``SqueezeExcitation``, timm's SE modules, attnvision's blocks."""
    if isinstance(m, SqueezeExcitation):
        return int(m.fc1.in_channels)
    if type(m).__module__.startswith("attnvision.layers.") and isinstance(
        getattr(m, "channels", None), int
    ):
        return int(m.channels)
    kind = (type(m).__module__, type(m).__name__)
    if kind == ("timm.layers.squeeze_excite", "SEModule"):
        return int(m.fc1.in_channels)
    if kind == ("timm.models._efficientnet_blocks", "SqueezeExcite"):
        return int(m.conv_reduce.in_channels)
    return None


def _generic(name: str, m: nn.Module, parent: nn.Module, leaf: str) -> Site:
    """After the module ``m`` chosen by ``where=`` (or in place of an attention module)."""
    replaced = _attention_channels(m)
    if replaced is not None:
        return Site(
            name, replaced, m, lambda new: setattr(parent, leaf, new), name, type(m).__name__
        )
    if is_plain_sequential(m):
        path = _join(name, "attn")
        taken = "attn" in m._modules
        channels = channels_before(m, len(m) - (1 if taken else 0))
        install: Callable[[nn.Module], None] = lambda new: m.add_module("attn", new)  # noqa: E731
        site = Site(path, channels or 0, m, install, path if taken else None)
    elif isinstance(m, nn.ModuleList | nn.ModuleDict | nn.Sequential):
        raise TypeError(
            f"attach cannot run a block after {name!r} ({type(m).__name__}): its forward runs "
            "its own children; choose a module inside it with where="
        )
    else:
        channels = out_channels(m)
        if channels is None and preserves_channels(m) and is_plain_sequential(parent):
            channels = channels_before(parent, list(parent._modules).index(leaf))
        site = _extended(name, "", m, "after", channels or 0)
    if not site.channels:
        raise TypeError(
            f"attach cannot find the output channels of {name!r} ({type(m).__name__}): "
            "expected a convolution, a norm layer, a module with an int out_channels, or a "
            "channel-keeping module (activation, dropout, pooling) after one of those in an "
            "nn.Sequential"
        )
    return site


def _glob(pattern: list[str], name: list[str]) -> bool:
    if not pattern:
        return not name
    if pattern[0] == "**":
        return any(_glob(pattern[1:], name[i:]) for i in range(len(name) + 1))
    return bool(name) and fnmatchcase(name[0], pattern[0]) and _glob(pattern[1:], name[1:])


def _matcher(where: Where) -> Callable[[str, nn.Module], bool]:
    if callable(where):
        return where
    patterns = [where] if isinstance(where, str) else where
    if (
        not isinstance(patterns, Sequence)
        or not patterns
        or not all(isinstance(p, str) and p for p in patterns)
    ):
        raise TypeError(
            "attach expected where= to be a module-name pattern, a list of them or a "
            f"predicate (name, module) -> bool, got {where!r}"
        )
    split = [p.split(".") for p in patterns]
    return lambda name, _module: any(_glob(p, name.split(".")) for p in split)


def find_sites(model: nn.Module, where: Where = None) -> list[Site]:
    """Every place ``attach`` puts a block into ``model``.

    ``where=None``: every block of the families in :data:`_FINDERS`. Otherwise the modules
    ``where`` selects (module-name patterns, ``*`` within one name, ``**`` across any number,
    or a predicate ``(name, module) -> bool``): a family block gets its family's place, the
    path of a family's attention slot (``blocks.1.0.se``, ``features.2.block.2``) that
    place, an attention module is replaced where it stands, and any other module gets the
    new block after it.

    Raises:
        TypeError: nothing known to attach to, a bad ``where``, or channels not found.
        ValueError: ``where`` matched no module, or a module and one inside it.
    """
    named = list(model.named_modules())
    if where is None:
        sites = [s for name, m in named for s in family_sites(name, m) or []]
        if not sites:
            raise TypeError(
                f"attach found no block of a family it knows in {type(model).__name__} "
                "(ResNet, MobileNetV2/V3, EfficientNet/V2/Lite, RegNet, ConvNeXt, DenseNet, "
                "VGG); pass where= (module-name patterns or a predicate) to choose the "
                "modules after which attention goes"
            )
        return sites
    match = _matcher(where)
    chosen = [(name, m) for name, m in named if name and match(name, m)]
    if not chosen:
        examples = ", ".join(name for name, _ in named[1:6])
        raise ValueError(f"attach: where={where!r} matched no module (names look like {examples})")
    names = [name for name, _ in chosen]
    for a in names:
        inner = next((b for b in names if b.startswith(a + ".")), None)
        if inner is not None:
            raise ValueError(
                f"attach: where={where!r} matched {a!r} and {inner!r} inside it; match one"
            )
    by_path: dict[str, Site] = {}
    for name, m in named:
        for site in family_sites(name, m) or []:
            by_path[site.path] = site
            if site.existing:
                by_path[site.existing] = site
    modules = dict(named)
    sites: list[Site] = []
    for name, m in chosen:
        found = family_sites(name, m)
        if found is None and name in by_path:
            found = [by_path[name]]
        if found is None:
            parent_name, _, leaf = name.rpartition(".")
            found = [_generic(name, m, modules[parent_name], leaf)]
        sites += [s for s in found if s.path not in {t.path for t in sites}]
    return sites
