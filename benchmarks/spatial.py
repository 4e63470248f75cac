"""Reproductions of the spatial-attention papers on distorted MNIST, at a chosen budget.

Experiments (``--experiment``):

- ``stn``: CNN vs ST-CNN (affine) on RTS (42x42) and on cluttered 60x60 MNIST
  (Jaderberg et al. 2015, table 1 / sec. 4.1: RTS 0.8 -> 0.5 % error, cluttered 3.5 -> 1.7 %).
- ``ram``: RAM with ``--glimpses`` glimpses (``--ram-core``: LSTM by default, which learned
  faster than the paper's ReLU RNN in 2-minute trials: 54.7 % vs 68.6 % error) vs the
  paper's convolutional baseline (``conv_fc``, the peer) on cluttered 60x60, with our
  stronger ``cnn`` beside them (Mnih et al. 2014, table 2: conv net 8.09 %, RAM 8 glimpses
  4.04 %).
- ``dcn``: DCN vs coarse-only vs fine-only on cluttered 100x100 with 8 pieces: error,
  FLOPs per image and wall time (Almahairi et al. 2016, table 2: coarse 3.69 %, fine 1.70 %,
  DCN with hints 1.39 % at a fraction of fine-only's cost).

For ``stn``, ``--loc-act tanh`` gives the localisation network tanh units,
``--loc-norm`` batch norm, ``--init-scale 0.6`` starts the transformer as a centred zoom
(the paper starts at the identity; on clutter only this start learned to look),
``--transform translation`` keeps a window of that fixed size that only moves, and
``--head-pool 3 --head-hidden 256`` gives both classifiers a head that keeps the layout
(the paper's classifiers are fully connected); see BENCHMARKS.md for what each changes.

Each model is trained with Adam (learning rate annealed to 0 along a cosine by default,
``--schedule``) for ``--epochs`` epochs on ``--train-size`` distorted
training digits, stopping early when ``--minutes`` per model run out, and tested on
``--test-size`` distorted test digits. The training set is one fixed set of distorted
digits, or with ``--fresh-data`` the same digits distorted anew every epoch. The baseline
is the peer, trained in the same run on the same data, and ratios are ours / peer. Wall
times are medians of interleaved repetitions. Data: MNIST from ``$ATTNVISION_DATA``
(``--dataset digits`` for the built-in digits).

Example:
    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/spatial.py \\
        --experiment stn --train-size 10000 --test-size 2000 --epochs 3 --minutes 4
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from _timing import interleaved
from attnvision.data import DistortedDataset, create_dataset
from attnvision.models import create_model
from attnvision.models.ram import RAM

PAPER = {
    ("stn", "rts", "cnn"): 0.8,
    ("stn", "rts", "st_cnn"): 0.5,
    ("stn", "cluttered60", "cnn"): 3.5,
    ("stn", "cluttered60", "st_cnn"): 1.7,
    ("ram", "cluttered60", "conv_fc"): 8.09,
    ("ram", "cluttered60", "ram"): 4.04,
    ("dcn", "cluttered100", "coarse"): 3.69,
    ("dcn", "cluttered100", "fine"): 1.70,
    ("dcn", "cluttered100", "dcn"): 1.39,
}


def split_index(args: argparse.Namespace, dataset_size: int, size: int) -> list[int]:
    """The fixed random subset of ``size`` digits a split uses (the same for every seed
    of its distortions)."""
    order = torch.randperm(dataset_size, generator=torch.Generator().manual_seed(args.seed))
    return order[: min(size, dataset_size)].tolist()


def make_split(
    args: argparse.Namespace, train: bool, size: int, distortion: str, **options: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` distorted items (a fixed random subset) stacked into tensors."""
    ds = create_dataset(
        args.dataset,
        train=train,
        distortion=distortion,
        seed=args.seed + (0 if train else 1),
        **options,
    )
    index = split_index(args, len(ds), size)
    images = torch.stack([ds[i][0] for i in index])
    labels = torch.tensor([ds[i][1] for i in index])
    return images, labels


