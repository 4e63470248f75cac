"""Grad-CAM (Selvaraju et al., "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization", ICCV 2017) for any convolutional layer.

For the class score ``y^c`` (the logit, before softmax) and the activations ``A^k`` of
the target layer (``(N, K, h, w)``), the channel weights are the spatially averaged
gradients ``alpha_k^c = 1/(h w) sum_ij d y^c / d A^k_ij`` (Eq. 1) and the map is
``L^c = ReLU(sum_k alpha_k^c A^k)`` (Eq. 2). It is upsampled bilinearly to the input size
and scaled to ``[0, 1]`` per image (divided by its maximum; an all-zero map stays 0).

Put it beside the network's own attention (:func:`attnvision.explain.capture`), e.g.
with :func:`attnvision.explain.figures.save_heat_grid`.

Example:
    >>> import torch
    >>> from torch import nn
    >>> net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(),
    ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    >>> cams = gradcam(net, torch.rand(2, 1, 16, 16), "0")
    >>> tuple(cams.shape), bool(cams.min() >= 0), bool(cams.max() <= 1)
    ((2, 16, 16), True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["gradcam", "resolve_module", "class_scores"]


def resolve_module(model: nn.Module, target: nn.Module | str) -> nn.Module:
    """The submodule ``target`` of ``model``: a module of it, or its path (``"layer3.1"``).

    Raises:
        TypeError: ``target`` is neither a module nor a string.
        ValueError: no such submodule (the message lists close paths).
    """
    if isinstance(target, nn.Module):
        if not any(m is target for m in model.modules()):
            raise ValueError(
                f"target layer {type(target).__name__} is not a submodule of the model"
            )
        return target
    if not isinstance(target, str):
        raise TypeError(
            f"target_layer expected an nn.Module or a module path str, got {type(target).__name__}"
        )
    modules = dict(model.named_modules())
    if target not in modules:
        from .._utils import close_matches

        known = [name for name in modules if name]
        raise ValueError(f"the model has no submodule {target!r}{close_matches(target, known)}")
    return modules[target]


def class_scores(output: Any) -> torch.Tensor:
    """The ``(N, classes)`` scores in a model's output: a tensor, the first tensor of a
    tuple, or the ``logits`` attribute of an output object (DCN, RAM)."""
    if isinstance(output, torch.Tensor):
        scores = output
    elif isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        scores = output[0]
    elif isinstance(getattr(output, "logits", None), torch.Tensor):
        scores = output.logits
    else:
        raise TypeError(
            f"expected the model to return class scores (N, classes), got {type(output).__name__}"
        )
    if scores.ndim != 2:
        raise ValueError(f"expected class scores of shape (N, classes), got {tuple(scores.shape)}")
    return scores


def _class_index(class_idx: Any, scores: torch.Tensor) -> torch.Tensor:
    n, classes = scores.shape
    if class_idx is None:
        return scores.detach().argmax(1)
    idx = torch.as_tensor(class_idx, dtype=torch.long, device=scores.device)
    if idx.ndim == 0:
        idx = idx.expand(n)
    if idx.shape != (n,):
        raise ValueError(
            f"class_idx expected an int or {n} indices (one per image), got shape "
            f"{tuple(idx.shape)}"
        )
    if bool((idx < 0).any()) or bool((idx >= classes).any()):
        raise ValueError(f"class_idx expected values in [0, {classes}), got {idx.tolist()}")
    return idx


def gradcam(
    model: nn.Module,
    images: torch.Tensor,
    target_layer: nn.Module | str,
    class_idx: int | Sequence[int] | torch.Tensor | None = None,
) -> torch.Tensor:
    """Grad-CAM maps of ``images`` for ``class_idx`` at ``target_layer`` (ICCV 2017, Eq. 1-2).

    Args:
        model: a classifier returning ``(N, classes)`` scores (or an output with
            ``logits``). Its mode (train/eval) is left as it is: call ``model.eval()``
            first for batch-norm statistics of inference. Parameter gradients are not
            touched.
        images: ``(N, C, H, W)``.
        target_layer: a convolutional layer (module or module path) whose output is
            ``(N, K, h, w)``.
        class_idx: the class to explain: ``None`` (each image's predicted class), one
            int for all images, or ``N`` indices.

    Returns:
        ``(N, H, W)`` float maps in ``[0, 1]`` at the input size (detached).

    Raises:
        TypeError / ValueError: bad images, an unknown layer, a layer whose output is not
        ``(N, K, h, w)``, or a bad class index.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"gradcam expected an nn.Module, got {type(model).__name__}")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"gradcam expected images as a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(
            f"gradcam expected images of shape (N, C, H, W), got {tuple(images.shape)}"
        )
    layer = resolve_module(model, target_layer)
    store: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
        value = output[0] if isinstance(output, (tuple, list)) else output
        if isinstance(value, torch.Tensor):
            store["act"] = value

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            # a leaf that requires grad, so frozen parameters still give a gradient path
            scores = class_scores(model(images.detach().requires_grad_(True)))
            if "act" not in store:
                raise ValueError("the target layer did not run in the forward pass")
            act = store["act"]
            if act.ndim != 4:
                raise ValueError(
                    "gradcam expected the target layer to output (N, K, h, w), got shape "
                    f"{tuple(act.shape)}"
                )
            if not act.requires_grad:
                raise ValueError("the target layer's output does not depend on the input")
            idx = _class_index(class_idx, scores)
            chosen = scores.gather(1, idx[:, None]).sum()
            (grad,) = torch.autograd.grad(chosen, act, allow_unused=True)
            if grad is None:
                raise ValueError("the target layer's output does not reach the class scores")
    finally:
        handle.remove()
    weights = grad.mean((2, 3), keepdim=True)  # alpha_k^c, Eq. 1
    cam = F.relu((weights * act.detach()).sum(1, keepdim=True))  # Eq. 2
    cam = F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    top = cam.flatten(1).max(1).values.clamp_min(1e-12)[:, None, None]
    return (cam / top).clamp_(0, 1)
