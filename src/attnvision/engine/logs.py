"""What a training run reports while it runs: CSV logs, TensorBoard, progress.

- :class:`CsvLog`: an append-only CSV with a header (``log.csv`` per epoch, ``steps.csv``
  per step), cut back to the checkpoint's position on resume;
- :func:`tensorboard`: a ``SummaryWriter`` when tensorboard is installed;
- :func:`progress_bar`: a tqdm bar on a terminal; off a terminal (a pipe, a log file) one
  plain line per epoch and never a carriage return; nothing when disabled.
"""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._utils import atomic_write

#: columns of ``log.csv`` (one row per epoch)
EPOCH_COLUMNS = [
    "epoch",
    "step",
    "train_loss",
    "train_acc",
    "val_loss",
    "val_acc",
    "lr",
    "seconds",
]
#: columns of ``steps.csv`` (one row per optimisation step)
STEP_COLUMNS = ["step", "epoch", "loss", "lr"]


class CsvLog:
    """Append-only CSV with a header; on resume rows after ``keep_until`` are dropped.

    Floats are written with 8 significant digits.
    """

    def __init__(self, path: Path, columns: list[str], key: str, keep_until: int | None):
        self.path, self.columns = path, columns
        rows: list[dict[str, str]] = []
        if keep_until is not None and path.is_file():
            with open(path, newline="") as handle:
                rows = [r for r in csv.DictReader(handle) if int(float(r[key])) <= keep_until]
        with atomic_write(path, "w") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        """Append one row (keys not among the columns are ignored)."""
        text = {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()}
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore").writerow(text)


def tensorboard(out: Path) -> Any:
    """A TensorBoard ``SummaryWriter`` writing into ``out/tb``, or ``None`` without it."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:
        return None
    return SummaryWriter(log_dir=str(out / "tb"))


class _Quiet:
    """The progress interface, doing nothing."""

    def set_description(self, text: str) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass


class _Lines(_Quiet):
    """Progress off a terminal: one line per epoch (at ``set_postfix``) on stderr."""

    def __init__(self) -> None:
        self.description = ""
        self.start = time.monotonic()

    def set_description(self, text: str) -> None:
        self.description = text

    def set_postfix(self, **values: Any) -> None:
        figures = ", ".join(f"{k} {v}" for k, v in values.items())
        seconds = time.monotonic() - self.start
        print(f"{self.description}: {figures} ({seconds:.0f} s)", file=sys.stderr, flush=True)


@contextmanager
def progress_bar(*, total: int, initial: int = 0, enabled: bool = True) -> Iterator[Any]:
    """A progress reporter with tqdm's ``set_description`` / ``update`` / ``set_postfix``:
    a bar on a terminal, one plain line per epoch elsewhere, nothing when not ``enabled``."""
    if not enabled:
        yield _Quiet()
        return
    if not sys.stderr.isatty():
        yield _Lines()
        return
    from tqdm import tqdm

    bar = tqdm(total=total, initial=initial, dynamic_ncols=True, leave=True, file=sys.stderr)
    try:
        yield bar
    finally:
        bar.close()
