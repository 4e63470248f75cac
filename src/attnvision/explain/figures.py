"""The figures of :mod:`attnvision.explain`, each written as one PNG (atomically).

:func:`save_attention_grid` (images x captured maps: spatial maps as overlays, a spatial
transformer's warped input as an image, channel weights as bars), :func:`save_curves`
(training curves), :func:`save_overlay` (one map over one image), :func:`save_heat_grid`
(images x maps, e.g. Grad-CAM beside a network's own attention),
:func:`save_channel_weights` (bars), :func:`save_glimpses` (RAM glimpse paths),
:func:`save_regions` (DCN regions), :func:`save_transformer` (a spatial transformer's
input next to its output), :func:`save_saliency_fixations` (a saliency map next to eye
fixations). They draw with the primitives of :mod:`attnvision.explain.draw`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .capture import NOT_MAPS, leaf
from .draw import (
    as_display_image,
    draw_overlay,
    heat_to_size,
    pyplot,
    save_figure,
    short_label,
    spatial_map,
)


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
        layers = [k for k in maps if leaf(k) not in NOT_MAPS]
    for key in layers:
        if key not in maps:
            raise ValueError(f"layer {key!r} not among the captured maps: {', '.join(maps)}")
        if maps[key].shape[0] != n:
            raise ValueError(
                f"map {key!r} has batch size {maps[key].shape[0]}, expected {n} (the images)"
            )
    plt = pyplot()
    cols = 1 + len(layers)
    fig, axes = plt.subplots(n, cols, figsize=(1.6 * cols, 1.6 * n), squeeze=False)
    for i in range(n):
        draw_overlay(axes[i, 0], images[i])
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=7)
        for j, key in enumerate(layers, start=1):
            ax = axes[i, j]
            value = maps[key]
            if key.endswith("sampler"):
                draw_overlay(ax, value[i].clamp(0, 1) if value.shape[1] in (1, 3) else value[i, :1])
            elif value.ndim == 3 and leaf(key) != "saliency":
                # Selective Kernel branch weights (N, B, C): one row per branch
                ax.imshow(value[i].float().cpu().numpy(), aspect="auto", cmap="viridis")
                ax.set_xticks([])
                ax.set_yticks([])
            elif value.ndim == 2:
                weights = value[i].float().cpu().numpy()
                ax.bar(np.arange(weights.size), weights, width=1.0, color="tab:blue")
                ax.set_ylim(0, max(1.0, float(weights.max())))
                ax.set_xticks([])
                ax.tick_params(labelsize=5)
            else:
                single = value[i : i + 1]
                heat = spatial_map(single[:, None] if single.ndim == 3 else single, (h, w))
                draw_overlay(
                    ax, images[i], None if heat is None else heat[0], alpha=alpha, cmap=cmap
                )
            if i == 0:
                ax.set_title(short_label(key), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi)


def save_curves(
    path: str | os.PathLike[str],
    histories: Mapping[str, Sequence[Any]],
    *,
    dpi: int = 90,
) -> Path:
    """Write training curves: train loss and validation accuracy per epoch, one line per
    label; with several runs per label (seeds) the line is their mean and a band spans the
    lowest to the highest run.

    Args:
        histories: ``{label: history}`` or ``{label: [history, ...]}``, a history being
            ``[{"epoch", "train_loss", "val_acc", ...}, ...]`` (the ``history`` of
            :class:`attnvision.engine.FitResult`); epochs without a validation accuracy
            (NaN) leave the accuracy panel empty.
    """
    plt = pyplot()
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9.5, 3.6))
    for label, runs in histories.items():
        runs = [runs] if runs and isinstance(runs[0], Mapping) else list(runs)
        length = min(len(run) for run in runs)
        epochs = [runs[0][i]["epoch"] for i in range(length)]
        for ax, key, scale in ((ax_loss, "train_loss", 1.0), (ax_acc, "val_acc", 100.0)):
            values = np.array([[scale * run[i][key] for i in range(length)] for run in runs])
            (line,) = ax.plot(epochs, values.mean(0), marker="o", ms=3, label=label)
            if len(runs) > 1:
                ax.fill_between(
                    epochs, values.min(0), values.max(0), color=line.get_color(), alpha=0.15
                )
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_ylabel("train loss")
    ax_acc.set_ylabel("validation accuracy (%)")
    ax_acc.legend(fontsize=7)
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def save_accuracy_cost(
    path: str | os.PathLike[str],
    rows: Sequence[Mapping[str, Any]],
    *,
    dpi: int = 90,
) -> Path:
    """Accuracy (mean, with one standard deviation as error bars) against cost: one panel
    against MFLOPs, one against latency, one labelled point per row.

    Args:
        rows: ``[{"label", "accuracy", "sd", "mflops", "latency_ms"}, ...]`` (accuracy and
            sd as fractions; NaN sd draws no bar).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.8))
    for ax, key, title in (
        (axes[0], "mflops", "MFLOPs"),
        (axes[1], "latency_ms", "CPU latency (ms)"),
    ):
        for index, row in enumerate(rows):
            sd = float(row["sd"])
            ax.errorbar(
                row[key],
                100 * row["accuracy"],
                yerr=None if math.isnan(sd) else 100 * sd,
                fmt="o",
                capsize=3,
                label=row["label"],
            )
            ax.annotate(
                row["label"], (row[key], 100 * row["accuracy"]), fontsize=7,
                xytext=(5, 7 - 9 * (index % 3)), textcoords="offset points",
            )  # fmt: skip
        ax.set_xlabel(f"{title}, batch 1")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def save_overlay(
    path: str | os.PathLike[str],
    image: Any,
    heat: Any,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Write one map over one image as PNG (atomically).

    Args:
        image: ``(C, H, W)`` tensor in ``[0, 1]`` or ``(H, W[, 3])`` array (uint8 or [0, 1]).
        heat: 2-D map ``(h, w)``, upsampled to ``(H, W)`` and min-max scaled.
    """
    plt = pyplot()
    arr = as_display_image(image)
    h, w = arr.shape[:2]
    fig, ax = plt.subplots(figsize=(4.0 * w / max(h, w) + 0.2, 4.0 * h / max(h, w) + 0.2))
    draw_overlay(ax, arr, heat, alpha=alpha, cmap=cmap)
    if title:
        ax.set_title(title, fontsize=8)
    return save_figure(fig, path, dpi)


def save_heat_grid(
    path: str | os.PathLike[str],
    images: Sequence[Any],
    heats: Mapping[str, Sequence[Any]],
    *,
    row_titles: Sequence[str] | None = None,
    alpha: float = 0.5,
    cmap: str = "jet",
    dpi: int = 80,
    title: str | None = None,
) -> Path:
    """Write a grid: one row per image, the image then one overlay per entry of ``heats``.

    Args:
        images: ``N`` images (see :func:`as_display_image`), e.g. a ``(N, C, H, W)`` tensor.
        heats: ``{column title: N maps (h, w)}``, e.g. ``{"grad-cam layer3": cams}`` with
            ``cams`` from :func:`attnvision.explain.gradcam.gradcam`.
    """
    n = len(images)
    for key, value in heats.items():
        if len(value) != n:
            raise ValueError(f"heats[{key!r}] has {len(value)} maps, expected {n} (the images)")
    plt = pyplot()
    cols = 1 + len(heats)
    fig, axes = plt.subplots(n, cols, figsize=(1.8 * cols, 1.8 * n), squeeze=False)
    for i in range(n):
        draw_overlay(axes[i, 0], images[i])
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=7)
        for j, (key, value) in enumerate(heats.items(), start=1):
            draw_overlay(axes[i, j], images[i], value[i], alpha=alpha, cmap=cmap)
            if i == 0:
                axes[i, j].set_title(short_label(key), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi)


def save_channel_weights(
    path: str | os.PathLike[str],
    maps: Mapping[str, torch.Tensor],
    *,
    index: int = 0,
    dpi: int = 80,
    title: str | None = None,
) -> Path:
    """Bar charts of the channel weights of image ``index``: one panel per captured key with
    ``(N, C)`` weights (SE, ECA, CBAM's channel gate) or ``(N, B, C)`` Selective Kernel
    branch weights (one bar colour per branch)."""
    keys = [k for k, v in maps.items() if v.ndim in (2, 3) and not _not_a_map(k)]
    if not keys:
        raise ValueError("no channel weights (N, C) or (N, B, C) among the captured maps")
    plt = pyplot()
    fig, axes = plt.subplots(len(keys), 1, figsize=(6.0, 1.3 * len(keys) + 0.4), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        value = maps[key]
        if not 0 <= index < value.shape[0]:
            raise ValueError(f"index {index} out of range for {key!r} with batch {value.shape[0]}")
        rows = value[index].float().cpu().numpy()
        rows = rows[None] if rows.ndim == 1 else rows
        for b, weights in enumerate(rows):
            ax.bar(np.arange(weights.size), weights, width=1.0, alpha=0.7, label=f"branch {b}")
        if rows.shape[0] > 1:
            ax.legend(fontsize=5, loc="upper right")
        ax.set_ylabel(short_label(key, 30), fontsize=6)
        ax.tick_params(labelsize=5)
        ax.set_xlim(-0.5, rows.shape[1] - 0.5)
    axes[-1, 0].set_xlabel("channel", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi)


def _not_a_map(key: str) -> bool:
    """Not an attention gate's output: a choice (STN parameters, DCN regions / boxes, RAM
    locations) or the DCN's region saliency."""
    return leaf(key) in (*NOT_MAPS, "saliency")


def glimpse_pixels(locations: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """RAM locations ``(T, 2)`` ``(x, y)`` in ``[-1, 1]`` -> pixel centres ``(T, 2)``
    ``(x, y)`` on an image of ``size = (H, W)`` (``-1`` the left/top border, ``1`` the
    right/bottom one, as ``grid_sample`` with ``align_corners=False``)."""
    loc = locations.detach().float().cpu().numpy()
    h, w = size
    return np.stack([(loc[:, 0] + 1) * w / 2 - 0.5, (loc[:, 1] + 1) * h / 2 - 0.5], axis=1)


def save_glimpses(
    path: str | os.PathLike[str],
    images: torch.Tensor,
    locations: torch.Tensor,
    *,
    patch_size: int = 8,
    num_scales: int = 3,
    scale: int = 2,
    row_titles: Sequence[str] | None = None,
    dpi: int = 80,
) -> Path:
    """Draw the glimpse path of a Recurrent Attention Model on each image.

    Args:
        images: ``(N, C, H, W)`` in ``[0, 1]``.
        locations: ``(N, T, 2)`` ``(x, y)`` in ``[-1, 1]`` (``RAMOutput.locations`` or the
            ``locations`` key of :func:`attnvision.explain.capture`).
        patch_size, num_scales, scale: the retina (squares of side ``patch_size *
            scale**s`` are drawn around each glimpse, the first glimpse in white, the last
            in red).
    """
    if images.ndim != 4 or locations.ndim != 3 or locations.shape[-1] != 2:
        raise ValueError(
            f"expected images (N, C, H, W) and locations (N, T, 2), got {tuple(images.shape)} "
            f"and {tuple(locations.shape)}"
        )
    if images.shape[0] != locations.shape[0]:
        raise ValueError(
            f"locations has batch {locations.shape[0]}, expected {images.shape[0]} (the images)"
        )
    from matplotlib.patches import Rectangle

    plt = pyplot()
    n, _, h, w = images.shape
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False)
    cmap = plt.get_cmap("autumn")
    for i in range(rows * cols):
        ax = axes[i // cols, i % cols]
        ax.axis("off")
        if i >= n:
            continue
        draw_overlay(ax, images[i])
        pts = glimpse_pixels(locations[i], (h, w))
        ax.plot(pts[:, 0], pts[:, 1], "-", color="cyan", lw=1)
        t_count = len(pts)
        for t, (x, y) in enumerate(pts):
            color = "white" if t == 0 else cmap(1 - t / max(1, t_count - 1))
            for s in range(num_scales):
                side = patch_size * scale**s
                ax.add_patch(
                    Rectangle(
                        (x - side / 2, y - side / 2), side, side, fill=False, ec=color, lw=0.7
                    )
                )
            ax.text(x, y, str(t), color=color, fontsize=6, ha="center", va="center")
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
        if row_titles is not None:
            ax.set_title(row_titles[i], fontsize=7)
    return save_figure(fig, path, dpi)


def save_regions(
    path: str | os.PathLike[str],
    images: torch.Tensor,
    boxes: torch.Tensor,
    saliency: torch.Tensor | None = None,
    *,
    row_titles: Sequence[str] | None = None,
    alpha: float = 0.45,
    dpi: int = 80,
) -> Path:
    """Draw the regions a Dynamic Capacity Network chose for its fine network.

    Args:
        images: ``(N, C, H, W)`` in ``[0, 1]``.
        boxes: ``(N, k, 4)`` pixel boxes ``(top, left, bottom, right)`` (``DCNOutput.boxes``
            or the ``boxes`` key of :func:`attnvision.explain.capture`); drawn in order of
            selection, numbered.
        saliency: optional ``(N, h, w)`` region saliency drawn under the boxes.
    """
    if images.ndim != 4 or boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ValueError(
            f"expected images (N, C, H, W) and boxes (N, k, 4), got {tuple(images.shape)} and "
            f"{tuple(boxes.shape)}"
        )
    if boxes.shape[0] != images.shape[0]:
        raise ValueError(f"boxes has batch {boxes.shape[0]}, expected {images.shape[0]}")
    if saliency is not None and (saliency.ndim != 3 or saliency.shape[0] != images.shape[0]):
        raise ValueError(
            f"saliency expected shape ({images.shape[0]}, h, w), got {tuple(saliency.shape)}"
        )
    from matplotlib.patches import Rectangle

    plt = pyplot()
    n = images.shape[0]
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.4 * rows), squeeze=False)
    for i in range(rows * cols):
        ax = axes[i // cols, i % cols]
        ax.axis("off")
        if i >= n:
            continue
        heat = None if saliency is None else saliency[i].float().cpu().numpy()
        draw_overlay(ax, images[i], heat, alpha=alpha, cmap="viridis")
        for r, (top, left, bottom, right) in enumerate(boxes[i].tolist()):
            ax.add_patch(
                Rectangle(
                    (left - 0.5, top - 0.5), right - left, bottom - top, fill=False, ec="red", lw=1
                )
            )
            ax.text(left, top, str(r), color="yellow", fontsize=5, va="top")
        if row_titles is not None:
            ax.set_title(row_titles[i], fontsize=7)
    return save_figure(fig, path, dpi)


def save_transformer(
    path: str | os.PathLike[str],
    images: torch.Tensor,
    warped: torch.Tensor,
    *,
    theta: torch.Tensor | None = None,
    dpi: int = 80,
    title: str | None = None,
) -> Path:
    """A spatial transformer's input next to its output: one row per image.

    Args:
        images: ``(N, C, H, W)`` input in ``[0, 1]``.
        warped: ``(N, C, H', W')`` the ``sampler`` output (``capture`` key ``...sampler``).
        theta: optional ``(N, 6)`` affine parameters (``...loc``) printed under the output.
    """
    if images.ndim != 4 or warped.ndim != 4 or images.shape[0] != warped.shape[0]:
        raise ValueError(
            f"expected images (N, C, H, W) and warped (N, C, H', W') with the same N, got "
            f"{tuple(images.shape)} and {tuple(warped.shape)}"
        )
    plt = pyplot()
    n = images.shape[0]
    fig, axes = plt.subplots(n, 2, figsize=(3.6, 1.8 * n), squeeze=False)
    for i in range(n):
        draw_overlay(axes[i, 0], images[i])
        out = warped[i]
        draw_overlay(axes[i, 1], out.clamp(0, 1) if out.shape[0] in (1, 3) else out[:1].clamp(0, 1))
        if theta is not None and theta.shape[-1] == 6:
            values = " ".join(f"{v:+.2f}" for v in theta[i].tolist())
            axes[i, 1].set_xlabel(values, fontsize=5)
    axes[0, 0].set_title("input", fontsize=8)
    axes[0, 1].set_title("transformer output", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi)


def save_saliency_fixations(
    path: str | os.PathLike[str],
    image: Any,
    saliency: Any,
    fixations: Any | None = None,
    *,
    alpha: float = 0.55,
    dpi: int = 90,
    title: str | None = None,
) -> Path:
    """A saliency map next to the fixations: the image with the fixations, the map, and
    the map over the image with the fixations.

    Args:
        image: ``(H, W, 3)`` uint8 array or ``(C, H, W)`` tensor.
        saliency: 2-D map (any size; upsampled to the image).
        fixations: optional rows ``(x, y, ...)`` in 0-based pixel coordinates of the image.
    """
    arr = as_display_image(image)
    h, w = arr.shape[:2]
    heat = heat_to_size(saliency, (h, w))
    pts = None
    if fixations is not None:
        pts = np.asarray(fixations, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] < 2:
            raise ValueError(f"fixations expected rows (x, y, ...), got shape {pts.shape}")
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(9.0, 3.0 * h / w + 0.4), squeeze=False)
    ax0, ax1, ax2 = axes[0]
    draw_overlay(ax0, arr)
    ax1.imshow(heat, cmap="gray", vmin=0, vmax=1)
    ax1.set_xticks([])
    ax1.set_yticks([])
    draw_overlay(ax2, arr, heat, alpha=alpha)
    for ax in (ax0, ax2):
        if pts is not None and len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], s=4, c="lime", edgecolors="black", linewidths=0.3)
        ax.set_xlim(-0.5, w - 0.5)
        ax.set_ylim(h - 0.5, -0.5)
    ax0.set_title("image" + (" + fixations" if pts is not None else ""), fontsize=8)
    ax1.set_title("saliency", fontsize=8)
    ax2.set_title("overlay", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path, dpi)
