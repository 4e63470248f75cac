"""The main job (``make demo``): how long it takes, and where its spatial transformer looks.

Part 1 runs ``attnvision compare`` with its defaults (what ``make demo`` runs) into
``--out``, timed by the wall clock, and prints its table.

Part 2 measures, for every seed of the ``stn`` row, how far the transformer's window centre
lies from the digit: the ink centroid of the same test digit placed on the same canvas
without clutter (the ``translated`` distortion with the same seed draws the same placement
first). It prints the mean distance in pixels and the share of digits whose ink is at
least 90 % inside the window.

Part 3 (``--variants``) trains other localisation set-ups with the same data and budget,
one seed each, and prints their test accuracy and localisation error beside the default:
the record of what was tried before the soft-argmax window became the demo's.

Example:
    .venv/bin/python benchmarks/demo.py --out runs/bench-demo            # parts 1 and 2
    .venv/bin/python benchmarks/demo.py --out runs/bench-demo --variants # and part 3
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from _timing import environment, summary_line
from attnvision.data import create_dataset
from attnvision.engine import load_run
from attnvision.engine.compare import (
    DEMO_DEFAULTS,
    _datasets,
    compare,
    compare_config,
    format_table,
)
from attnvision.engine.fit import fit

#: localisation set-ups of part 3: label -> model.transformer options
VARIANTS: dict[str, dict] = {
    "regression, translation window 0.5, read at 30x30": {
        "transform": "translation", "init_scale": 0.5, "out_size": 30, "loc_norm": True,
    },
    "regression, translation_scale from 0.6, read at 60x60 (spatial.py's recipe)": {
        "transform": "translation_scale", "init_scale": 0.6, "loc_norm": True,
    },
    "soft-argmax, window 0.5, read at 60x60 (2x zoom)": {
        "transform": "translation", "init_scale": 0.5, "loc": "softargmax", "loc_norm": True,
    },
    "soft-argmax, window 0.5, read at 30x30 (the default)": DEMO_DEFAULTS["compare"]["stn_options"],
}  # fmt: skip


def window_centres(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    """``(N, 2)`` window centres ``(x, y)`` in ``[-1, 1]`` of a transformer in front."""
    stn = model.stn
    with torch.no_grad():
        params = stn.loc(images)
    if stn.transform == "translation_scale":
        return params[:, 1:3]
    if stn.transform == "translation":
        return params
    raise ValueError(f"no window centre for transform {stn.transform!r}")


def localisation(model: torch.nn.Module, config, n: int = 400) -> tuple[float, float]:
    """Mean distance (pixels) from window centre to ink centroid, and the share of digits
    with at least 90 % of their ink inside the window, on ``n`` test images."""
    _, test = _datasets(config)
    d = config.data
    clean = create_dataset(d.name, train=False, distortion="translated", seed=d.seed)
    n = min(n, len(test))
    images = torch.stack([test[i][0] for i in range(n)])
    ink = torch.stack([clean[i][0][0] for i in range(n)])  # (n, H, W)
    h, w = ink.shape[-2:]
    centres = window_centres(model, images)
    xs = (torch.arange(w) + 0.5) * (2.0 / w) - 1.0
    ys = (torch.arange(h) + 0.5) * (2.0 / h) - 1.0
    mass = ink.sum((1, 2))
    cx = (ink.sum(1) * xs).sum(1) / mass
    cy = (ink.sum(2) * ys).sum(1) / mass
    error = torch.sqrt(((centres[:, 0] - cx) * w / 2) ** 2 + ((centres[:, 1] - cy) * h / 2) ** 2)
    scale = float(getattr(model.stn.grid, "scale", 1.0))
    if model.stn.transform == "translation_scale":
        with torch.no_grad():
            half = model.stn.loc(images)[:, 0].abs()
    else:
        half = torch.full((n,), scale)
    inside = []
    for i in range(n):
        x0, x1 = (centres[i, 0] - half[i] + 1) * w / 2, (centres[i, 0] + half[i] + 1) * w / 2
        y0, y1 = (centres[i, 1] - half[i] + 1) * h / 2, (centres[i, 1] + half[i] + 1) * h / 2
        cols = (torch.arange(w) + 0.5 >= x0) & (torch.arange(w) + 0.5 <= x1)
        rows = (torch.arange(h) + 0.5 >= y0) & (torch.arange(h) + 0.5 <= y1)
        inside.append(float(ink[i][rows][:, cols].sum() / mass[i]) >= 0.9)
    return float(error.mean()), sum(inside) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/bench-demo", help="report folder (replaced)")
    parser.add_argument("--variants", action="store_true", help="part 3: other localisers")
    parser.add_argument("--skip-run", action="store_true", help="reuse the report in --out")
    args = parser.parse_args(argv)
    config = compare_config(out=args.out)
    print(environment("benchmarks/demo.py", workers=config.compare.workers or "one per CPU"))
    if not args.skip_run:
        start = time.monotonic()
        results = compare(config, force=True)
        minutes = (time.monotonic() - start) / 60
        print(format_table(results))
        print(f"\nattnvision compare (make demo's defaults): {minutes:.2f} minutes wall clock")
        stn = next(r for r in results if r.attention == "stn")
        none = next(r for r in results if r.attention == "none")
        print(
            summary_line(
                "make demo: STN row over none, points (x none's sd); wall time",
                f"{100 * stn.vs_none['mean']:+.1f} ({stn.vs_none['mean'] / none.accuracy_sd:.1f}"
                f" sd); {minutes:.1f} min",
                "built-in digits, cluttered 60x60, 3 seeds x 5 epochs",
                "python benchmarks/demo.py",
            )
        )
    print("\n| stn run | test accuracy % | window centre to digit, px | ink >= 90 % inside |")
    print("|---|---|---|---|")
    for run in sorted((Path(args.out) / "runs" / "stn").iterdir()):
        loaded = load_run(run)
        err, share = localisation(loaded.model, config)
        acc = json.loads((run / "results.json").read_text())["accuracy"]
        print(f"| {run.name} | {100 * acc:.2f} | {err:.2f} | {100 * share:.0f} % |")
    if args.variants:
        print("\n| localisation (one seed, the demo's data and budget) | test accuracy % "
              "| window centre to digit, px | ink >= 90 % inside | train s |")  # fmt: skip
        print("|---|---|---|---|---|")
        for index, (label, options) in enumerate(VARIANTS.items()):
            model = dataclasses.replace(config.model, transformer=dict(options))
            run_cfg = dataclasses.replace(
                config,
                model=model,
                train=dataclasses.replace(config.train, progress=False),
                out=str(Path(args.out) / "variants" / f"variant{index}"),
            )
            torch.set_num_threads(1)
            result = fit(run_cfg, datasets=_datasets(config), force=True)
            err, share = localisation(result.model.eval(), config)
            print(
                f"| {label} | {100 * result.accuracy:.2f} | {err:.2f} | {100 * share:.0f} % "
                f"| {result.train_seconds:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
