"""What the commands print: error and warning lines, tables, JSON documents.

Results go to stdout; warnings, progress and errors to stderr, each as one line prefixed
with the command's name (``attnvision saliency evaluate: warning: ...``).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from typing import Any

#: exit code of a user error (bad path, bad option, bad file)
EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem with what the user asked for (bad path, bad option, bad file)."""


def error_line(prog: str, exc: BaseException) -> str:
    """``prog: error: <first line of the message>`` (with the file name of an ``OSError``
    when the message does not already say it)."""
    text = str(exc).strip()
    message = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, OSError):
        if exc.strerror and exc.filename is not None and not text.startswith(exc.strerror):
            message = exc.strerror
        if exc.filename is not None and str(exc.filename) not in message:
            message = f"{message}: {exc.filename}"
    return f"{prog}: error: {message}"


def warn(prog: str, message: str) -> None:
    """One warning line on stderr."""
    print(f"{prog}: warning: {message}", file=sys.stderr)


def print_json(payload: Any) -> None:
    """``payload`` as one JSON document on stdout (NaN written as ``null``)."""
    print(json.dumps(_finite(payload), indent=1))


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if hasattr(value, "tolist"):
        return _finite(value.tolist())
    return value


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain-text table on stdout: the first column left-aligned, the others right-aligned;
    floats with 4 decimals, integers with thousands separators."""

    def cell(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        if isinstance(value, int):
            return f"{value:,}"
        return str(value)

    texts = [[cell(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in texts)]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        return " ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths))
        ).rstrip()

    print(line(list(header)))
    for row in texts:
        print(line(row))
