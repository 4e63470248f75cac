"""``attach(model, attention, where=...)``: attention blocks in any CNN, weights kept.

Default places (``where=None``), one block per block of the network, where the papers put
SE / CBAM in that family:

=======================================  ===============================================
family (torchvision, timm, attnvision)   the new block goes
=======================================  ===============================================
ResNet, ResNeXt, Wide ResNet             on the residual branch after the last batch norm,
                                         before the addition (Hu et al. 2018, Fig. 3;
                                         Woo et al. 2018, Fig. 3). torchvision: ``attn``
                                         (keys ``layer1.0.attn.*``, attnvision's layout);
                                         timm: its ``se`` slot.
MobileNetV2, MobileNetV3, EfficientNet,  inside the inverted residual after the depthwise
EfficientNet-Lite (timm)                 convolution and its activation, before the
                                         projection: where MobileNetV3 (Howard et al. 2019,
                                         Fig. 4) and EfficientNet put SE, and where Hou et
                                         al. 2021 (Fig. 4) put SE, CBAM and coordinate
                                         attention in MobileNetV2.
EfficientNetV2 Fused-MBConv              after the fused 3x3 expansion, before the 1x1
                                         projection (Tan and Le 2021, Fig. 2).
RegNet (X and Y)                         after the grouped 3x3 convolution, where RegNetY
                                         has SE (Radosavovic et al. 2020, Sec. 5).
ConvNeXt                                 end of the residual branch: after the layer
                                         scale, before drop path and the addition.
DenseNet                                 after each dense block, on the concatenated
                                         features, before the transition (our choice: the
                                         papers give no place; a dense layer's output is
                                         only ``growth_rate`` channels).
VGG                                      after the last convolution + ReLU of each stage,
                                         before its max pooling (our choice, as BAM sits
                                         at the bottlenecks before down-sampling).
=======================================  ===============================================

MobileNetV3, EfficientNet (B0-B7, torchvision's and timm's) and RegNetY already have SE
at that place: ``attach`` says so and stops, unless ``replace=True`` puts the new block
in place of the SE (whose weights are then dropped: :func:`load_original` lists them).
timm's EfficientNet-Lite and EfficientNetV2's Fused-MBConv have none.

``where=`` chooses the places: module-name patterns (``"layer3.*"``, ``"**.se"``; ``*``
within one name, ``**`` across any number) or a predicate ``(name, module) -> bool``. A
chosen family block gets its family's place, a family's attention slot that place, an
attention module is replaced where it stands (``replace=True``), and any other module
gets the block after its output.

New blocks start as the identity (``identity_init=True``): each is wrapped in
:class:`~attnvision.models._surgery.ZeroInitBlend`, ``x + gamma * (block(x) - x)`` with a
per-channel ``gamma`` at zero, so the network computes exactly what it computed before
(pretrained weights keep their accuracy) until fine-tuning moves ``gamma``. Blocks that
are the identity when built (``starts_as_identity``: GC with additive fusion, whose last
layer starts at zero; a spatial transformer, whose transform starts at the identity) are
not wrapped (a wrapped identity would get no gradient). ``identity_init=False`` inserts
the bare block, the papers' form (then ``attach(torchvision resnet50, "se")`` has exactly
the parameters and keys of :func:`~attnvision.models.resnet_attention.se_resnet50`).

Every original parameter keeps its state-dict key; :func:`load_original` loads a plain
checkpoint into the attached model, strictly for every original key, and reports which
keys are new. Stage-level blocks (BAM) go only where ``where=`` puts them; blocks that
replace a convolution (SK) are refused (``create_model("sknet50")``).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .._utils import state_mismatch
from ..layers.registry import get_attention_class
from ._common import CONV_ATTENTION, STAGE_ATTENTION, attention_name, resolve_attention
from ._sites import Where, find_sites
from ._surgery import ZeroInitBlend

__all__ = ["LoadReport", "attach", "attached_blocks", "load_original"]

#: attribute of a model ``attach`` changed: {path of a new block: path of the module it
#: replaced, or None}
_RECORD = "_attnvision_attached"


def attach(
    model: nn.Module,
    attention: str | Callable[..., nn.Module],
    where: Where = None,
    *,
    replace: bool = False,
    identity_init: bool = True,
    **options: Any,
) -> nn.Module:
    """Insert an attention block into ``model``, in place, keeping its weights.

    Args:
        model: any CNN ``nn.Module``: torchvision's and timm's ResNet / ResNeXt / Wide
            ResNet, MobileNetV2/V3, EfficientNet/V2, EfficientNet-Lite, RegNet, ConvNeXt,
            DenseNet and VGG get the places in the module docstring by default; any other
            network with ``where=``.
        attention: a name from :func:`attnvision.layers.list_attention` or a callable
            ``attention(channels, **options) -> nn.Module`` mapping ``(N, C, H, W)`` to the
            same shape.
        where: ``None`` (the family's places), module-name patterns, or a predicate
            ``(name, module) -> bool``.
        replace: put the new block in place of attention already there (MobileNetV3's,
            EfficientNet's and RegNetY's SE; a block attached before).
        identity_init: start every new block as the identity (see the module docstring).
        **options: keyword options of every block (``rd_ratio=1/16``, ...).

    Returns:
        ``model`` itself. It trains, saves and loads as before; the new parameters are on
        the model's device and dtype and follow its train / eval mode; their module paths
        are :func:`attached_blocks`.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``, has no block of a known family (and
            no ``where=``), or a chosen module's channel count cannot be read from it.
        ValueError: unknown attention name, ``"sk"``, ``"bam"`` without ``where=``,
            attention already there without ``replace=True``, a ``where=`` that matches
            nothing.

    Example:
        >>> import torchvision
        >>> net = torchvision.models.mobilenet_v2()  # doctest: +SKIP
        >>> attach(net, "cbam")  # doctest: +SKIP
        >>> sorted(attached_blocks(net))[:2]  # doctest: +SKIP
        ['features.1.conv.attn', 'features.10.conv.attn']
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"attach expected an nn.Module, got {type(model).__name__}")
    if attention is None or (isinstance(attention, str) and attention.lower() == "none"):
        raise ValueError("attach expected an attention block, got None")
    name = attention_name(attention)
    if name in CONV_ATTENTION:
        raise ValueError(
            f"attach puts a block after a feature map; {name!r} goes in place of the 3x3 "
            "conv: use create_model('sknet50') instead"
        )
    if name in STAGE_ATTENTION and where is None:
        raise ValueError(
            f"attach puts {name!r} only where where= says: it goes between stages (e.g. "
            "where=['layer1', 'layer2', 'layer3'] for a ResNet), or use "
            "create_model('bam_resnet50')"
        )
    ref = next((p for p in model.parameters() if p.is_floating_point()), None)
    if ref is not None and _takes_factory_kwargs(attention):
        options = {"device": ref.device, "dtype": ref.dtype, **options}
    factory = resolve_attention(attention, options, owner="attach")
    assert factory is not None
    sites = find_sites(model, where)
    taken = [s for s in sites if s.existing]
    if taken and not replace:
        kinds = ", ".join(sorted({s.existing_type for s in taken}))
        shown = ", ".join(str(s.existing) for s in taken[:3]) + (", ..." if len(taken) > 3 else "")
        raise ValueError(
            f"attach: {type(model).__name__} already has attention ({kinds}) at {len(taken)} "
            f"of its {len(sites)} places ({shown}); pass replace=True to put {attention!r} "
            "there instead (the old block's weights are dropped), or where= for other places"
        )
    blocks = []  # all built before the first is installed: a failure changes nothing
    for site in sites:
        block = factory(site.channels)
        if ref is not None:
            block.to(device=ref.device, dtype=ref.dtype)
        if identity_init and not getattr(block, "starts_as_identity", False):
            block = ZeroInitBlend(
                block,
                site.channels,
                device=None if ref is None else ref.device,
                dtype=None if ref is None else ref.dtype,
            )
        blocks.append(block.train(site.host.training))
    records: dict[str, str | None] = model.__dict__.setdefault(_RECORD, {})
    for site, block in zip(sites, blocks):
        site.install(block)
        replaced = site.existing
        if replaced is not None and replaced in records:  # a block attached before
            replaced = records.pop(replaced)
        records[site.path] = replaced
    return model


