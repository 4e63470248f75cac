"""File readers: eye-tracking data (per-image CSV/JSON, OSIE's ``.mat``), maps, SOD folders.

Fixations and maps: every reader returns fixations as a float64 array of rows
``(x, y, observer, duration)`` in 0-based pixel coordinates (see
:mod:`attnvision.saliency.density`); unknown observer / duration are ``-1`` / ``nan``.
Maps are read as float64 ``(H, W)`` arrays. Salient-object folders: predictions and masks
paired by file stem (:func:`match_by_stem`), predictions read as PySODMetrics reads them
(:func:`read_prediction`, uint8 for 8-bit images) and masks as bool (:func:`read_mask`).
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import open_image
from .sod.inputs import MASK_THRESHOLD, _binary_mask

__all__ = [
    "FIXATION_SUFFIXES",
    "IMAGE_SUFFIXES",
    "MAP_SUFFIXES",
    "list_maps",
    "map_shape",
    "match_by_stem",
    "mit1003_pairs",
    "read_fixation_file",
    "read_fixation_source",
    "read_fixations_csv",
    "read_fixations_json",
    "read_map",
    "read_mask",
    "read_osie_fixations",
    "read_prediction",
    "resize_map",
]

#: file suffixes read as per-image fixation lists
FIXATION_SUFFIXES = (".csv", ".json")
#: file name endings read as images (case-insensitive)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: file suffixes read as maps
MAP_SUFFIXES = (*IMAGE_SUFFIXES, ".npy")

_COLUMNS = ("x", "y", "observer", "duration")


def _rows(
    x: Any, y: Any, observer: Any = None, duration: Any = None, *, source: Any = "fixations"
) -> np.ndarray:
    """``(N, 4)`` rows ``(x, y, observer, duration)``; non-finite coordinates are an error
    naming ``source`` and the fixation (a NaN would otherwise be dropped as "outside")."""
    x = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
    y = np.atleast_1d(np.asarray(y, dtype=np.float64)).ravel()
    if x.shape != y.shape:
        raise ValueError(
            f"{source}: expected as many y as x coordinates, got {x.size} x and {y.size} y"
        )
    bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    if bad.size:
        raise ValueError(
            f"{source}: expected finite x, y coordinates, got {x[bad[0]]}, {y[bad[0]]} at "
            f"fixation {bad[0] + 1} ({bad.size} such)"
        )
    n = x.size
    obs = np.full(n, -1.0) if observer is None else np.asarray(observer, dtype=np.float64)
    dur = np.full(n, np.nan) if duration is None else np.asarray(duration, dtype=np.float64)
    obs = np.broadcast_to(np.atleast_1d(obs).ravel(), (n,)) if np.size(obs) in (1, n) else obs
    dur = np.broadcast_to(np.atleast_1d(dur).ravel(), (n,)) if np.size(dur) in (1, n) else dur
    if obs.shape != (n,) or dur.shape != (n,):
        raise ValueError(
            f"expected one observer and duration per fixation ({n}), got {np.size(obs)} "
            f"and {np.size(dur)}"
        )
    return np.stack([x, y, obs, dur], axis=1).astype(np.float64)


def read_fixations_csv(path: str | os.PathLike[str], *, origin: int = 0) -> np.ndarray:
    """Fixations from a CSV file: columns ``x, y[, observer, duration]``.

    A header row naming the columns (any order, ``x``/``y`` required) is optional;
    without one the first columns are taken as ``x, y, observer, duration``.

    Args:
        path: the file.
        origin: 1 if the coordinates are 1-based (they are converted to 0-based).

    Returns:
        ``(N, 4)`` rows ``(x, y, observer, duration)``.
    """
    path = Path(path)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.reader(handle) if r and any(c.strip() for c in r)]
    if not rows:
        return np.zeros((0, 4))
    header = [c.strip().lower() for c in rows[0]]
    if "x" in header and "y" in header:
        index = {name: header.index(name) for name in _COLUMNS if name in header}
        body = rows[1:]
    else:
        index = {name: i for i, name in enumerate(_COLUMNS) if i < len(rows[0])}
        body = rows
    try:
        data = {name: [float(r[i]) for r in body] for name, i in index.items() if name in _COLUMNS}
    except (ValueError, IndexError) as exc:
        raise ValueError(
            f"{path}: expected numeric columns x, y[, observer, duration] ({exc})"
        ) from None
    out = _rows(data["x"], data["y"], data.get("observer"), data.get("duration"), source=path)
    out[:, :2] -= origin
    return out


def read_fixations_json(path: str | os.PathLike[str], *, origin: int = 0) -> np.ndarray:
    """Fixations from a JSON file.

    Accepted layouts: ``{"x": [...], "y": [...], "observer": [...], "duration": [...]}``
    (the last two optional), a list of ``{"x":, "y":, ...}`` objects, or a list of
    ``[x, y(, observer, duration)]`` rows.

    Args:
        path: the file.
        origin: 1 if the coordinates are 1-based.

    Returns:
        ``(N, 4)`` rows ``(x, y, observer, duration)``.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and "fixations" in data:
        data = data["fixations"]
    if isinstance(data, dict):
        if "x" not in data or "y" not in data:
            raise ValueError(f"{path}: expected keys 'x' and 'y', got {sorted(data)}")
        out = _rows(data["x"], data["y"], data.get("observer"), data.get("duration"), source=path)
    elif isinstance(data, list):
        if not data:
            return np.zeros((0, 4))
        if all(isinstance(d, dict) for d in data):
            try:
                out = _rows(
                    [d["x"] for d in data],
                    [d["y"] for d in data],
                    [d.get("observer", -1) for d in data],
                    [d.get("duration", np.nan) for d in data],
                    source=path,
                )
            except KeyError as exc:
                raise ValueError(
                    f"{path}: every fixation needs 'x' and 'y', missing {exc}"
                ) from None
        else:
            arr = np.asarray(data, dtype=np.float64)
            if arr.ndim != 2 or arr.shape[1] < 2:
                raise ValueError(f"{path}: expected rows [x, y, ...], got shape {arr.shape}")
            cols = [arr[:, i] if i < arr.shape[1] else None for i in range(4)]
            out = _rows(*cols, source=path)
    else:
        raise ValueError(f"{path}: expected a list or an object, got {type(data).__name__}")
    out[:, :2] -= origin
    return out


