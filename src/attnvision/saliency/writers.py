"""Folders that the saliency commands write: ground-truth maps and predictions.

- :func:`write_density_maps` (``attnvision saliency maps``): ground-truth maps (PNG,
  optionally ``.npy``) from fixations;
- :func:`write_predictions` (``attnvision saliency predict``): the shipped networks' maps
  for image files and folders, where ``saliency evaluate`` / ``sod evaluate`` read them;
- :func:`image_inputs`, :func:`image_sizes`: the images of files and folders, and their sizes.

Every file is written atomically. Errors are ``ValueError`` / ``FileNotFoundError`` with one
line that names the file or folder, and the command-line option that changes the outcome.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._utils import atomic_save, progress, short_list

__all__ = [
    "DensityMapsWritten",
    "PredictionsWritten",
    "image_inputs",
    "image_sizes",
    "write_density_maps",
    "write_predictions",
]

#: image files that :func:`image_sizes` and :func:`image_inputs` read
STIMULUS_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


# --------------------------------------------------------------------------- maps


def image_sizes(folder: str | os.PathLike[str]) -> dict[str, tuple[int, int]]:
    """``{stem: (H, W)}`` of the images in ``folder`` (suffixes :data:`STIMULUS_SUFFIXES`).

    Raises:
        FileNotFoundError: no such folder. ValueError: an unreadable image, naming it.
    """
    from .._utils import open_image

    path = Path(folder)
    if not path.is_dir():
        raise FileNotFoundError(f"stimuli folder not found: {path}")
    sizes = {}
    for p in sorted(path.iterdir()):
        if p.is_file() and p.suffix.lower() in STIMULUS_SUFFIXES and not p.name.startswith("."):
            with open_image(p) as img:
                sizes[p.stem] = (img.height, img.width)
    return sizes


@dataclass
class DensityMapsWritten:
    """What :func:`write_density_maps` did."""

    written: int
    sigma_px: float
    skipped_without_image: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    dropped_fixations: int = 0
    images_with_dropped: int = 0


def write_density_maps(
    fixations: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    sigma: float,
    *,
    unit: str = "px",
    ppd: float | None = None,
    shape: tuple[int, int] | None = None,
    stimuli: str | os.PathLike[str] | None = None,
    origin: int = 0,
    npy: bool = False,
    allow_missing: bool = False,
    show_progress: bool = False,
) -> DensityMapsWritten:
    """Write one ground-truth map per image: ``out_dir/<image>.png`` (0..255) and, with
    ``npy``, ``<image>.npy`` (float 0..1), from :func:`attnvision.saliency.density_map`.

    Args:
        fixations: a folder of per-image ``.csv`` / ``.json`` files or an OSIE-style ``.mat``
            (:func:`attnvision.saliency.datasets.read_fixation_source`).
        out_dir: output folder (created).
        sigma: Gaussian sigma, in pixels (``unit="px"``) or degrees (``unit="deg"``, with
            ``ppd`` pixels per degree).
        shape: ``(H, W)`` of every image; or ``stimuli``: a folder of the images.
        origin: 1 if CSV/JSON coordinates are 1-based.
        allow_missing: skip (and list) fixation entries without an image in ``stimuli``.

    Returns:
        :class:`DensityMapsWritten`: counts, fixations outside their image (dropped, never
        moved) and images with no fixation inside (no map written).

    Raises:
        ValueError: bad sigma / ppd / shape, no image for an entry (without
            ``allow_missing``), or no map at all to write.
    """
    from PIL import Image

    from .datasets import read_fixation_source
    from .density import density_map, to_unit_range

    if unit == "deg" and ppd is None:
        raise ValueError("--sigma-deg needs --ppd (pixels per degree of visual angle)")
    if not (sigma > 0) or (ppd is not None and not ppd > 0):
        raise ValueError(f"expected a positive sigma and ppd, got sigma={sigma} ppd={ppd}")
    rows = read_fixation_source(fixations, origin=origin)
    if shape is not None:
        h, w = shape
        if h < 1 or w < 1:
            raise ValueError(f"expected a positive --shape H W, got {h} {w}")
        sizes = dict.fromkeys(rows, (int(h), int(w)))
    elif stimuli is not None:
        sizes = image_sizes(stimuli)
    else:
        raise ValueError("expected the image size: pass --shape H W or --stimuli DIR")
    missing = sorted(set(rows) - set(sizes))
    if missing and not allow_missing:
        raise ValueError(
            f"{len(missing)} fixation entries have no image in {stimuli}: "
            f"{short_list(missing)} (pass --allow-missing to skip them)"
        )
    stems = [s for s in rows if s in sizes]
    if not stems:
        raise ValueError(f"no fixation entry of {fixations} has an image to draw its map on")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = DensityMapsWritten(0, sigma * (ppd if unit == "deg" else 1.0), missing)
    for stem in progress(stems, desc="maps", unit="map", enabled=show_progress):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                dens, dropped = density_map(
                    rows[stem], sizes[stem], sigma, unit=unit, ppd=ppd, return_dropped=True
                )
            except ValueError:
                report.empty.append(stem)
                continue
        report.dropped_fixations += dropped
        report.images_with_dropped += bool(dropped)
        unit_map = to_unit_range(dens)
        png = Image.fromarray(np.round(unit_map * 255.0).astype(np.uint8))
        atomic_save(out / f"{stem}.png", lambda f, png=png: png.save(f, format="PNG"))
        if npy:
            atomic_save(out / f"{stem}.npy", lambda f, m=unit_map: np.save(f, m))
        report.written += 1
    if report.written == 0:
        raise ValueError(
            f"no map written: none of the {len(stems)} images has a fixation inside it "
            f"({short_list(report.empty)})"
        )
    return report


# --------------------------------------------------------------------------- predictions


def image_inputs(paths: list[str | os.PathLike[str]]) -> list[Path]:
    """Image files from files and folders (a folder gives its images with the suffixes of
    :data:`STIMULUS_SUFFIXES`, sorted, not recursing; hidden files skipped).

    Raises:
        FileNotFoundError: a path that does not exist. ValueError: a folder without
            images, or two inputs with the same name (their maps would collide).
    """
    found: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            images = [
                p
                for p in sorted(path.iterdir())
                if p.is_file() and p.suffix.lower() in STIMULUS_SUFFIXES and p.name[0] != "."
            ]
            if not images:
                raise ValueError(
                    f"expected images ({', '.join(STIMULUS_SUFFIXES)}) in {path}, found none"
                )
            found += images
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"image not found: {path}")
    stems: dict[str, Path] = {}
    for path in found:
        if path.stem in stems:
            raise ValueError(
                f"two images would write the same map {path.stem!r}: {stems[path.stem]} and {path}"
            )
        stems[path.stem] = path
    return found


@dataclass
class PredictionsWritten:
    """What :func:`write_predictions` wrote: ``maps`` (PNG, and ``.npy`` beside them) and
    ``overlays`` (in the ``overlays`` subfolder)."""

    maps: list[Path] = field(default_factory=list)
    overlays: list[Path] = field(default_factory=list)


def write_predictions(
    images: list[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    kind: str = "fixation",
    weights: str | os.PathLike[str] | None = None,
    overlay: bool = False,
    colorbar: bool = False,
    show_progress: bool = False,
) -> PredictionsWritten:
    """Predict a map for each image with :func:`attnvision.saliency.predict` and write
    ``out_dir/<image>.png`` (0..255 at the image's size) and ``<image>.npy`` (float 0..1),
    where ``saliency evaluate`` / ``sod evaluate`` read them; with ``overlay``, also
    ``out_dir/overlays/<image>.png``: the map blended over the image at its own size
    (:func:`attnvision.explain.draw.overlay_pixels`, with a colour bar if ``colorbar``).

    Args:
        images: image files and folders of images (:func:`image_inputs`).

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable image or weights file (every
            image's header is read before anything is written).
    """
    from PIL import Image

    from .._utils import open_image, read_image
    from ..explain.draw import overlay_pixels
    from .model import predict

    if weights is not None and not Path(weights).is_file():
        raise FileNotFoundError(f"weights file not found: {weights}")
    paths = image_inputs(images)
    for path in paths:  # fail on an unreadable file before writing anything
        with open_image(path):
            pass
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = PredictionsWritten()
    for path in progress(paths, desc="predict", unit="img", enabled=show_progress):
        rgb = read_image(path)
        sal = predict(rgb, kind, weights=weights)
        png = Image.fromarray(np.round(sal * 255.0).astype(np.uint8))
        written.maps.append(
            atomic_save(out / f"{path.stem}.png", lambda f, png=png: png.save(f, format="PNG"))
        )
        atomic_save(out / f"{path.stem}.npy", lambda f, m=sal: np.save(f, m))
        if overlay:
            pixels = Image.fromarray(overlay_pixels(rgb, sal, colorbar=colorbar))
            written.overlays.append(
                atomic_save(
                    out / "overlays" / f"{path.stem}.png",
                    lambda f, im=pixels: im.save(f, format="PNG"),
                )
            )
    return written
