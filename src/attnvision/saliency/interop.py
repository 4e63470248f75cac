"""Bridges to the field's tools: pysaliency models and datasets, benchmark submissions.

- :func:`as_pysaliency_model`: a shipped network (``"fixation"``, ``"object"``) or any
  callable ``image -> map`` as a ``pysaliency.SaliencyMapModel``, so that pysaliency's
  evaluation (``model.AUC(stimuli, fixations)``, ``NSS``, ``CC``, ...) runs on it;
- :func:`read_pysaliency`: stimuli and fixations stored by pysaliency (its HDF5 export,
  ``Stimuli`` / ``FileStimuli`` and ``Fixations`` / ``FixationTrains``, as
  ``pysaliency.get_mit1003(location)`` and friends leave them), read with ``h5py`` alone;
- :func:`write_benchmark_predictions`: one 8-bit map per stimulus, named and sized as the
  stimulus, as the MIT/Tuebingen saliency benchmark takes submissions.

pysaliency and h5py are optional (``pip install 'attnvision[pysaliency]'``); they are
imported on first use, with an ``ImportError`` naming the extra when missing.

Coordinates: pysaliency puts ``x = 0`` at the left edge of the first pixel (a fixation lies
on pixel ``int(x)``); attnvision at its centre (pixel ``floor(x + 0.5)``, see
:mod:`attnvision.saliency.density`). :func:`read_pysaliency` subtracts 0.5, so that every
fixation lands on the pixel pysaliency puts it on.

Example (pysaliency's MIT1003 download in ``mit1003/``)::

    import pysaliency
    from attnvision.saliency import interop

    model = interop.as_pysaliency_model("fixation")
    stimuli = pysaliency.read_hdf5("mit1003/stimuli.hdf5")
    fixations = pysaliency.read_hdf5("mit1003/fixations.hdf5")
    model.AUC(stimuli, fixations)  # pysaliency's evaluation of our network
    data = interop.read_pysaliency("mit1003/stimuli.hdf5", "mit1003/fixations.hdf5")
    data.fixations_by_name()  # {"i05june05_static_street_boston_p1010764": rows, ...}
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import atomic_save, progress

__all__ = [
    "BENCHMARK_FORMATS",
    "PysaliencyData",
    "as_pysaliency_model",
    "benchmark_pixels",
    "read_pysaliency",
    "write_benchmark_predictions",
]

#: Image formats of :func:`write_benchmark_predictions` (file suffix -> PIL format).
BENCHMARK_FORMATS = {"png": "PNG", "jpg": "JPEG"}

_EXTRA = "pip install 'attnvision[pysaliency]'"


def _import(name: str) -> Any:
    """Import an optional dependency quietly (pysaliency's own imports warn about
    deprecated packages), or fail with the extra that provides it."""
    import importlib

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return importlib.import_module(name)
    except ImportError as exc:
        raise ImportError(f"{name} is needed here but not installed ({_EXTRA})") from exc


# --------------------------------------------------------------------------- models
ImageModel = Callable[[np.ndarray], Any]


def _rgb(stimulus: Any) -> np.ndarray:
    """A pysaliency stimulus (``(H, W)`` grey or ``(H, W, 3|4)``, uint8) as uint8 RGB."""
    image = np.asarray(stimulus)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(
            f"expected a stimulus of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}"
        )
    if image.dtype != np.uint8:
        raise TypeError(f"expected a uint8 stimulus (0..255), got dtype {image.dtype}")
    return np.ascontiguousarray(image[:, :, :3])


def _map_for(model: str | ImageModel, image: np.ndarray, weights: Any) -> np.ndarray:
    """``model``'s map for one uint8 RGB image, checked to be ``(H, W)``, finite."""
    if isinstance(model, str):
        from .model import predict

        out = predict(image, model, weights=weights)
    else:
        out = model(image)
    if hasattr(out, "detach"):
        out = out.detach().cpu().numpy()
    saliency = np.asarray(out, dtype=np.float64)
    if saliency.shape != image.shape[:2]:
        raise ValueError(
            f"the model gave a map of shape {saliency.shape} for a stimulus of size "
            f"{image.shape[:2]}; expected one value per pixel"
        )
    if not np.isfinite(saliency).all():
        raise ValueError("the model gave a map with NaN or infinite values")
    return saliency


