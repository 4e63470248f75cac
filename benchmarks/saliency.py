"""Fixation-metric speed and agreement: attnvision.saliency.metrics vs pysaliency on OSIE.

For each of the first ``--limit`` OSIE images (800x600): the ground-truth density (pooled
fixations blurred with sigma = 24 px, one degree, ``OSIE_PPD``), the binary fixation map,
the fixations of the next 10 images (shuffled AUC's "other" map) and a prediction (the grey
stimulus blurred with sigma 8 px, a tie-free "baseline-like" map). Fixated pixels are given
to both libraries precomputed: to ours as ``(rows, cols)`` indices, to pysaliency as the
indices and the boolean mask its calls take. Every metric of the suite
is timed per image against its pysaliency counterpart, the two interleaved (order
alternating per repetition); medians of ``--repeat`` repetitions are printed with the ratio,
how many passes over the pixels our time is worth (``floor``: the time of one ``sum`` over
the map, the practical floor of any metric) and the largest difference where the
definitions coincide:

- CC: ``pysaliency.metrics.CC``; KLD: ``MIT_KLDiv``; SIM: ``SIM`` on min-shifted maps;
- NSS: ``pysaliency.metrics.NSS`` (per fixated pixel, population std; ours x sqrt(N/(N-1)));
- AUC-Judd: ``pysaliency.roc.general_roc(fixated, non-fixated, judd=1)`` (the core of
  ``AUC(nonfixations='unfixated', thresholds='fixations')``, which sorts every pixel);
- AUC-Borji and shuffled AUC sample negatives (100 splits, fixed thresholds); their
  pysaliency counterparts are exact: ``general_roc(fixated, every pixel)``
  (``AUC(nonfixations='uniform')``) and ``general_roc(fixated, other images' fixated
  pixels)`` (``nonfixations='shuffled'``). The definitions differ, so the difference column
  shows the gap between the two AUCs, not an error (the sampling is checked against
  AUC_Borji.m in tests/saliency/test_metrics.py).

The suite (all seven) is timed as ``SaliencyEvaluator.update`` against the seven pysaliency
calls, in wall and process CPU time. Information gain has no pysaliency counterpart (on a
saliency map) and is timed alone; EMD on the first ``--emd-images`` images (block mean and
MATLAB imresize reduction), and once against the whole transport LP for exactness.

Usage::

    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/saliency.py
    .venv/bin/python benchmarks/saliency.py --part all   # also benchmarks/sod.py
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

warnings.filterwarnings("ignore")

from _timing import summary_line  # noqa: E402
from attnvision.saliency import metrics as M  # noqa: E402
from attnvision.saliency.datasets import read_osie_fixations  # noqa: E402
from attnvision.saliency.density import OSIE_PPD, density_map, fixation_map  # noqa: E402
from attnvision.saliency.metrics import transport as T  # noqa: E402


def _load(root: Path, limit: int) -> list[dict]:
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    fixations = read_osie_fixations(root / "fixations.mat")
    names = sorted(p.name for p in (root / "stimuli").glob("*.jpg"))[:limit]
    items = []
    for name in names:
        rows = fixations[name]
        fmap = fixation_map(rows, (600, 800), warn=False)
        gt = density_map(rows, (600, 800), 1.0, unit="deg", ppd=OSIE_PPD)
        with Image.open(root / "stimuli" / name) as img:
            grey = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
        pred = gaussian_filter(grey, 8.0)
        fix = fmap > 0
        ys, xs = np.nonzero(fix)
        others = [fixations[n] for n in names if n != name][:10]
        other = fixation_map(np.concatenate(others), (600, 800), warn=False)
        oys, oxs = np.nonzero(other)
        items.append(
            {
                "name": name,
                "pred": pred,
                "gt": gt,
                "fmap": fmap,
                "fix": fix,
                "xs": xs,
                "ys": ys,
                "other": other,
                "oys": oys,
                "oxs": oxs,
                "centre": None,
            }  # fmt: skip
        )
    yy, xx = np.mgrid[0:600, 0:800]
    centre = np.exp(-((xx - 399.5) ** 2 / (2 * 160.0**2) + (yy - 299.5) ** 2 / (2 * 120.0**2)))
    for item in items:
        item["centre"] = centre
    return items


def _peer() -> tuple[dict, dict]:
    """pysaliency calls to time, and the value each relation says ours must equal (None:
    the definitions differ)."""
    import pysaliency.metrics as pm
    from pysaliency.roc import general_roc

    def auc(it):
        p = it["pred"]
        return general_roc(p[it["fix"]], p[~it["fix"]], judd=1)[0]

    timed = {
        "auc_judd": auc,
        "auc_borji": lambda it: general_roc(it["pred"][it["fix"]], it["pred"].ravel())[0],
        "auc_shuffled": lambda it: general_roc(it["pred"][it["fix"]], it["pred"][it["other"] > 0])[
            0
        ],
        "nss": lambda it: pm.NSS(it["pred"], it["xs"], it["ys"]).mean(),
        "cc": lambda it: pm.CC(it["pred"], it["gt"]),
        "kld": lambda it: pm.MIT_KLDiv(it["pred"], it["gt"]),
        "sim": lambda it: pm.SIM(it["pred"], it["gt"]),
    }

    def nss(it):  # per fixated pixel, population std: ours = theirs * sqrt((N-1)/N)
        n = it["pred"].size
        return timed["nss"](it) * np.sqrt((n - 1) / n)

    def sim(it):  # pysaliency does not rescale to [0, 1]: shift both maps to minimum 0
        p, g = it["pred"], it["gt"]
        return pm.SIM(p - p.min(), g - g.min())

    expected = {**timed, "nss": nss, "sim": sim, "auc_borji": None, "auc_shuffled": None}
    return timed, expected


# fixations go in as (rows, cols) indices: pysaliency gets them (and the boolean mask)
# precomputed too
OURS = {
    "auc_judd": lambda it: M.auc_judd(it["pred"], (it["ys"], it["xs"])),
    "auc_borji": lambda it: M.auc_borji(it["pred"], (it["ys"], it["xs"]), seed=0),
    "auc_shuffled": lambda it: M.auc_shuffled(
        it["pred"], (it["ys"], it["xs"]), (it["oys"], it["oxs"]), seed=0
    ),
    "nss": lambda it: M.nss(it["pred"], (it["ys"], it["xs"])),
    "cc": lambda it: M.cc(it["pred"], it["gt"]),
    "kld": lambda it: M.kld(it["pred"], it["gt"]),
    "sim": lambda it: M.sim(it["pred"], it["gt"]),
}
SUITE = tuple(OURS)


def _time(fn, items) -> tuple[float, list]:
    out = []
    start = time.perf_counter()
    for it in items:
        out.append(fn(it))
    return (time.perf_counter() - start) / len(items) * 1e3, out


def _ours_suite(items):
    ev = M.SaliencyEvaluator(SUITE)
    for it in items:
        ev.update(
            it["pred"], (it["ys"], it["xs"]), it["gt"], other_fixation_map=(it["oys"], it["oxs"])
        )
    return ev


def _peer_suite(items, peer):
    for it in items:
        for name in SUITE:
            peer[name](it)


def _floor(items, repeat: int) -> float:
    """ms per image of one pass over the pixels (``sum`` of the float64 map)."""
    return statistics.median(_time(lambda it: it["pred"].sum(), items)[0] for _ in range(repeat))


def run_fixation(args: argparse.Namespace) -> int:
    data = args.data or os.environ.get("ATTNVISION_DATA", "")
    root = Path(data) / "osie" if (Path(data) / "osie").is_dir() else Path(data)
    if not (root / "fixations.mat").is_file():
        print(f"no OSIE data under {data!r}: set ATTNVISION_DATA or --data", file=sys.stderr)
        return 2
    from importlib.metadata import version

    items = _load(root, args.limit)
    peer, expected = _peer()
    floor = _floor(items, 5 * args.repeat)
    print(
        f"Fixation metrics: {len(items)} OSIE images of 600x800, attnvision vs pysaliency "
        f"{version('pysaliency')}; {args.repeat} interleaved repeats, medians, ms per image; "
        f"floor = one pass over the pixels = {floor:.3f} ms"
    )
    print(
        f"{'metric':<13}{'attnvision':>10}{'pysaliency':>12}{'speed-up':>10}{'x floor':>9}"
        f"{'max |diff|':>12}"
    )
    status = 0
    for name in SUITE:
        ours_t, peer_t = [], []
        for rep in range(args.repeat):
            order = [("o", OURS[name]), ("p", peer[name])]
            for who, fn in order if rep % 2 == 0 else order[::-1]:
                t, values = _time(fn, items)
                (ours_t if who == "o" else peer_t).append(t)
                if who == "o":
                    ours_v = values
                else:
                    peer_v = values
        o, p = statistics.median(ours_t), statistics.median(peer_t)
        if expected[name] is None:  # a different definition: show the gap, check nothing
            gap = float(np.max(np.abs(np.array(ours_v) - np.array(peer_v))))
            note = f"{gap:>12.1e}  (sampled; definitions differ)"
        else:
            reference = [expected[name](it) for it in items]
            diff = float(np.max(np.abs(np.array(ours_v) - np.array(reference))))
            status |= diff > 1e-6
            note = f"{diff:>12.1e}"
        print(f"{name:<13}{o:>10.2f}{p:>12.2f}{p / o:>9.1f}x{o / floor:>9.1f}{note}")
    ours_t, peer_t = [], []
    ours_c, peer_c = [], []  # CPU time of this process: less sensitive to a shared machine
    for rep in range(args.repeat):
        runs = [("o", lambda: _ours_suite(items)), ("p", lambda: _peer_suite(items, peer))]
        for who, fn in runs if rep % 2 == 0 else runs[::-1]:
            start, cpu = time.perf_counter(), time.process_time()
            fn()
            (ours_t if who == "o" else peer_t).append(
                (time.perf_counter() - start) / len(items) * 1e3
            )
            (ours_c if who == "o" else peer_c).append(
                (time.process_time() - cpu) / len(items) * 1e3
            )
    o, p = statistics.median(ours_t), statistics.median(peer_t)
    print(f"{'suite (7)':<13}{o:>10.2f}{p:>12.2f}{p / o:>9.1f}x{o / floor:>9.1f}"
          "  (SaliencyEvaluator.update, wall)")  # fmt: skip
    suite_wall = p / o
    o, p = statistics.median(ours_c), statistics.median(peer_c)
    print(f"{'suite CPU':<13}{o:>10.2f}{p:>12.2f}{p / o:>9.1f}x{o / floor:>9.1f}"
          "  (process CPU time, same runs)")  # fmt: skip
    print(
        summary_line(
            "fixation suite (7 metrics) speed-up over pysaliency 0.2.22 (target >= 20x)",
            f"{suite_wall:.1f}x wall, {p / o:.1f}x CPU",
            f"{len(items)} OSIE images {items[0]['pred'].shape[1]}x{items[0]['pred'].shape[0]}",
            f"python benchmarks/saliency.py --limit {args.limit} --repeat {args.repeat}",
        )
    )
    print("no pysaliency counterpart (ours alone, ms per image):")
    alone = {"info_gain": lambda it: M.info_gain(it["pred"], (it["ys"], it["xs"]), it["centre"])}
    for name, fn in alone.items():
        print(
            f"  {name:<14}{statistics.median(_time(fn, items)[0] for _ in range(args.repeat)):.2f}"
        )
    n_emd = min(len(items), args.emd_images)
    for resize in ("block", "matlab"):
        times = [
            _time(lambda it, r=resize: M.emd(it["pred"], it["gt"], resize=r), items[:n_emd])[0]
            for _ in range(max(1, args.repeat // 2))
        ]
        print(f"  {'emd ' + resize:<14}{statistics.median(times):.0f} "
              f"({n_emd} images, 19x25 grid, exact transport LP)")  # fmt: skip
    # exactness: the column-generation optimum against the whole LP of the first image
    from scipy.optimize import linprog
    from scipy.sparse import csc_matrix

    g = T._area_downsample(items[0]["gt"], 32)
    s = T._match_histogram(T._area_downsample(items[0]["pred"], 32), g)
    p, q = g / g.sum(), s / s.sum()
    n = p.size
    ys, xs = np.divmod(np.arange(n), p.shape[1])
    cost = np.hypot(ys[:, None] - ys[None, :], xs[:, None] - xs[None, :]).ravel()
    var = np.arange(n * n)
    rows = np.concatenate([var // n, n + var % n])
    a_eq = csc_matrix((np.ones(2 * var.size), (rows, np.tile(var, 2))), shape=(2 * n, n * n))
    start = time.perf_counter()
    full = linprog(cost, A_eq=a_eq, b_eq=np.concatenate([p.ravel(), q.ravel()]) * n,
                   bounds=(0, None), method="highs-ds",
                   options={"presolve": False, "primal_feasibility_tolerance": 1e-10,
                            "dual_feasibility_tolerance": 1e-10})  # fmt: skip
    full_t = time.perf_counter() - start
    ours = M.emd(items[0]["pred"], items[0]["gt"])
    diff = abs(ours - full.fun / n)
    print(f"  emd exactness: {ours:.12f} vs whole LP {full.fun / n:.12f} ({n}x{n} variables, "
          f"{full_t:.1f} s), |diff| {diff:.1e}")  # fmt: skip
    if diff > 1e-9:
        status = 1
    if status:
        print("DISAGREEMENT above 1e-6")
    return status


def run_sod(args: argparse.Namespace) -> int:
    path = Path(__file__).with_name("sod.py")
    if not path.is_file():
        print("benchmarks/sod.py is missing: the SOD benchmark is not there yet")
        return 0
    spec = importlib.util.spec_from_file_location("_attnvision_bench_sod", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return int(module.run(args))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["fixation", "sod", "all"], default="fixation")
    parser.add_argument("--data", help="ATTNVISION_DATA folder")
    parser.add_argument("--limit", type=int, default=30, help="first N images")
    parser.add_argument("--repeat", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--emd-images", type=int, default=5, help="images timed for EMD")
    parser.add_argument("--models", nargs="+", help="SOD models (for --part sod)")
    args = parser.parse_args()
    status = 0
    if args.part in ("fixation", "all"):
        status |= run_fixation(args)
    if args.part in ("sod", "all"):
        status |= run_sod(args)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
