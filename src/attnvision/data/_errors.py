"""Error types of the data package."""

from __future__ import annotations


class DataNotFoundError(FileNotFoundError, ValueError):
    """The data a reader expected is not where it was told to look.

    It is both a ``FileNotFoundError`` and a ``ValueError``, so callers that catch either
    (the CLI turns both into one line on stderr) see it.
    """