def read_fixation_file(path: str | os.PathLike[str], *, origin: int = 0) -> np.ndarray:
    """Fixations from one ``.csv`` or ``.json`` file (chosen by suffix)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_fixations_csv(path, origin=origin)
    if suffix == ".json":
        return read_fixations_json(path, origin=origin)
    raise ValueError(f"{path}: expected a .csv or .json fixation file, got {suffix or 'no suffix'}")


def read_osie_fixations(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """OSIE's ``fixations.mat`` (Xu et al., JoV 2014) as ``{image name: fixations}``.

    The file holds ``fixations[i].img`` and ``fixations[i].subjects[j].fix_x, fix_y,
    fix_duration`` in 1-based pixel coordinates (MATLAB); they are converted to 0-based,
    and ``observer`` is the subject's index ``j``. All 700 entries are returned (98,321
    fixations, as pysaliency counts them), also for images missing from a ``stimuli``
    folder. Coordinates are kept as recorded: use :func:`~attnvision.saliency.density.
    fixation_map` to drop (and count) those outside the 800x600 image.

    Returns:
        ``{"1001.jpg": (N, 4) rows (x, y, observer, duration), ...}`` in file order.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OSIE fixation file not found: {path}")
    try:
        mat = loadmat(str(path), struct_as_record=False, squeeze_me=True)
    except Exception as exc:  # scipy raises several types for a bad file
        raise ValueError(f"{path}: cannot read as a MATLAB .mat file ({exc})") from None
    if "fixations" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise ValueError(f"{path}: expected a variable 'fixations', got {keys}")
    out: dict[str, np.ndarray] = {}
    for entry in np.atleast_1d(mat["fixations"]):
        parts = []
        for j, subject in enumerate(np.atleast_1d(entry.subjects)):
            x = np.atleast_1d(np.asarray(subject.fix_x, dtype=np.float64)).ravel()
            if x.size == 0:
                continue
            parts.append(
                _rows(
                    x - 1.0,
                    np.asarray(subject.fix_y, dtype=np.float64) - 1.0,
                    j,
                    subject.fix_duration,
                    source=f"{path} ({entry.img})",
                )
            )
        out[str(entry.img)] = np.concatenate(parts) if parts else np.zeros((0, 4))
    return out


