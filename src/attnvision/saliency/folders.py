"""Folder evaluations: what ``attnvision saliency evaluate`` and ``sod evaluate`` run.

- :func:`evaluate_folders`: the fixation metrics of a folder of predicted maps against a
  folder of ground-truth maps (and fixations), as :class:`FolderEvaluation`;
- :func:`evaluate_sod_folders`: the salient-object metrics of folders of predictions
  against a folder of masks, as :class:`SODFolderEvaluation`.

The folders that ``saliency maps`` and ``saliency predict`` write come from
:mod:`attnvision.saliency.writers`.

Files are matched by name without extension. Names that do not match are an error unless
``allow_missing``; then they are listed in the result's ``skipped`` (nothing is skipped
silently). Every file is written atomically. Errors are ``ValueError`` /
``FileNotFoundError`` with one line that names the file or folder, and the command-line
option that changes the outcome (these functions are what the commands run).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._utils import atomic_write, short_list
from .sod.inputs import MASK_THRESHOLD

__all__ = [
    "FolderEvaluation",
    "SODFolderEvaluation",
    "evaluate_folders",
    "evaluate_sod_folders",
]


def _check_out_suffix(out: str | os.PathLike[str] | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    if path.suffix.lower() not in (".json", ".csv"):
        raise ValueError(f"expected --out to end in .json or .csv, got {str(path)!r}")
    return path


def _unmatched(what: str, names: list[str]) -> list[str]:
    return [f"{len(names)} {what}: {short_list(names)}"] if names else []


# --------------------------------------------------------------------------- fixations


@dataclass
class FolderEvaluation:
    """Fixation metrics of a folder of predictions (what :func:`evaluate_folders` returns).

    ``results`` and ``counts`` are :meth:`SaliencyEvaluator.results` / ``counts()``;
    ``per_image`` one dict per image; ``skipped`` one line per kind of unmatched name;
    ``dropped_fixations`` the fixations that fell outside their image.
    """

    metrics: tuple[str, ...]
    results: dict[str, float]
    counts: dict[str, int]
    per_image: list[dict[str, Any]]
    sources: dict[str, Any]
    unmatched: dict[str, list[str]]
    skipped: list[str]
    dropped_fixations: int = 0

    def summary(self) -> dict[str, Any]:
        """The dataset figures as plain data: sources, metrics, means, counts, unmatched
        names (what ``--json`` prints)."""
        return {
            **self.sources,
            "metrics": list(self.metrics),
            "results": self.results,
            "counts": self.counts,
            **self.unmatched,
            "dropped_fixations": self.dropped_fixations,
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write ``.json`` (everything) or ``.csv`` (one row per image and a ``(mean)`` row),
        atomically."""
        out = _check_out_suffix(path)
        assert out is not None
        if out.suffix.lower() == ".json":
            payload = {**self.summary(), "per_image": self.per_image}
            with atomic_write(out, "w") as handle:
                json.dump(payload, handle, indent=1, allow_nan=True)
            return out
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["image", *self.metrics])
        for row in self.per_image:
            writer.writerow([row["name"], *(repr(float(row[m])) for m in self.metrics)])
        writer.writerow(["(mean)", *(repr(self.results[m]) for m in self.metrics)])
        with atomic_write(out, "w") as handle:
            handle.write(buffer.getvalue())
        return out


def _other_fixations(
    stem: str,
    stems: list[str],
    fixations: dict[str, np.ndarray],
    shapes: dict[str, tuple[int, int]],
    rng: np.random.Generator,
    count: int = 10,
) -> tuple[tuple[np.ndarray, tuple[int, int]], ...]:
    """Shuffled AUC's negatives: the fixations of up to ``count`` other images drawn at
    random (Borji et al. 2013), with their sizes (scaled to the image's size and drawn as
    one map by :func:`attnvision.saliency.workers.other_fixation_map`)."""
    others = [s for s in stems if s != stem]
    if not others:
        raise ValueError("auc_shuffled needs fixations of at least 2 images")
    pick = rng.choice(len(others), size=min(count, len(others)), replace=False)
    return tuple((fixations[others[i]], shapes[others[i]]) for i in pick)


