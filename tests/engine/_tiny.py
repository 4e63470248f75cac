"""A tiny model and dataset for engine tests (imported by the tests and by subprocesses).

``tiny_net`` reads two environment variables so tests can act on a running CLI:
``TINY_SLEEP`` (seconds to sleep in each training forward) and ``TINY_DIE`` ("RANK:CALL":
the process of that rank exits with status 3 at that forward call) and ``TINY_HANG``
("RANK:CALL": that rank sleeps for 10 minutes there).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 4,
        in_chans: int = 1,
        width: int = 4,
        drop: float = 0.2,
        attention: str | None = None,
        attention_options: dict | None = None,
        stn: bool = False,
    ) -> None:
        super().__init__()
        from attnvision.layers import create_attention

        self.stn = create_attention("stn", in_chans) if stn else nn.Identity()
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, padding=1),
            nn.ReLU(),
            create_attention(attention, width, **(attention_options or {})),
            nn.AdaptiveAvgPool2d(2),
        )
        self.drop = nn.Dropout(drop)
        self.head = nn.Linear(width * 4, num_classes)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
            die = os.environ.get("TINY_DIE", "")
            if die:
                rank, call = (int(v) for v in die.split(":"))
                if int(os.environ.get("RANK", "0")) == rank and self.calls == call:
                    os._exit(3)
            hang = os.environ.get("TINY_HANG", "")
            if hang:
                rank, call = (int(v) for v in hang.split(":"))
                if int(os.environ.get("RANK", "0")) == rank and self.calls == call:
                    time.sleep(600)
            if os.environ.get("TINY_SLEEP"):
                time.sleep(float(os.environ["TINY_SLEEP"]))
        return self.head(self.drop(self.features(self.stn(x)).flatten(1)))


def tiny_net(
    num_classes: int = 4, in_chans: int = 1, attention=None, attention_options=None, **kwargs
) -> nn.Module:
    # names attention=: engine.build_model passes it to builders that name it
    return TinyNet(
        num_classes, in_chans, attention=attention, attention_options=attention_options, **kwargs
    )


def tiny_st_net(
    num_classes: int = 4, in_chans: int = 1, attention=None, attention_options=None, **kwargs
) -> nn.Module:
    return TinyNet(
        num_classes,
        in_chans,
        stn=True,
        attention=attention,
        attention_options=attention_options,
        **kwargs,
    )


def make_tensors(path: Path, n_train: int = 64, n_test: int = 32, size: int = 8) -> Path:
    """A learnable 4-class problem: the class is the bright quadrant."""
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(n) % 4
        images = torch.rand(n, 1, size, size, generator=g) * 0.3
        h = size // 2
        for i, c in enumerate(labels.tolist()):
            r, q = divmod(c, 2)
            images[i, 0, r * h : (r + 1) * h, q * h : (q + 1) * h] += 0.7
        return images, labels

    torch.save({"train": split(n_train), "test": split(n_test)}, path)
    return path


def tiny_plain(num_classes: int = 4, in_chans: int = 1) -> nn.Module:
    """A network that takes no ``attention=`` option."""
    return nn.Sequential(nn.Flatten(1), nn.LazyLinear(num_classes))
