"""Scores and speed of the classic saliency baselines on real data (OSIE and SOD).

Fixation prediction (OSIE, Xu et al. JoV 2014; ``ATTNVISION_DATA/osie``): the centre-bias
Gaussian (default width, and the maximum-likelihood fit to the fixations of the training
images 1001-1500), spectral residual (paper's blur sigma 8, and the authors' code's 2.5),
Itti-Koch-Niebur and frequency-tuned maps are scored on the held-out images 1501-1600
(``--limit N``: a seeded random subset of them) with AUC-Judd, shuffled AUC, NSS, CC, KLD
and SIM from :class:`attnvision.saliency.metrics.SaliencyEvaluator`. Ground truth: the
binary fixation map of all observers and its density from
:func:`attnvision.saliency.density_map` with a Gaussian of 1 degree at
:data:`attnvision.saliency.density.OSIE_PPD` pixels per degree. Shuffled AUC takes its
negatives from the fixations of 10 other OSIE images (1001-1600) drawn at random (seeded).

Salient-object detection (SOD, Movahedi and Elder 2010; ``ATTNVISION_DATA/sod``, the 200
images that have both image and mask): the centre prior (:func:`center_bias`),
frequency-tuned, spectral residual and Itti-Koch maps, each stored as ``uint8`` as a saved
PNG would be, scored with :class:`attnvision.saliency.sod.SODEvaluator` (max F, S-measure,
MAE, mean E-measure).

Speed: the median time per image of each baseline (OSIE images, 800x600), measured in the
same loop as the scores (baselines interleaved image by image). No Python peer implements
spectral residual, Itti-Koch or frequency-tuned here (OpenCV's saliency module is in
opencv-contrib, pysaliency runs the authors' MATLAB code), so the one ratio printed is the
centre bias against pysaliency's ``GaussianSaliencyMapModel`` when pysaliency is installed.

Usage:
    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/saliency_baselines.py
    ... --limit 20 --sod-limit 50      # a quicker run
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from attnvision._utils import atomic_write
from attnvision.saliency import baselines as bl
from attnvision.saliency import datasets, density
from attnvision.saliency.metrics import SaliencyEvaluator
from attnvision.saliency.model import read_image
from attnvision.saliency.sod import SODEvaluator, read_mask

OSIE_SHAPE = (600, 800)
TRAIN = range(1001, 1501)  # fit the centre bias here
EVAL = range(1501, 1601)  # score here (1601-1700 are not in the shared copy)
FIX_METRICS = ["auc_judd", "auc_shuffled", "nss", "cc", "kld", "sim"]
SOD_KEYS = ["max_fmeasure", "smeasure", "mae", "mean_emeasure"]
N_OTHER = 10  # images whose fixations give the shuffled-AUC negatives (Borji et al. 2013)

REFERENCE = {  # the figures quoted in the issue, for comparison only
    "osie centre bias (AUC-Judd / NSS / CC)": (0.73, 0.78, 0.29),
    "sod centre prior (max F / S-measure / MAE)": (0.49, 0.56, 0.34),
}


def _timed(fn: Callable[[], np.ndarray], sink: list[float]) -> np.ndarray:
    start = time.perf_counter()
    out = fn()
    sink.append(time.perf_counter() - start)
    return out


def score_rows(
    evaluators: dict[str, Any], times: dict[str, list[float]], keys: list[str]
) -> tuple[list[str], dict[str, tuple[dict[str, Any], float]]]:
    """One markdown row per method (its results' ``keys`` to 3 decimals, then the median
    ms per image), and each method's ``(results, ms per image)``."""
    rows, measured = [], {}
    for name, ev in evaluators.items():
        res = ev.results()
        ms = 1000 * statistics.median(times[name])
        measured[name] = (res, ms)
        cells = " | ".join(f"{float(res[key]):.3f}" for key in keys)
        rows.append(f"| {name} | {cells} | {ms:.1f} |")
    return rows, measured


