"""How :func:`attnvision.models.attach` changes a network in place without renaming any of
its parameters: channel counts read from modules, the zero-initialised blend that makes a
new block start as the identity, and the ways a new child ``attn`` is made to run.

A new block runs in one of four ways, none of which touches an original state-dict key:

* in a slot the host already calls (timm's ``se``, attnvision's ``attn``): the slot's
  module is replaced;
* as a new child of an ``nn.Sequential`` that runs its children in order: the child is
  inserted under the name ``attn`` after a given child (the others keep their names);
* by extending the class of one module so that it runs its child ``attn`` after itself
  (``"after"``), before itself (``"before"``), or after concatenating a dense block's
  features (``"dense"``). The extended class is a subclass made once per (class, kind):
  ``isinstance`` still holds and it pickles. It keeps its base's ``__module__``, so
  ``torch.fx`` treats it as a leaf exactly when it treated the base as one (a leaf's call
  runs its ``attn``; other modules are traced through the new ``forward``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

__all__ = [
    "ZeroInitBlend",
    "extend",
    "extended_kind",
    "in_channels",
    "insert_child",
    "is_plain_sequential",
    "out_channels",
    "preserves_channels",
]


class ZeroInitBlend(nn.Module):
    """``out = x + gamma * (block(x) - x)`` with a per-channel ``gamma`` started at zero.

    The form of ReZero (Bachlechner et al. 2020) and LayerScale (Touvron et al. 2021) put
    on an attention block's change of its input: at ``gamma = 0`` the output is ``x``
    exactly (the network computes what it computed before the block was added, as timm's
    ``zero_init_last`` keeps a residual branch silent at the start), at ``gamma = 1`` it
    is the block itself. For a gating block ``block(x) = x * s`` this is ``x * (1 + M)``
    with ``M = gamma * (s - 1)``, the residual-attention form (Wang et al. 2017, Eq. 3)
    with a zero-initialised last layer. ``gamma`` receives a gradient from the first
    step (``block(x) - x`` is not zero for a gate), the block's own parameters from the
    second on.

    Args:
        block: maps ``(N, C, H, W)`` to the same shape; its maps stay visible to
            :func:`attnvision.explain.capture` under ``block.gate``.
        channels: ``C``.
        device, dtype: of ``gamma`` (``torch.nn``'s factory arguments).

    Shapes:
        ``(N, C, H, W) -> (N, C, H, W)``.
    """

    def __init__(
        self,
        block: nn.Module,
        channels: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.block = block
        self.gamma = nn.Parameter(torch.zeros(channels, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if out.shape != x.shape:
            raise ValueError(
                f"ZeroInitBlend expected {type(self.block).__name__} to keep the shape "
                f"{tuple(x.shape)}, got {tuple(out.shape)}"
            )
        # one fused pass (start + weight * (end - start)); exactly x where gamma is 0
        return torch.lerp(x, out, self.gamma.view(1, -1, 1, 1))

    def extra_repr(self) -> str:
        return f"channels={self.gamma.numel()}"


# --------------------------------------------------------------------------- channels

#: modules (by defining module) that keep the number of channels of their input
_PRESERVING_MODULES = (
    "torch.nn.modules.activation",
    "torch.nn.modules.dropout",
    "torch.nn.modules.pooling",
    "torchvision.ops.stochastic_depth",
    "timm.layers.activations",
    "timm.layers.activations_me",
    "timm.layers.drop",
)


def preserves_channels(module: nn.Module) -> bool:
    """Whether ``module`` keeps the channel count of its input (activations, dropout and
    drop path, pooling, ``nn.Identity``)."""
    module_type = getattr(type(module), "_attach_base", type(module))  # see extend()
    if module_type is nn.Identity:
        return True
    if isinstance(module, nn.MultiheadAttention):
        return False
    return module_type.__module__ in _PRESERVING_MODULES


def is_plain_sequential(module: nn.Module) -> bool:
    """An ``nn.Sequential`` (or subclass) whose ``forward`` is ``nn.Sequential``'s own: it
    runs its children in order, so a new child runs where it is inserted."""
    return isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward


def out_channels(module: nn.Module) -> int | None:
    """The channels ``C`` of ``module``'s ``(N, C, H, W)`` output, read from the module.

    Convolutions (``out_channels``), batch / instance / group norm (``num_features``,
    ``num_channels``), channels-first ``LayerNorm2d`` (torchvision's, timm's), a module with
    an integer ``out_channels`` (timm's ``ConvNormAct``, torchvision's inverted residual
    blocks), a ResNet block (its last norm: ``bn3`` after ``conv3``, else ``bn2`` after
    ``conv2``, as torchvision, timm and attnvision name them), and a plain
    ``nn.Sequential``: its last child that says, past children that keep the channel
    count. ``None`` when the module does not say.
    """
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        return int(module.out_channels)
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return int(module.num_features)
    if isinstance(module, nn.GroupNorm):
        return int(module.num_channels)
    if isinstance(module, nn.LayerNorm) and type(module).__name__.startswith("LayerNorm2d"):
        return int(module.normalized_shape[0])
    value = getattr(module, "out_channels", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    for conv, norm in (("conv3", "bn3"), ("conv2", "bn2")):
        if isinstance(getattr(module, conv, None), nn.Module):
            last = getattr(module, norm, None)
            if isinstance(last, nn.modules.batchnorm._NormBase):
                return int(last.num_features)
            break
    if is_plain_sequential(module):
        return channels_before(module, len(module))
    return None


def channels_before(seq: nn.Sequential, stop: int) -> int | None:
    """Channels after the first ``stop`` children of the plain sequential ``seq``: the last
    child that says (:func:`out_channels`) past children that keep the channel count."""
    for child in reversed(list(seq.children())[:stop]):
        found = out_channels(child)
        if found is not None:
            return found
        if not preserves_channels(child):
            return None
    return None


def in_channels(module: nn.Module) -> int | None:
    """The channels ``C`` of the ``(N, C, H, W)`` input ``module`` takes, read from it."""
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return int(module.num_features)
    value = getattr(module, "in_channels", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


# --------------------------------------------------------------------------- running a child


def insert_child(
    seq: nn.Sequential, name: str, module: nn.Module, *, after: str, remove: str | None = None
) -> None:
    """Insert ``module`` into the plain sequential ``seq`` as child ``name`` right after the
    child ``after`` (dropping the child ``remove`` first, if given); the other children
    keep their names, so their state-dict keys do not change."""
    if not is_plain_sequential(seq):
        raise TypeError(f"expected a plain nn.Sequential, got {type(seq).__name__}")
    if after not in seq._modules:
        raise KeyError(f"{type(seq).__name__} has no child {after!r}")
    children = [(k, m) for k, m in seq._modules.items() if k not in (name, remove)]
    seq._modules.clear()
    for key, child in children:
        seq._modules[key] = child
        if key == after:
            seq._modules[name] = module


def _forward_after(base: type[nn.Module]) -> Callable[..., Any]:
    def forward(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        return self.attn(base.forward(self, *args, **kwargs))

    return forward


def _forward_before(base: type[nn.Module]) -> Callable[..., Any]:
    def forward(self: nn.Module, x: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        return base.forward(self, self.attn(x), *args, **kwargs)

    return forward


def _forward_dense(base: type[nn.Module]) -> Callable[..., Any]:
    # A DenseNet block (torchvision's _DenseBlock, timm's DenseBlock) is a ModuleDict whose
    # forward runs every child on the list of earlier features and concatenates them; its
    # own forward would run ``attn`` as a dense layer, so this one skips it and applies it
    # to the concatenation.
    def forward(self: nn.Module, init_features: torch.Tensor) -> torch.Tensor:
        features = [init_features]
        for name, layer in self.items():
            if name != "attn":
                features.append(layer(features))
        return self.attn(torch.cat(features, 1))

    return forward


_FORWARDS = {"after": _forward_after, "before": _forward_before, "dense": _forward_dense}
_EXTENDED: dict[tuple[type[nn.Module], str], type[nn.Module]] = {}


def _restore(base: type[nn.Module], kind: str) -> nn.Module:
    """Unpickling (and ``copy.deepcopy``) of an extended module: an empty instance of the
    extended class, whose state pickle then sets."""
    cls = _extended_class(base, kind)
    return cls.__new__(cls)


def _reduce_ex(self: nn.Module, protocol: int) -> tuple[Any, ...]:
    cls = type(self)
    return (_restore, (cls._attach_base, cls._attach_kind), self.__dict__)


def _extended_class(base: type[nn.Module], kind: str) -> type[nn.Module]:
    key = (base, kind)
    if key not in _EXTENDED:
        where = {"after": "after it", "before": "before it", "dense": "on its output"}[kind]
        _EXTENDED[key] = type(
            f"{base.__name__}WithAttention",
            (base,),
            {
                "__module__": base.__module__,
                "__doc__": f"{base.__qualname__} that runs its child ``attn`` {where}.",
                "forward": _FORWARDS[kind](base),
                "__reduce_ex__": _reduce_ex,
                "_attach_base": base,
                "_attach_kind": kind,
            },
        )
    return _EXTENDED[key]


def extended_kind(module: nn.Module) -> str | None:
    """``"after"``, ``"before"`` or ``"dense"`` when :func:`extend` changed ``module``."""
    return getattr(type(module), "_attach_kind", None)


def extend(module: nn.Module, kind: str, attn: nn.Module) -> None:
    """Make ``module`` run ``attn`` (set as its child ``attn``) after itself, before itself
    or, for a dense block, on its concatenated output (``kind``)."""
    if kind not in _FORWARDS:
        raise ValueError(f"expected kind 'after', 'before' or 'dense', got {kind!r}")
    current = extended_kind(module)
    if current is None:
        if hasattr(module, "attn"):
            raise ValueError(f"{type(module).__name__} already has an attribute 'attn'")
        module.__class__ = _extended_class(type(module), kind)
    elif current != kind:
        raise ValueError(f"{type(module).__name__} already runs attention {current} itself")
    module.attn = attn
