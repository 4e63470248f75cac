"""Drawing primitives of every picture in :mod:`attnvision.explain` (matplotlib, Agg).

- :func:`as_display_image`: a tensor ``(C, H, W)`` or array ``(H, W[, 3])`` as an image
  for ``imshow``;
- :func:`spatial_map` (a batch of captured maps) and :func:`heat_to_size` (one map of any
  size): heat maps upsampled to the image and min-max scaled to ``[0, 1]``;
- :func:`draw_overlay` (also exported as ``overlay``): an image with a heat map on top, on
  a matplotlib axes;
- :func:`save_figure`: a figure written as PNG atomically;
- :func:`overlay_pixels`: an image with a heat map blended over it, as pixels at the
  image's own size (no figure, no fonts: what ``saliency predict --overlay`` writes).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .._utils import atomic_write

__all__ = [
    "as_display_image",
    "overlay_pixels",
    "draw_overlay",
    "heat_to_size",
    "pyplot",
    "save_figure",
    "short_label",
    "spatial_map",
]


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
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
    if isinstance(heat, torch.Tensor):
        t = heat.detach().float().cpu()
    else:
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


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int) -> Path:
    """Write ``fig`` as PNG to ``path`` atomically and close it."""
    plt = pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    with atomic_write(path, "wb") as handle:
        handle.write(buffer.getvalue())
    return Path(path)


def short_label(name: str, limit: int = 22) -> str:
    """``name`` shortened from the left to ``limit`` characters (``...`` in front)."""
    return name if len(name) <= limit else "..." + name[-(limit - 3) :]


def overlay_pixels(
    image: Any,
    heat: Any,
    *,
    alpha: float = 0.5,
    cmap: str = "jet",
    colorbar: bool = False,
) -> np.ndarray:
    """``image`` with ``heat`` blended over it: ``(H, W, 3)`` uint8 at the image's size.

    ``out = (1 - alpha) * image + alpha * cmap(heat)`` with ``heat`` upsampled to the image
    and min-max scaled (:func:`heat_to_size`). With ``colorbar``, a strip showing the
    colormap from 0 (bottom) to 1 (top) is added on the right (width ``max(8, W // 32)``
    plus a gap of the same width), so the output is wider than the image.

    Args:
        image: see :func:`as_display_image` (uint8 or ``[0, 1]``; grey is drawn as grey).
        heat: a 2-D map of any size.
        alpha: opacity of the heat map in ``[0, 1]``.
        cmap: a matplotlib colormap name.

    Raises:
        ValueError: ``alpha`` outside ``[0, 1]``, an unknown colormap, bad shapes.
    """
    import matplotlib

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha expected in [0, 1], got {alpha}")
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colormap {cmap!r}") from None
    arr = as_display_image(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    h, w = arr.shape[:2]
    colours = colormap(heat_to_size(heat, (h, w)))[..., :3]
    out = (1.0 - alpha) * arr + alpha * colours
    if colorbar:
        bar = max(8, w // 32)
        ramp = colormap(np.linspace(1.0, 0.0, h))[:, :3]  # top = 1
        strip = np.ones((h, 2 * bar, 3))
        strip[:, bar:] = ramp[:, None, :]
        out = np.concatenate([out, strip], axis=1)
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)
