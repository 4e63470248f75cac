"""Fixation-saliency commands: ``saliency maps|evaluate|predict``.

Each parses its options, calls one function of :mod:`attnvision.saliency.writers` or
:mod:`attnvision.saliency.folders` and prints the result (warnings on stderr).
"""

from __future__ import annotations

import argparse

from .output import print_json, print_table, warn


def add_workers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes scoring the images (0: one per CPU core; default 1); the figures are "
        "the same for any N",
    )


def check_out(out: str | None) -> None:
    from attnvision.saliency.folders import _check_out_suffix

    _check_out_suffix(out)  # a bad --out fails before any work


def _cmd_maps(args: argparse.Namespace) -> int:
    from attnvision.saliency.writers import write_density_maps

    sigma, unit = (args.sigma_deg, "deg") if args.sigma_deg is not None else (args.sigma_px, "px")
    report = write_density_maps(
        args.fixations,
        args.out_dir,
        sigma,
        unit=unit,
        ppd=args.ppd,
        shape=tuple(args.shape) if args.shape else None,
        stimuli=args.stimuli,
        origin=1 if args.one_based else 0,
        npy=args.npy,
        allow_missing=args.allow_missing,
        show_progress=not args.quiet,
    )
    if report.skipped_without_image:
        names = report.skipped_without_image
        warn(args.prog, f"skipped {len(names)} entries without an image: {', '.join(names[:20])}")
    print(f"wrote {report.written} maps to {args.out_dir} (sigma {report.sigma_px:g} px)")
    if report.dropped_fixations:
        warn(
            args.prog,
            f"dropped {report.dropped_fixations} fixations outside their image "
            f"(in {report.images_with_dropped} images)",
        )
    if report.empty:
        warn(
            args.prog,
            f"no fixation inside the image, no map written for {len(report.empty)}: "
            + ", ".join(report.empty[:20]),
        )
    return 0


