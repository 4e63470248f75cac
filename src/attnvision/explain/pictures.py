"""Report-level pictures: run a model on images and write every figure that applies.

:func:`write_pictures` runs the model once under :func:`~attnvision.explain.capture` (and
Grad-CAM), then hands what it recorded to the figures of :mod:`attnvision.explain.figures`;
it is what ``attnvision visualize`` and the ``compare`` report call.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from .capture import NOT_MAPS, leaf
from .draw import spatial_map
from .figures import (
    _not_a_map,
    save_attention_grid,
    save_channel_weights,
    save_glimpses,
    save_heat_grid,
    save_regions,
    save_transformer,
)


def _last_conv(model: torch.nn.Module) -> str | None:
    """Path of the last ``Conv2d`` of the network proper (not inside an attention block of
    :mod:`attnvision.layers`, whose convolutions compute maps, not features)."""
    modules = dict(model.named_modules())

    def in_block(path: str) -> bool:
        parts = path.split(".")
        for i in range(1, len(parts)):
            owner = type(modules[".".join(parts[:i])]).__module__
            if owner.startswith("attnvision.layers."):
                return True
        return False

    name = None
    for path, module in modules.items():
        if path and isinstance(module, torch.nn.Conv2d) and not in_block(path):
            name = path
    return name


def write_pictures(
    model: torch.nn.Module,
    images: torch.Tensor,
    out: str | os.PathLike[str],
    *,
    gradcam_layer: str | None = None,
    class_idx: int | None = None,
    row_titles: Sequence[str] | None = None,
    seed: int = 0,
) -> list[Path]:
    """Run ``model`` on ``images`` and write every picture that applies into ``out``.

    Files (each only when the model has what it shows): ``attention.png`` (images x
    captured maps, :func:`save_attention_grid`), ``channels.png`` (channel weights of the
    first image), ``transformer.png`` (a spatial transformer's input next to its output;
    one file per transformer, ``transformer_<path>.png`` when there are several),
    ``glimpses.png`` (RAM glimpse paths), ``regions.png`` (DCN regions), ``gradcam.png``
    (Grad-CAM of ``gradcam_layer``, default the last ``Conv2d``, beside the network's own
    spatial maps).

    Args:
        model: a classifier (put in eval mode here).
        images: ``(N, C, H, W)`` in ``[0, 1]``, as the model takes them.
        out: output folder (created).
        gradcam_layer: module path for Grad-CAM (default: the last convolution).
        class_idx: class for Grad-CAM (default: each image's prediction).
        row_titles: one label per image (default: ``"-> predicted class"``).
        seed: seeds torch before the forward pass (the RAM samples its glimpses).

    Returns:
        The paths written.
    """
    from .capture import capture
    from .gradcam import class_scores, gradcam, resolve_module

    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
    if gradcam_layer is not None:
        resolve_module(model, gradcam_layer)  # a bad path fails before anything is written
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    torch.manual_seed(seed)
    with torch.no_grad(), capture(model) as maps:
        output = model(images)
    try:
        predicted = class_scores(output).argmax(1).tolist()
    except (TypeError, ValueError):
        predicted = None
    if row_titles is None and predicted is not None:
        row_titles = [f"-> {p}" for p in predicted]
    written: list[Path] = []
    grid_keys = [k for k in maps if leaf(k) not in NOT_MAPS]
    if grid_keys:
        written.append(
            save_attention_grid(out / "attention.png", images, maps, row_titles=row_titles)
        )
    if any(v.ndim in (2, 3) and not _not_a_map(k) for k, v in maps.items()):
        written.append(save_channel_weights(out / "channels.png", maps, title="image 0"))
    samplers = [k for k in maps if leaf(k) == "sampler"]
    for key in samplers:
        prefix = key[: -len("sampler")]
        name = "transformer.png" if len(samplers) == 1 else f"transformer_{prefix[:-1]}.png"
        theta = maps.get(prefix + "loc")
        written.append(save_transformer(out / name, images, maps[key], theta=theta))
    for key in (k for k in maps if leaf(k) == "locations"):
        owner = dict(model.named_modules())[key[: -len(".locations")] if "." in key else ""]
        sensor = getattr(owner, "sensor", None)
        kwargs = {
            a: int(getattr(sensor, a))
            for a in ("patch_size", "num_scales", "scale")
            if isinstance(getattr(sensor, a, None), int)
        }
        written.append(
            save_glimpses(out / "glimpses.png", images, maps[key], row_titles=row_titles, **kwargs)
        )
        break
    for key in (k for k in maps if leaf(k) == "boxes"):
        sal = maps.get(key[: -len("boxes")] + "saliency")
        written.append(
            save_regions(out / "regions.png", images, maps[key], sal, row_titles=row_titles)
        )
        break
    layer = gradcam_layer or _last_conv(model)
    if layer is not None and predicted is not None:
        cams = gradcam(model, images, layer, class_idx=class_idx)
        heats: dict[str, Any] = {f"grad-cam {layer}": cams}
        h, w = images.shape[-2:]
        for key in grid_keys:
            value = maps[key]
            if value.ndim == 4 and value.shape[1] == 1 and not key.endswith("sampler"):
                heats[key] = spatial_map(value, (h, w))
        written.append(save_heat_grid(out / "gradcam.png", images, heats, row_titles=row_titles))
    return written
