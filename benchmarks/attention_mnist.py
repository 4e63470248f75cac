"""Does attention help? ResNet-20 against its SE / CBAM / ECA variants on real data.

Default: cluttered MNIST (60x60 canvas, 4 clutter pieces of 8x8; Mnih et al. 2014) built
from the full MNIST in ``$ATTNVISION_DATA`` with :func:`attnvision.data.create_dataset`,
every model trained from the same seeds, test accuracy reported per seed and as
mean +/- std. CIFAR-10 (torchvision's ``cifar-10-batches-py`` under ``--root``) works the
same way for users who have it (``--dataset cifar10``).

The distorted images are drawn once (data seed ``--data-seed``, identical for every model)
and kept in memory as uint8; the models differ only in the attention block and the
model seed. Training: SGD, momentum 0.9, Nesterov, weight decay 5e-4, cosine schedule,
batch 128, plain cross-entropy.

Usage (the full reproduction; hours on a few CPU cores)::

    ATTNVISION_DATA=/path/to/data python benchmarks/attention_mnist.py \
        --models resnet20,se_resnet20,cbam_resnet20,eca_resnet20 --seeds 0,1,2 --epochs 15

    # a small budget: a subset of the training set, fewer epochs
    python benchmarks/attention_mnist.py --train-size 5000 --test-size 2000 --epochs 3
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from attnvision.models import create_model


def materialise(dataset, size: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``size`` items of ``dataset`` as uint8 images ``(N, C, H, W)`` and labels."""
    n = len(dataset) if size is None else min(size, len(dataset))
    first = dataset[0][0]
    images = torch.empty((n, *first.shape), dtype=torch.uint8)
    labels = torch.empty(n, dtype=torch.long)
    for i in range(n):
        image, label = dataset[i]
        images[i] = (image.clamp(0, 1) * 255).round().to(torch.uint8)
        labels[i] = int(label)
    return images, labels


def load(args: argparse.Namespace) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    if args.dataset == "mnist":
        from attnvision.data import create_dataset

        options = {"canvas": args.canvas} if args.distortion == "cluttered" else {}
        splits = []
        for train, size in ((True, args.train_size), (False, args.test_size)):
            ds = create_dataset(
                "mnist",
                root=args.root,
                train=train,
                distortion=args.distortion,
                seed=args.data_seed + (0 if train else 1),
                **options,
            )
            splits.append(materialise(ds, size))
        return tuple(splits)
    import torchvision

    if args.root is None:
        raise SystemExit("--dataset cifar10 needs --root (folder with cifar-10-batches-py)")
    splits = []
    for train, size in ((True, args.train_size), (False, args.test_size)):
        ds = torchvision.datasets.CIFAR10(args.root, train=train, download=False)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor(ds.targets)
        n = len(labels) if size is None else min(size, len(labels))
        splits.append((images[:n], labels[:n]))
    return tuple(splits)


def augment(x: torch.Tensor, generator: torch.Generator, cifar: bool) -> torch.Tensor:
    """CIFAR: random crop (pad 4) and horizontal flip, as He et al. 2016; MNIST: none."""
    if not cifar:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4))
    dy = torch.randint(0, 9, (n,), generator=generator)
    dx = torch.randint(0, 9, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        crop = padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
        out[i] = crop.flip(-1) if flip[i] else crop
    return out


def train_one(
    name: str,
    seed: int,
    data: tuple[tuple[torch.Tensor, torch.Tensor], ...],
    args: argparse.Namespace,
    mean: float,
    std: float,
) -> tuple[float, int, float]:
    """Train ``name`` from ``seed``; returns (test accuracy %, parameters, seconds)."""
    (xtr, ytr), (xte, yte) = data
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    in_chans = xtr.shape[1]
    model = create_model(name, num_classes=10, in_chans=in_chans)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(
        model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4
    )
    steps_per_epoch = math.ceil(len(ytr) / args.batch_size)
    total = steps_per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    cifar = args.dataset == "cifar10"
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(ytr), generator=generator)
        running = 0.0
        for i in range(steps_per_epoch):
            idx = order[i * args.batch_size : (i + 1) * args.batch_size]
            x = augment(xtr[idx], generator, cifar).float().div_(255).sub_(mean).div_(std)
            loss = F.cross_entropy(model(x), ytr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
        if args.verbose:
            print(f"  {name} seed {seed} epoch {epoch + 1}: loss {running / steps_per_epoch:.4f}")
    acc = evaluate(model, xte, yte, args.batch_size, mean, std)
    return acc, params, time.perf_counter() - start


@torch.inference_mode()
def evaluate(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int, mean: float, std: float
) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(y), batch):
        xb = x[i : i + batch].float().div_(255).sub_(mean).div_(std)
        correct += int((model(xb).argmax(1) == y[i : i + batch]).sum())
    return 100.0 * correct / len(y)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["mnist", "cifar10"], default="mnist")
    parser.add_argument("--root", default=None, help="data folder (mnist: $ATTNVISION_DATA)")
    parser.add_argument("--distortion", default="cluttered", help="mnist distortion")
    parser.add_argument("--canvas", type=int, default=60, help="cluttered canvas size")
    parser.add_argument("--models", default="resnet20,se_resnet20,cbam_resnet20,eca_resnet20")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--train-size", type=int, default=None, help="first N training items")
    parser.add_argument("--test-size", type=int, default=None, help="first N test items")
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.distortion in ("", "none"):
        args.distortion = None
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]

    t0 = time.perf_counter()
    data = load(args)
    (xtr, _), (xte, _) = data
    scaled = xtr.float().div(255)
    mean, std = float(scaled.mean()), float(scaled.std())
    del scaled
    print(
        f"# {args.dataset} ({args.distortion or 'plain'}): train {tuple(xtr.shape)}, "
        f"test {tuple(xte.shape)}, built in {time.perf_counter() - t0:.0f}s; "
        f"epochs {args.epochs}, batch {args.batch_size}, lr {args.lr}, seeds {seeds}; "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    results: dict[str, list[float]] = {n: [] for n in names}
    params: dict[str, int] = {}
    for seed in seeds:  # interleave models within each seed
        for name in names:
            acc, params[name], secs = train_one(name, seed, data, args, mean, std)
            results[name].append(acc)
            print(f"{name} seed {seed}: test accuracy {acc:.2f}% ({secs:.0f}s)", flush=True)
    base = statistics.mean(results[names[0]])
    print(
        f"\n| model | params | test accuracy % (mean +/- std over {len(seeds)} seeds) | "
        f"vs {names[0]} | per seed |"
    )
    print("|---|---|---|---|---|")
    for name in names:
        accs = results[name]
        sd = statistics.stdev(accs) if len(accs) > 1 else 0.0
        per = ", ".join(f"{a:.2f}" for a in accs)
        print(
            f"| {name} | {params[name] / 1e6:.3f}M | {statistics.mean(accs):.2f} +/- {sd:.2f} | "
            f"{statistics.mean(accs) - base:+.2f} | {per} |"
        )
    print(f"# total {time.perf_counter() - t0:.0f}s, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