def _takes_factory_kwargs(attention: str | Callable[..., nn.Module]) -> bool:
    """Whether the block class (or callable) takes ``device=`` and ``dtype=`` (attnvision's
    blocks do): then blocks are built where the model is, instead of moved there."""
    factory = get_attention_class(attention) if isinstance(attention, str) else attention
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False
    return "device" in params and "dtype" in params


def _records(model: nn.Module) -> dict[str, str | None]:
    """{new block path: replaced path} of every ``attach`` into ``model`` or a submodule."""
    found: dict[str, str | None] = {}
    for prefix, module in model.named_modules():
        for path, replaced in module.__dict__.get(_RECORD, {}).items():
            join = f"{prefix}." if prefix else ""
            found[join + path] = None if replaced is None else join + replaced
    return found


def attached_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """The blocks :func:`attach` put into ``model`` (or a submodule), keyed by module path."""
    return {path: model.get_submodule(path) for path in _records(model)}


@dataclass(frozen=True)
class LoadReport:
    """What :func:`load_original` did.

    Attributes:
        loaded: keys of the attached model filled from the checkpoint: every original key.
        new: keys of the new attention blocks, kept as initialised.
        dropped: checkpoint keys of blocks ``attach(..., replace=True)`` replaced.
    """

    loaded: tuple[str, ...]
    new: tuple[str, ...]
    dropped: tuple[str, ...]

    def __str__(self) -> str:
        return (
            f"loaded {len(self.loaded)} original tensors; {len(self.new)} new attention "
            f"tensors kept as initialised; {len(self.dropped)} tensors of replaced blocks "
            "dropped"
        )


