"""Draw attention maps over images and write them as PNG (matplotlib, Agg backend).

:func:`spatial_map` turns a captured map into a heat map of the image size;
:func:`overlay` draws one over an image; :func:`save_attention_grid` writes a grid of
images x layers (spatial maps as overlays, a spatial transformer's warped input as an
image, channel weights as bars); :func:`save_curves` writes training curves. Every file
is written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._utils import atomic_write


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def spatial_map(value: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
    """A captured map as a heat map ``(N, H, W)`` in ``[0, 1]`` at image ``size``.

    ``(N, 1, h, w)`` maps (or ``(N, C, h, w)``, averaged over channels) are upsampled
    bilinearly to ``size = (H, W)`` and min-max normalised per image; a constant map
    becomes 0. Channel weights ``(N, C)`` have no spatial extent: returns ``None``.
    """
    if value.ndim != 4:
        return None
    heat = value.float().mean(1, keepdim=True)
    heat = F.interpolate(heat, size=size, mode="bilinear", align_corners=False)[:, 0]
    lo = heat.flatten(1).min(1).values[:, None, None]
    hi = heat.flatten(1).max(1).values[:, None, None]
    return torch.where(hi > lo, (heat - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(heat))


def _image_np(image: torch.Tensor) -> np.ndarray:
    """``(C, H, W)`` in [0, 1] -> ``(H, W)`` or ``(H, W, 3)`` float array for imshow."""
    if image.ndim != 3:
        raise ValueError(f"expected an image (C, H, W), got shape {tuple(image.shape)}")
    img = image.detach().float().clamp(0, 1).cpu()
    if img.shape[0] == 1:
        return img[0].numpy()
    return img[:3].permute(1, 2, 0).numpy()


def overlay(
    ax: Any,
    image: torch.Tensor,
    heat: torch.Tensor | None = None,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
) -> None:
    """Draw ``image`` ``(C, H, W)`` on the matplotlib axes ``ax``, with ``heat`` ``(H, W)``
    in ``[0, 1]`` on top (colormap ``cmap``, opacity ``alpha``)."""
    arr = _image_np(image)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    if heat is not None:
        ax.imshow(heat.detach().cpu().numpy(), cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


def _save(fig: Any, path: str | os.PathLike[str], dpi: int) -> Path:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return Path(path)


def _short(name: str, limit: int = 22) -> str:
    return name if len(name) <= limit else "..." + name[-(limit - 3) :]


def save_attention_grid(
    path: str | os.PathLike[str],
    images: torch.Tensor,
    maps: Mapping[str, torch.Tensor],
    *,
    layers: Sequence[str] | None = None,
    row_titles: Sequence[str] | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
    dpi: int = 80,
    title: str | None = None,
) -> Path:
    """Write a PNG grid: one row per image, the image then one column per layer.

    Args:
        path: output ``.png`` (written atomically).
        images: ``(N, C, H, W)`` in ``[0, 1]``.
        maps: from :func:`attnvision.explain.capture` (batch size ``N``).
        layers: which keys of ``maps`` to draw, in order (default: all except
            transform parameters ``(N, P)`` of a spatial transformer's ``loc``).
        row_titles: one label per image (e.g. ``"7 -> 7"``).
    """
    if images.ndim != 4:
        raise ValueError(f"expected images (N, C, H, W), got shape {tuple(images.shape)}")
    n, _, h, w = images.shape
    if layers is None:
        layers = [k for k in maps if not k.endswith(".loc") and k != "loc"]
    for key in layers:
        if key not in maps:
            raise ValueError(f"layer {key!r} not among the captured maps: {', '.join(maps)}")
        if maps[key].shape[0] != n:
            raise ValueError(
                f"map {key!r} has batch size {maps[key].shape[0]}, expected {n} (the images)"
            )
    plt = _pyplot()
    cols = 1 + len(layers)
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols, 1.6 * n), squeeze=False)
    for i in range(n):
        overlay(axes[i, 0], images[i])
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=7)
        for j, key in enumerate(layers, start=1):
            ax = axes[i, j]
            value = maps[key]
            if key.endswith("sampler"):
                overlay(ax, value[i].clamp(0, 1) if value.shape[1] in (1, 3) else value[i, :1])
            elif value.ndim == 2:
                weights = value[i].float().cpu().numpy()
                ax.bar(np.arange(weights.size), weights, width=1.0, color="tab:blue")
                ax.set_ylim(0, max(1.0, float(weights.max())))
                ax.set_xticks([])
                ax.tick_params(labelsize=5)
            else:
                heat = spatial_map(value[i : i + 1], (h, w))
                overlay(ax, images[i], None if heat is None else heat[0], alpha=alpha, cmap=cmap)
            if i == 0:
                ax.set_title(_short(key), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path, dpi)


def save_curves(
    path: str | os.PathLike[str],
    histories: Mapping[str, Sequence[Mapping[str, float]]],
    *,
    dpi: int = 90,
) -> Path:
    """Write training curves: train loss and test accuracy per epoch, one line per run.

    Args:
        histories: ``{label: [{"epoch", "train_loss", "test_acc", ...}, ...]}`` (the
            ``history`` of :class:`attnvision.engine.FitResult`).
    """
    plt = _pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    for label, rows in histories.items():
        epochs = [r["epoch"] for r in rows]
        ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker="o", ms=3, label=label)
        ax_acc.plot(epochs, [100 * r["test_acc"] for r in rows], marker="o", ms=3, label=label)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("train loss")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("test accuracy (%)")
    ax_acc.legend(fontsize=7)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path, dpi)
