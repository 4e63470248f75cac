"""Speed and agreement of attnvision's SOD evaluator against PySODMetrics on real data.

Reads ``ATTNVISION_DATA/sod`` (300 masks, three models' maps), loads every pair into memory,
then times, per image, ``SODEvaluator.update`` (all nine figures and four curves) against
PySODMetrics' five evaluators (``MAE``, ``Fmeasure``, ``Smeasure``, ``Emeasure``,
``WeightedFmeasure``) stepping the same arrays, and each metric alone (ours: the public
function on the raw arrays, input checks included; F and E with their 256-threshold curves,
as PySODMetrics' evaluators compute them). Repetitions interleave ours and the peer's
(alternating which goes first) and the medians are reported, with the time of one pass over
the pixels (``sum`` of the uint8 map: the practical floor) and how many such passes each
time is worth. Afterwards it prints the largest absolute difference of every dataset figure
and curve between the two, and of the per-image values stored by the MATLAB toolbox.

    .venv/bin/python benchmarks/sod.py [--models DSS ...] [--limit N] [--repeat 5]

``run(args)`` is the entry point for ``benchmarks/saliency.py --part sod``; it reads the
attributes ``data``, ``models``, ``limit``, ``repeat`` when present and uses the defaults
otherwise. Exit code 1 when a figure differs by more than 1e-6.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from _timing import summary_line
from attnvision.saliency import sod
from attnvision.saliency.datasets import read_mask, read_prediction

MODELS = ("Amulet", "DSS", "PiCANet")
TOLERANCE = 1e-6


def _peer_metrics() -> dict:
    import py_sod_metrics as peer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure warns that it will be renamed
        return {
            "MAE": peer.MAE(),
            "Fmeasure": peer.Fmeasure(),
            "Smeasure": peer.Smeasure(),
            "Emeasure": peer.Emeasure(),
            "WeightedFmeasure": peer.WeightedFmeasure(),
        }


def _time_ours(pairs: list) -> tuple[tuple[float, float], sod.SODEvaluator]:
    evaluator = sod.SODEvaluator()
    start, cpu = time.perf_counter(), time.process_time()
    for pred, mask, _ in pairs:
        evaluator.update(pred, mask)
    return (time.perf_counter() - start, time.process_time() - cpu), evaluator


#: our public functions timed alone, under the peer evaluator's name
OURS_ALONE = {
    "MAE": lambda p, m: sod.mae(p, m),
    "Fmeasure": lambda p, m: (sod.fmeasure(p, m), sod.precision_recall(p, m)),
    "Smeasure": lambda p, m: sod.smeasure(p, m),
    "Emeasure": lambda p, m: (sod.emeasure(p, m), sod.emeasure_curve(p, m)),
    "WeightedFmeasure": lambda p, m: sod.weighted_fmeasure(p, m),
}


def _time_ours_alone(pairs: list) -> dict:
    spent = dict.fromkeys(OURS_ALONE, 0.0)
    for pred, mask, _ in pairs:
        for name, fn in OURS_ALONE.items():
            t0 = time.perf_counter()
            fn(pred, mask)
            spent[name] += time.perf_counter() - t0
    return spent


def _feature_transform_ms(pairs: list, repeat: int) -> float:
    """Median ms per image of the exact Euclidean feature transform the weighted F-measure
    needs (``distance_transform_edt(~mask, return_indices=True)``), alone."""
    from scipy import ndimage

    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _, mask, _ in pairs:
            ndimage.distance_transform_edt(~mask, return_distances=False, return_indices=True)
        samples.append((time.perf_counter() - start) / len(pairs) * 1e3)
    return statistics.median(samples)


def _floor(pairs: list) -> float:
    """Seconds per image of one pass over the pixels (``sum`` of the uint8 map), best of 5."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for pred, _, _ in pairs:
            pred.sum()
        best = min(best, (time.perf_counter() - start) / len(pairs))
    return best


