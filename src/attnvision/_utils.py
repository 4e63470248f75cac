"""Small utilities shared by every sub-package (no torch import at module level)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


def data_root(required: bool = False) -> Path | None:
    """The real-data folder named by ``ATTNVISION_DATA``, or ``None`` when unset.

    Args:
        required: raise ``ValueError`` instead of returning ``None`` when it is missing.
    """
    value = os.environ.get("ATTNVISION_DATA", "").strip()
    if value and Path(value).is_dir():
        return Path(value)
    if required:
        raise ValueError(
            "expected the environment variable ATTNVISION_DATA to name the real-data folder, "
            f"got {value!r}"
        )
    return None


def umask() -> int:
    """The process's file-creation mask (read without changing it for long)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def make_private_dir(parent: str | os.PathLike[str], name: str) -> Path:
    """A new temporary folder ``parent/.<name>.XXXX.tmp`` with the umask's permissions
    (``tempfile.mkdtemp`` makes it 0700), to be renamed into place when complete."""
    folder = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=parent))
    folder.chmod(0o777 & ~umask())
    return folder


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Any:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    A crash or an exception leaves any earlier ``path`` untouched and removes the
    temporary file. The file gets the permissions of a plain ``open`` under the current
    umask (0644 under umask 022), not the temporary file's 0600.

    Example:
        >>> with atomic_write("out.json", "w") as f:  # doctest: +SKIP
        ...     f.write("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_save(path: str | os.PathLike[str], writer: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``writer(file)`` on a temporary binary file and rename it to ``path``."""
    with atomic_write(path, "wb") as handle:
        writer(handle)
    return Path(path)


def count_params(module: Any, trainable_only: bool = False) -> int:
    """Number of parameters of a ``torch.nn.Module`` (shared parameters counted once; with
    ``trainable_only``, only those with ``requires_grad``). The one counter of the package."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def state_mismatch(expected: Any, given: Any, keys: Any = None, *, ignore: Any = ()) -> list[str]:
    """What keeps ``given`` (a state dict) from loading strictly into ``expected`` (a
    model's state dict): ``["missing 2 keys: a, b", "unexpected 1 key: c", "shape mismatch:
    d (3,) vs (4,)"]``, empty when it fits. The one comparison behind every strict loader.

    Args:
        expected: the model's ``state_dict()``.
        given: the checkpoint's state dict.
        keys: the keys of ``expected`` that must be given (default: all).
        ignore: keys of ``given`` that are neither loaded nor unexpected.
    """
    wanted = list(expected if keys is None else keys)
    known = set(wanted) | set(ignore)

    def listed(what: str, names: list[str]) -> str:
        shown = ", ".join(names[:5]) + (f", ... ({len(names)} in all)" if len(names) > 5 else "")
        return f"{what} {len(names)} key{'s' if len(names) != 1 else ''}: {shown}"

    missing = [k for k in wanted if k not in given]
    unexpected = [k for k in given if k not in known]
    shapes = [
        f"{k} {tuple(given[k].shape)} vs the model's {tuple(expected[k].shape)}"
        for k in wanted
        if k in given and tuple(getattr(given[k], "shape", ())) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append(listed("missing", missing))
    if unexpected:
        problems.append(listed("unexpected", unexpected))
    if shapes:
        problems.append(listed("shape mismatch of", shapes))
    return problems


def load_versioned(
    path: str | os.PathLike[str], fmt: str, max_version: int, what: str = "checkpoint"
) -> dict[str, Any]:
    """Load a file written by ``torch.save`` of a dict with ``format`` and ``version``, safely.

    ``torch.load(..., weights_only=True)`` refuses anything but tensors and plain
    containers, so a crafted pickle cannot run code; torch's own warnings about the pickle
    are silenced (the error below says what is wrong).

    Args:
        path: the file.
        fmt: the expected ``format`` entry (e.g. ``"attnvision-checkpoint"``).
        max_version: the newest ``version`` this code reads.
        what: how messages name the file (``"checkpoint"``, ``"weights file"``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: truncated / corrupt, not a torch file, a pickle that asks to import or
            run code (refused, not run), another format, or a newer version.
    """
    import pickle
    import warnings

    import torch

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "GLOBAL" in text or "Unsupported global" in text:
            raise ValueError(
                f"refusing to load {p}: it is not a plain-tensor {what} (it asks to import or "
                "run code, which weights_only loading forbids)"
            ) from None
        detail = next((ln.strip() for ln in reversed(text.splitlines()) if "operand" in ln), "")
        raise ValueError(
            f"{p} is not a readable {what} (not a torch file{': ' + detail if detail else ''})"
        ) from None
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except Exception as exc:  # the reader fails in several ways on a bad file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{p} is not a readable {what} (truncated or corrupt: {first})") from None
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        got = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ValueError(f"{p} is not an attnvision {what} (expected format {fmt!r}, got {got!r})")
    version = payload.get("version")
    if not isinstance(version, int) or version > max_version:
        raise ValueError(
            f"{p} has {what} format version {version!r}; this attnvision reads versions up "
            f"to {max_version}"
        )
    return payload


def progress(
    items: Any, *, desc: str = "", unit: str = "it", total: int | None = None, enabled: bool = True
) -> Any:
    """Iterate over ``items`` with progress on stderr.

    On a terminal: a tqdm bar that disappears when done. Off a terminal (a pipe, a log
    file): one plain line at most every 10 seconds and one at the end, never carriage
    returns. ``enabled=False``: nothing is printed.
    """
    import sys
    import time

    if not enabled:
        yield from items
        return
    if total is None:
        total = len(items) if hasattr(items, "__len__") else None
    if sys.stderr.isatty():
        from tqdm import tqdm

        yield from tqdm(items, desc=desc, unit=unit, total=total, leave=False, file=sys.stderr)
        return
    start = last = time.monotonic()
    done = 0
    label = f"{desc}: " if desc else ""
    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= 10.0:
            last = now
            of = f"/{total}" if total else ""
            print(f"{label}{done}{of} {unit} ({now - start:.0f} s)", file=sys.stderr, flush=True)
    if done and time.monotonic() - start >= 10.0:
        print(f"{label}{done} {unit} done ({time.monotonic() - start:.0f} s)", file=sys.stderr)


def short_list(names: list[str], limit: int = 20) -> str:
    """``a, b, c, ... (N more)``: a list of names for a one-line message."""
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def close_matches(name: str, known: list[str]) -> str:
    """A short ``did you mean`` hint for an unknown name (empty if nothing is close)."""
    import difflib

    hits = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(hits)}?)" if hits else ""


@contextmanager
def open_image(path: str | os.PathLike[str]) -> Any:
    """``with open_image(path) as img``: a decoded PIL image, or one clear error.

    PIL's warning about very large images (over ``Image.MAX_IMAGE_PIXELS``) is not printed;
    images over twice that, which PIL refuses as a possible decompression bomb, are a
    ``ValueError``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be decoded as an image (corrupt, truncated, not an
            image, too large), naming the path and PIL's first line of explanation.
    """
    import warnings

    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image not found: {p}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(p)
            img.load()
    except Image.DecompressionBombError as exc:
        raise ValueError(f"{p}: image too large to read ({exc})".split(". ")[0]) from None
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{p}: cannot read as an image ({first})") from None
    with img:
        yield img


#: PIL modes of 16-bit grey images (read as 0..65535, scaled to 0..255)
_MODES_16 = ("I;16", "I;16L", "I;16B", "I;16N")
#: PIL modes (and palettes with a transparent entry) composited over white
_MODES_ALPHA = ("RGBA", "LA", "PA", "RGBa", "La")


def grey_to_rgb(grey: Any) -> Any:
    """``(H, W)`` -> ``(H, W, 3)``: the grey channel repeated."""
    import numpy as np

    return np.repeat(grey[:, :, None], 3, axis=2)


def over_white(rgba: Any) -> Any:
    """``(H, W, 4)`` uint8 -> ``(H, W, 3)`` uint8: ``rgb * alpha + 255 * (1 - alpha)``, the
    image as a viewer shows it on a white page."""
    import numpy as np

    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.round(rgb).astype(np.uint8)


def read_image(path: str | os.PathLike[str]) -> Any:
    """An image file as an ``(H, W, 3)`` uint8 RGB NumPy array.

    Grey, palette, CMYK and 1-bit images are converted with PIL; 16-bit grey images are
    scaled by their bit depth (``round(v * 255 / 65535)``, so 65535 -> 255), not clipped to
    white as PIL's own conversion does (a 16-bit PNG that PIL opens as 32-bit mode ``I`` is
    read the same way); transparent images (RGBA, grey + alpha, palette with a transparent
    entry) are composited over white, as a viewer shows them; 16-bit colour PNGs are reduced
    by PIL to their high bytes.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be decoded as an image, or holds 32-bit integer or
            floating-point samples (their range is not defined by the file).
    """
    import numpy as np

    with open_image(path) as img:
        mode = img.mode
        if mode in _MODES_16 or (mode == "I" and img.format == "PNG"):
            grey = np.asarray(img, dtype=np.float64)
            grey = np.clip(np.rint(grey * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
            return grey_to_rgb(grey)
        if mode in ("I", "F"):
            kind = "32-bit integer" if mode == "I" else "32-bit floating-point"
            raise ValueError(
                f"{path}: expected an image with 8 or 16 bits per sample, got {kind} samples "
                f"(PIL mode {mode!r}); convert it to 8 or 16 bits first"
            )
        if mode in _MODES_ALPHA or (mode == "P" and "transparency" in img.info):
            return over_white(np.asarray(img.convert("RGBA")))
        return np.array(img.convert("RGB"))