def _as_state_dict(source: Mapping[str, Any] | str | os.PathLike[str]) -> Mapping[str, Any]:
    if isinstance(source, str | os.PathLike):
        try:
            source = torch.load(source, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as exc:
            raise ValueError(f"{source} is not a readable state-dict file: {exc}") from exc
        if isinstance(source, Mapping):
            for key in ("state_dict", "model"):
                if isinstance(source.get(key), Mapping):
                    source = source[key]
                    break
    if not isinstance(source, Mapping) or not all(isinstance(k, str) for k in source):
        raise TypeError(
            f"load_original expected a state dict (str -> tensor) or its file, got "
            f"{type(source).__name__}"
        )
    return source


def load_original(
    model: nn.Module, state_dict: Mapping[str, Any] | str | os.PathLike[str]
) -> LoadReport:
    """Load a checkpoint of the original network into ``model`` after :func:`attach`.

    Strict for every original key: each must be in ``state_dict`` with its shape, and
    every key of ``state_dict`` must be an original key or belong to a block that
    ``replace=True`` replaced; the new blocks keep their initialisation. So a wrong key
    is an error, and a new attention parameter is named as such.

    Args:
        model: a model changed by :func:`attach` (or containing one).
        state_dict: the original network's state dict, or a file of one (read with
            ``weights_only=True``; a dict holding it under ``"state_dict"`` or ``"model"``
            also works).

    Returns:
        A :class:`LoadReport` with the loaded, new and dropped keys.

    Raises:
        ValueError: missing, unexpected or mis-shaped keys (the message lists them).
        TypeError: ``state_dict`` is not a state dict.

    Example:
        >>> import torchvision
        >>> plain = torchvision.models.resnet18()  # doctest: +SKIP
        >>> net = attach(torchvision.models.resnet18(), "se")  # doctest: +SKIP
        >>> report = load_original(net, plain.state_dict())  # doctest: +SKIP
        >>> report.new[:2]  # doctest: +SKIP
        ('layer1.0.attn.gamma', 'layer1.0.attn.block.fc1.weight')
    """
    source = _as_state_dict(state_dict)
    records = _records(model)
    new_prefixes = tuple(f"{p}." for p in records)
    dropped_prefixes = tuple(f"{r}." for r in records.values() if r)
    own = model.state_dict()
    new = [k for k in own if k.startswith(new_prefixes)]
    original = [k for k in own if not k.startswith(new_prefixes)]
    known = set(original)
    dropped = [
        k for k in source if k not in known and dropped_prefixes and k.startswith(dropped_prefixes)
    ]
    problems = state_mismatch(own, source, original, ignore=dropped)
    unexpected = [k for k in source if k not in known and k not in set(dropped)]
    if problems:
        raise ValueError(
            "load_original: the checkpoint does not match the original network: "
            + "; ".join(problems)
            + (
                " (a checkpoint of an attached network loads with model.load_state_dict)"
                if any(k.startswith(new_prefixes) for k in unexpected)
                else ""
            )
        )
    model.load_state_dict({**{k: source[k] for k in original}, **{k: own[k] for k in new}})
    return LoadReport(tuple(original), tuple(new), tuple(dropped))