def evaluate_folders(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    fixations: str | os.PathLike[str] | None = None,
    metrics: list[str] | None = None,
    baseline: str | os.PathLike[str] | None = None,
    resize: bool = False,
    allow_missing: bool = False,
    seed: int = 0,
    origin: int = 0,
    workers: int = 1,
    show_progress: bool = False,
) -> FolderEvaluation:
    """Score every predicted map in ``pred_dir`` against ``gt_dir`` with the MIT/Tuebingen
    benchmark's fixation metrics (:class:`attnvision.saliency.metrics.SaliencyEvaluator`).

    Args:
        pred_dir: folder of predicted maps (:data:`~attnvision.saliency.datasets.MAP_SUFFIXES`).
        gt_dir: folder of ground-truth density maps, matched by name.
        fixations: per-image ``.csv`` / ``.json`` folder or ``.mat``; needed by the
            fixation-based metrics (AUCs, NSS, information gain).
        metrics: names (default: the evaluator's default suite with fixations, else
            ``cc``, ``kld``, ``sim``).
        baseline: a baseline map for ``info_gain`` (resized to each image when needed).
        resize: resize predictions of another size to the ground truth (bilinear);
            otherwise a size mismatch is an error.
        allow_missing: evaluate the matched images when names do not match.
        seed: seed of AUC-Borji and shuffled AUC (the "other" images too).
        origin: 1 if CSV/JSON fixation coordinates are 1-based.
        workers: processes scoring the images (``0``: one per CPU core); the figures are
            the same for any number (:mod:`attnvision.saliency.workers`).

    Raises:
        ValueError: unknown metrics, missing inputs for a metric, unmatched names (without
            ``allow_missing``), unreadable maps, size mismatches (without ``resize``).
    """
    from . import metrics as M
    from .datasets import list_maps, map_shape, read_fixation_source, read_map
    from .density import fixation_map
    from .workers import FixationTask, check_workers, ordered_map, score_fixation_image

    check_workers(workers)

    names = list(metrics or [])
    if not names:
        names = list(M.DEFAULT_METRICS) if fixations is not None else ["cc", "kld", "sim"]
    evaluator = M.SaliencyEvaluator(names, seed=seed)
    needs = evaluator.needs()
    wants_fix = sorted(m for m in evaluator.metrics if "fixation_map" in M.METRICS[m])
    if wants_fix and fixations is None:
        raise ValueError(f"metrics {', '.join(wants_fix)} need --fixations DIR|FILE.mat")
    if "baseline_map" in needs and baseline is None:
        raise ValueError("metric info_gain needs --baseline MAP")
    preds, gts = list_maps(pred_dir), list_maps(gt_dir)
    fix = read_fixation_source(fixations, origin=origin) if fixations is not None else None
    unmatched = {
        "ground_truth_without_prediction": sorted(set(gts) - set(preds)),
        "predictions_without_ground_truth": sorted(set(preds) - set(gts)),
        "ground_truth_without_fixations": sorted(set(gts) - set(fix)) if fix is not None else [],
    }
    problems = [
        *_unmatched(
            "ground-truth map(s) without a prediction", unmatched["ground_truth_without_prediction"]
        ),
        *_unmatched(
            "prediction(s) without a ground-truth map",
            unmatched["predictions_without_ground_truth"],
        ),
        *_unmatched(
            "ground-truth map(s) without fixations", unmatched["ground_truth_without_fixations"]
        ),
    ]
    if problems and not allow_missing:
        raise ValueError(
            f"{pred_dir} and {gt_dir} do not match by file name: {'; '.join(problems)} "
            "(pass --allow-missing to evaluate the matched ones)"
        )
    stems = [s for s in gts if s in preds and (fix is None or s in fix)]
    if not stems:
        raise ValueError(f"no prediction in {pred_dir} matches a map in {gt_dir}")
    shapes = {s: map_shape(gts[s]) for s in stems} if fix is not None else {}
    rng = np.random.default_rng(seed)  # picks the "other" images, in image order
    options = (("metrics", evaluator.metrics), ("seed", seed))
    tasks = [
        FixationTask(
            index=i,
            pred=preds[stem],
            gt=gts[stem],
            evaluator=options,
            fixations=fix[stem] if fix is not None else None,
            others=_other_fixations(stem, stems, fix, shapes, rng)
            if "other_fixation_map" in needs
            else None,
            baseline=Path(baseline) if baseline is not None else None,
            resize=resize,
        )
        for i, stem in enumerate(stems)
    ]
    if baseline is not None:
        read_map(baseline)  # an unreadable baseline fails here, once
    scored = ordered_map(
        score_fixation_image, tasks, workers=workers, desc="evaluate", show_progress=show_progress
    )
    for stem, scores in zip(stems, scored):
        evaluator.add(scores, stem)
    dropped_total = 0
    for stem in stems if fix is not None else []:
        dropped_total += fixation_map(fix[stem], shapes[stem], return_dropped=True, warn=False)[1]
    return FolderEvaluation(
        metrics=evaluator.metrics,
        results=evaluator.results(),
        counts=evaluator.counts(),
        per_image=evaluator.per_image,
        sources={
            "pred_dir": str(pred_dir),
            "gt_dir": str(gt_dir),
            "fixations": str(fixations) if fixations is not None else None,
            "seed": seed,
        },
        unmatched=unmatched,
        skipped=problems,
        dropped_fixations=dropped_total,
    )


# --------------------------------------------------------------------------- objects