@functools.lru_cache(maxsize=1)
def _model_class() -> type:
    pysaliency = _import("pysaliency")

    class AttnvisionSaliencyMapModel(pysaliency.SaliencyMapModel):
        """An attnvision network or a callable ``image -> map`` as a pysaliency model."""

        def __init__(self, model: Any, weights: Any = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.model, self.weights = model, weights

        def _saliency_map(self, stimulus: np.ndarray) -> np.ndarray:
            return _map_for(self.model, _rgb(stimulus), self.weights)

    return AttnvisionSaliencyMapModel


def as_pysaliency_model(
    model: str | ImageModel = "fixation",
    *,
    weights: str | os.PathLike[str] | None = None,
    caching: bool = True,
) -> Any:
    """A ``pysaliency.SaliencyMapModel`` that predicts with an attnvision network or a
    user's model (pysaliency: Kümmerer et al., "Saliency benchmarking made easy",
    ECCV 2018).

    Args:
        model: ``"fixation"`` or ``"object"`` (the shipped networks,
            :func:`attnvision.saliency.predict`), or a callable taking a ``(H, W, 3)``
            uint8 RGB image and returning an ``(H, W)`` map (NumPy or torch; grey
            stimuli are given as RGB).
        weights: another weights file for a shipped network.
        caching: pysaliency's in-memory cache of maps per stimulus.

    Returns:
        The model; ``model.saliency_map(stimulus)`` is a float64 ``(H, W)`` map and
        pysaliency's metrics (``AUC``, ``NSS``, ``CC``, ``SIM``, ...) work on it.

    Raises:
        ImportError: pysaliency is not installed. ValueError: an unknown kind (here), or
            later a map of another size than its stimulus.
    """
    if isinstance(model, str):
        from .model import _check_kind

        _check_kind(model)
    elif not callable(model):
        raise TypeError(
            f"expected 'fixation', 'object' or a callable image -> map, got {type(model).__name__}"
        )
    return _model_class()(model, weights, caching=caching)


# --------------------------------------------------------------------------- datasets
@dataclass
class PysaliencyData:
    """Stimuli and fixations read by :func:`read_pysaliency`.

    Attributes:
        names: one name per stimulus: the file name without suffix (``FileStimuli``) or
            the index as text (``Stimuli``, images stored in the file).
        shapes: ``(H, W)`` per stimulus.
        files: image file per stimulus (``FileStimuli``), else ``None``.
        fixations: per stimulus, ``(N, 4)`` rows ``(x, y, observer, duration)`` in
            attnvision's coordinates (see the module docstring); ``duration`` is NaN when
            the file has none. Empty when no fixations file was read.
        source: the stimuli file.
    """

    names: list[str]
    shapes: list[tuple[int, int]]
    files: list[Path] | None
    fixations: list[np.ndarray] = field(default_factory=list)
    source: Path | None = None
    _images: list[np.ndarray] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.names)

    def image(self, index: int) -> np.ndarray:
        """The stimulus as stored (uint8 ``(H, W)`` or ``(H, W, 3)``)."""
        if self._images is not None:
            return self._images[index]
        from .._utils import open_image

        assert self.files is not None
        with open_image(self.files[index]) as img:
            return np.asarray(img)

    def fixations_by_name(self) -> dict[str, np.ndarray]:
        """``{name: rows}``, the layout of :func:`~attnvision.saliency.datasets.
        read_fixation_source` (for ``write_density_maps``, ``evaluate_folders``)."""
        return dict(zip(self.names, self.fixations))


