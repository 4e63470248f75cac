"""Networks with attention against their plain backbone: parameters, FLOPs, CPU latency.

Every model is measured in the same run as its backbone (and, where timm has the same
network, as timm's implementation), with the repetitions interleaved
(model, backbone, peer, model, backbone, peer, ...) and medians reported, so a machine
whose load changes during the run affects all of them alike.

Usage::

    python benchmarks/models.py                                   # default set, batch 1
    python benchmarks/models.py --models se_resnet50,cbam_resnet50 --batch-sizes 1,32 \
        --repeats 7 --threads 2

Columns: params (M) and GFLOPs (``torch.utils.flop_counter.FlopCounterMode`` at batch 1,
224x224 for ImageNet models, 32x32 for CIFAR ones; 2 FLOPs per multiply-add), the
overhead over the backbone in %, median latency (ms) per batch size and its ratio to the
backbone (``x1.05`` = 5% slower) and to timm's same network where there is one.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from _timing import clock, environment, interleaved, load_average, summary_line
from attnvision._utils import count_params
from attnvision.models import create_model

# model -> its plain backbone (the same network without attention)
BACKBONE = {
    "se_resnet50": "resnet50",
    "cbam_resnet50": "resnet50",
    "eca_resnet50": "resnet50",
    "bam_resnet50": "resnet50",
    "sknet50": "resnext50_32x4d",
    "residual_attention_56": "resnet50",
    "residual_attention_92": "resnet101",
    "residual_attention_92_cifar": "resnet110",
}
for _d in (20, 32, 44, 56, 110):
    for _a in ("se", "cbam", "eca"):
        BACKBONE[f"{_a}_resnet{_d}"] = f"resnet{_d}"

# our model -> timm's implementation of the same network (same parameter count)
TIMM_PEER = {
    "resnet50": "resnet50",
    "se_resnet50": "seresnet50",
    "sknet50": "skresnext50_32x4d",
    "resnext50_32x4d": "resnext50_32x4d",
}

CIFAR = {f"resnet{d}" for d in (20, 32, 44, 56, 110)} | {"residual_attention_92_cifar"}

DEFAULT = (
    "resnet50,se_resnet50,cbam_resnet50,eca_resnet50,bam_resnet50,sknet50,residual_attention_56,"
    "se_resnet20,cbam_resnet20,eca_resnet20,residual_attention_92_cifar"
)


def input_size(name: str) -> int:
    base = name.split("_", 1)[1] if name.split("_", 1)[0] in ("se", "cbam", "eca") else name
    return 32 if name in CIFAR or base in CIFAR else 224


def count_flops(name: str, size: int) -> int:
    with torch.device("meta"):
        model = create_model(name).eval()
        x = torch.empty(1, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops()


def build(name: str, timm_peer: bool) -> nn.Module:
    if timm_peer:
        import timm

        return timm.create_model(name).eval()
    return create_model(name).eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT, help="comma-separated model names")
    parser.add_argument("--batch-sizes", default="1", help="comma-separated, e.g. 1,32")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--inner", type=int, default=0, help="calls per sample (0: auto)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--no-timm", action="store_true", help="skip timm peers")
    parser.add_argument(
        "--clock",
        choices=["wall", "cpu"],
        default="wall",
        help="wall: perf_counter; cpu: this process's CPU time (use with --threads 1 on a "
        "shared machine: time spent waiting for a core is not counted)",
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    timer = clock(args.clock)
    torch.manual_seed(0)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    batches = [int(b) for b in args.batch_sizes.split(",")]
    print(environment("benchmarks/models.py", repeats=args.repeats, clock=args.clock))
    header = "| model | backbone | params M | +params | GFLOPs | +FLOPs |"
    for b in batches:
        header += f" ms b{b} | vs backbone b{b} | vs timm b{b} |"
    print(header)
    print("|" + "---|" * (6 + 3 * len(batches)))
    done_backbones: dict[str, tuple[int, int]] = {}
    summaries: list[str] = []
    for name in names:
        backbone = BACKBONE.get(name, name)
        size = input_size(name)
        p_model = count_params(_meta(name))
        f_model = count_flops(name, size)
        if backbone not in done_backbones:
            done_backbones[backbone] = (count_params(_meta(backbone)), count_flops(backbone, size))
        p_base, f_base = done_backbones[backbone]
        row = (
            f"| {name} | {backbone} | {p_model / 1e6:.3f} | {100 * (p_model / p_base - 1):+.2f}% "
            f"| {f_model / 1e9:.3f} | {100 * (f_model / f_base - 1):+.2f}% |"
        )
        group = {"model": build(name, False)}
        if backbone != name:
            group["backbone"] = build(backbone, False)
        peer = TIMM_PEER.get(name)
        if peer and not args.no_timm:
            try:
                group["timm"] = build(peer, True)
            except ImportError:
                pass
        for b in batches:
            x = torch.randn(b, 3, size, size)
            inner = args.inner or max(1, min(200, round(5 * 224 * 224 / (b * size * size))))
            with torch.inference_mode():
                runs = {key: (lambda m=m, x=x: m(x)) for key, m in group.items()}
                med = {
                    k: 1e3 * t
                    for k, t in interleaved(runs, args.repeats, inner=inner, timer=timer).items()
                }
            vs_base = f"x{med['model'] / med['backbone']:.3f}" if "backbone" in med else "-"
            vs_timm = f"x{med['model'] / med['timm']:.3f}" if "timm" in med else "-"
            row += f" {med['model']:.1f} | {vs_base} | {vs_timm} |"
            if "timm" in med:
                summaries.append(
                    summary_line(
                        f"{name} forward vs timm's {peer}",
                        vs_timm,
                        f"{b}x3x{size}x{size}",
                        f"python benchmarks/models.py --models {name} --batch-sizes {b}",
                    )
                )
        print(row, flush=True)
        del group
    print(f"# load average at end {load_average():.2f}")
    print("\n".join(summaries))


def _meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return create_model(name)


if __name__ == "__main__":
    main()
