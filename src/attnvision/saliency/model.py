"""The two trained saliency networks that ship with the package: :func:`predict`, image
reading, and the weights files.

- ``kind="fixation"``: where people look, :class:`~attnvision.saliency.fixation.FixationDensityNet`
  (a probability density over the image, DeepGaze II recipe on a frozen ImageNet-trained
  EfficientNet-Lite0), trained on OSIE (Xu et al., "Predicting human gaze beyond pixels",
  JoV 2014) by the log-likelihood of the fixations.
- ``kind="object"``: the salient object, :class:`~attnvision.saliency.objects.SalientObjectNet`
  (fine-tuned EfficientNet-Lite0, feature-pyramid decoder with attention blocks on the
  skips, deep supervision), trained on the SOD benchmark images (Movahedi and Elder 2010).

Training, splits and scores: ``benchmarks/train_saliency.py`` and BENCHMARKS.md.

Weights are files written by :func:`save_weights`: a dict with ``format``
(``"attnvision-saliency-weights"``), ``version`` (2), ``kind``, ``config`` (the
constructor arguments), ``input`` (how :func:`predict` sizes the network input),
``state_dict`` (float16), ``sha256`` (of the tensors, checked on load) and ``meta``
(training split, command, scores), loaded with ``torch.load(..., weights_only=True)``
through :func:`attnvision._utils.load_versioned`. The defaults are
``attnvision/weights/{fixation,object}.pt``: whole networks (the encoder included), so
:func:`predict` needs no other package and nothing is downloaded.

Example:
    >>> import numpy as np
    >>> import attnvision as av
    >>> image = np.zeros((60, 80, 3), np.uint8)
    >>> m = av.saliency.predict(image)  # doctest: +SKIP
    >>> m.shape, float(m.min()) >= 0, float(m.max()) <= 1  # doctest: +SKIP
    ((60, 80), True, True)
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils import atomic_save, grey_to_rgb, load_versioned, over_white
from .._utils import read_image as read_image  # re-exported (saliency.model.read_image)
from .encoders import normalize
from .fixation import FixationDensityNet, upsample_log_density
from .objects import SalientObjectNet

FORMAT = "attnvision-saliency-weights"
FORMAT_VERSION = 2
KINDS = ("fixation", "object")
OUTPUTS = ("map", "log_density")

#: the smallest image side :func:`predict` accepts
MIN_SIDE = 32

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"

ARCHITECTURES: dict[str, type[nn.Module]] = {
    "fixation": FixationDensityNet,
    "object": SalientObjectNet,
}

#: how the networks read an image: fixation keeps the aspect with this long side, object
#: resizes to a fixed square (as most SOD networks do); the weights file's ``input`` wins
DEFAULT_INPUT: dict[str, dict[str, Any]] = {
    "fixation": {"long_side": 512},
    "object": {"size": [320, 320]},
}


def default_weights(kind: str) -> Path:
    """Path of the weights shipped for ``kind`` (``"fixation"`` or ``"object"``)."""
    _check_kind(kind)
    return WEIGHTS_DIR / f"{kind}.pt"


def _check_kind(kind: Any) -> str:
    if kind not in KINDS:
        raise ValueError(f"expected kind 'fixation' or 'object', got {kind!r}")
    return kind


def build(kind: str, config: dict[str, Any] | None = None) -> nn.Module:
    """A fresh (untrained, no pretrained weights) network for ``kind`` from its ``config``."""
    _check_kind(kind)
    cfg = dict(config or {})
    try:
        return ARCHITECTURES[kind](**cfg)
    except TypeError as exc:
        raise ValueError(f"bad {kind} network config {cfg}: {exc}") from None


# --------------------------------------------------------------------------- weights


def state_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a ``state_dict``: every key (sorted), dtype, shape and the raw bytes."""
    digest = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_weights(
    path: str | os.PathLike[str],
    model: nn.Module,
    kind: str,
    config: dict[str, Any],
    *,
    input_spec: dict[str, Any] | None = None,
    meta: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Write ``model``'s weights atomically (float16 floats when ``half``) with the SHA-256
    of the tensors; the file is plain data for ``torch.load(..., weights_only=True)``."""
    _check_kind(kind)
    state = {
        k: (v.detach().half() if half and v.is_floating_point() else v.detach()).cpu().clone()
        for k, v in model.state_dict().items()
    }
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "kind": kind,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()},
        "input": dict(input_spec or DEFAULT_INPUT[kind]),
        "state_dict": state,
        "sha256": state_sha256(state),
        "meta": dict(meta or {}),
    }
    return atomic_save(path, lambda handle: torch.save(payload, handle))


def read_weights(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and verify a weights file written by :func:`save_weights`
    (:func:`attnvision._utils.load_versioned`, then the tensors' SHA-256).

    Raises:
        FileNotFoundError: no such file.
        ValueError: truncated/corrupt (also a checksum that does not match), not a torch
            file, a pickle asking to run code, not a saliency-weights file, or a format
            version this attnvision does not read; the message names the file.
    """
    payload = load_versioned(path, FORMAT, FORMAT_VERSION, "saliency weights file")
    if payload["version"] < FORMAT_VERSION:
        raise ValueError(
            f"{path} is a saliency weights file of version {payload['version']} (the "
            f"from-scratch networks of earlier attnvision); this attnvision reads version "
            f"{FORMAT_VERSION}"
        )
    for key in ("kind", "config", "state_dict", "input", "sha256"):
        if key not in payload:
            raise ValueError(f"{path}: saliency weights file lacks the entry {key!r}")
    got = state_sha256(payload["state_dict"])
    if got != payload["sha256"]:
        raise ValueError(
            f"{path}: the weights are corrupt (SHA-256 of the tensors {got[:12]}..., the file "
            f"records {str(payload['sha256'])[:12]}...)"
        )
    return payload


def load_model(path: str | os.PathLike[str], kind: str | None = None) -> nn.Module:
    """The network stored in ``path`` (float32, eval mode), with ``input_spec`` and ``kind``
    attributes for :func:`predict_batch`.

    Args:
        path: a file written by :func:`save_weights`.
        kind: when given, the file must hold a network of this kind.
    """
    payload = read_weights(path)
    stored = payload["kind"]
    if stored not in KINDS:
        raise ValueError(f"{path} holds weights of unknown kind {stored!r}")
    if kind is not None and stored != _check_kind(kind):
        raise ValueError(f"{path} holds {stored!r} weights, expected {kind!r} weights")
    model = build(stored, payload["config"])
    own = model.state_dict()
    state = payload["state_dict"]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or bad:
        first = (missing or unexpected or bad)[0]
        raise ValueError(
            f"{path} does not fit {type(model).__name__}: {len(missing)} missing, "
            f"{len(unexpected)} unexpected, {len(bad)} mis-shaped tensors (e.g. {first})"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    model.input_spec = dict(payload["input"])  # type: ignore[assignment]
    model.kind = stored  # type: ignore[assignment]
    return model.eval()


_CACHE: dict[tuple[str, int, int], nn.Module] = {}


def _cached_model(path: Path, kind: str) -> nn.Module:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"saliency weights not found: {path}") from None
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CACHE:
        if len(_CACHE) > 4:
            _CACHE.clear()
        _CACHE[key] = load_model(path)
    model = _CACHE[key]
    if model.kind != kind:  # type: ignore[attr-defined]
        raise ValueError(f"{path} holds {model.kind!r} weights, expected {kind!r} weights")
    return model


# --------------------------------------------------------------------------- images


def as_rgb(image: Any) -> np.ndarray:
    """An image array as ``(H, W, 3)`` uint8 RGB.

    Accepts ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` and ``(H, W, 4)`` (RGBA, composited
    over white) arrays of uint8, or of uint16 (scaled by ``255 / 65535``), as NumPy arrays
    or CPU tensors; a path reads the file (:func:`read_image`).

    Raises:
        TypeError: another type or dtype (float images are ambiguous: 0..1 or 0..255).
        ValueError: another shape.
    """
    if isinstance(image, (str, os.PathLike)):
        return read_image(image)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"expected an image path or an (H, W, 3) uint8 array, got {type(image).__name__}"
        )
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(
            f"expected an (H, W, 3) uint8 (or uint16) image array, got dtype {image.dtype}"
        )
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ValueError(
            f"expected an (H, W, 3) uint8 image array (or (H, W), (H, W, 4)), got shape "
            f"{image.shape}"
        )
    if image.dtype == np.uint16:
        image = np.round(image.astype(np.float64) * (255.0 / 65535.0)).astype(np.uint8)
    if image.ndim == 2:
        return grey_to_rgb(image)
    if image.shape[2] == 4:
        return over_white(image)
    return np.ascontiguousarray(image)