def _text(value: Any) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _kind(group: Any, path: Path) -> tuple[str, str]:
    if "type" not in group.attrs:
        raise ValueError(f"{path}: not a pysaliency HDF5 export (no 'type' attribute)")
    return _text(group.attrs["type"]), _text(group.attrs.get("version", ""))


def _read_stimuli(h5: Any, path: Path) -> PysaliencyData:
    kind, version = _kind(h5, path)
    if kind == "FileStimuli":
        names = [_text(f) for f in h5["filenames"][...]]
        # version 2.x stores paths relative to the HDF5 file's folder, 1.0 absolute ones
        files = [path.parent / f if version >= "2" else Path(f) for f in names]
        shapes = [tuple(int(v) for v in s[:2]) for s in h5["shapes"][...]]
        stems = [f.stem for f in files]
        if len(set(stems)) < len(stems):  # same name in two folders: keep the folders
            stems = [os.path.splitext(_text(f))[0] for f in names]
        return PysaliencyData(stems, shapes, files, source=path)
    if kind == "Stimuli":
        size = int(h5.attrs["size"])
        images = [np.asarray(h5[str(n)][...]) for n in range(size)]
        shapes = [tuple(int(v) for v in im.shape[:2]) for im in images]
        return PysaliencyData(
            [str(n) for n in range(size)], shapes, None, source=path, _images=images
        )
    raise ValueError(f"{path}: expected pysaliency Stimuli or FileStimuli, got {kind!r}")


def _read_fixations(h5: Any, path: Path) -> tuple[np.ndarray, ...]:
    """Flat ``x, y, n, subject, duration`` of every fixation in a pysaliency export."""
    kind, _ = _kind(h5, path)
    if kind == "Fixations":
        x, y = h5["x"][...].astype(np.float64), h5["y"][...].astype(np.float64)
        n = h5["n"][...].astype(np.int64)
        subjects = h5["subjects"][...].astype(np.float64) if "subjects" in h5 else -np.ones(x.size)
        durations = h5["durations"][...].astype(np.float64) if "durations" in h5 else None
    elif kind == "FixationTrains":
        xs, ys = h5["train_xs"][...], h5["train_ys"][...]
        valid = ~np.isnan(xs)  # trains are padded with NaN to the longest one
        count = valid.sum(axis=1)
        x, y = xs[valid].astype(np.float64), ys[valid].astype(np.float64)
        n = np.repeat(h5["train_ns"][...].astype(np.int64), count)
        subjects = np.repeat(h5["train_subjects"][...].astype(np.float64), count)
        group = h5.get("scanpath_fixation_attributes")
        durations = None
        if group is not None and "durations" in group:
            durations = group["durations"][...][valid].astype(np.float64)
    else:
        raise ValueError(f"{path}: expected pysaliency Fixations or FixationTrains, got {kind!r}")
    if durations is None:
        durations = np.full(x.size, np.nan)
    return x, y, n, subjects, durations


def read_pysaliency(
    stimuli: str | os.PathLike[str], fixations: str | os.PathLike[str] | None = None
) -> PysaliencyData:
    """Stimuli and fixations from pysaliency's HDF5 files (``Stimuli.to_hdf5``,
    ``FileStimuli.to_hdf5``, ``Fixations.to_hdf5``, ``FixationTrains.to_hdf5``; the
    ``stimuli.hdf5`` / ``fixations.hdf5`` its dataset loaders write).

    Args:
        stimuli: the stimuli file.
        fixations: the fixations file (their ``n`` indexes the stimuli).

    Returns:
        :class:`PysaliencyData`; fixations converted to attnvision's coordinates.

    Raises:
        ImportError: h5py is missing. FileNotFoundError: a missing file. ValueError: not
            a pysaliency export, or fixations of stimuli the stimuli file does not have.
    """
    h5py = _import("h5py")
    paths = [Path(stimuli)] + ([Path(fixations)] if fixations is not None else [])
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"pysaliency file not found: {path}")

    def open_h5(path: Path) -> Any:
        try:
            return h5py.File(path, "r")
        except OSError as exc:
            raise ValueError(f"{path}: cannot read as HDF5 ({exc})") from None

    with open_h5(paths[0]) as h5:
        data = _read_stimuli(h5, paths[0])
    if fixations is None:
        return data
    with open_h5(paths[1]) as h5:
        x, y, n, subjects, durations = _read_fixations(h5, paths[1])
    if n.size and (n.min() < 0 or n.max() >= len(data)):
        raise ValueError(
            f"{paths[1]}: fixations of stimulus {int(n.max())}, but {paths[0]} holds "
            f"{len(data)} stimuli"
        )
    rows = np.stack([x - 0.5, y - 0.5, subjects, durations], axis=1)
    order = np.argsort(n, kind="stable")
    bounds = np.searchsorted(n[order], np.arange(len(data) + 1))
    data.fixations = [rows[order[a:b]] for a, b in zip(bounds[:-1], bounds[1:])]
    return data