class FreshEpochs(torch.utils.data.Dataset):
    """The training digits of :func:`make_split`, distorted anew for every epoch: item
    ``e * n + j`` is digit ``j`` with the placements and clutter of epoch ``e``'s seed
    (``args.seed + 1000 * e``; epoch 0 is exactly the fixed split). Generated on the fly by
    a loader worker, as data that is never seen twice."""

    def __init__(self, args: argparse.Namespace, size: int, distortion: str, **options: Any):
        self.args, self.distortion, self.options = args, distortion, options
        # the undistorted digits, read once: each epoch only wraps them with its own seed
        self.base = create_dataset(args.dataset, train=True)
        self.index = split_index(args, len(self.base), size)
        self._epoch, self._dataset = -1, None

    def dataset(self, epoch: int) -> DistortedDataset:
        if epoch != self._epoch:
            self._dataset = DistortedDataset(
                self.base, self.distortion, seed=self.args.seed + 1000 * epoch, **self.options
            )
            self._epoch = epoch
        return self._dataset

    def __len__(self) -> int:
        return len(self.index) * self.args.epochs

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        epoch, j = divmod(i, len(self.index))
        return self.dataset(epoch)[self.index[j]]


TrainData = tuple[torch.Tensor, torch.Tensor] | FreshEpochs


def train_split(args: argparse.Namespace, size: int, distortion: str, **options: Any) -> TrainData:
    """The training data: fixed tensors, or :class:`FreshEpochs` with ``--fresh-data``."""
    if args.fresh_data:
        return FreshEpochs(args, size, distortion, **options)
    return make_split(args, True, size, distortion, **options)


def epoch_batches(
    data: TrainData, args: argparse.Namespace
) -> Iterator[tuple[int, Iterator[tuple[torch.Tensor, torch.Tensor]], int]]:
    """``(epoch, batches, batches per epoch)`` for every epoch, each epoch in a fresh
    random order (seeded by ``args.seed``)."""
    order_gen = torch.Generator().manual_seed(args.seed)
    if isinstance(data, FreshEpochs):
        n = len(data.index)
        per_epoch = -(-n // args.batch_size)

        def batch_indices() -> Iterator[list[int]]:
            for e in range(args.epochs):
                order = torch.randperm(n, generator=order_gen) + e * n
                yield from (b.tolist() for b in order.split(args.batch_size))

        loader = torch.utils.data.DataLoader(
            data, batch_sampler=batch_indices(), num_workers=1, prefetch_factor=32
        )
        stream = iter(loader)
        for epoch in range(args.epochs):
            yield epoch, (next(stream) for _ in range(per_epoch)), per_epoch
        return
    x, y = data
    for epoch in range(args.epochs):
        batches = torch.randperm(len(x), generator=order_gen).split(args.batch_size)
        yield epoch, ((x[b], y[b]) for b in batches), len(batches)


def logits_of(output: Any) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    return output.logits


def default_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, hint: float) -> torch.Tensor:
    output = model(x)
    if isinstance(model, RAM):
        return RAM.loss(output, y).total
    loss = F.cross_entropy(logits_of(output), y)
    if hasattr(output, "hint_loss") and hint > 0:
        loss = loss + hint * output.hint_loss
    return loss


