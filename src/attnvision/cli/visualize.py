"""``attnvision visualize``: pictures of what a trained model attends to.

Parses the options, calls :func:`attnvision.engine.visualize.visualize_run` and prints what
it wrote and what the model predicted.
"""

from __future__ import annotations

import argparse


def _cmd_visualize(args: argparse.Namespace) -> int:
    from attnvision.engine.visualize import visualize_run

    done = visualize_run(
        args.checkpoint,
        args.images,
        args.out,
        size=tuple(args.size) if args.size is not None else None,
        overrides=list(args.items),
        gradcam_layer=args.gradcam_layer,
        class_idx=args.class_idx,
        seed=args.seed,
    )
    for name, pred in zip(done.names, done.predicted):
        print(f"{name}: predicted class {pred}")
    print(
        f"wrote {len(done.written)} pictures to {args.out}: "
        + ", ".join(p.name for p in done.written)
    )
    return 0


def add(sub: argparse._SubParsersAction) -> None:
    """Add ``visualize``."""
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
    p.set_defaults(func=_cmd_visualize, prog=p.prog)
