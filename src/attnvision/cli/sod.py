"""Salient-object command: ``sod evaluate``.

Parses its options, calls :func:`attnvision.saliency.folders.evaluate_sod_folders` and
prints one row per folder of predictions (warnings on stderr).
"""

from __future__ import annotations

import argparse

from .output import print_json, print_table, warn
from .saliency import add_workers, check_out

#: dataset figures of ``sod evaluate``'s table: key, column title
SOD_COLUMNS = (
    ("mae", "MAE"),
    ("smeasure", "S"),
    ("weighted_fmeasure", "wF"),
    ("adaptive_fmeasure", "adpF"),
    ("mean_fmeasure", "meanF"),
    ("max_fmeasure", "maxF"),
    ("adaptive_emeasure", "adpE"),
    ("mean_emeasure", "meanE"),
    ("max_emeasure", "maxE"),
)


def _cmd_sod_evaluate(args: argparse.Namespace) -> int:
    from attnvision.saliency.folders import evaluate_sod_folders

    check_out(args.out)
    result = evaluate_sod_folders(
        args.pred_dirs,
        args.mask_dir,
        resize=args.resize,
        allow_missing=args.allow_missing,
        **({} if args.mask_threshold is None else {"mask_threshold": args.mask_threshold}),
        strict_masks=args.strict_masks,
        workers=args.workers,
        show_progress=not args.quiet,
    )
    for problem in result.skipped:
        warn(args.prog, f"skipped {problem}")
    written = result.write(args.out) if args.out else None
    if args.json:
        print_json(result.summary())
        return 0
    print_table(
        ["model", "images", *(title for _, title in SOD_COLUMNS)],
        [
            (run["model"], run["images"], *(run["results"][key] for key, _ in SOD_COLUMNS))
            for run in result.runs
        ],
    )
    if written is not None:
        print(f"wrote {written}")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``sod evaluate``."""
    p = sub.add_parser("sod", help="salient-object detection: evaluate maps against masks")
    commands = p.add_subparsers(dest="sod_command", metavar="SOD_COMMAND", required=True)
    e = commands.add_parser(
        "evaluate",
        help="MAE, S-measure, F-/E-measures and weighted F of predicted maps",
        description="Evaluate each PRED_DIR against MASK_DIR (files matched by name without "
        "extension) with the salient-object metrics of attnvision.saliency.sod (PySODMetrics "
        "definitions). Prints one row per PRED_DIR; --out writes a .json (dataset figures, "
        "256-threshold curves, per-image figures) or a .csv (one row per image and a "
        "'(dataset)' row per model).",
    )
    e.add_argument("pred_dirs", nargs="+", metavar="PRED_DIR", help="folder(s) of predictions")
    e.add_argument("mask_dir", metavar="MASK_DIR", help="folder of masks (grey ones binarised)")
    e.add_argument("--out", help="results file, .json or .csv (written atomically)")
    e.add_argument(
        "--resize",
        action="store_true",
        help="resize predictions to their mask (bilinear); without it a size mismatch is an error",
    )
    e.add_argument(
        "--allow-missing",
        action="store_true",
        help="evaluate the matched pairs when names do not match (they are still listed)",
    )
    e.add_argument(
        "--mask-threshold",
        type=float,
        metavar="LEVEL",
        help="a grey mask pixel is foreground above LEVEL of 255 (default 128, PySODMetrics' "
        "gt > 128; 127 is the MATLAB toolbox's gt >= 0.5)",
    )
    e.add_argument(
        "--strict-masks",
        action="store_true",
        help="refuse masks that are not 0/255 (or 0/1) instead of binarising them",
    )
    add_workers(e)
    e.add_argument("--quiet", action="store_true", help="no progress")
    e.add_argument(
        "--json", action="store_true", help="print one JSON document (dataset figures per model)"
    )
    e.set_defaults(func=_cmd_sod_evaluate, prog=e.prog)
