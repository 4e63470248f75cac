"""Commands of the training engine: ``list``, ``train``, ``evaluate``, ``bench``, ``compare``.

Each parses its options, calls one function of :mod:`attnvision.engine` (or the
registries) and prints the result.
"""

from __future__ import annotations

import argparse
import os
import sys

from .output import UserError, print_json, print_table


def _cmd_list(args: argparse.Namespace) -> int:
    from attnvision.layers import list_attention
    from attnvision.models import list_models

    shown = {}
    if args.what in ("all", "models"):
        shown["models"] = list_models()
    if args.what in ("all", "attention", "blocks"):
        shown["attention"] = list_attention()
    if args.json:
        print_json(shown)
        return 0
    for key, names in shown.items():
        print(f"{key}:", ", ".join(names))
    return 0


def split_config_args(items: list[str]) -> tuple[str | None, list[str]]:
    """``[CONFIG] [key=value ...]`` -> (config path or None, overrides)."""
    paths = [item for item in items if "=" not in item]
    overrides = [item for item in items if "=" in item]
    if len(paths) > 1:
        raise UserError(f"expected one config file and key=value overrides, got {paths}")
    return (paths[0] if paths else None), overrides


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def _cmd_train(args: argparse.Namespace) -> int:
    from pathlib import Path

    from attnvision.engine import CHECKPOINT_NAME, fit, load_config

    if isinstance(args.resume, str) and ("=" in args.resume or Path(args.resume).is_file()):
        args.items.append(args.resume)  # `train --resume key=value` / `--resume CONFIG`
        args.resume = True
    path, overrides = split_config_args(args.items)
    resume_dir = args.resume if isinstance(args.resume, str) else None
    if resume_dir and args.out and Path(args.out) != Path(resume_dir):
        raise UserError(f"--resume {resume_dir} and --out {args.out} name two run folders")
    out = resume_dir or args.out
    if out:
        overrides.append(f"out={out}")
    config = load_config(path, overrides)
    folder = Path(config.out)
    resume = bool(args.resume) or (args.auto_resume and (folder / CHECKPOINT_NAME).is_file())
    if resume and path is None and (folder / "config.yaml").is_file():
        config = load_config(folder / "config.yaml", overrides)  # the run's own config
    result = fit(config, resume=resume, force=args.force)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    for note in result.notes:
        print(f"{args.prog}: note: {note}", file=sys.stderr)
    chosen = f"epoch {result.epoch}, chosen by {result.chosen_by}"
    print(
        f"{config.model.name} attention={config.model.attention or 'none'}: "
        f"test accuracy {result.accuracy:.4f}, loss {result.loss:.4f} ({chosen}), "
        f"{result.params:,} parameters, {result.train_seconds:.1f} s training -> {result.out}"
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from attnvision.engine import build_datasets, evaluate, load_run

    run = load_run(args.checkpoint, list(args.items))
    _, test = build_datasets(run.config.data)
    metrics = evaluate(run.model, test, batch_size=run.config.data.eval_batch_size)
    if args.json:
        print_json({**metrics, "images": len(test), "checkpoint": str(args.checkpoint)})
        return 0
    model = run.config.model
    print(
        f"{model.name} attention={model.attention or 'none'} on {run.config.data.name} test "
        f"({len(test)} images): accuracy {metrics['accuracy']:.4f}, loss {metrics['loss']:.4f}"
    )
    return 0


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise UserError(f"--input expected N,C,H,W (e.g. 1,3,32,32), got {text!r}") from None
    if len(shape) != 4 or min(shape) < 1:
        raise UserError(f"--input expected 4 positive sizes N,C,H,W, got {text!r}")
    return shape


def _cmd_bench(args: argparse.Namespace) -> int:
    from attnvision.engine import bench

    shape = _parse_shape(args.input)
    rows = bench(
        shape,
        model=args.model,
        attention=_names(args.attention),
        blocks=_names(args.block),
        num_classes=args.num_classes,
        repeats=args.repeats,
        threads=args.threads,
    )
    if args.json:
        print_json(
            {
                "input": list(shape),
                "threads": args.threads,
                "rows": [{"what": label, **r} for label, r in rows],
            }
        )
        return 0
    print_table(
        ["what", "params", "MFLOPs", "latency ms"],
        [
            (label, int(r["params"]), f"{r['flops'] / 1e6:.2f}", f"{r['latency_ms']:.3f}")
            for label, r in rows
        ],
    )
    print(f"input {shape}")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from attnvision.engine.compare import compare, compare_config, format_table

    path, overrides = split_config_args(args.items)
    config = compare_config(
        path,
        overrides,
        attention=_names(args.attention),
        data=args.data,
        distortion=args.distortion,
        root=args.root,
        epochs=args.epochs,
        seeds=args.seeds,
        workers=args.workers,
        out=args.out,
    )
    results = compare(config, force=args.force)
    print(format_table(results))
    print(f"report: {config.out}/report.md, {config.out}/report.html")
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``list``, ``train``, ``evaluate``, ``bench`` and ``compare``."""
    p = sub.add_parser("list", help="list the registered models and attention blocks")
    p.add_argument(
        "what", nargs="?", default="all", choices=["all", "models", "attention", "blocks"]
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_cmd_list, prog=p.prog)

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
    p.add_argument(
        "--resume",
        nargs="?",
        const=True,
        default=False,
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR (or OUT) from its last.pt exactly, with its own "
        "config.yaml unless CONFIG is given",
    )
    p.add_argument(
        "--force", action="store_true", help="replace a run already in OUT (else an error)"
    )
    p.add_argument(
        "--auto-resume",
        action="store_true",
        help="resume when OUT/last.pt exists, else start (for torchrun --max_restarts)",
    )
    p.set_defaults(func=_cmd_train, prog=p.prog)

    p = sub.add_parser(
        "evaluate",
        help="test accuracy of a checkpoint",
        description="Evaluate CHECKPOINT on the test split of its own data config; "
        "key=value overrides change it (e.g. data.root=DIR).",
    )
    p.add_argument("checkpoint")
    p.add_argument("items", nargs="*", metavar="key=value")
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_cmd_evaluate, prog=p.prog)

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
    p.add_argument("--num-classes", type=int, default=10, help="classes of the models (default 10)")
    p.add_argument(
        "--repeats", type=int, default=20, help="timed forward passes per latency (median)"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch threads while timing (default: torch's)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON document")
    p.set_defaults(func=_cmd_bench, prog=p.prog)

    p = sub.add_parser(
        "compare",
        help="train the same network with each attention type, repeated over seeds, and "
        "write a comparison report",
        description=(
            "Train the same network once per attention type (default: none, se, eca, cbam, "
            "coordatt, stn and the identity-frozen stn control), --seeds times each, on one "
            "dataset with one budget, and write OUT/report.md, report.html, results.json, "
            "results.csv, accuracy-against-cost and training-curve plots and attention-map "
            "pictures. Default: cluttered built-in digits (no network, no data needed). An "
            "optional YAML CONFIG and key=value overrides set anything else "
            "(e.g. optim.lr=0.01)."
        ),
    )
    p.add_argument("items", nargs="*", metavar="CONFIG|key=value")
    p.add_argument("--out", help="report folder (default runs/compare)")
    p.add_argument("--attention", help="comma-separated names, e.g. none,se,cbam,stn")
    p.add_argument("--data", help="digits (default), mnist, cifar10 or folder")
    p.add_argument("--distortion", help="e.g. cluttered, translated, rts (digits and mnist)")
    p.add_argument("--root", help="data folder for mnist, cifar10 or folder")
    p.add_argument("--epochs", type=int, help="epochs per run")
    p.add_argument(
        "--seeds", type=int, help="runs per row (initialisation and data order; default 3)"
    )
    p.add_argument("--workers", type=int, help="training processes at once (default: one per CPU)")
    p.add_argument(
        "--force", action="store_true", help="replace a report already in OUT (else an error)"
    )
    p.set_defaults(func=_cmd_compare, prog=p.prog)