@dataclass
class SODFolderEvaluation:
    """Salient-object figures of one or more folders of predictions against one folder of
    masks (what :func:`evaluate_sod_folders` returns): ``runs`` holds one dict per folder
    (``model``, ``pred_dir``, ``images``, unmatched names, ``results``, ``per_image``);
    ``skipped`` one line per folder and kind of unmatched name."""

    mask_dir: str
    runs: list[dict[str, Any]]
    skipped: list[str]

    def summary(self) -> dict[str, Any]:
        """The dataset figures per model as plain data, without curves and per-image
        figures (what ``--json`` prints)."""
        from .sod import SCALAR_KEYS

        return {
            "mask_dir": self.mask_dir,
            "models": [
                {
                    **{k: v for k, v in run.items() if k not in ("results", "per_image")},
                    "results": {key: run["results"][key] for key in SCALAR_KEYS},
                }
                for run in self.runs
            ],
        }

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write ``.json`` (dataset figures, 256-threshold curves, per-image figures) or
        ``.csv`` (one row per image and a ``(dataset)`` row per model), atomically."""
        from .sod import CURVE_KEYS, SCALAR_KEYS

        out = _check_out_suffix(path)
        assert out is not None
        if out.suffix.lower() == ".json":
            payload = {
                "mask_dir": self.mask_dir,
                "thresholds": "curves are indexed by t = 0..255, pixel predicted when "
                "floor(255 * p) >= t",
                "models": [
                    {
                        **{k: v for k, v in run.items() if k != "results"},
                        "results": {
                            key: (value.tolist() if key in CURVE_KEYS else value)
                            for key, value in run["results"].items()
                        },
                    }
                    for run in self.runs
                ],
            }
            with atomic_write(out, "w") as handle:
                json.dump(payload, handle, indent=1)
            return out
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["model", "image", *SCALAR_KEYS])
        for run in self.runs:
            for stem, figures in run["per_image"].items():
                writer.writerow([run["model"], stem, *(repr(figures[k]) for k in SCALAR_KEYS)])
            writer.writerow(
                [run["model"], "(dataset)", *(repr(run["results"][k]) for k in SCALAR_KEYS)]
            )
        with atomic_write(out, "w") as handle:
            handle.write(buffer.getvalue())
        return out


def evaluate_sod_folders(
    pred_dirs: list[str | os.PathLike[str]],
    mask_dir: str | os.PathLike[str],
    *,
    resize: bool = False,
    allow_missing: bool = False,
    mask_threshold: float = MASK_THRESHOLD,
    strict_masks: bool = False,
    workers: int = 1,
    show_progress: bool = False,
) -> SODFolderEvaluation:
    """Score each folder of predicted maps against the masks in ``mask_dir`` with every
    salient-object figure of :class:`attnvision.saliency.sod.SODEvaluator`.

    Args:
        pred_dirs: one or more folders of predictions; each is one "model", named by its
            folder name (the full path when two folders share a name).
        mask_dir: folder of masks, matched by name without extension; grey masks are
            binarised at ``> mask_threshold`` of 255 (PySODMetrics' 128), or refused with
            ``strict_masks`` unless 0/255 (see :mod:`attnvision.saliency.sod`).
        resize: resize predictions to their mask (bilinear); otherwise a size mismatch is
            an error.
        allow_missing: evaluate the matched pairs when names do not match.
        workers: processes scoring the images (``0``: one per CPU core); the figures are
            the same for any number (:mod:`attnvision.saliency.workers`).

    Raises:
        ValueError: unmatched names (without ``allow_missing``), no match at all, an
            unreadable file, a mask out of range (or not binary with ``strict_masks``) or a
            size mismatch, naming the file.
    """
    from . import sod
    from .workers import SODTask, check_workers, ordered_map, score_sod_image

    check_workers(workers)
    names = [Path(d).name or str(d) for d in pred_dirs]
    if len(set(names)) < len(names):
        names = [str(d) for d in pred_dirs]
    runs, skipped = [], []
    for name, pred_dir in zip(names, pred_dirs):
        pairs, no_pred, no_mask = sod.match_by_stem(pred_dir, mask_dir)
        problems = [
            *_unmatched("mask(s) without a prediction", no_pred),
            *_unmatched("prediction(s) without a mask", no_mask),
        ]
        if problems and not allow_missing:
            raise ValueError(
                f"{pred_dir} and {mask_dir} do not match by file name: {'; '.join(problems)} "
                f"(pass --allow-missing to evaluate the {len(pairs)} matched pair(s))"
            )
        skipped += [f"{name}: {problem}" for problem in problems]
        if not pairs:
            raise ValueError(f"no prediction in {pred_dir} matches a mask in {mask_dir}")
        evaluator = sod.SODEvaluator(
            resize=resize, mask_threshold=mask_threshold, strict_masks=strict_masks
        )
        options = (
            ("resize", resize),
            ("mask_threshold", evaluator.mask_threshold),
            ("strict_masks", evaluator.strict_masks),
        )
        tasks = [SODTask(pred_path, mask_path, options) for _, pred_path, mask_path in pairs]
        scored = ordered_map(
            score_sod_image, tasks, workers=workers, desc=name, show_progress=show_progress
        )
        per_image = {stem: evaluator.add(scores) for (stem, _, _), scores in zip(pairs, scored)}
        runs.append(
            {
                "model": name,
                "pred_dir": str(pred_dir),
                "images": evaluator.count,
                "masks_without_prediction": no_pred,
                "predictions_without_mask": no_mask,
                "results": evaluator.results(),
                "per_image": per_image,
            }
        )
    return SODFolderEvaluation(str(mask_dir), runs, skipped)