def _metric_names(items: list[str] | None) -> list[str]:
    return [m.strip() for item in (items or []) for m in item.split(",") if m.strip()]


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from attnvision.saliency.folders import evaluate_folders

    check_out(args.out)
    result = evaluate_folders(
        args.pred_dir,
        args.gt_dir,
        fixations=args.fixations,
        metrics=_metric_names(args.metrics),
        baseline=args.baseline,
        resize=args.resize,
        allow_missing=args.allow_missing,
        seed=args.seed,
        origin=1 if args.one_based else 0,
        workers=args.workers,
        show_progress=not args.quiet,
    )
    for problem in result.skipped:
        warn(args.prog, f"skipped {problem}")
    if result.dropped_fixations:
        warn(args.prog, f"dropped {result.dropped_fixations} fixations outside their image")
    written = result.write(args.out) if args.out else None
    if args.json:
        print_json(result.summary())
        return 0
    print_table(
        ["metric", "mean", "images"],
        [(m, result.results[m], result.counts[m]) for m in result.metrics],
    )
    if written is not None:
        print(f"wrote {written}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from attnvision.saliency.writers import write_predictions

    if args.format == "benchmark":
        from attnvision.saliency.interop import write_benchmark_predictions

        if args.overlay or args.colorbar:
            raise ValueError("--overlay/--colorbar write pictures, not part of --format benchmark")
        written = write_benchmark_predictions(
            args.images,
            args.out,
            model=args.kind,
            weights=args.weights,
            image_format=args.image_format,
            show_progress=not args.quiet,
        )
        print(
            f"wrote {len(written)} {args.kind} maps to {args.out} (benchmark .{args.image_format})"
        )
        return 0
    if args.image_format != "png":
        raise ValueError("--image-format is for --format benchmark (maps are .png and .npy)")
    done = write_predictions(
        args.images,
        args.out,
        kind=args.kind,
        weights=args.weights,
        overlay=args.overlay or args.colorbar,
        colorbar=args.colorbar,
        show_progress=not args.quiet,
    )
    extra = f", {len(done.overlays)} overlays in {args.out}/overlays" if done.overlays else ""
    print(f"wrote {len(done.maps)} {args.kind} maps to {args.out} (.png, .npy){extra}")
    return 0


def _add_maps(commands: argparse._SubParsersAction) -> None:
    m = commands.add_parser(
        "maps",
        help="ground-truth saliency maps (PNG, 0..1) from eye fixations",
        description="Pool each image's fixations, blur them with a Gaussian (sigma in pixels, "
        "or in degrees with --ppd) and write OUT_DIR/<image>.png scaled to 0..255 "
        "(and .npy with --npy). FIXATIONS is a folder of per-image .csv/.json files "
        "(x, y[, observer, duration]) or an OSIE-style fixations.mat. Fixations outside "
        "the image are dropped and counted, never moved.",
    )
    m.add_argument("fixations", metavar="FIXATIONS", help="folder of .csv/.json, or a .mat")
    m.add_argument("out_dir", metavar="OUT_DIR", help="output folder")
    sigma = m.add_mutually_exclusive_group(required=True)
    sigma.add_argument("--sigma-deg", type=float, help="Gaussian sigma in degrees (needs --ppd)")
    sigma.add_argument("--sigma-px", type=float, help="Gaussian sigma in pixels")
    m.add_argument("--ppd", type=float, help="pixels per degree (OSIE: 24, see OSIE_PPD)")
    m.add_argument("--shape", type=int, nargs=2, metavar=("H", "W"), help="image size")
    m.add_argument("--stimuli", help="folder of the images (their sizes), instead of --shape")
    m.add_argument("--one-based", action="store_true", help="CSV/JSON coordinates are 1-based")
    m.add_argument("--npy", action="store_true", help="also write the 0..1 map as .npy")
    m.add_argument(
        "--allow-missing", action="store_true", help="skip (and list) entries without an image"
    )
    m.add_argument("--quiet", action="store_true", help="no progress")
    m.set_defaults(func=_cmd_maps, prog=m.prog)


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    e = commands.add_parser(
        "evaluate",
        help="MIT-benchmark fixation metrics of predicted maps",
        description="Evaluate the maps in PRED_DIR against the ground-truth density maps in "
        "GT_DIR (matched by file name without extension) with the metrics of "
        "attnvision.saliency.metrics. Fixation-based metrics (AUC, NSS, IG) need "
        "--fixations. Prints the mean per metric; --out writes .csv (one row per image and "
        "a '(mean)' row) or .json.",
    )
    e.add_argument("pred_dir", metavar="PRED_DIR", help="folder of predicted maps")
    e.add_argument("gt_dir", metavar="GT_DIR", help="folder of ground-truth density maps")
    e.add_argument("--fixations", help="folder of per-image .csv/.json, or a .mat (OSIE)")
    e.add_argument(
        "--metrics",
        nargs="+",
        help="metric names (space or comma separated): auc_judd auc_borji auc_shuffled nss "
        "cc kld sim info_gain emd (default: auc_judd auc_borji nss cc kld sim, or cc kld "
        "sim without --fixations)",
    )
    e.add_argument("--baseline", help="baseline map for info_gain (e.g. a centre bias)")
    e.add_argument("--out", help="results file, .json or .csv (written atomically)")
    e.add_argument(
        "--resize",
        action="store_true",
        help="resize predictions to the ground truth (bilinear); otherwise a size mismatch "
        "is an error",
    )
    e.add_argument(
        "--allow-missing",
        action="store_true",
        help="evaluate the matched images when names do not match (they are still listed)",
    )
    e.add_argument("--seed", type=int, default=0, help="seed of AUC-Borji / shuffled AUC")
    e.add_argument("--one-based", action="store_true", help="CSV/JSON coordinates are 1-based")
    add_workers(e)
    e.add_argument("--quiet", action="store_true", help="no progress")
    e.add_argument(
        "--json", action="store_true", help="print one JSON document (figures per metric)"
    )
    e.set_defaults(func=_cmd_evaluate, prog=e.prog)


def _add_predict(commands: argparse._SubParsersAction) -> None:
    pr = commands.add_parser(
        "predict",
        help="saliency maps from the trained networks shipped with attnvision",
        description="Predict a saliency map for each IMAGE (files, or folders of images) with "
        "the network shipped in attnvision/weights (or --weights): --kind fixation (where "
        "people look; trained on OSIE) or object (salient-object probability; trained on "
        "SOD). Writes OUT/<image>.png (0..255 at the image's size) and OUT/<image>.npy "
        "(float 0..1), which saliency evaluate and sod evaluate read as they are; with "
        "--overlay also OUT/overlays/<image>.png (the map over the image, at its size).",
    )
    pr.add_argument("images", metavar="IMAGE", nargs="+", help="image files or folders")
    pr.add_argument(
        "--kind",
        choices=["fixation", "object"],
        default="fixation",
        help="fixation: where people look (density scaled to max 1); object: salient-object "
        "probability (default fixation)",
    )
    pr.add_argument("--out", required=True, help="output folder")
    pr.add_argument(
        "--format",
        choices=["maps", "benchmark"],
        default="maps",
        help="maps: OUT/<image>.png and .npy (default); benchmark: one 8-bit map per image "
        "named and sized as the image, as the MIT/Tuebingen benchmark takes submissions",
    )
    pr.add_argument(
        "--image-format",
        choices=["png", "jpg"],
        default="png",
        help="file type of --format benchmark maps (default png)",
    )
    pr.add_argument("--weights", help="other weights (a file written by save_weights)")
    pr.add_argument("--overlay", action="store_true", help="also write OUT/overlays/<image>.png")
    pr.add_argument(
        "--colorbar", action="store_true", help="overlays with a colour bar (implies --overlay)"
    )
    pr.add_argument("--quiet", action="store_true", help="no progress")
    pr.set_defaults(func=_cmd_predict, prog=pr.prog)


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``saliency maps|evaluate|predict``."""
    p = sub.add_parser(
        "saliency", help="fixation saliency: ground-truth maps, evaluation, trained predictors"
    )
    commands = p.add_subparsers(dest="saliency_command", metavar="SALIENCY_COMMAND", required=True)
    _add_maps(commands)
    _add_evaluate(commands)
    _add_predict(commands)