# --------------------------------------------------------------------------- predict


def input_size(shape: tuple[int, int], spec: dict[str, Any]) -> tuple[int, int]:
    """The network input ``(h, w)`` for an image of ``shape`` ``(H, W)`` under ``spec``.

    ``{"size": [h, w]}``: fixed; ``{"long_side": L}``: the aspect kept, the long side
    ``L``, both sides rounded to multiples of 32 (the encoder's stride; at least 32). A
    spec may also say ``"flip": true``: :func:`predict_batch` then averages the output for
    the image with the mirrored output for its mirror image (test-time flip averaging:
    densities for ``fixation``, logits for ``object``).
    """
    if "size" in spec:
        h, w = spec["size"]
        return int(h), int(w)
    long_side = int(spec["long_side"])
    scale = long_side / max(shape)
    h = max(32, int(round(shape[0] * scale / 32)) * 32)
    w = max(32, int(round(shape[1] * scale / 32)) * 32)
    return h, w


def to_input(image: np.ndarray, size: tuple[int, int]) -> torch.Tensor:
    """``(H, W, 3)`` uint8 -> the encoder's normalised ``(1, 3, h, w)`` float32 input
    (bilinear, antialiased; :func:`attnvision.saliency.encoders.normalize`)."""
    # a copy: read-only arrays (np.asarray of a PIL image) must not reach torch.from_numpy
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1)[None].float() / 255.0
    if tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    return normalize(x)


