"""Scores of the trained saliency networks on the holdout images, beside the baselines.

Fixation prediction, OSIE (Xu et al. JoV 2014) images 1501-1600, with a fixation model
trained on 1001-1500 (``benchmarks/train_saliency.py fixation --split holdout``; a file
trained on any holdout image is refused):

- the MIT benchmark's metrics (MATLAB definitions, :class:`attnvision.saliency.metrics.
  SaliencyEvaluator`): AUC-Judd, shuffled AUC (negatives: the fixations of 10 other OSIE
  images, seeded), NSS, CC, KLD, SIM; ground truth the binary fixation map of all
  observers and its density (Gaussian of 1 degree = :data:`attnvision.saliency.density.
  OSIE_PPD` px). The density model is scored on the map that suits each metric
  (:func:`attnvision.saliency.fixation.metric_map`, as the MIT/Tuebingen benchmark does):
  the density for AUC-Judd and NSS, its log ratio to the centre-bias density for shuffled
  AUC, the density blurred with the ground truth's Gaussian for CC and KLD, the
  expected-SIM maximiser for SIM. The row "one map" scores the map ``predict`` returns
  (the density scaled to a maximum of 1) on every metric.
- log-likelihood and information gain in bits per fixation (pysaliency's definitions:
  every fixation of every observer, the model's log density at its pixel
  ``(floor(x + 0.5), floor(y + 0.5))``; LL relative to the uniform density, IG relative to
  the centre-bias density = the maximum-likelihood Gaussian of the fixations of 1001-1500
  (:func:`attnvision.saliency.baselines.fit_center_bias`) normalised over the image).

Salient-object detection, SOD (Movahedi and Elder 2010): the 40 holdout images
(``names[4::5]`` of the 200 with a mask), object model trained on the other 160
(``--split holdout``); maps stored as uint8 as a saved PNG would be, scored with
:class:`attnvision.saliency.sod.SODEvaluator` (max F, S-measure, MAE, mean E, weighted F).
``--ablation W.pt ...`` scores more object files (e.g. with and without the attention
blocks, several seeds) and prints each and the mean +- std per configuration;
``--object-flip`` scores every object file with test-time flip averaging (the shipped
spec) whatever its file says.

Out of dataset, ``--mit1003 W.pt``: the MIT1003 photos of ``ATTNVISION_DATA`` (Judd et al.,
ICCV 2009; no model here saw them) against their published blurred fixation maps: CC, KLD
and SIM of the map ``predict`` returns, beside the centre bias.

``ms / image`` is the median time per call at the original size (800x600 for OSIE,
481x321 for SOD) on the torch threads given (``--threads``; default 1).

Usage:
    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/saliency_models.py \\
        --fixation-weights F.pt --object-weights O.pt [--ablation A1.pt A2.pt ...]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from attnvision.saliency import baselines as bl
from attnvision.saliency import datasets, density
from attnvision.saliency import model as sm
from attnvision.saliency.fixation import metric_map
from attnvision.saliency.metrics import SaliencyEvaluator
from attnvision.saliency.sod import SODEvaluator, read_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from saliency_baselines import N_OTHER, _timed, score_rows
from train_saliency import OSIE_HOLDOUT, OSIE_SHAPE, fixation_pixels, sod_split

FIX_KEYS = ["auc_judd", "auc_shuffled", "nss", "cc", "kld", "sim"]
#: the metric-specific map of each metric (keys of metric_map)
MAP_FOR = {"auc_judd": "auc_judd", "nss": "nss", "auc_shuffled": "auc_shuffled", "cc": "cc"}
SOD_KEYS = ["max_fmeasure", "smeasure", "mae", "mean_emeasure", "weighted_fmeasure"]
TARGETS = {
    "fixation (AUC-Judd / NSS / CC)": ">= 0.90 / 2.7 / 0.72",
    "object (max F / S-measure / MAE)": ">= 0.78 / 0.77 / <= 0.11",
    "predict, 800x600, 2 cores": "<= 150 ms (benchmarks/saliency_latency.py)",
}


def _check_not_trained_on(meta: dict, scored: list[str], path: Path) -> None:
    train = meta.get("split", {}).get("train")
    if isinstance(train, str) and train.startswith("OSIE "):
        lo, hi = (int(v) for v in train.split()[1].split("-"))
        trained = {f"{n}" for n in range(lo, hi + 1)}
    else:
        trained = set(train or [])
    overlap = trained & set(scored)
    if overlap:
        raise SystemExit(
            f"error: {path} was trained on {len(overlap)} of the scored images "
            f"(e.g. {sorted(overlap)[0]}); use the file of --split holdout"
        )


def _log_centre_bias(fit: dict, shape: tuple[int, int]) -> np.ndarray:
    m = bl.center_bias(shape, **fit)
    return np.log(m / m.sum())


def run_osie(root: Path, weights: Path, seed: int, limit: int | None) -> list[str]:
    osie = root / "osie"
    fixations = datasets.read_osie_fixations(osie / "fixations.mat")
    chosen = list(OSIE_HOLDOUT)[:limit]
    meta = sm.read_weights(weights)["meta"]
    _check_not_trained_on(meta, [str(n) for n in chosen], weights)
    train_numbers = range(1001, 1501)
    fit = bl.fit_center_bias(
        [fixations[f"{n}.jpg"][:, :2] for n in train_numbers], [OSIE_SHAPE] * len(train_numbers)
    )
    log_base = _log_centre_bias(fit, OSIE_SHAPE)
    sigma = density.OSIE_PPD  # 1 degree
    model = sm.load_model(weights, "fixation")
    rows_ev = {
        "ours": SaliencyEvaluator(FIX_KEYS, seed=seed),
        "one map": SaliencyEvaluator(FIX_KEYS, seed=seed),
        "centre bias": SaliencyEvaluator(FIX_KEYS, seed=seed),
        "spectral residual (sigma 8)": SaliencyEvaluator(FIX_KEYS, seed=seed),
    }
    # ours: one evaluator per metric-specific map, merged into the row "ours"
    per_map = {name: SaliencyEvaluator([metric], seed=seed) for name, metric in MAP_FOR.items()}
    per_map["kld"] = SaliencyEvaluator(["kld"], seed=seed)
    per_map["sim"] = SaliencyEvaluator(["sim"], seed=seed)
    times: dict[str, list[float]] = {k: [] for k in rows_ev}
    ll, ll_base = [], []
    fixmaps: dict[int, np.ndarray] = {}

    def fixmap(number: int) -> np.ndarray:
        if number not in fixmaps:
            fixmaps[number] = density.fixation_map(
                fixations[f"{number}.jpg"], OSIE_SHAPE, warn=False
            )
        return fixmaps[number]

    pool = list(range(1001, 1601))
    for i, number in enumerate(chosen):
        image = sm.read_image(osie / "stimuli" / f"{number}.jpg")
        rows = fixations[f"{number}.jpg"]
        fix = fixmap(number)
        dens = density.density_map(rows, OSIE_SHAPE, 1.0, unit="deg", ppd=density.OSIE_PPD)
        others = np.random.default_rng([seed, number]).choice(
            [n for n in pool if n != number], size=N_OTHER, replace=False
        )
        other = np.zeros(OSIE_SHAPE, bool)
        for n in others:
            other |= fixmap(int(n)) > 0
        (log_p,) = _timed(
            lambda im=image: sm.predict_batch(model, [im], "log_density"), times["ours"]
        )
        log_p = log_p.astype(np.float64)
        times["one map"].append(times["ours"][-1])
        pix = fixation_pixels(rows, False).numpy()
        ll.append(log_p[pix[:, 0], pix[:, 1]])
        ll_base.append(log_base[pix[:, 0], pix[:, 1]])
        kw = {"other_fixation_map": other, "name": str(number)}
        for name, ev in per_map.items():
            m = metric_map(
                log_p, name, sigma=sigma, baseline_log_density=log_base, seed=seed + number
            )
            ev.update(m, fix, dens, **kw)
        rows_ev["one map"].update(np.exp(log_p - log_p.max()), fix, dens, **kw)
        sal = _timed(lambda: bl.center_bias(OSIE_SHAPE, **fit), times["centre bias"])
        rows_ev["centre bias"].update(sal, fix, dens, **kw)
        sal = _timed(
            lambda im=image: bl.spectral_residual(im), times["spectral residual (sigma 8)"]
        )
        rows_ev["spectral residual (sigma 8)"].update(sal, fix, dens, **kw)
        if (i + 1) % 20 == 0:
            print(f"  osie {i + 1}/{len(chosen)}", file=sys.stderr, flush=True)
    merged = {k: v for ev in per_map.values() for k, v in ev.results().items()}

    class _Merged:  # score_rows reads .results()
        def results(self) -> dict[str, float]:
            return merged

    rows_ev["ours"] = _Merged()  # type: ignore[assignment]
    lines = [
        f"OSIE holdout: {len(chosen)} images of {OSIE_HOLDOUT.start}-{OSIE_HOLDOUT.stop - 1} "
        f"(seed {seed}); density sigma 1 deg = {sigma:g} px; weights {weights.name} "
        f"(trained on {meta['split']['train']}, {meta.get('parameters', '?')} parameters)",
        "",
        "| method | AUC-Judd | sAUC | NSS | CC | KLD | SIM | ms / image |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    names = {
        "ours": "FixationDensityNet, metric-specific maps",
        "one map": "FixationDensityNet, one map (predict)",
        "centre bias": "centre bias (Gaussian fit on 1001-1500)",
        "spectral residual (sigma 8)": "spectral residual (sigma 8)",
    }
    table = score_rows(rows_ev, times, FIX_KEYS)[0]
    lines += [row.replace(f"| {k} |", f"| {names[k]} |", 1) for k, row in zip(rows_ev, table)]
    lls, base = np.concatenate(ll), np.concatenate(ll_base)
    uniform = math.log(OSIE_SHAPE[0] * OSIE_SHAPE[1])
    lines += [
        "",
        f"Log-likelihood over uniform, bits per fixation ({lls.size} fixations): "
        f"FixationDensityNet {(lls.mean() + uniform) / math.log(2):.4f}, centre bias "
        f"{(base.mean() + uniform) / math.log(2):.4f}; information gain over the centre "
        f"bias: {(lls - base).mean() / math.log(2):.4f} bits per fixation",
    ]
    return lines


def run_mit1003(root: Path, weights: Path) -> list[str]:
    """Out of dataset: MIT1003 photos (none seen in training) against their published
    blurred fixation maps (JPEG), CC, KLD and SIM of the map ``predict`` returns."""
    mit = root / "mit1003"
    names = sorted(p.name for p in (mit / "stimuli").glob("*.jpg"))
    model = sm.load_model(weights, "fixation")
    keys = ["cc", "kld", "sim"]
    evaluators = {"ours": SaliencyEvaluator(keys), "centre": SaliencyEvaluator(keys)}
    times: dict[str, list[float]] = {k: [] for k in evaluators}
    for name in names:
        image = sm.read_image(mit / "stimuli" / name)
        gt = datasets.read_map(mit / "fixation_maps" / name)
        sal = _timed(lambda im=image: sm.predict_batch(model, [im])[0], times["ours"])
        evaluators["ours"].update(sal, density_map=gt, name=name)
        sal = _timed(lambda im=image: bl.center_bias(im.shape), times["centre"])
        evaluators["centre"].update(sal, density_map=gt, name=name)
    rows = score_rows(evaluators, times, keys)[0]
    rows = [
        rows[0].replace("| ours |", f"| FixationDensityNet, one map ({weights.name}) |", 1),
        rows[1].replace("| centre |", "| centre bias (sigma 0.2) |", 1),
    ]
    return [
        f"MIT1003 (out of dataset): the {len(names)} photos in ATTNVISION_DATA against their "
        "published fixation maps",
        "",
        "| method | CC | KLD | SIM | ms / image |",
        "| --- | --- | --- | --- | --- |",
        *rows,
    ]


def _score_sod(
    root: Path, names: list[str], methods: dict[str, Callable[[np.ndarray], np.ndarray]]
) -> tuple[dict[str, SODEvaluator], dict[str, list[float]]]:
    sod = root / "sod"
    evaluators = {name: SODEvaluator() for name in methods}
    times: dict[str, list[float]] = {name: [] for name in methods}
    for stem in names:
        image = sm.read_image(sod / "images" / f"{stem}.jpg")
        mask = read_mask(sod / "masks" / f"{stem}.png")
        for name, method in methods.items():
            sal = _timed(lambda f=method, im=image: f(im), times[name])
            evaluators[name].update(np.round(255 * sal).astype(np.uint8), mask)
    return evaluators, times


def _object_model(path: Path, flip: bool) -> torch.nn.Module:
    """The object network of ``path``; ``flip``: with test-time flip averaging whatever its
    file says (the shipped spec), so files trained without it are scored alike."""
    model = sm.load_model(path, "object")
    if flip:
        model.input_spec = dict(model.input_spec, flip=True)
    return model


def _object_method(path: Path, flip: bool) -> Callable[[np.ndarray], np.ndarray]:
    model = _object_model(path, flip)
    return lambda im: sm.predict_batch(model, [im])[0]


def run_sod(root: Path, weights: Path, flip: bool) -> list[str]:
    _, holdout = sod_split(root, "holdout")
    meta = sm.read_weights(weights)["meta"]
    _check_not_trained_on(meta, holdout, weights)
    methods: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        f"SalientObjectNet ({weights.name})": _object_method(weights, flip),
        "centre prior (sigma 0.2)": lambda im: bl.center_bias(im.shape),
        "frequency-tuned": bl.frequency_tuned,
        "spectral residual (sigma 8)": bl.spectral_residual,
    }
    evaluators, times = _score_sod(root, holdout, methods)
    lines = [
        f"SOD holdout: {len(holdout)} images (names[4::5] of the 200 with a mask); weights "
        f"{weights.name}: {meta.get('parameters', '?')} parameters, trained on "
        f"{len(meta['split']['train'])} images; flip-averaged: {flip}",
        "",
        "| method | max F | S-measure | MAE | mean E | weighted F | ms / image |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    return lines + score_rows(evaluators, times, SOD_KEYS)[0]


def run_ablation(root: Path, files: list[Path], flip: bool) -> list[str]:
    _, holdout = sod_split(root, "holdout")
    methods = {}
    configs: dict[str, str] = {}
    for path in files:
        payload = sm.read_weights(path)
        _check_not_trained_on(payload["meta"], holdout, path)
        model = _object_model(path, flip)
        attn = model.skips[0].attn
        name = "none" if isinstance(attn, torch.nn.Identity) else type(attn).__name__
        configs[str(path)] = f"attention {name}"
        methods[str(path)] = lambda im, m=model: sm.predict_batch(m, [im])[0]
    evaluators, _ = _score_sod(root, holdout, methods)
    lines = [
        f"Ablation on the SOD holdout ({len(holdout)} images), each file trained on the other "
        f"160; flip-averaged: {flip}",
        "",
        "| configuration | seed | max F | S-measure | MAE | mean E | weighted F |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups: dict[str, list[dict[str, float]]] = {}
    for path in files:
        res = evaluators[str(path)].results()
        seed = sm.read_weights(path)["meta"].get("seed", "?")
        groups.setdefault(configs[str(path)], []).append(res)
        cells = " | ".join(f"{float(res[k]):.4f}" for k in SOD_KEYS)
        lines.append(f"| {configs[str(path)]} | {seed} | {cells} |")
    lines.append("")
    lines.append("| configuration | runs | " + " | ".join(SOD_KEYS) + " |")
    lines.append("| --- | --- |" + " --- |" * len(SOD_KEYS))
    for name, results in groups.items():
        cells = []
        for k in SOD_KEYS:
            values = [float(r[k]) for r in results]
            sd = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.4f} +- {sd:.4f}")
        lines.append(f"| {name} | {len(results)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("ATTNVISION_DATA"))
    ap.add_argument("--fixation-weights", type=Path, default=None, help="--split holdout file")
    ap.add_argument("--object-weights", type=Path, default=None, help="--split holdout file")
    ap.add_argument("--ablation", type=Path, nargs="*", default=[], help="more object files")
    ap.add_argument(
        "--mit1003", type=Path, default=None, help="fixation weights to score on MIT1003 photos"
    )
    ap.add_argument(
        "--object-flip", action="store_true", help="object files scored with flip averaging"
    )
    ap.add_argument("--limit", type=int, default=None, help="first N OSIE holdout images")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    if not args.data or not Path(args.data).is_dir():
        print(f"error: expected --data or ATTNVISION_DATA, got {args.data!r}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", UserWarning)
    root = Path(args.data)
    t0 = time.perf_counter()
    if args.fixation_weights is not None:
        print("\n".join(run_osie(root, args.fixation_weights, args.seed, args.limit)), end="\n\n")
    if args.mit1003 is not None:
        print("\n".join(run_mit1003(root, args.mit1003)), end="\n\n")
    if args.object_weights is not None:
        print("\n".join(run_sod(root, args.object_weights, args.object_flip)), end="\n\n")
    if args.ablation:
        print("\n".join(run_ablation(root, args.ablation, args.object_flip)), end="\n\n")
    print("Targets of the issue: " + "; ".join(f"{k}: {v}" for k, v in TARGETS.items()))
    print(f"total {time.perf_counter() - t0:.0f} s (torch on {args.threads} thread(s))")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
