"""Draw attention maps over images and write them as PNG (matplotlib, Agg backend).

:func:`spatial_map` turns a captured map into a heat map of the image size;
:func:`overlay` draws one over an image; :func:`save_attention_grid` writes a grid of
images x layers (spatial maps as overlays, a spatial transformer's warped input as an
image, channel weights as bars); :func:`save_curves` writes training curves.

More pictures: :func:`save_overlay` (one map over one image), :func:`save_heat_grid`
(images x maps, e.g. Grad-CAM beside a network's own attention),
:func:`save_channel_weights` (bars), :func:`save_glimpses` (RAM glimpse paths),
:func:`save_regions` (DCN regions), :func:`save_transformer` (a spatial transformer's
input next to its output), :func:`save_saliency_fixations` (a saliency map next to eye
fixations). Every file is written atomically.
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


#: captured keys that are not maps (drawn by their own functions, not in the grid)
_NOT_IN_GRID = ("loc", "regions", "boxes", "locations")


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
        layers = [k for k in maps if k.rsplit(".", 1)[-1] not in _NOT_IN_GRID]
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
            elif value.ndim == 3 and key.rsplit(".", 1)[-1] != "saliency":
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


# --------------------------------------------------------------------------- more pictures


def as_display_image(image: Any) -> np.ndarray:
    """An image for ``imshow``: ``(H, W)`` or ``(H, W, 3)`` float in ``[0, 1]``.

    Accepts a tensor ``(C, H, W)`` in ``[0, 1]`` (``C`` = 1 or 3) or a NumPy array
    ``(H, W)`` / ``(H, W, 3)`` (uint8 in ``[0, 255]``, or float in ``[0, 1]``).
    """
    if isinstance(image, torch.Tensor):
        return _image_np(image)
    arr = np.asarray(image)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3)):
        raise ValueError(f"expected an image (H, W) or (H, W, 3), got shape {arr.shape}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / 255.0
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def heat_to_size(heat: Any, size: tuple[int, int]) -> np.ndarray:
    """A 2-D map (any size) upsampled bilinearly to ``size = (H, W)``, min-max scaled to
    ``[0, 1]`` (a constant map becomes 0)."""
    t = torch.as_tensor(np.asarray(heat, dtype=np.float32))
    if t.ndim != 2:
        raise ValueError(f"expected a 2-D map (h, w), got shape {tuple(t.shape)}")
    return spatial_map(t[None, None], size)[0].numpy()  # type: ignore[index]


def draw_overlay(
    ax: Any, image: Any, heat: Any | None = None, *, alpha: float = 0.5, cmap: str = "jet"
) -> None:
    """Draw ``image`` (see :func:`as_display_image`) on ``ax`` with ``heat`` (2-D, any size)
    upsampled to the image, min-max scaled, in colormap ``cmap`` with opacity ``alpha``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha expected in [0, 1], got {alpha}")
    arr = as_display_image(image)
    ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=1)
    if heat is not None:
        ax.imshow(heat_to_size(heat, arr.shape[:2]), cmap=cmap, alpha=alpha, vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])


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
    plt = _pyplot()
    arr = as_display_image(image)
    h, w = arr.shape[:2]
    fig, ax = plt.subplots(figsize=(4.0 * w / max(h, w) + 0.2, 4.0 * h / max(h, w) + 0.2))
    draw_overlay(ax, arr, heat, alpha=alpha, cmap=cmap)
    if title:
        ax.set_title(title, fontsize=8)
    return _save(fig, path, dpi)


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
    plt = _pyplot()
    cols = 1 + len(heats)
    fig, axes = plt.subplots(n, cols, figsize=(1.8 * cols, 1.8 * n), squeeze=False)
    for i in range(n):
        draw_overlay(axes[i, 0], images[i])
        if row_titles is not None:
            axes[i, 0].set_ylabel(row_titles[i], fontsize=7)
        for j, (key, value) in enumerate(heats.items(), start=1):
            draw_overlay(axes[i, j], images[i], value[i], alpha=alpha, cmap=cmap)
            if i == 0:
                axes[i, j].set_title(_short(key), fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path, dpi)


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
    plt = _pyplot()
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
        ax.set_ylabel(_short(key, 30), fontsize=6)
        ax.tick_params(labelsize=5)
        ax.set_xlim(-0.5, rows.shape[1] - 0.5)
    axes[-1, 0].set_xlabel("channel", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path, dpi)


def _not_a_map(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in (*_NOT_IN_GRID, "saliency")


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

    plt = _pyplot()
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
    return _save(fig, path, dpi)


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

    plt = _pyplot()
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
    return _save(fig, path, dpi)


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
    plt = _pyplot()
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
    return _save(fig, path, dpi)


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
    plt = _pyplot()
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
    return _save(fig, path, dpi)


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
    grid_keys = [k for k in maps if k.rsplit(".", 1)[-1] not in _NOT_IN_GRID]
    if grid_keys:
        written.append(
            save_attention_grid(out / "attention.png", images, maps, row_titles=row_titles)
        )
    if any(v.ndim in (2, 3) and not _not_a_map(k) for k, v in maps.items()):
        written.append(save_channel_weights(out / "channels.png", maps, title="image 0"))
    samplers = [k for k in maps if k.rsplit(".", 1)[-1] == "sampler"]
    for key in samplers:
        prefix = key[: -len("sampler")]
        name = "transformer.png" if len(samplers) == 1 else f"transformer_{prefix[:-1]}.png"
        theta = maps.get(prefix + "loc")
        written.append(save_transformer(out / name, images, maps[key], theta=theta))
    for key in (k for k in maps if k.rsplit(".", 1)[-1] == "locations"):
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
    for key in (k for k in maps if k.rsplit(".", 1)[-1] == "boxes"):
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