def _check_size(image: np.ndarray) -> np.ndarray:
    if image.shape[0] < MIN_SIDE or image.shape[1] < MIN_SIDE:
        raise ValueError(
            f"expected an image of at least {MIN_SIDE}x{MIN_SIDE} pixels, got "
            f"{image.shape[0]}x{image.shape[1]}"
        )
    return image


def _check_output(kind: str, output: str) -> None:
    if output not in OUTPUTS:
        raise ValueError(f"expected output 'map' or 'log_density', got {output!r}")
    if output == "log_density" and kind != "fixation":
        raise ValueError("output='log_density' needs kind='fixation' (a density model)")


@torch.no_grad()
def predict_batch(model: nn.Module, images: list[Any], output: str = "map") -> list[np.ndarray]:
    """Maps at each image's size from a loaded ``model`` (see :func:`predict`)."""
    kind = getattr(model, "kind", "object" if isinstance(model, SalientObjectNet) else "fixation")
    _check_output(kind, output)
    spec = getattr(model, "input_spec", DEFAULT_INPUT[kind])
    outs = []
    for image in images:
        image = _check_size(as_rgb(image))
        shape = image.shape[:2]
        x = to_input(image, input_size(shape, spec))
        if spec.get("flip", False):
            x = torch.cat([x, x.flip(-1)])
        y = model(x)
        if kind == "fixation":
            p = y.exp()
            if spec.get("flip", False):
                p = 0.5 * (p[:1] + p[1:].flip(-1))
            log_p = upsample_log_density(p.log(), shape)[0, 0]
            if output == "log_density":
                outs.append(log_p.numpy().astype(np.float32))
                continue
            y = (log_p - log_p.max()).exp()  # the density scaled to a maximum of 1
        else:
            if spec.get("flip", False):
                y = 0.5 * (y[:1] + y[1:].flip(-1))
            logits = F.interpolate(y, size=shape, mode="bilinear", align_corners=False)
            y = torch.sigmoid(logits)[0, 0]
        outs.append(y.clamp_(0, 1).numpy().astype(np.float32))
    return outs


def predict(
    image: Any,
    kind: str = "fixation",
    *,
    output: str = "map",
    weights: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """A saliency map for one image from a trained network shipped with the package.

    Args:
        image: an image file's path, or an ``(H, W, 3)`` uint8 RGB array (grey, RGBA and
            uint16 arrays are converted, see :func:`as_rgb`); at least 32x32 pixels.
        kind: ``"fixation"`` (where people look: the density of fixations predicted by the
            OSIE-trained :class:`~attnvision.saliency.fixation.FixationDensityNet`) or
            ``"object"`` (salient-object probability per pixel, SOD-trained
            :class:`~attnvision.saliency.objects.SalientObjectNet`).
        output: ``"map"``: ``(H, W)`` float32 in ``[0, 1]`` (fixation: the density scaled to
            a maximum of 1; object: the probability); ``"log_density"`` (fixation only):
            the natural log of the probability of each pixel, ``logsumexp == 0`` (for the
            metric-specific maps of :func:`attnvision.saliency.fixation.metric_map`).
        weights: another weights file written by :func:`save_weights`.

    Returns:
        ``(H, W)`` float32 map at the image's size.

    Raises:
        TypeError / ValueError: a bad image (too small, wrong type or shape), an unknown
            kind or output, or an unusable weights file (missing, truncated, corrupt,
            another kind); the message names the file.
    """
    _check_kind(kind)
    _check_output(kind, output)
    rgb = _check_size(as_rgb(image))
    path = Path(weights) if weights is not None else default_weights(kind)
    model = _cached_model(path, kind)
    return predict_batch(model, [rgb], output)[0]