def run_osie(root: Path, limit: int | None, seed: int) -> tuple[list[str], dict, dict]:
    osie = root / "osie"
    fixations = datasets.read_osie_fixations(osie / "fixations.mat")

    def rows(number: int) -> np.ndarray:
        return fixations[f"{number}.jpg"]

    fit = bl.fit_center_bias([rows(n)[:, :2] for n in TRAIN], [OSIE_SHAPE] * len(TRAIN))
    rng = np.random.default_rng(seed)
    chosen = list(EVAL)
    if limit is not None and limit < len(chosen):
        chosen = sorted(int(n) for n in rng.choice(chosen, size=limit, replace=False))

    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "centre bias (sigma 0.2)": lambda im: bl.center_bias(im.shape),
        "centre bias (fit on 1001-1500)": lambda im: bl.center_bias(im.shape, **fit),
        "spectral residual (sigma 8)": bl.spectral_residual,
        "spectral residual (sigma 2.5)": lambda im: bl.spectral_residual(im, sigma=2.5),
        "Itti-Koch-Niebur": bl.itti_koch,
        "frequency-tuned": bl.frequency_tuned,
    }
    evaluators = {name: SaliencyEvaluator(FIX_METRICS, seed=seed) for name in methods}
    times: dict[str, list[float]] = {name: [] for name in methods}
    pool = [n for n in range(1001, 1601)]
    fixmaps: dict[int, np.ndarray] = {}

    def fixmap(number: int) -> np.ndarray:
        if number not in fixmaps:
            fixmaps[number] = density.fixation_map(rows(number), OSIE_SHAPE, warn=False)
        return fixmaps[number]

    dropped = 0
    for i, number in enumerate(chosen):
        image = read_image(osie / "stimuli" / f"{number}.jpg")
        if image.shape[:2] != OSIE_SHAPE:
            raise ValueError(f"OSIE image {number} has shape {image.shape}, expected 600x800")
        fix = fixmap(number)
        dens, n_out = density.density_map(
            rows(number), OSIE_SHAPE, 1.0, unit="deg", ppd=density.OSIE_PPD, return_dropped=True
        )
        dropped += n_out
        others = np.random.default_rng([seed, number]).choice(
            [n for n in pool if n != number], size=N_OTHER, replace=False
        )
        other = np.zeros(OSIE_SHAPE, bool)
        for n in others:
            other |= fixmap(int(n)) > 0
        for name, method in methods.items():
            sal = _timed(lambda m=method, im=image: m(im), times[name])
            evaluators[name].update(sal, fix, dens, other_fixation_map=other, name=str(number))
        if (i + 1) % 10 == 0:
            print(f"  osie {i + 1}/{len(chosen)}", file=sys.stderr, flush=True)

    lines = [
        f"OSIE: {len(chosen)} images of 1501-1600 (seed {seed}), 15 observers; density sigma "
        f"1 deg = {density.OSIE_PPD:g} px; {dropped} fixations outside the image dropped; "
        "centre-bias fit on 1001-1500: sigma_frac (y, x) = "
        f"({fit['sigma_frac'][0]:.3f}, {fit['sigma_frac'][1]:.3f}), "
        f"centre (y, x) = ({fit['center'][0]:.3f}, {fit['center'][1]:.3f})",
        "",
        "| baseline | AUC-Judd | sAUC | NSS | CC | KLD | SIM | ms / image |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    rows, measured = score_rows(evaluators, times, FIX_METRICS)
    results = {name: {**res, "ms_per_image": ms} for name, (res, ms) in measured.items()}
    return lines + rows, results, fit


def run_sod(root: Path, limit: int | None, seed: int) -> tuple[list[str], dict]:
    sod = root / "sod"
    names = sorted(
        p.stem for p in (sod / "images").glob("*.jpg") if (sod / "masks" / f"{p.stem}.png").exists()
    )
    if limit is not None and limit < len(names):
        rng = np.random.default_rng(seed)
        names = sorted(str(n) for n in rng.choice(names, size=limit, replace=False))
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "centre prior (sigma 0.2)": lambda im: bl.center_bias(im.shape),
        "frequency-tuned": bl.frequency_tuned,
        "spectral residual (sigma 8)": bl.spectral_residual,
        "Itti-Koch-Niebur": bl.itti_koch,
    }
    evaluators = {name: SODEvaluator() for name in methods}
    times: dict[str, list[float]] = {name: [] for name in methods}
    for i, stem in enumerate(names):
        image = read_image(sod / "images" / f"{stem}.jpg")
        mask = read_mask(sod / "masks" / f"{stem}.png")
        if mask.shape != image.shape[:2]:
            raise ValueError(f"SOD {stem}: mask {mask.shape} and image {image.shape} differ")
        for name, method in methods.items():
            sal = _timed(lambda f=method, im=image: f(im), times[name])
            # as a saved 8-bit PNG; the evaluator min-max normalises uint8 maps
            evaluators[name].update(np.round(255 * sal).astype(np.uint8), mask)
        if (i + 1) % 50 == 0:
            print(f"  sod {i + 1}/{len(names)}", file=sys.stderr, flush=True)
    lines = [
        f"SOD: {len(names)} images with masks (seed {seed})",
        "",
        "| baseline | max F | S-measure | MAE | mean E | ms / image |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    rows, measured = score_rows(evaluators, times, SOD_KEYS)
    results = {
        name: {key: float(res[key]) for key in SOD_KEYS} | {"ms_per_image": ms}
        for name, (res, ms) in measured.items()
    }
    return lines + rows, results


def run_peer_timing(repeats: int) -> list[str]:
    try:
        import pysaliency
    except ImportError:
        return ["(pysaliency not installed: no peer timing)"]
    peer = pysaliency.GaussianSaliencyMapModel(width=0.2, caching=False)
    stimulus = np.zeros((*OSIE_SHAPE, 3), np.uint8)
    ours_t: list[float] = []
    peer_t: list[float] = []
    for _ in range(repeats):  # interleaved
        _timed(lambda: bl.center_bias(OSIE_SHAPE), ours_t)
        _timed(lambda: peer.saliency_map(stimulus), peer_t)
    ours_ms, peer_ms = 1000 * statistics.median(ours_t), 1000 * statistics.median(peer_t)
    return [
        "| 800x600 centre bias | ours ms | pysaliency GaussianSaliencyMapModel ms | ratio |",
        "| --- | --- | --- | --- |",
        f"| median of {repeats}, interleaved | {ours_ms:.2f} | {peer_ms:.2f} | "
        f"{ours_ms / peer_ms:.2f}x |",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=os.environ.get("ATTNVISION_DATA"), help="data root")
    parser.add_argument("--limit", type=int, default=None, help="OSIE images (of 100)")
    parser.add_argument("--sod-limit", type=int, default=None, help="SOD images (of 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=50, help="peer timing repetitions")
    parser.add_argument("--json", default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.data or not Path(args.data).is_dir():
        print(f"error: expected --data or ATTNVISION_DATA, got {args.data!r}", file=sys.stderr)
        return 2
    for name, value in (("--limit", args.limit), ("--sod-limit", args.sod_limit)):
        if value is not None and value < 1:
            print(f"error: expected {name} >= 1, got {value}", file=sys.stderr)
            return 2
    root = Path(args.data)
    warnings.simplefilter("ignore", UserWarning)  # dropped-fixation counts are printed
    t0 = time.perf_counter()
    osie_lines, osie_res, fit = run_osie(root, args.limit, args.seed)
    sod_lines, sod_res = run_sod(root, args.sod_limit, args.seed)
    peer_lines = run_peer_timing(args.repeats)
    print("\n".join(osie_lines))
    print()
    print("\n".join(sod_lines))
    print()
    print("\n".join(peer_lines))
    print()
    print(
        "Reference figures quoted in the issue: "
        + "; ".join(f"{k}: {' / '.join(f'{v:g}' for v in vals)}" for k, vals in REFERENCE.items())
    )
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        with atomic_write(args.json, "w") as handle:
            json.dump({"osie": osie_res, "osie_center_fit": fit, "sod": sod_res}, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