# --------------------------------------------------------------------------- benchmark
def benchmark_pixels(saliency: Any) -> np.ndarray:
    """An ``(H, W)`` map as the 8-bit grey pixels of a benchmark submission: a map in
    ``[0, 1]`` as ``round(255 * map)`` (its zero stays zero), any other range rescaled by
    its minimum and maximum first (``mat2gray``); a constant map of another range is 0."""
    m = np.asarray(saliency, dtype=np.float64)
    if m.ndim != 2 or m.size == 0:
        raise ValueError(f"expected an (H, W) map, got shape {m.shape}")
    if not np.isfinite(m).all():
        raise ValueError("expected a finite map, got NaN or infinite values")
    lo, hi = float(m.min()), float(m.max())
    if lo < 0 or hi > 1:
        m = (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
    return np.round(m * 255.0).astype(np.uint8)


def write_benchmark_predictions(
    images: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    model: str | ImageModel = "fixation",
    weights: str | os.PathLike[str] | None = None,
    image_format: str = "png",
    show_progress: bool = False,
) -> list[Path]:
    """Predict every stimulus and write one map per stimulus as the MIT/Tuebingen saliency
    benchmark takes submissions: ``out_dir/<stimulus name>.<png|jpg>``, 8-bit grey, the
    stimulus' size (:func:`benchmark_pixels`), each file written atomically.

    Args:
        images: stimulus files and folders of stimuli (as ``saliency predict`` takes
            them; :func:`attnvision.saliency.writers.image_inputs`).
        out_dir: output folder (created).
        model: ``"fixation"``, ``"object"`` or a callable ``image -> map`` (see
            :func:`as_pysaliency_model`).
        weights: another weights file for a shipped network.
        image_format: ``"png"`` (lossless) or ``"jpg"`` (quality 95; lossy, as some
            benchmarks' stimuli are).

    Returns:
        The files written, in input order.

    Raises:
        FileNotFoundError / ValueError: a missing or unreadable stimulus (all are opened
            before anything is written), an unknown format, or a map of another size.
    """
    from .._utils import open_image, read_image
    from .writers import image_inputs

    if image_format not in BENCHMARK_FORMATS:
        raise ValueError(
            f"expected image_format in {', '.join(BENCHMARK_FORMATS)}, got {image_format!r}"
        )
    if isinstance(model, str):
        from .model import _check_kind

        _check_kind(model)
    paths = image_inputs(list(images))
    for path in paths:  # fail on an unreadable file before writing anything
        with open_image(path):
            pass
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    options = {"quality": 95} if image_format == "jpg" else {}
    for path in progress(paths, desc="predict", unit="img", enabled=show_progress):
        from PIL import Image

        try:
            pixels = benchmark_pixels(_map_for(model, read_image(path), weights))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
        grey = Image.fromarray(pixels)
        written.append(
            atomic_save(
                out / f"{path.stem}.{image_format}",
                lambda f, im=grey: im.save(f, format=BENCHMARK_FORMATS[image_format], **options),
            )
        )
    return written