def read_map(path: str | os.PathLike[str]) -> np.ndarray:
    """A saliency / fixation / density map as float64 ``(H, W)``.

    Images are converted to grayscale (Pillow ``"L"`` for colour) and divided by their
    type's maximum (255 for 8 bit, 65535 for 16 bit), so they lie in ``[0, 1]``;
    ``.npy`` files are read as they are (must be 2-D). MIT1003's ``fixation_maps`` are
    JPEG: lossy, compare against them with a tolerance.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"map not found: {path}")
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: cannot read as .npy ({exc})") from None
        if arr.ndim != 2:
            raise ValueError(f"{path}: expected a 2-D (H, W) map, got shape {arr.shape}")
        if arr.dtype != bool and (not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr)):
            raise ValueError(f"{path}: expected a real-valued map, got dtype {arr.dtype}")
        return np.asarray(arr, dtype=np.float64)
    with open_image(path) as img:
        if img.mode in ("I;16", "I;16B", "I;16L", "I"):
            arr = np.asarray(img, dtype=np.float64)
            scale = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
            return arr / scale
        if img.mode == "F":
            return np.asarray(img, dtype=np.float64)
        return np.asarray(img.convert("L"), dtype=np.float64) / 255.0


def map_shape(path: str | os.PathLike[str]) -> tuple[int, int]:
    """The ``(H, W)`` of the map :func:`read_map` would read, from the file's header only.

    Raises:
        FileNotFoundError: no such file. ValueError: not a map (as :func:`read_map`).
    """
    path = Path(path)
    if path.suffix.lower() == ".npy":
        if not path.is_file():
            raise FileNotFoundError(f"map not found: {path}")
        try:
            shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
        except (ValueError, OSError) as exc:
            raise ValueError(f"{path}: cannot read as .npy ({exc})") from None
        if len(shape) != 2:
            raise ValueError(f"{path}: expected a 2-D (H, W) map, got shape {shape}")
        return int(shape[0]), int(shape[1])
    from PIL import Image

    if not path.is_file():
        raise FileNotFoundError(f"map not found: {path}")
    try:
        with Image.open(path) as img:
            return img.height, img.width
    except (OSError, SyntaxError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{path}: cannot read as an image ({first})") from None


def list_maps(folder: str | os.PathLike[str]) -> dict[str, Path]:
    """``{stem: path}`` of the map files in a folder (suffixes in :data:`MAP_SUFFIXES`).

    When a stem has both a ``.npy`` and an image (as ``attnvision saliency maps --npy``
    writes them), the ``.npy`` is used: it holds the exact values. Two images with the
    same stem (``a.png`` and ``a.jpg``) raise ``ValueError``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"folder not found: {folder}")
    out: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if not p.is_file() or p.suffix.lower() not in MAP_SUFFIXES or p.name.startswith("."):
            continue
        seen = out.get(p.stem)
        if seen is None or seen.suffix.lower() != ".npy" and p.suffix.lower() == ".npy":
            out[p.stem] = p
        elif p.suffix.lower() != ".npy" and seen.suffix.lower() != ".npy":
            raise ValueError(f"{folder}: two maps for {p.stem!r}: {seen.name}, {p.name}")
        elif p.suffix.lower() == ".npy":  # pragma: no cover - one .npy per stem on disk
            raise ValueError(f"{folder}: two .npy maps for {p.stem!r}")
    return out