def _time_peer(pairs: list) -> tuple[tuple[float, float], dict, dict]:
    metrics = _peer_metrics()
    spent = dict.fromkeys(metrics, 0.0)
    start, cpu = time.perf_counter(), time.process_time()
    for pred, _, gt255 in pairs:
        for name, metric in metrics.items():
            t0 = time.perf_counter()
            metric.step(pred, gt255)
            spent[name] += time.perf_counter() - t0
    return (time.perf_counter() - start, time.process_time() - cpu), metrics, spent


def _peer_results(metrics: dict) -> dict:
    fm = metrics["Fmeasure"].get_results()
    em = metrics["Emeasure"].get_results()
    fcurve, ecurve = fm["fm"]["curve"][::-1], em["em"]["curve"][::-1]
    return {
        "mae": metrics["MAE"].get_results()["mae"],
        "smeasure": metrics["Smeasure"].get_results()["sm"],
        "weighted_fmeasure": metrics["WeightedFmeasure"].get_results()["wfm"],
        "adaptive_fmeasure": fm["fm"]["adp"],
        "mean_fmeasure": fcurve.mean(),
        "max_fmeasure": fcurve.max(),
        "adaptive_emeasure": em["em"]["adp"],
        "mean_emeasure": ecurve.mean(),
        "max_emeasure": ecurve.max(),
        "precision": fm["pr"]["p"][::-1],
        "recall": fm["pr"]["r"][::-1],
        "fmeasure_curve": fcurve,
        "emeasure_curve": ecurve,
    }


def _matlab_differences(root: Path, model: str, names: list[str], per_image: list) -> dict:
    import scipy.io

    path = root / "matlab_results" / f"{model}.mat"
    if not path.exists():
        return {}
    stored = scipy.io.loadmat(path)
    all_names = sorted(p.stem for p in (root / "masks").glob("*.png"))
    rows = [all_names.index(name) for name in names]
    ours = {key: np.array([f[key] for f in per_image]) for key in per_image[0]}
    return {
        "MAE": np.abs(ours["mae"] - stored["MAE_image"][rows, 0]).max(),
        "S-measure": np.abs(ours["smeasure"] - stored["S_measure_image"][rows, 0]).max(),
        "adaptive F": np.abs(
            ours["adaptive_fmeasure"] - stored["mean_Fmeasure_image"][rows, 2]
        ).max(),
    }


