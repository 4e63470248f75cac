"""``attach(model, attention)``: put an attention block into every residual block.

Supported networks, modified in place:

* torchvision ``ResNet`` (resnet18 ... resnet152, resnext*, wide_resnet*): every
  ``BasicBlock`` / ``Bottleneck`` gets ``block.attn`` on the residual branch after the
  last batch norm and before the addition (the place SE, CBAM and ECA take in their
  papers). The block's class is switched to a subclass whose ``forward`` calls
  ``self.attn``; state-dict keys are ``layer1.0.attn.*``, the same layout as
  :mod:`attnvision.models.resnet`, so ``attach(torchvision resnet50, "se")`` has the
  parameters of our ``se_resnet50``.
* timm ``ResNet`` (resnet*, resnext*, ...): timm's blocks already have an attention slot
  ``se`` at exactly that place, so the block goes there (keys ``layer1.0.se.*``, timm's
  own layout, which also loads timm's SE weights). Blocks whose slot is taken raise.
* attnvision ResNets (ImageNet and CIFAR) built without attention: ``block.attn``.

Stage-level blocks (BAM) and blocks that replace a convolution (SK) are not per-block
attention and are refused; build ``create_model("bam_resnet50")`` or ``"sknet50"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torchvision.models import resnet as tv_resnet

from ._common import CONV_ATTENTION, STAGE_ATTENTION, attention_name, resolve_attention

__all__ = ["attach"]


class _TVBasicBlockAttn(tv_resnet.BasicBlock):
    """torchvision ``BasicBlock`` with ``self.attn`` after ``bn2`` (set by :func:`attach`)."""

    attn: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attn(self.bn2(self.conv2(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class _TVBottleneckAttn(tv_resnet.Bottleneck):
    """torchvision ``Bottleneck`` with ``self.attn`` after ``bn3`` (set by :func:`attach`)."""

    attn: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attn(self.bn3(self.conv3(out)))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


_TV_SWAP = {tv_resnet.BasicBlock: _TVBasicBlockAttn, tv_resnet.Bottleneck: _TVBottleneckAttn}


def _out_channels(block: nn.Module) -> int:
    """Channels at the end of the residual branch: the last batch norm's features."""
    bn = getattr(block, "bn3", None) if hasattr(block, "conv3") else getattr(block, "bn2", None)
    if not isinstance(bn, nn.BatchNorm2d):
        raise TypeError(f"attach cannot find the last batch norm of {type(block).__name__}")
    return int(bn.num_features)


def _is_timm_resnet(model: nn.Module) -> bool:
    return any(
        c.__module__.startswith("timm.models.resnet") and c.__name__ == "ResNet"
        for c in type(model).__mro__
    )


def _is_timm_block(module: nn.Module) -> bool:
    return type(module).__module__.startswith("timm.models.resnet") and type(module).__name__ in (
        "BasicBlock",
        "Bottleneck",
    )


def _place(block: nn.Module, slot: str, new: nn.Module) -> None:
    ref = next(block.parameters(), None)
    if ref is not None:
        new.to(device=ref.device, dtype=ref.dtype)
    new.train(block.training)
    setattr(block, slot, new)


def attach(
    model: nn.Module,
    attention: str | Callable[..., nn.Module],
    **options: Any,
) -> nn.Module:
    """Insert an attention block into every residual block of ``model``, in place.

    Args:
        model: a torchvision ResNet / ResNeXt / Wide-ResNet, a timm ``ResNet`` or an
            attnvision ResNet without attention.
        attention: a name from :func:`attnvision.layers.list_attention` or a callable
            ``channels -> nn.Module`` mapping ``(N, C, H, W)`` to the same shape.
        **options: keyword options for every block (``rd_ratio=1/16``, ...).

    Returns:
        ``model`` itself, modified: it trains, saves and loads like the original; the
        new parameters are on the model's device and dtype.

    Raises:
        TypeError: ``model`` is not a network ``attach`` knows how to modify (VGG, a
            plain ``nn.Sequential``, ...), or ``attention`` has the wrong type.
        ValueError: unknown attention name, a stage-level / convolution-replacing block
            (``"bam"``, ``"sk"``), or a block that already has attention.

    Example:
        >>> import torchvision
        >>> net = attach(torchvision.models.resnet50(), "se")  # doctest: +SKIP
        >>> net.layer1[0].attn  # doctest: +SKIP
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"attach expected an nn.Module, got {type(model).__name__}")
    if attention is None or (isinstance(attention, str) and attention.lower() == "none"):
        raise ValueError("attach expected an attention block, got None")
    name = attention_name(attention)
    if name in STAGE_ATTENTION or name in CONV_ATTENTION:
        where = "between stages" if name in STAGE_ATTENTION else "in place of the 3x3 conv"
        raise ValueError(
            f"attach puts a block on every residual branch; {name!r} goes {where}: use "
            "create_model('bam_resnet50') / create_model('sknet50') instead"
        )
    factory = resolve_attention(attention, options, owner="attach")
    assert factory is not None

    from .resnet import ResNet
    from .resnet_cifar import CifarResNet

    targets: list[tuple[nn.Module, str]] = []
    if isinstance(model, tv_resnet.ResNet):
        for module in model.modules():
            if type(module) in _TV_SWAP:
                targets.append((module, "attn"))
            elif type(module) in _TV_SWAP.values():
                raise ValueError(
                    f"attach: {type(model).__name__} already has attention in its blocks"
                )
        kind = "tv"
    elif _is_timm_resnet(model):
        for module in model.modules():
            if _is_timm_block(module):
                if getattr(module, "se", None) is not None:
                    raise ValueError(
                        "attach: this timm ResNet already has attention in its blocks' 'se' "
                        f"slot ({type(module.se).__name__}); build it without attn_layer"
                    )
                targets.append((module, "se"))
        kind = "timm"
    elif isinstance(model, ResNet | CifarResNet):
        for module in model.modules():
            if isinstance(getattr(module, "attn", None), nn.Module) and hasattr(module, "bn2"):
                if not isinstance(module.attn, nn.Identity):
                    raise ValueError(
                        f"attach: this {type(model).__name__} already has attention in its "
                        "blocks; build it with attention=None"
                    )
                targets.append((module, "attn"))
        kind = "ours"
    else:
        raise TypeError(
            "attach expected a torchvision ResNet/ResNeXt/Wide-ResNet, a timm ResNet or an "
            f"attnvision ResNet, got {type(model).__name__}; for other networks build the "
            "model with attention= or insert blocks by hand"
        )
    if not targets:
        raise TypeError(f"attach found no residual blocks in {type(model).__name__}")
    for block, slot in targets:
        new = factory(_out_channels(block))
        if kind == "tv":
            block.__class__ = _TV_SWAP[type(block)]
        _place(block, slot, new)
    return model
