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


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb") -> Any:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    A crash or an exception leaves any earlier ``path`` untouched and removes the
    temporary file.

    Example:
        >>> with atomic_write("out.json", "w") as f:  # doctest: +SKIP
        ...     f.write("{}")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
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


def close_matches(name: str, known: list[str]) -> str:
    """A short ``did you mean`` hint for an unknown name (empty if nothing is close)."""
    import difflib

    hits = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    return f" (did you mean {', '.join(hits)}?)" if hits else ""


@contextmanager
def open_image(path: str | os.PathLike[str]) -> Any:
    """``with open_image(path) as img``: a decoded PIL image, or one clear error.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file cannot be decoded as an image (corrupt, truncated, not an
            image), naming the path and PIL's first line of explanation.
    """
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"image not found: {p}")
    try:
        img = Image.open(p)
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:  # UnidentifiedImageError is an OSError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"{p}: cannot read as an image ({first})") from None
    with img:
        yield img