def mit1003_pairs(root: str | os.PathLike[str]) -> list[tuple[Path, Path]]:
    """``(stimulus, fixation map)`` paths of MIT1003 (Judd et al., ICCV 2009).

    ``root`` holds ``stimuli/<name>.jpeg|.jpg`` and ``fixation_maps/<name>_fixMap.jpg``
    (or ``<name>.jpg``); only stimuli with a map are returned, sorted by name.
    """
    root = Path(root)
    stim_dir, map_dir = root / "stimuli", root / "fixation_maps"
    for d in (stim_dir, map_dir):
        if not d.is_dir():
            raise FileNotFoundError(f"MIT1003 folder not found: {d}")
    maps = {}
    for p in map_dir.iterdir():
        stem = p.stem[: -len("_fixMap")] if p.stem.endswith("_fixMap") else p.stem
        maps[stem] = p
    pairs = []
    for p in sorted(stim_dir.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stem in maps:
            pairs.append((p, maps[p.stem]))
    return pairs


def read_fixation_source(path: str | os.PathLike[str], *, origin: int = 0) -> dict[str, np.ndarray]:
    """``{image stem: fixations}`` from a folder of per-image ``.csv`` / ``.json`` files or
    from an OSIE-style ``fixations.mat`` (image names lose their suffix: ``"1001"``).

    Args:
        path: the folder or the ``.mat`` file.
        origin: 1 if the CSV/JSON coordinates are 1-based (a ``.mat`` always is and is
            converted).
    """
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ".mat":
        return {Path(name).stem: rows for name, rows in read_osie_fixations(path).items()}
    if path.is_file():
        raise ValueError(f"{path}: expected a folder of .csv/.json files or a .mat file")
    if not path.is_dir():
        raise FileNotFoundError(f"fixations not found: {path}")
    out: dict[str, np.ndarray] = {}
    for p in sorted(path.iterdir()):
        if p.is_file() and p.suffix.lower() in FIXATION_SUFFIXES and not p.name.startswith("."):
            if p.stem in out:
                raise ValueError(f"{path}: two fixation files for {p.stem!r}")
            out[p.stem] = read_fixation_file(p, origin=origin)
    if not out:
        raise ValueError(f"{path}: expected .csv or .json fixation files, found none")
    return out


def resize_map(saliency: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of an ``(H, W)`` float map to ``shape`` (Pillow, mode ``"F"``).

    Used only when asked for (``--resize``): metrics never resize silently.
    """
    from PIL import Image

    arr = np.asarray(saliency, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"expected an (H, W) map, got shape {arr.shape}")
    h, w = (int(v) for v in shape)
    if arr.shape == (h, w):
        return arr.astype(np.float64)
    img = Image.fromarray(arr, mode="F").resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float64)


# ----------------------------------------------------------------------------- SOD folders


def _images_by_stem(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise NotADirectoryError(f"expected a folder of images, got {str(folder)!r}")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            if path.stem in found:
                raise ValueError(
                    f"two images share the name {path.stem!r} in {folder}: "
                    f"{found[path.stem].name} and {path.name}"
                )
            found[path.stem] = path
    return found


def match_by_stem(
    pred_dir: str | os.PathLike[str], mask_dir: str | os.PathLike[str]
) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Pair predictions with masks by file stem (``a.png`` with ``a.jpg``).

    Returns:
        ``(pairs, masks_without_prediction, predictions_without_mask)``: ``pairs`` is a
        list of ``(stem, prediction_path, mask_path)`` sorted by stem; the other two list the
        stems that have no partner (sorted). Nothing is skipped silently: the caller decides.

    Raises:
        NotADirectoryError: a folder is missing. ValueError: two files share a stem, or a
        folder holds no image.
    """
    preds = _images_by_stem(Path(pred_dir))
    masks = _images_by_stem(Path(mask_dir))
    for folder, found in ((pred_dir, preds), (mask_dir, masks)):
        if not found:
            raise ValueError(
                f"expected images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}, found none"
            )
    stems = sorted(preds.keys() & masks.keys())
    pairs = [(stem, preds[stem], masks[stem]) for stem in stems]
    return pairs, sorted(masks.keys() - preds.keys()), sorted(preds.keys() - masks.keys())


def read_prediction(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a predicted map as ``(H, W)``: uint8 for 8-bit images (colour images converted
    to grey with PIL's ITU-R 601 luma), float64 in [0, 1] for 16-bit (divided by 65535) and
    for 32-bit float TIFFs (taken as they are).

    Raises:
        FileNotFoundError: no such file. ValueError: not an image, or 32-bit integers.
    """
    with open_image(path) as image:
        if image.mode == "F":
            return np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            return np.asarray(image, dtype=np.float64) / 65535.0
        if image.mode == "I":
            raise ValueError(f"expected an 8- or 16-bit prediction, got 32-bit integers: {path}")
        return np.asarray(image.convert("L"), dtype=np.uint8)


def read_mask(
    path: str | os.PathLike[str],
    *,
    mask_threshold: float = MASK_THRESHOLD,
    strict_masks: bool = False,
) -> np.ndarray:
    """Read a ground-truth mask as a ``(H, W)`` bool array.

    8-bit images (colour ones converted to grey with PIL's luma) are grey levels 0..255,
    16-bit ones are divided by 65535 and 32-bit float TIFFs are taken as they are; the
    mask is then binarised as every SOD metric binarises masks
    (:mod:`attnvision.saliency.sod`): foreground where the level is ``> mask_threshold`` of
    255 (PySODMetrics' ``gt > 128``), 0/1 and 0/255 masks as they are.

    Raises:
        FileNotFoundError: no such file. ValueError: not an image, or (``strict_masks``)
            not a binary mask, naming the file.
    """
    with open_image(path) as image:
        if image.mode.startswith("I;16"):
            grey = np.asarray(image, dtype=np.float64) / 65535.0
        elif image.mode in ("F", "1"):
            grey = np.asarray(image)
        elif image.mode == "I":
            raise ValueError(f"expected an 8- or 16-bit mask, got 32-bit integers: {path}")
        else:
            grey = np.asarray(image.convert("L"))
    try:
        return _binary_mask(grey, threshold=mask_threshold, strict=strict_masks)
    except ValueError as exc:
        raise ValueError(f"{exc}: {path}") from None
