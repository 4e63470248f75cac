"""Scores of the two trained saliency networks beside the classic baselines, same images.

Fixation prediction: :func:`attnvision.saliency.predict` (``kind="fixation"``) and the
baselines of ``benchmarks/saliency_baselines.py`` on the OSIE validation images 1501-1600
(the network was trained on 1001-1500), with the same definitions: AUC-Judd, shuffled AUC
(negatives from the fixations of 10 other OSIE images, seeded), NSS, CC, KLD and SIM from
:class:`attnvision.saliency.metrics.SaliencyEvaluator`; ground truth the binary fixation
map of all observers and its density (Gaussian of 1 degree at
:data:`attnvision.saliency.density.OSIE_PPD` px per degree).

Salient-object detection: ``kind="object"`` and the baselines on the SOD validation split
of ``benchmarks/train_saliency.py`` (``names[4::5]`` of the 200 images with a mask, sorted;
the network was trained on the other 160), each map stored as uint8 as a saved PNG would
be, scored with :class:`attnvision.saliency.sod.SODEvaluator` (max F, S-measure, MAE, mean
E-measure, weighted F).

Every method runs on every image in turn (interleaved); ``ms / image`` is the median time
per call at the original image size (800x600 for OSIE, 481x321 for SOD), including the
network's resizing.

Usage:
    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/saliency_models.py
    ... --fixation-weights W.pt --object-weights W.pt   # other weights
    ... --pictures DIR    # also draw the first 4 validation images of each set
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from attnvision.explain.figures import save_heat_grid, save_saliency_fixations
from attnvision.saliency import baselines as bl
from attnvision.saliency import datasets, density
from attnvision.saliency import model as sm
from attnvision.saliency.metrics import SaliencyEvaluator
from attnvision.saliency.sod import SODEvaluator, read_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saliency_baselines import FIX_METRICS, N_OTHER, _timed, score_rows
from train_saliency import OSIE_SHAPE, OSIE_TRAIN, OSIE_VAL, sod_split

SOD_KEYS = ["max_fmeasure", "smeasure", "mae", "mean_emeasure", "weighted_fmeasure"]
TARGETS = {
    "fixation (AUC-Judd / NSS / CC)": (0.83, 1.8, 0.55),
    "object (max F / S-measure / MAE)": (0.65, 0.65, 0.20),
}


def run_osie(
    root: Path, weights: Path, seed: int, limit: int | None, pictures: Path | None = None
) -> list[str]:
    osie = root / "osie"
    fixations = datasets.read_osie_fixations(osie / "fixations.mat")

    def rows(number: int) -> np.ndarray:
        return fixations[f"{number}.jpg"]

    fit = bl.fit_center_bias([rows(n)[:, :2] for n in OSIE_TRAIN], [OSIE_SHAPE] * len(OSIE_TRAIN))
    meta = sm.read_weights(weights)["meta"]
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "FixationNet (ours, trained on 1001-1500)": lambda im: sm.predict(
            im, "fixation", weights=weights
        ),
        "centre bias (sigma 0.2)": lambda im: bl.center_bias(im.shape),
        "centre bias (fit on 1001-1500)": lambda im: bl.center_bias(im.shape, **fit),
        "spectral residual (sigma 8)": bl.spectral_residual,
        "spectral residual (sigma 2.5)": lambda im: bl.spectral_residual(im, sigma=2.5),
        "Itti-Koch-Niebur": bl.itti_koch,
        "frequency-tuned": bl.frequency_tuned,
    }
    evaluators = {name: SaliencyEvaluator(FIX_METRICS, seed=seed) for name in methods}
    times: dict[str, list[float]] = {name: [] for name in methods}
    pool = list(range(1001, 1601))
    fixmaps: dict[int, np.ndarray] = {}

    def fixmap(number: int) -> np.ndarray:
        if number not in fixmaps:
            fixmaps[number] = density.fixation_map(rows(number), OSIE_SHAPE, warn=False)
        return fixmaps[number]

    chosen = list(OSIE_VAL)[:limit]
    for i, number in enumerate(chosen):
        image = sm.read_image(osie / "stimuli" / f"{number}.jpg")
        fix = fixmap(number)
        dens = density.density_map(rows(number), OSIE_SHAPE, 1.0, unit="deg", ppd=density.OSIE_PPD)
        others = np.random.default_rng([seed, number]).choice(
            [n for n in pool if n != number], size=N_OTHER, replace=False
        )
        other = np.zeros(OSIE_SHAPE, bool)
        for n in others:
            other |= fixmap(int(n)) > 0
        for name, method in methods.items():
            sal = _timed(lambda m=method, im=image: m(im), times[name])
            evaluators[name].update(sal, fix, dens, other_fixation_map=other, name=str(number))
            if pictures is not None and i < 4 and name.startswith("FixationNet"):
                save_saliency_fixations(
                    pictures / f"osie_{number}.png",
                    image,
                    sal,
                    rows(number),
                    title=f"OSIE {number}",
                )
        if (i + 1) % 20 == 0:
            print(f"  osie {i + 1}/{len(chosen)}", file=sys.stderr, flush=True)
    lines = [
        f"OSIE validation: {len(chosen)} images of 1501-1600 (seed {seed}); density sigma 1 deg "
        f"= {density.OSIE_PPD:g} px; weights {weights.name}: "
        f"{meta.get('parameters', '?')} parameters, {meta.get('epochs', '?')} epochs",
        "",
        "| method | AUC-Judd | sAUC | NSS | CC | KLD | SIM | ms / image |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    return lines + score_rows(evaluators, times, FIX_METRICS)[0]


def run_sod(root: Path, weights: Path, pictures: Path | None = None) -> list[str]:
    sod = root / "sod"
    _, val = sod_split(root)
    meta = sm.read_weights(weights)["meta"]
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "ObjectNet (ours, trained on the other 160)": lambda im: sm.predict(
            im, "object", weights=weights
        ),
        "centre prior (sigma 0.2)": lambda im: bl.center_bias(im.shape),
        "frequency-tuned": bl.frequency_tuned,
        "spectral residual (sigma 8)": bl.spectral_residual,
        "Itti-Koch-Niebur": bl.itti_koch,
    }
    evaluators = {name: SODEvaluator() for name in methods}
    times: dict[str, list[float]] = {name: [] for name in methods}
    for i, stem in enumerate(val):
        image = sm.read_image(sod / "images" / f"{stem}.jpg")
        mask = read_mask(sod / "masks" / f"{stem}.png")
        for name, method in methods.items():
            sal = _timed(lambda f=method, im=image: f(im), times[name])
            evaluators[name].update(np.round(255 * sal).astype(np.uint8), mask)
            if pictures is not None and i < 4 and name.startswith("ObjectNet"):
                save_heat_grid(
                    pictures / f"sod_{stem}.png",
                    [image],
                    {"ObjectNet": [sal], "mask": [mask.astype(np.float32)]},
                    title=f"SOD {stem}",
                )
    lines = [
        f"SOD validation: {len(val)} images (names[4::5] of the 200 with a mask); weights "
        f"{weights.name}: {meta.get('parameters', '?')} parameters, {meta.get('epochs', '?')} "
        "epochs",
        "",
        "| method | max F | S-measure | MAE | mean E | weighted F | ms / image |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    return lines + score_rows(evaluators, times, SOD_KEYS)[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("ATTNVISION_DATA"))
    ap.add_argument("--fixation-weights", type=Path, default=sm.default_weights("fixation"))
    ap.add_argument("--object-weights", type=Path, default=sm.default_weights("object"))
    ap.add_argument("--limit", type=int, default=None, help="first N OSIE validation images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["fixation", "object"], default=None)
    ap.add_argument("--pictures", type=Path, default=None, help="write a few example PNGs here")
    args = ap.parse_args(argv)
    if not args.data or not Path(args.data).is_dir():
        print(f"error: expected --data or ATTNVISION_DATA, got {args.data!r}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    warnings.simplefilter("ignore", UserWarning)
    root = Path(args.data)
    t0 = time.perf_counter()
    if args.only in (None, "fixation"):
        print(
            "\n".join(run_osie(root, args.fixation_weights, args.seed, args.limit, args.pictures))
        )
        print()
    if args.only in (None, "object"):
        print("\n".join(run_sod(root, args.object_weights, args.pictures)))
        print()
    print(
        "Targets of the issue: "
        + "; ".join(f"{k}: {' / '.join(f'{v:g}' for v in vals)}" for k, vals in TARGETS.items())
    )
    print(f"total {time.perf_counter() - t0:.0f} s (torch on 1 thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