def run(args: argparse.Namespace) -> int:
    """Benchmark and compare; prints a report and returns 0 (1 if a figure disagrees)."""
    data = getattr(args, "data", None) or os.environ.get("ATTNVISION_DATA", "")
    root = Path(data) / "sod" if (Path(data) / "sod").is_dir() else Path(data)
    if not (root / "masks").is_dir():
        print(f"no SOD data under {data!r}: set ATTNVISION_DATA or --data", file=sys.stderr)
        return 2
    models = list(getattr(args, "models", None) or MODELS)
    limit = getattr(args, "limit", None)
    repeat = int(getattr(args, "repeat", None) or 5)
    names = sorted(p.stem for p in (root / "masks").glob("*.png"))[:limit]

    from importlib.metadata import version

    print(f"SOD benchmark: {len(names)} images x {len(models)} models from {root}")
    print(
        f"attnvision SODEvaluator vs PySODMetrics {version('pysodmetrics')} (MAE, Fmeasure, "
        f"Smeasure, Emeasure, WeightedFmeasure); {repeat} interleaved repeats, medians"
    )
    status = 0
    for model in models:
        pairs = []
        for name in names:
            pred = read_prediction(root / "predictions" / model / f"{name}.png")
            mask = read_mask(root / "masks" / f"{name}.png")
            pairs.append((pred, mask, mask.astype(np.uint8) * 255))
        shape = pairs[0][0].shape
        ours_times, peer_times, ours_cpu, peer_cpu, parts, alone = [], [], [], [], [], []
        evaluator = peer = None
        for rep in range(repeat):
            if rep % 2 == 0:
                t_ours, evaluator = _time_ours(pairs)
                alone.append(_time_ours_alone(pairs))
                t_peer, peer, spent = _time_peer(pairs)
            else:
                t_peer, peer, spent = _time_peer(pairs)
                alone.append(_time_ours_alone(pairs))
                t_ours, evaluator = _time_ours(pairs)
            ours_times.append(t_ours[0] / len(pairs) * 1e3)
            peer_times.append(t_peer[0] / len(pairs) * 1e3)
            ours_cpu.append(t_ours[1] / len(pairs) * 1e3)
            peer_cpu.append(t_peer[1] / len(pairs) * 1e3)
            parts.append({k: v / len(pairs) * 1e3 for k, v in spent.items()})
        floor = _floor(pairs) * 1e3
        med = statistics.median
        ours_ms, peer_ms = med(ours_times), med(peer_times)
        print(
            f"\n{model}: {len(pairs)} images of {shape[0]}x{shape[1]} (or transposed); floor "
            f"(one pass over the pixels) {floor:.3f} ms"
        )
        print(f"  {'ms/image (median)':<24}{'attnvision':>11}{'PySODMetrics':>13}{'speed-up':>10}"
              f"{'x floor':>9}")  # fmt: skip
        for name in parts[0]:
            o = med(a[name] for a in alone) / len(pairs) * 1e3
            p = med(q[name] for q in parts)
            print(f"  {name + ' alone':<24}{o:11.2f}{p:13.2f}{p / o:9.2f}x{o / floor:9.0f}")
        o, p = ours_ms, peer_ms
        print(f"  {'all: evaluator, wall':<24}{o:11.2f}{p:13.2f}{p / o:9.2f}x{o / floor:9.0f}")
        o, p = med(ours_cpu), med(peer_cpu)
        print(f"  {'all: evaluator, CPU':<24}{o:11.2f}{p:13.2f}{p / o:9.2f}x{o / floor:9.0f}")
        edt = _feature_transform_ms(pairs, repeat)
        share = f"{edt / ours_ms:.0%} of the evaluator: SciPy's, as PySODMetrics calls it"
        print(
            f"  {'of which feature transform':<24}{edt:11.2f}{'':23}{edt / floor:9.0f}  ({share})"
        )
        print(
            summary_line(
                f"SOD evaluator speed-up over PySODMetrics 1.6.2, {model} maps (target >= 4x)",
                f"{peer_ms / ours_ms:.2f}x wall, {p / o:.2f}x CPU",
                f"{len(pairs)} SOD images {shape[0]}x{shape[1]}",
                f"python benchmarks/sod.py --models {model}"
                + (f" --limit {limit}" if limit else ""),
            )
        )

        ours_results, peer_results = evaluator.results(), _peer_results(peer)
        worst = 0.0
        print("  max |attnvision - PySODMetrics|:")
        for key, expected in peer_results.items():
            diff = float(np.max(np.abs(np.asarray(ours_results[key]) - expected)))
            worst = max(worst, diff)
            print(f"    {key:<22}{diff:.1e}")
        per_image = []
        check = sod.SODEvaluator()
        for pred, mask, _ in pairs:
            per_image.append(check.update(pred, mask))
        matlab = _matlab_differences(root, model, names, per_image)
        if matlab:
            print("  max |attnvision - MATLAB toolbox| per image:")
            for key, diff in matlab.items():
                worst = max(worst, float(diff))
                print(f"    {key:<22}{diff:.1e}")
        if worst > TOLERANCE:
            status = 1
            print(f"  DISAGREEMENT: {worst:.1e} > {TOLERANCE:g}")
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="ATTNVISION_DATA folder (or its sod/ folder)")
    parser.add_argument("--models", nargs="+", choices=MODELS, help="models to evaluate")
    parser.add_argument("--limit", type=int, help="first N images by name")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions")
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
