"""``attnvision visualize``: the pictures of a trained run on the user's own images.

:func:`visualize_run` loads a checkpoint (:func:`~attnvision.engine.checkpoint.load_run`),
reads the images, converts them to the model's channels and input size, and writes the
pictures of :func:`attnvision.explain.write_pictures` (attention maps, channel weights,
spatial transformer, RAM glimpses, DCN regions, Grad-CAM).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .._utils import read_image

#: ITU-R 601 luma weights: RGB -> grey for one-channel models
LUMA = (0.299, 0.587, 0.114)


@dataclass
class Visualized:
    """What :func:`visualize_run` wrote, and what the model predicted per image."""

    written: list[Path]
    names: list[str]
    predicted: list[int | None]


def load_images(
    paths: list[str | os.PathLike[str]], size: tuple[int, int], channels: int
) -> torch.Tensor:
    """Image files as a ``(N, channels, H, W)`` batch in ``[0, 1]`` at ``size = (H, W)``
    (bilinear with antialiasing; ``channels`` 1 takes the ITU-R 601 luma, 3 keeps RGB).

    Raises:
        ValueError: ``channels`` other than 1 or 3, or an unreadable image.
    """
    if channels not in (1, 3):
        raise ValueError(f"the model takes {channels} channels; images give 1 or 3")
    tensors = []
    for path in paths:
        x = torch.from_numpy(read_image(path)).permute(2, 0, 1).float() / 255.0
        if channels == 1:
            x = (x * torch.tensor(LUMA).view(3, 1, 1)).sum(0, keepdim=True)
        x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)
        tensors.append(x[0].clamp(0, 1))
    return torch.stack(tensors)


def visualize_run(
    checkpoint: str | os.PathLike[str],
    images: list[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    size: tuple[int, int] | None = None,
    overrides: list[str] | None = None,
    gradcam_layer: str | None = None,
    class_idx: int | None = None,
    seed: int = 0,
) -> Visualized:
    """Write the pictures of the run in ``checkpoint`` on ``images`` into ``out``.

    Args:
        checkpoint: a checkpoint written by ``attnvision train`` / ``compare`` (or its folder).
        images: image files (converted to the model's channels and input size).
        out: output folder.
        size: model input ``(H, W)``; default: the size of the run's test images.
        overrides: ``key=value`` changes to the stored config (e.g. ``data.root=DIR``).
        gradcam_layer, class_idx, seed: see :func:`attnvision.explain.write_pictures`.

    Raises:
        ValueError: a bad checkpoint, size or image; the input size cannot be inferred.
    """
    from attnvision.explain.gradcam import class_scores
    from attnvision.explain.pictures import write_pictures

    from .checkpoint import load_run
    from .data import build_datasets

    run = load_run(checkpoint, overrides)
    if size is not None:
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"expected a positive input size H W, got {size}")
    else:
        try:
            _, test = build_datasets(run.config.data)
            size = tuple(test[0][0].shape[-2:])
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise ValueError(
                f"cannot infer the model's input size from its dataset ({exc}); give the size"
            ) from None
    batch = load_images(images, size, run.meta["in_channels"])
    written = write_pictures(
        run.model, batch, out, gradcam_layer=gradcam_layer, class_idx=class_idx, seed=seed
    )
    with torch.no_grad():
        torch.manual_seed(seed)
        try:
            predicted: list[int | None] = class_scores(run.model(batch)).argmax(1).tolist()
        except (TypeError, ValueError):
            predicted = [None] * len(images)
    return Visualized(written, [Path(p).stem for p in images], predicted)
