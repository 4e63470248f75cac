"""RAM's glimpse sensor against its definition: crop each scale, then ``avg_pool2d``.

Times, on one thread and interleaved, the :class:`~attnvision.models.ram.GlimpseSensor`
(a summed-area table built once per forward pass, then four lookups per output pixel)
against the reference that crops every scale from the zero-padded image by advanced
indexing and average-pools it, for one glimpse of a batch, and checks that both give the
same glimpses (max absolute difference). Prints medians and ratios ours / reference.

Example:
    .venv/bin/python benchmarks/ram_sensor.py --batch 64 --patch 12 --scales 3 --size 60
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from _timing import environment, interleaved, summary_line
from attnvision.models.ram import GlimpseSensor


def reference(x: torch.Tensor, loc: torch.Tensor, patch: int, scales: int, factor: int):
    """Crop ``patch * factor**s`` squares (zeros outside) by advanced indexing, then pool."""
    n, _, height, width = x.shape
    out = []
    for s in range(scales):
        size, f = patch * factor**s, factor**s
        padded = F.pad(x, (size, size, size, size))
        cx = (loc[:, 0].double() + 1) / 2 * width
        cy = (loc[:, 1].double() + 1) / 2 * height
        left = (torch.floor(cx - size / 2 + 0.5).long() + size).clamp(0, width + size)
        top = (torch.floor(cy - size / 2 + 0.5).long() + size).clamp(0, height + size)
        offsets = torch.arange(size)
        rows = (top[:, None] + offsets)[:, :, None]
        cols = (left[:, None] + offsets)[:, None, :]
        crop = padded.permute(0, 2, 3, 1)[torch.arange(n)[:, None, None], rows, cols]
        crop = crop.permute(0, 3, 1, 2)
        out.append(F.avg_pool2d(crop, f) if f > 1 else crop)
    return torch.stack(out, dim=1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--size", type=int, default=60)
    parser.add_argument("--patch", type=int, default=12)
    parser.add_argument("--scales", type=int, default=3)
    parser.add_argument("--factor", type=int, default=2)
    parser.add_argument("--reps", type=int, default=300)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.batch, args.channels, args.size, args.size, generator=gen)
    loc = torch.rand(args.batch, 2, generator=gen) * 2 - 1
    sensor = GlimpseSensor(args.patch, args.scales, args.factor)
    retina = sensor.prepare(x)
    ref = reference(x, loc, args.patch, args.scales, args.factor)
    diff = float((sensor(retina, loc) - ref).abs().max())
    runs = {
        "reference (crop + avg_pool2d)": lambda: reference(
            x, loc, args.patch, args.scales, args.factor
        ),
        "ours, one glimpse (table built for it)": lambda: sensor(x, loc),
        "ours, table built once (per forward)": lambda: sensor.prepare(x),
        "ours, one glimpse from a built table": lambda: sensor(retina, loc),
    }
    med = {name: t * 1e3 for name, t in interleaved(runs, args.reps).items()}
    base = med["reference (crop + avg_pool2d)"]
    print(
        environment(
            "benchmarks/ram_sensor.py",
            batch=args.batch,
            input=f"{args.channels}x{args.size}x{args.size}",
            retina=f"patch {args.patch}, {args.scales} scales x{args.factor}",
            repeats=args.reps,
            max_abs_difference=f"{diff:.2e}",
        )
    )
    print("\n| sensor | ms (median) | / reference |\n|---|---|---|")
    for name, ms in med.items():
        print(f"| {name} | {ms:.3f} | {ms / base:.2f} |")
    ours = med["ours, one glimpse from a built table"] + med["ours, table built once (per forward)"]
    print(
        summary_line(
            "RAM glimpse sensor (one glimpse + its table) vs crop + avg_pool2d",
            f"x{ours / base:.2f}",
            f"batch {args.batch}, {args.size}x{args.size}, {args.scales} scales",
            "python benchmarks/ram_sensor.py",
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