def train(model: nn.Module, data: TrainData, args: argparse.Namespace) -> dict[str, float]:
    """Adam, ``args.epochs`` epochs or ``args.minutes`` minutes, whichever ends first.

    With ``args.schedule == "cosine"`` the learning rate falls from ``args.lr`` to 0 along
    a half cosine of the progress, the larger of the fraction of steps and the fraction of
    the time budget done, so a model stopped by the clock has annealed too and the test
    error is that of a settled model, not of wherever a constant-rate walk stopped. With
    fresh data the clock includes any wait for the loader."""
    torch.manual_seed(args.seed)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    steps, epochs = 0, 0.0
    model.train()
    for epoch, batches, per_epoch in epoch_batches(data, args):
        total = args.epochs * per_epoch
        for i, (xb, yb) in enumerate(batches):
            if args.schedule == "cosine":
                done = max(steps / total, (time.perf_counter() - start) / (60 * args.minutes))
                for group in opt.param_groups:
                    group["lr"] = 0.5 * args.lr * (1 + math.cos(math.pi * min(done, 1.0)))
            loss = default_loss(model, xb, yb, args.hint_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            steps += 1
            if time.perf_counter() - start > 60 * args.minutes:
                epochs = epoch + (i + 1) / per_epoch
                return {"train_s": time.perf_counter() - start, "epochs": epochs, "steps": steps}
        epochs = epoch + 1
    return {"train_s": time.perf_counter() - start, "epochs": epochs, "steps": steps}


@torch.no_grad()
def error_rate(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch: int) -> float:
    """Test error in percent (eval mode; RAM uses its policy means)."""
    x, y = data
    model.eval()
    wrong = 0
    for start in range(0, len(x), batch):
        pred = logits_of(model(x[start : start + batch])).argmax(1)
        wrong += int((pred != y[start : start + batch]).sum())
    return 100.0 * wrong / len(x)


def flops_per_image(model: nn.Module, shape: tuple[int, ...]) -> float:
    """Forward FLOPs of one image, counted per aten op with the formulas of
    ``torch.utils.flop_counter`` (a plain dispatch mode: ``FlopCounterMode``'s module
    hooks clash with the ``autograd.grad`` call in DCN's forward). DCN's saliency pass, a
    backward through its top network, is part of its forward and is counted."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Count.total += int(formula(*args, **kwargs, out_val=out))
            return out

    model.eval()
    x = torch.rand(1, *shape)
    with Count(), torch.no_grad():
        model(x)
    return float(Count.total)


def interleaved_times(
    models: dict[str, nn.Module], shape: tuple[int, ...], batch: int, reps: int
) -> dict[str, float]:
    """Median seconds per batch of inference, repetitions interleaved across models."""
    x = torch.rand(batch, *shape)
    for m in models.values():
        m.eval()
    with torch.no_grad():
        return interleaved({name: (lambda m=m: m(x)) for name, m in models.items()}, reps)


def run_models(
    experiment: str,
    task: str,
    builders: dict[str, Callable[[], nn.Module]],
    train_data: TrainData,
    test_data: tuple[torch.Tensor, torch.Tensor],
    args: argparse.Namespace,
    peer: str,
) -> dict[str, dict[str, float]]:
    if args.models:
        unknown = sorted(set(args.models) - set(builders))
        if unknown or peer not in args.models:
            raise SystemExit(
                f"--models: expected names from {sorted(builders)} including the peer "
                f"{peer!r}, got {args.models}"
            )
        builders = {name: b for name, b in builders.items() if name in args.models}
    results: dict[str, dict[str, float]] = {}
    for name, build in builders.items():
        torch.manual_seed(args.seed)
        model = build()
        info = train(model, train_data, args)
        info["error"] = error_rate(model, test_data, 256)
        info["params"] = sum(p.numel() for p in model.parameters())
        info["flops"] = flops_per_image(model, tuple(test_data[0].shape[1:]))
        info["model"] = model  # type: ignore[assignment]
        results[name] = info
        print(
            f"  [{experiment}/{task}] {name}: error {info['error']:.2f} % after "
            f"{info['epochs']:.2f} epochs ({info['train_s']:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
    shape = tuple(test_data[0].shape[1:])
    wall = interleaved_times(
        {n: r["model"] for n, r in results.items()},  # type: ignore[misc]
        shape,
        64,
        args.reps,
    )
    print(f"\n### {experiment}: {task} ({tuple(shape)}), peer = {peer}\n")
    print(
        "| model | test error % | paper % | error / peer | params | MFLOPs / image | "
        "FLOPs / peer | ms / batch of 64 | time / peer | epochs | train s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = results[peer]
    for name, r in results.items():
        paper = PAPER.get((experiment, task, name))
        ratio = r["error"] / base["error"] if base["error"] > 0 else float("nan")
        print(
            f"| {name} | {r['error']:.2f} | {paper if paper is not None else '-'} | "
            f"{ratio:.2f} | {int(r['params']):,} | {r['flops'] / 1e6:.2f} | "
            f"{r['flops'] / base['flops']:.2f} | {1e3 * wall[name]:.1f} | "
            f"{wall[name] / wall[peer]:.2f} | {r['epochs']:.2f} | {r['train_s']:.0f} |"
        )
    return results


def experiment_stn(args: argparse.Namespace) -> None:
    head = {"head_pool": args.head_pool, "head_hidden": args.head_hidden}
    tasks = {
        "rts": ("rts", {}),
        "cluttered60": ("cluttered", {"canvas": 60, "pieces": 4}),
    }
    for task, (distortion, options) in tasks.items():
        if args.task and task != args.task:
            continue
        train_data = train_split(args, args.train_size, distortion, **options)
        test_data = make_split(args, False, args.test_size, distortion, **options)
        # the paper downsamples the cluttered canvas to half size in the transformer
        out_size = 30 if task == "cluttered60" else None
        builders = {
            "cnn": lambda: create_model("cnn", **head),
            "st_cnn": lambda size=out_size: create_model(
                "st_cnn",
                out_size=size,
                transform=args.transform,
                stn_options={
                    "act_layer": args.loc_act,
                    "loc_norm": args.loc_norm,
                    "init_scale": args.init_scale,
                },
                **head,
            ),
        }
        run_models("stn", task, builders, train_data, test_data, args, peer="cnn")


def experiment_ram(args: argparse.Namespace) -> None:
    options = {"canvas": 60, "pieces": 4}
    train_data = train_split(args, args.train_size, "cluttered", **options)
    test_data = make_split(args, False, args.test_size, "cluttered", **options)
    builders = {
        "conv_fc": lambda: create_model("conv_fc", in_size=60),
        "ram": lambda: create_model(
            "ram",
            glimpses=args.glimpses,
            patch_size=12,
            num_scales=3,
            hidden=256,
            core=args.ram_core,
        ),
        "cnn": lambda: create_model("cnn"),
    }
    run_models("ram", "cluttered60", builders, train_data, test_data, args, peer="conv_fc")


def experiment_dcn(args: argparse.Namespace) -> None:
    options = {"canvas": 100, "pieces": 8}
    train_data = train_split(args, args.train_size, "cluttered", **options)
    test_data = make_split(args, False, args.test_size, "cluttered", **options)
    builders = {
        mode: (
            lambda mode=mode: create_model(
                "dcn",
                k=args.k,
                patch_size=10,
                mode=mode,
                features=args.dcn_features,
                coarse_width=args.dcn_features // 2,
                fine_width=args.dcn_features // 2,
            )
        )
        for mode in ("fine", "coarse", "dcn")
    }
    run_models("dcn", "cluttered100", builders, train_data, test_data, args, peer="fine")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=["stn", "ram", "dcn"], required=True)
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "digits"])
    parser.add_argument(
        "--task", choices=["rts", "cluttered60"], default=None, help="stn: run only this task"
    )
    parser.add_argument("--train-size", type=int, default=60_000)
    parser.add_argument("--test-size", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=30.0, help="training budget per model")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--fresh-data",
        action="store_true",
        help="distort the training digits anew every epoch (new placements and clutter, "
        "generated on the fly by one loader worker process) instead of one fixed set",
    )
    parser.add_argument(
        "--models",
        type=lambda text: text.split(","),
        default=None,
        help="comma-separated subset of the experiment's models to train (with the peer)",
    )
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--schedule",
        choices=["cosine", "constant"],
        default="cosine",
        help="learning rate: cosine to 0 over the run (see train) or constant",
    )
    parser.add_argument(
        "--head-pool",
        type=int,
        default=1,
        help="stn: the classifiers' pooling side before the head (1: global average "
        "pooling; 3 with --head-hidden 256: a fully connected head that keeps the layout, "
        "as the paper's classifiers do)",
    )
    parser.add_argument(
        "--head-hidden", type=int, default=0, help="stn: hidden layer of the classifiers' head"
    )
    parser.add_argument(
        "--loc-act",
        default="relu",
        choices=["relu", "tanh"],
        help="stn: activation of the localisation network (tanh units cannot die, and on "
        "clutter the ReLU network's hidden layer does before it learns to look)",
    )
    parser.add_argument(
        "--loc-norm", action="store_true", help="stn: batch norm in the localisation network"
    )
    parser.add_argument(
        "--transform",
        default="affine",
        choices=["affine", "translation_scale", "translation"],
        help="stn: the transformer's transform (translation: a window of the fixed size "
        "--init-scale that only moves)",
    )
    parser.add_argument(
        "--init-scale",
        type=float,
        default=1.0,
        help="stn: the transformer starts as a centred zoom reading this fraction of each "
        "side (1: the identity)",
    )
    parser.add_argument("--hint-weight", type=float, default=0.01, help="DCN hint loss weight")
    parser.add_argument("--k", type=int, default=8, help="DCN: regions re-read by fine net")
    parser.add_argument(
        "--dcn-features", type=int, default=32, help="DCN feature width (hidden: half)"
    )
    parser.add_argument("--glimpses", type=int, default=6, help="RAM: number of glimpses")
    parser.add_argument(
        "--ram-core", choices=["rnn", "lstm"], default="lstm", help="RAM: recurrent core"
    )
    parser.add_argument("--reps", type=int, default=15, help="timing repetitions")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"# benchmarks/spatial.py --experiment {args.experiment}: dataset {args.dataset}, "
        f"train {args.train_size}, test {args.test_size}, epochs {args.epochs}, "
        f"<= {args.minutes} min/model, batch {args.batch_size}, lr {args.lr} "
        f"({args.schedule}), "
        + ("fresh training data every epoch, " if args.fresh_data else "")
        + (
            f"classifier head: pool {args.head_pool}, hidden {args.head_hidden}, "
            f"transform {args.transform}, localisation activation {args.loc_act}"
            + (", batch norm" if args.loc_norm else "")
            + f", initial scale {args.init_scale}, "
            if args.experiment == "stn"
            else ""
        )
        + f"threads {args.threads}, seed {args.seed}, torch {torch.__version__}"
    )
    {"stn": experiment_stn, "ram": experiment_ram, "dcn": experiment_dcn}[args.experiment](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
