"""The ``attnvision`` command: parses arguments, calls the library, prints.

Every sub-command is added by one ``_add_*`` function below. User errors
(``ValueError``, ``TypeError``, ``FileNotFoundError``, ``UserError``) print one line on
stderr and exit with code 2; results are written atomically, so a failed run never
damages what an earlier run wrote.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

EXIT_USER_ERROR = 2


class UserError(Exception):
    """A problem with what the user asked for (bad path, bad option, bad file)."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _cmd_list(args: argparse.Namespace) -> int:
    from attnvision.layers import list_attention
    from attnvision.models import list_models

    if args.what in ("all", "models"):
        print("models:", ", ".join(list_models()))
    if args.what in ("all", "attention", "blocks"):
        print("attention:", ", ".join(list_attention()))
    return 0


def _add_list(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list the registered models and attention blocks")
    p.add_argument(
        "what", nargs="?", default="all", choices=["all", "models", "attention", "blocks"]
    )
    p.set_defaults(func=_cmd_list)


def _split_config_args(items: list[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG] [key=value ...]`` -> (config path or None, overrides)."""
    paths = [item for item in items if "=" not in item]
    overrides = [item for item in items if "=" in item]
    if len(paths) > 1:
        raise UserError(f"expected one config file and key=value overrides, got {paths}")
    return (paths[0] if paths else None), overrides


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from attnvision.engine import fit, load_config

    path, overrides = _split_config_args(args.items)
    if args.out:
        overrides.append(f"out={args.out}")
    config = load_config(path, overrides)
    resume = args.resume or (args.auto_resume and (Path(config.out) / "last.pt").is_file())
    result = fit(config, resume=resume)
    if result.out is not None and _is_main_process():
        print(
            f"{config.model.name} attention={config.model.attention or 'none'}: "
            f"test accuracy {result.accuracy:.4f}, loss {result.loss:.4f}, "
            f"{result.params:,} parameters, {result.train_seconds:.1f} s training -> {result.out}"
        )
    return 0


def _is_main_process() -> bool:
    import os

    return int(os.environ.get("RANK", "0")) == 0


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train one model from a YAML config with key=value overrides",
        description=(
            "Train a model. CONFIG is a YAML file (see configs/); overrides are dotted "
            "key=value pairs, e.g. optim.lr=0.1 data.name=mnist. Under torchrun "
            "(torchrun --nproc_per_node=N -m attnvision train ...) it runs "
            "DistributedDataParallel; data.batch_size is the global batch."
        ),
    )
    p.add_argument("items", nargs="*", metavar="CONFIG|key=value")
    p.add_argument("--out", help="run folder (same as out=DIR)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt exactly")
    p.add_argument(
        "--auto-resume",
        action="store_true",
        help="resume when OUT/last.pt exists, else start (for torchrun --max_restarts)",
    )
    p.set_defaults(func=_cmd_train)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from attnvision.engine import build_datasets, build_model, evaluate, load_checkpoint
    from attnvision.engine.checkpoint import load_model_state
    from attnvision.engine.config import apply_overrides, config_from_dict
    from attnvision.engine.data import dataset_info

    ckpt = load_checkpoint(args.checkpoint)
    if not isinstance(ckpt.get("config"), dict) or not isinstance(ckpt.get("meta"), dict):
        raise UserError(f"{args.checkpoint} has no run config; was it written by attnvision train?")
    config = config_from_dict(apply_overrides(ckpt["config"], list(args.items)))
    _, test = build_datasets(config.data)
    num_classes, in_channels = dataset_info(test)
    model = build_model(config.model, ckpt["meta"].get("num_classes", num_classes), in_channels)
    load_model_state(model, ckpt["model"], str(args.checkpoint))
    metrics = evaluate(model, test, batch_size=config.data.eval_batch_size)
    if args.json:
        print(json.dumps({**metrics, "images": len(test), "checkpoint": str(args.checkpoint)}))
    else:
        print(
            f"{config.model.name} attention={config.model.attention or 'none'} on "
            f"{config.data.name} test ({len(test)} images): accuracy {metrics['accuracy']:.4f}, "
            f"loss {metrics['loss']:.4f}"
        )
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="test accuracy of a checkpoint",
        description="Evaluate CHECKPOINT on the test split of its own data config; "
        "key=value overrides change it (e.g. data.root=DIR).",
    )
    p.add_argument("checkpoint")
    p.add_argument("items", nargs="*", metavar="key=value")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    p.set_defaults(func=_cmd_evaluate)


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"--input expected N,C,H,W (e.g. 1,3,32,32), got {text!r}") from None
    if len(shape) != 4 or min(shape) < 1:
        raise UserError(f"--input expected 4 positive sizes N,C,H,W, got {text!r}")
    return shape


def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from attnvision.engine.bench import profile

    shape = _parse_shape(args.input)
    rows = []
    torch.manual_seed(0)
    x = torch.rand(shape)
    names = [n.strip() for n in args.attention.split(",") if n.strip()]
    if args.block:
        from attnvision.layers import create_attention

        for name in [n.strip() for n in args.block.split(",") if n.strip()]:
            block = create_attention(name, channels=shape[1])
            rows.append((name, profile(block, x, repeats=args.repeats, threads=args.threads)))
    else:
        from attnvision.models import create_model

        for name in names:
            kwargs = {"num_classes": args.num_classes}
            if name != "none":
                kwargs["attention"] = name
            model = create_model(args.model, **kwargs)
            rows.append(
                (
                    f"{args.model}+{name}",
                    profile(model, x, repeats=args.repeats, threads=args.threads),
                )
            )
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'params':>12}  {'MFLOPs':>10}  {'latency ms':>10}   input {shape}")
    for label, r in rows:
        print(
            f"{label:<{width}}  {r['params']:>12,}  {r['flops'] / 1e6:>10.2f}  "
            f"{r['latency_ms']:>10.3f}"
        )
    return 0


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="parameters, FLOPs and CPU latency of models or attention blocks",
        description="Cost of models (--model with --attention list) or of blocks (--block "
        "list) on one input: parameters, FLOPs (torch.utils.flop_counter) and median latency.",
    )
    p.add_argument("--model", default="cnn", help="model name (default cnn)")
    p.add_argument("--attention", default="none,se,eca,cbam", help="comma-separated names")
    p.add_argument("--block", help="comma-separated attention blocks to bench instead")
    p.add_argument("--input", default="1,1,60,60", help="input shape N,C,H,W")
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=None)
    p.set_defaults(func=_cmd_bench)


def _short_list(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _cmd_sod_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from attnvision.saliency import sod

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".json", ".csv"):
        raise UserError(f"expected --out to end in .json or .csv, got {str(out)!r}")
    names = [Path(d).name or str(d) for d in args.pred_dirs]
    if len(set(names)) < len(names):
        names = [str(d) for d in args.pred_dirs]
    runs = []
    for name, pred_dir in zip(names, args.pred_dirs):
        pairs, no_pred, no_mask = sod.match_by_stem(pred_dir, args.mask_dir)
        problems = []
        if no_pred:
            problems.append(f"{len(no_pred)} mask(s) without a prediction: {_short_list(no_pred)}")
        if no_mask:
            problems.append(f"{len(no_mask)} prediction(s) without a mask: {_short_list(no_mask)}")
        if problems and not args.allow_missing:
            raise UserError(
                f"{pred_dir} and {args.mask_dir} do not match by file name: "
                f"{'; '.join(problems)} (pass --allow-missing to evaluate the "
                f"{len(pairs)} matched pair(s))"
            )
        for problem in problems:
            print(f"attnvision sod: warning: {name}: skipped {problem}", file=sys.stderr)
        if not pairs:
            raise UserError(f"no prediction in {pred_dir} matches a mask in {args.mask_dir}")
        evaluator = sod.SODEvaluator(resize=args.resize)
        per_image = {}
        for stem, pred_path, mask_path in tqdm(
            pairs, desc=name, unit="img", disable=args.quiet or None, file=sys.stderr, leave=False
        ):
            pred, mask = sod.read_prediction(pred_path), sod.read_mask(mask_path)
            if pred.shape != mask.shape and not args.resize:
                raise UserError(
                    f"prediction {pred_path} has shape {tuple(pred.shape)} but mask {mask_path} "
                    f"has shape {tuple(mask.shape)} (pass --resize to resize predictions)"
                )
            try:
                per_image[stem] = evaluator.update(pred, mask)
            except ValueError as exc:
                raise UserError(f"{pred_path}: {exc}") from None
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
    _print_sod_table(runs)
    if out is not None:
        _write_sod_results(str(out), runs, str(args.mask_dir))
        print(f"wrote {out}")
    return 0


_SOD_COLUMNS = (
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


def _print_sod_table(runs: list[dict]) -> None:
    width = max(5, *(len(run["model"]) for run in runs))
    header = f"{'model':<{width}} {'images':>6} " + " ".join(f"{t:>6}" for _, t in _SOD_COLUMNS)
    print(header)
    for run in runs:
        values = " ".join(f"{run['results'][key]:>6.4f}" for key, _ in _SOD_COLUMNS)
        print(f"{run['model']:<{width}} {run['images']:>6} {values}")


def _write_sod_results(path: str, runs: list[dict], mask_dir: str) -> None:
    import csv
    import io
    import json
    from pathlib import Path

    from attnvision._utils import atomic_write
    from attnvision.saliency.sod import CURVE_KEYS, SCALAR_KEYS

    out = Path(path)
    if out.suffix.lower() == ".json":
        payload = {
            "mask_dir": mask_dir,
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
                for run in runs
            ],
        }
        with atomic_write(out, "w") as handle:
            json.dump(payload, handle, indent=1)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["model", "image", *SCALAR_KEYS])
    for run in runs:
        for stem, figures in run["per_image"].items():
            writer.writerow([run["model"], stem, *(repr(figures[k]) for k in SCALAR_KEYS)])
        writer.writerow(
            [run["model"], "(dataset)", *(repr(run["results"][k]) for k in SCALAR_KEYS)]
        )
    with atomic_write(out, "w") as handle:
        handle.write(buffer.getvalue())


def _add_sod(sub: argparse._SubParsersAction) -> None:
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
    e.add_argument("mask_dir", metavar="MASK_DIR", help="folder of binary masks (0/255)")
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
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_sod_evaluate)


def _cmd_compare(args: argparse.Namespace) -> int:
    from attnvision.engine.compare import DEMO_DEFAULTS, compare, format_table
    from attnvision.engine.config import load_config

    path, overrides = _split_config_args(args.items)
    if args.attention:
        names = [n.strip() for n in args.attention.split(",") if n.strip()]
        overrides.append("compare.attention=[" + ",".join(names) + "]")
    if args.data:
        overrides.append(f"data.name={args.data}")
        if args.data != "digits":
            overrides += ["data.distortion=null", "data.copies=1"]
    if args.distortion:
        overrides.append(f"data.distortion={args.distortion}")
    if args.root:
        overrides.append(f"data.root={args.root}")
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    if args.out:
        overrides.append(f"out={args.out}")
    config = load_config(path, overrides, base=DEMO_DEFAULTS)
    results = compare(config)
    print(format_table(results))
    print(f"report: {config.out}/report.md, {config.out}/report.html")
    return 0


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="train one network per attention type and write a comparison report",
        description=(
            "Train one network per attention type (default: none, se, eca, cbam, stn) on one "
            "dataset with one budget and write OUT/report.md, report.html, results.json, "
            "results.csv, training curves and attention-map pictures. Default: cluttered "
            "built-in digits (no network, no data needed). An optional YAML CONFIG and "
            "key=value overrides set anything else (e.g. optim.lr=0.01)."
        ),
    )
    p.add_argument("items", nargs="*", metavar="CONFIG|key=value")
    p.add_argument("--out", help="report folder (default runs/compare)")
    p.add_argument("--attention", help="comma-separated names, e.g. none,se,cbam,stn")
    p.add_argument("--data", help="digits (default), mnist, cifar10 or folder")
    p.add_argument("--distortion", help="e.g. cluttered, translated, rts (digits and mnist)")
    p.add_argument("--root", help="data folder for mnist, cifar10 or folder")
    p.add_argument("--epochs", type=int, help="epochs per model")
    p.set_defaults(func=_cmd_compare)


def _saliency_sizes(args: argparse.Namespace, stems: list[str]) -> dict[str, tuple[int, int]]:
    """Image size per stem, from --shape or from the images in --stimuli."""
    from pathlib import Path

    from PIL import Image

    if args.shape:
        h, w = args.shape
        if h < 1 or w < 1:
            raise UserError(f"expected a positive --shape H W, got {h} {w}")
        return dict.fromkeys(stems, (h, w))
    if not args.stimuli:
        raise UserError("expected the image size: pass --shape H W or --stimuli DIR")
    folder = Path(args.stimuli)
    if not folder.is_dir():
        raise UserError(f"stimuli folder not found: {folder}")
    sizes = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"):
            try:
                with Image.open(p) as img:
                    sizes[p.stem] = (img.height, img.width)
            except OSError as exc:
                raise UserError(f"{p}: cannot read as an image ({exc})") from None
    return sizes


def _cmd_saliency_maps(args: argparse.Namespace) -> int:
    import warnings
    from pathlib import Path

    import numpy as np
    from PIL import Image
    from tqdm import tqdm

    from attnvision._utils import atomic_save
    from attnvision.saliency.datasets import read_fixation_source
    from attnvision.saliency.density import density_map, to_unit_range

    if args.sigma_deg is not None:
        if args.ppd is None:
            raise UserError("--sigma-deg needs --ppd (pixels per degree of visual angle)")
        sigma, unit = args.sigma_deg, "deg"
    else:
        sigma, unit = args.sigma_px, "px"
    if not (sigma > 0) or (args.ppd is not None and not args.ppd > 0):
        raise UserError(f"expected a positive sigma and ppd, got sigma={sigma} ppd={args.ppd}")
    fixations = read_fixation_source(args.fixations, origin=1 if args.one_based else 0)
    sizes = _saliency_sizes(args, list(fixations))
    missing = sorted(set(fixations) - set(sizes))
    if missing and not args.allow_missing:
        raise UserError(
            f"{len(missing)} fixation entries have no image in {args.stimuli}: "
            f"{_short_list(missing)} (pass --allow-missing to skip them)"
        )
    if missing:
        print(
            f"attnvision saliency: warning: skipped {len(missing)} entries without an image: "
            f"{_short_list(missing)}",
            file=sys.stderr,
        )
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stems = [s for s in fixations if s in sizes]
    dropped_total, dropped_images, empty = 0, 0, []
    for stem in tqdm(stems, unit="map", disable=args.quiet or None, file=sys.stderr, leave=False):
        rows = fixations[stem]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                dens, dropped = density_map(
                    rows, sizes[stem], sigma, unit=unit, ppd=args.ppd, return_dropped=True
                )
            except ValueError:
                empty.append(stem)
                continue
        dropped_total += dropped
        dropped_images += bool(dropped)
        unit_map = to_unit_range(dens)
        png = Image.fromarray(np.round(unit_map * 255.0).astype(np.uint8))
        atomic_save(out_dir / f"{stem}.png", lambda f, png=png: png.save(f, format="PNG"))
        if args.npy:
            atomic_save(out_dir / f"{stem}.npy", lambda f, m=unit_map: np.save(f, m))
    sigma_px = sigma * (args.ppd if unit == "deg" else 1.0)
    print(f"wrote {len(stems) - len(empty)} maps to {out_dir} (sigma {sigma_px:g} px)")
    if dropped_total:
        print(
            f"attnvision saliency: warning: dropped {dropped_total} fixations outside their "
            f"image (in {dropped_images} images)",
            file=sys.stderr,
        )
    if empty:
        print(
            f"attnvision saliency: warning: no fixation inside the image, no map written for "
            f"{len(empty)}: {_short_list(empty)}",
            file=sys.stderr,
        )
    return 0


_SALIENCY_FIXATION_METRICS = ("auc_judd", "auc_borji", "auc_shuffled", "nss", "info_gain")


def _cmd_saliency_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from tqdm import tqdm

    from attnvision.saliency import metrics as M
    from attnvision.saliency.datasets import (
        list_maps,
        read_fixation_source,
        read_map,
        resize_map,
    )
    from attnvision.saliency.density import fixation_map

    out = Path(args.out) if args.out else None
    if out is not None and out.suffix.lower() not in (".json", ".csv"):
        raise UserError(f"expected --out to end in .json or .csv, got {str(out)!r}")
    names = [m.strip() for item in (args.metrics or []) for m in item.split(",") if m.strip()]
    if not names:
        names = list(M.DEFAULT_METRICS) if args.fixations else ["cc", "kld", "sim"]
    needs_fix = [m for m in names if m in _SALIENCY_FIXATION_METRICS]
    if needs_fix and not args.fixations:
        raise UserError(f"metrics {', '.join(needs_fix)} need --fixations DIR|FILE.mat")
    if "info_gain" in names and not args.baseline:
        raise UserError("metric info_gain needs --baseline MAP")
    evaluator = M.SaliencyEvaluator(names, seed=args.seed)
    preds = list_maps(args.pred_dir)
    gts = list_maps(args.gt_dir)
    fixations = None
    if args.fixations:
        fixations = read_fixation_source(args.fixations, origin=1 if args.one_based else 0)
    problems = []
    no_pred = sorted(set(gts) - set(preds))
    no_gt = sorted(set(preds) - set(gts))
    if no_pred:
        problems.append(
            f"{len(no_pred)} ground-truth map(s) without a prediction: {_short_list(no_pred)}"
        )
    if no_gt:
        problems.append(
            f"{len(no_gt)} prediction(s) without a ground-truth map: {_short_list(no_gt)}"
        )
    no_fix = sorted(set(gts) - set(fixations)) if fixations is not None else []
    if no_fix:
        problems.append(
            f"{len(no_fix)} ground-truth map(s) without fixations: {_short_list(no_fix)}"
        )
    if problems and not args.allow_missing:
        raise UserError(
            f"{args.pred_dir} and {args.gt_dir} do not match by file name: "
            f"{'; '.join(problems)} (pass --allow-missing to evaluate the matched ones)"
        )
    for problem in problems:
        print(f"attnvision saliency: warning: skipped {problem}", file=sys.stderr)
    stems = [s for s in gts if s in preds and (fixations is None or s in fixations)]
    if not stems:
        raise UserError(f"no prediction in {args.pred_dir} matches a map in {args.gt_dir}")

    def read(path: Path) -> np.ndarray:
        try:
            return read_map(path)
        except ValueError as exc:
            raise UserError(str(exc)) from None

    shapes = {s: read(gts[s]).shape for s in stems} if fixations is not None else {}
    fix_maps = {}
    dropped_total = 0
    for s in stems if fixations is not None else []:
        fix_maps[s], dropped = fixation_map(
            fixations[s], shapes[s], return_dropped=True, warn=False
        )
        dropped_total += dropped
    rng = np.random.default_rng(args.seed)
    baseline = read(Path(args.baseline)) if args.baseline else None
    for stem in tqdm(stems, unit="img", disable=args.quiet or None, file=sys.stderr, leave=False):
        gt = read(gts[stem])
        pred = read(preds[stem])
        if pred.shape != gt.shape:
            if not args.resize:
                raise UserError(
                    f"prediction {preds[stem]} has shape {pred.shape} but ground truth "
                    f"{gts[stem]} has shape {gt.shape} (pass --resize to resize predictions)"
                )
            pred = resize_map(pred, gt.shape)
        kwargs = {}
        if fixations is not None:
            kwargs["fixation_map"] = fix_maps[stem]
        if "auc_shuffled" in names:
            others = [s for s in stems if s != stem]
            if not others:
                raise UserError("auc_shuffled needs fixations of at least 2 images")
            pick = rng.choice(len(others), size=min(10, len(others)), replace=False)
            other = np.zeros(gt.shape)
            for i in pick:
                rows = fixations[others[i]].copy()
                oh, ow = shapes[others[i]]
                rows[:, 0] *= gt.shape[1] / ow  # other images' fixations, scaled to this size
                rows[:, 1] *= gt.shape[0] / oh
                other += fixation_map(rows, gt.shape, warn=False)
            kwargs["other_fixation_map"] = other
        if baseline is not None:
            kwargs["baseline_map"] = (
                baseline if baseline.shape == gt.shape else resize_map(baseline, gt.shape)
            )
        try:
            evaluator.update(pred, density_map=gt, name=stem, **kwargs)
        except ValueError as exc:
            raise UserError(f"{preds[stem]}: {exc}") from None
    results = evaluator.results()
    counts = evaluator.counts()
    print(f"{'metric':<14} {'mean':>10} {'images':>7}")
    for m in evaluator.metrics:
        print(f"{m:<14} {results[m]:>10.4f} {counts[m]:>7}")
    if dropped_total:
        print(
            f"attnvision saliency: warning: dropped {dropped_total} fixations outside their image",
            file=sys.stderr,
        )
    if out is not None:
        _write_saliency_results(out, evaluator, args, no_pred, no_gt, no_fix)
        print(f"wrote {out}")
    return 0


def _write_saliency_results(out, evaluator, args, no_pred, no_gt, no_fix) -> None:
    import csv
    import io
    import json

    from attnvision._utils import atomic_write

    metrics = list(evaluator.metrics)
    if out.suffix.lower() == ".json":
        payload = {
            "pred_dir": str(args.pred_dir),
            "gt_dir": str(args.gt_dir),
            "fixations": str(args.fixations) if args.fixations else None,
            "seed": args.seed,
            "metrics": metrics,
            "results": evaluator.results(),
            "counts": evaluator.counts(),
            "ground_truth_without_prediction": no_pred,
            "predictions_without_ground_truth": no_gt,
            "ground_truth_without_fixations": no_fix,
            "per_image": evaluator.per_image,
        }
        with atomic_write(out, "w") as handle:
            json.dump(payload, handle, indent=1, allow_nan=True)
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", *metrics])
    for row in evaluator.per_image:
        writer.writerow([row["name"], *(repr(float(row[m])) for m in metrics)])
    res = evaluator.results()
    writer.writerow(["(mean)", *(repr(res[m]) for m in metrics)])
    with atomic_write(out, "w") as handle:
        handle.write(buffer.getvalue())


def _add_saliency(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "saliency", help="fixation saliency: ground-truth maps, evaluation, trained predictors"
    )
    commands = p.add_subparsers(dest="saliency_command", metavar="SALIENCY_COMMAND", required=True)
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
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.set_defaults(func=_cmd_saliency_maps)

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
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=_cmd_saliency_evaluate)

    pr = commands.add_parser(
        "predict",
        help="saliency maps from the trained networks shipped with attnvision",
        description="Predict a saliency map for each IMAGE with the network shipped in "
        "attnvision/weights (or --weights): --kind fixation (where people look; trained on "
        "OSIE) or object (salient-object probability; trained on SOD). Writes "
        "OUT/<image>.png (0..255 at the image's size), OUT/<image>.npy (float 0..1) and "
        "OUT/<image>_overlay.png.",
    )
    pr.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    pr.add_argument("--kind", choices=["fixation", "object"], default="fixation")
    pr.add_argument("--out", required=True, help="output folder")
    pr.add_argument("--weights", help="other weights (a file written by save_weights)")
    pr.set_defaults(func=_cmd_saliency_predict)


def _cmd_visualize(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch
    import torch.nn.functional as F

    from attnvision.engine import build_datasets, build_model, load_checkpoint
    from attnvision.engine.checkpoint import load_model_state
    from attnvision.engine.config import apply_overrides, config_from_dict
    from attnvision.explain.plot import write_pictures
    from attnvision.saliency.model import read_image

    ckpt = load_checkpoint(args.checkpoint)
    meta = ckpt.get("meta")
    if not isinstance(ckpt.get("config"), dict) or not isinstance(meta, dict):
        raise UserError(f"{args.checkpoint} has no run config; was it written by attnvision train?")
    if not isinstance(meta.get("num_classes"), int) or not isinstance(meta.get("in_channels"), int):
        raise UserError(f"{args.checkpoint} does not record num_classes and in_channels")
    config = config_from_dict(apply_overrides(ckpt["config"], list(args.items)))
    model = build_model(config.model, meta["num_classes"], meta["in_channels"])
    load_model_state(model, ckpt["model"], str(args.checkpoint))
    if args.size is not None:
        size = tuple(args.size)
        if min(size) < 1:
            raise UserError(f"--size expected positive H W, got {args.size}")
    else:
        try:
            _, test = build_datasets(config.data)
            size = tuple(test[0][0].shape[-2:])
        except (ValueError, FileNotFoundError, OSError) as exc:
            raise UserError(
                f"cannot infer the model's input size from its dataset ({exc}); pass --size H W"
            ) from None
    tensors = []
    for path in args.images:
        rgb = read_image(path)
        x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255.0
        if meta["in_channels"] == 1:
            luma = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
            x = (x * luma).sum(0, keepdim=True)
        elif meta["in_channels"] != 3:
            raise UserError(f"the model takes {meta['in_channels']} channels; images give 1 or 3")
        x = F.interpolate(x[None], size=size, mode="bilinear", align_corners=False, antialias=True)
        tensors.append(x[0].clamp(0, 1))
    images = torch.stack(tensors)
    names = [Path(p).stem for p in args.images]
    written = write_pictures(
        model,
        images,
        args.out,
        gradcam_layer=args.gradcam_layer,
        class_idx=args.class_idx,
        seed=args.seed,
    )
    with torch.no_grad():
        torch.manual_seed(args.seed)
        from attnvision.explain.gradcam import class_scores

        try:
            predicted = class_scores(model(images)).argmax(1).tolist()
        except (TypeError, ValueError):
            predicted = [None] * len(names)
    for name, pred in zip(names, predicted):
        print(f"{name}: predicted class {pred}")
    print(f"wrote {len(written)} pictures to {args.out}: " + ", ".join(p.name for p in written))
    return 0


def _add_visualize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "visualize",
        help="pictures of what a trained model attends to (attention maps, Grad-CAM, ...)",
        description="Load CHECKPOINT (written by attnvision train or compare), run it on the "
        "IMAGEs (converted to the model's channels and resized to its input size) and write "
        "PNGs into --out: attention.png (images x captured attention maps), channels.png "
        "(channel weights), transformer.png (a spatial transformer's input next to its "
        "output), glimpses.png (RAM), regions.png (DCN), gradcam.png (Grad-CAM beside the "
        "network's own spatial attention).",
    )
    p.add_argument("checkpoint", metavar="CHECKPOINT", help="a .pt written by attnvision train")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--size", type=int, nargs=2, metavar=("H", "W"), help="input size (default: the dataset's)"
    )
    p.add_argument("--gradcam-layer", help="module path for Grad-CAM (default: last Conv2d)")
    p.add_argument("--class-idx", type=int, help="class for Grad-CAM (default: the prediction)")
    p.add_argument("--seed", type=int, default=0, help="seed of the forward pass (RAM glimpses)")
    p.add_argument("items", nargs="*", metavar="KEY=VALUE", default=[], help=argparse.SUPPRESS)
    p.set_defaults(func=_cmd_visualize)


def _cmd_saliency_predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from attnvision._utils import atomic_save
    from attnvision.explain.plot import save_overlay
    from attnvision.saliency.model import predict, read_image

    if args.weights is not None and not Path(args.weights).is_file():
        raise UserError(f"weights file not found: {args.weights}")
    images = [(Path(p), read_image(p)) for p in args.images]  # all readable before writing
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for path, rgb in images:
        sal = predict(rgb, args.kind, weights=args.weights)
        png = Image.fromarray(np.round(sal * 255.0).astype(np.uint8))
        atomic_save(out / f"{path.stem}.png", lambda f, png=png: png.save(f, format="PNG"))
        atomic_save(out / f"{path.stem}.npy", lambda f, m=sal: np.save(f, m))
        save_overlay(out / f"{path.stem}_overlay.png", rgb, sal, title=f"{args.kind} saliency")
    print(f"wrote {len(images)} {args.kind} maps to {out} (.png, .npy, _overlay.png)")
    return 0


# Each entry adds one sub-command (or a group of them) to the parser.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_list,
    _add_train,
    _add_evaluate,
    _add_bench,
    _add_compare,
    _add_sod,
    _add_saliency,
    _add_visualize,
]


def build_parser() -> argparse.ArgumentParser:
    """The whole command tree (``attnvision --help`` shows it)."""
    parser = _Parser(
        prog="attnvision",
        description="Visual attention for CNNs: train, compare, evaluate and look at attention.",
    )
    from attnvision import __version__

    parser.add_argument("--version", action="version", version=f"attnvision {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for user errors)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        # key=value overrides may come after options (``train cfg.yaml --resume a.b=1``)
        if isinstance(getattr(args, "items", None), list) and all(
            "=" in e and not e.startswith("-") for e in extra
        ):
            args.items.extend(extra)
        else:
            parser.error("unrecognized arguments: " + " ".join(extra))
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("attnvision: interrupted", file=sys.stderr)
        return 130
    except (
        UserError,
        ValueError,
        TypeError,
        FileNotFoundError,
        NotADirectoryError,
        IsADirectoryError,
        PermissionError,
    ) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if (
            isinstance(
                exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)
            )
            and exc.filename
            and str(exc.filename) not in message
        ):
            message = f"{message}: {exc.filename}"
        print(f"attnvision {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except RuntimeError as exc:
        # a failed peer under torchrun: one clear line, exit 1 (not a user error)
        if type(exc).__name__ != "DistributedError":
            raise
        print(f"attnvision {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
