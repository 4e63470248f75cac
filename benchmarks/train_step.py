"""The memory layout of training (``train.channels_last``): one optimisation step of the
demo network, NCHW against NHWC, on one thread.

For each attention type the ``cnn`` of ``make demo`` (plus that block) takes a batch of 60x60
canvases through forward, cross-entropy, backward and an AdamW step, once with its weights
and inputs in the default NCHW layout and once in channels-last (NHWC), timed interleaved
(medians). A second table times the blocks alone, forward + backward, at the first stage's
shape, where a block's layout cost shows most. Ratios are NHWC / NCHW (below 1: the
channels-last layout is faster).

Example:
    .venv/bin/python benchmarks/train_step.py --batch 64 --repeats 20
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from _timing import environment, interleaved, summary_line
from attnvision.layers import create_attention
from attnvision.models import create_model

LAYOUTS = {"NCHW": torch.contiguous_format, "NHWC": torch.channels_last}


def _step(attention: str | None, layout: torch.memory_format, batch: int):
    """A closure running one training step of the demo network in ``layout``."""
    torch.manual_seed(0)
    model = create_model("cnn", num_classes=10, attention=attention).to(memory_format=layout)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-3)
    x = torch.randn(batch, 1, 60, 60).to(memory_format=layout)
    y = torch.randint(0, 10, (batch,))

    def run() -> None:
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return run


def _block(name: str, layout: torch.memory_format, batch: int):
    """A closure running ``name`` forward + backward at the first stage's shape."""
    torch.manual_seed(0)
    block = create_attention(name, 16).to(memory_format=layout)
    x = torch.randn(batch, 16, 60, 60).to(memory_format=layout).requires_grad_()
    grad = torch.randn(batch, 16, 60, 60).to(memory_format=layout)
    return lambda: block(x).backward(grad)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--attention", nargs="+", default=["none", "se", "cbam", "coordatt"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(environment("benchmarks/train_step.py", batch=args.batch, repeats=args.repeats))
    tables = (
        ("network", "cnn + block, one training step", _step),
        ("block", "block alone, fwd + bwd at 16x60x60", _block),
    )
    ratios = {}
    for kind, title, make in tables:
        print(f"\n| {title} | NCHW ms | NHWC ms | NHWC / NCHW |\n|---|---|---|---|")
        for name in args.attention:
            if kind == "block" and name == "none":
                continue
            attention = None if name == "none" else name
            runs = {lay: make(attention, fmt, args.batch) for lay, fmt in LAYOUTS.items()}
            med = {lay: t * 1e3 for lay, t in interleaved(runs, args.repeats).items()}
            ratios[(kind, name)] = med["NHWC"] / med["NCHW"]
            print(
                f"| {name} | {med['NCHW']:.1f} | {med['NHWC']:.1f} | {ratios[(kind, name)]:.2f} |",
                flush=True,
            )
    if ("network", "none") in ratios:
        print(
            summary_line(
                "demo network training step, channels-last / NCHW",
                f"x{ratios[('network', 'none')]:.2f}",
                f"batch {args.batch}x1x60x60",
                "python benchmarks/train_step.py",
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
