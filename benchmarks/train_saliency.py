"""Train the two saliency networks shipped in ``attnvision/weights`` (the recorded commands).

Splits (fixed, written down here and in each weights file's ``meta``):

- fixation (OSIE, Xu et al. JoV 2014; ``ATTNVISION_DATA/osie``): train on images
  1001-1500, validate on 1501-1600 (the images the baselines in BENCHMARKS.md are scored
  on; 1601-1700 are an unseen test set kept outside the shared data).
- object (SOD, Movahedi and Elder 2010; ``ATTNVISION_DATA/sod``): the 200 images with a
  mask, sorted by name; validation = every fifth one starting at the fifth
  (``names[4::5]``, 40 images), training = the other 160.

No hyper-parameter is chosen on the validation images: the schedule is fixed in advance
(AdamW, cosine learning rate over a time budget, final weights kept) and the validation
split is only scored once the training has ended (``benchmarks/saliency_models.py``).

Targets: fixation: the OSIE density of all observers (Gaussian of 1 degree at
:data:`attnvision.saliency.density.OSIE_PPD` px per degree on the 800x600 image) and the
binary fixation map, both area-downsampled to the network's input size; loss of SAM
(Cornia et al. TIP 2018, Eq. 8): ``10 KL(g || p) - 2 CC(p, g) - NSS(p, f)``. Object: the
binary mask; loss BCE + soft IoU (BASNet, Qin et al. CVPR 2019).

Augmentation (``--augment``): "basic" (fixation): horizontal flip, random zoom-in crop
(scale 0.8-1 of each side, random position) applied to image and targets alike, and
colour jitter (brightness, contrast, saturation +-20 %); "strong" (object): crop 0.6-1,
rotation +-15 degrees, jitter +-30 %, grey scale with probability 0.1.

Commands used for the shipped weights (one thread each, on 2 CPU cores shared with other
jobs; fixation: 188 epochs in 44 minutes; object: 91 epochs in 24 minutes), then copied to
``src/attnvision/weights/{fixation,object}.pt``:

    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/train_saliency.py \\
        fixation --minutes 44 --threads 1 --cache /tmp/h7/cache --out /tmp/h7/fixation.pt
    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/train_saliency.py \\
        object --minutes 24 --threads 1 --augment strong --weight-decay 0.01 \\
        --aux-fixation 0.5 --input-size 160 --flip-average --logit-scale 3 --out object.pt

(the object command is session 2's; the recipe and ``--logit-scale`` were chosen with
``--holdout 32``, models trained on 128 training images and scored on the other 32, never
on the validation split; see BENCHMARKS.md, "Salient-object model, session 2").

``--pseudo-teacher W.pt`` (self-training: a trained object network's maps of the
auxiliary OSIE images as soft masks for the main head) was tried in session 3 and did not
help on the holdout (BENCHMARKS.md, "Salient-object model, session 3").

The budget is wall time, so a rerun on another machine gives a different number of
epochs (the data order and augmentation are seeded; ``--seed``).
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
from attnvision.saliency import datasets, density
from attnvision.saliency import model as sm
from attnvision.saliency.sod import SODEvaluator, read_mask

OSIE_SHAPE = (600, 800)
OSIE_TRAIN = range(1001, 1501)
OSIE_VAL = range(1501, 1601)

#: the constructor arguments of the shipped networks (stored in the weights files)
ARCH = {
    "fixation": {"widths": [16, 32, 64, 96], "attention": ["se", "se", "cbam"], "fuse": 48},
    "object": {"widths": [16, 32, 48, 64, 96], "attention": ["se", "se", "cbam", "gc"]},
}


def sod_split(root: Path) -> tuple[list[str], list[str]]:
    """(train, validation) names of the SOD images that have a mask."""
    sod = root / "sod"
    names = sorted(
        p.stem for p in (sod / "images").glob("*.jpg") if (sod / "masks" / f"{p.stem}.png").exists()
    )
    val = names[4::5]
    train = [n for n in names if n not in set(val)]
    return train, val


def _resize(x: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False, antialias=True)


def load_osie(root: Path, numbers: range, size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Images ``(N, 3, h, w)`` in [0, 1], densities and fixation maps ``(N, 1, h, w)``."""
    osie = root / "osie"
    fix = datasets.read_osie_fixations(osie / "fixations.mat")
    images, dens, fmaps = [], [], []
    for n in numbers:
        image = sm.read_image(osie / "stimuli" / f"{n}.jpg")
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255
        images.append(_resize(x, size))
        d = density.density_map(fix[f"{n}.jpg"], OSIE_SHAPE, 1.0, unit="deg", ppd=density.OSIE_PPD)
        f = density.fixation_map(fix[f"{n}.jpg"], OSIE_SHAPE, warn=False) > 0
        d = _resize(torch.from_numpy(d).float()[None, None], size, "area")
        f = _resize(torch.from_numpy(f.astype(np.float32))[None, None], size, "area")
        dens.append(d / d.sum())
        fmaps.append(f / f.sum())
    return {"image": torch.cat(images), "density": torch.cat(dens), "fix": torch.cat(fmaps)}


def load_sod(root: Path, names: list[str], size: tuple[int, int]) -> dict[str, torch.Tensor]:
    """Images ``(N, 3, h, w)`` in [0, 1] and masks ``(N, 1, h, w)`` in [0, 1]."""
    sod = root / "sod"
    images, masks = [], []
    for stem in names:
        x = torch.from_numpy(sm.read_image(sod / "images" / f"{stem}.jpg")).permute(2, 0, 1)[None]
        mask = read_mask(sod / "masks" / f"{stem}.png")
        images.append(_resize(x.float() / 255, size))
        masks.append(_resize(torch.from_numpy(mask.astype(np.float32))[None, None], size))
    return {"image": torch.cat(images), "mask": torch.cat(masks).clamp(0, 1)}


#: augmentation strengths: smallest fraction of each side kept by the zoom-in crop,
#: largest rotation (degrees), colour jitter (+- fraction), probability of grey scale
AUGMENT = {
    "basic": {"min_scale": 0.8, "degrees": 0.0, "jitter": 0.2, "gray": 0.0},
    "strong": {"min_scale": 0.6, "degrees": 15.0, "jitter": 0.3, "gray": 0.1},
}


def augment(
    image: torch.Tensor,
    targets: list[torch.Tensor],
    gen: torch.Generator,
    strength: str = "basic",
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Flip, zoom-in crop and rotation (same for image and targets), colour jitter and
    grey scale of a batch, with the strengths of ``AUGMENT[strength]``."""
    cfg = AUGMENT[strength]
    n = image.shape[0]
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    low = cfg["min_scale"]
    scale = low + (1 - low) * torch.rand(n, 2, generator=gen)  # (sy, sx) fraction kept
    shift = (2 * torch.rand(n, 2, generator=gen) - 1) * (1 - scale)
    # (random numbers are drawn only for the steps in use, so "basic" keeps the stream of
    # the recipe the fixation weights were trained with)
    angle = torch.zeros(n)
    if cfg["degrees"] > 0:
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
    out = [F.grid_sample(t, grid, mode="bilinear", align_corners=False) for t in targets]
    # colour jitter on [0, 1] RGB
    j = cfg["jitter"]
    b, c, s = (1 + 2 * j * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) for _ in range(3))
    image = image * b
    mean = image.mean((1, 2, 3), keepdim=True)
    image = (image - mean) * c + mean
    gray = image.mean(1, keepdim=True)
    if cfg["gray"] > 0:
        s = torch.where(torch.rand(n, 1, 1, 1, generator=gen) < cfg["gray"], 0.0, s)
    image = ((image - gray) * s + gray).clamp(0, 1)
    return image, out


@torch.no_grad()
def score_objects(
    model: torch.nn.Module,
    items: list[tuple[np.ndarray, np.ndarray]],
    spec: dict | None = None,
) -> str:
    """max F / S-measure / MAE of ``model`` on ``(image, mask)`` pairs at the masks' size."""
    was_training = model.training
    model.eval()
    scores = []
    for flip in (False, True):
        model.input_spec = dict(spec or sm.DEFAULT_INPUT["object"], flip=flip)
        ev = SODEvaluator()
        for (_, mask), pred in zip(items, sm.predict_batch(model, [i for i, _ in items])):
            ev.update(pred, mask)
        r = ev.results()
        scores.append(
            f"{'flip-averaged' if flip else 'plain'}: maxF {r['max_fmeasure']:.3f} "
            f"S {r['smeasure']:.3f} MAE {r['mae']:.3f}"
        )
    del model.input_spec
    model.train(was_training)
    return "; ".join(scores)


@torch.no_grad()
def teacher_masks(path: Path, images: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Soft masks ``(N, 1, h, w)`` of a trained object network for images ``(N, 3, h, w)``
    in [0, 1] (at the training size): ``sigmoid(logits)``, averaged with the mirror image's
    map, at the teacher's own logit scale of 1 (calibrated probabilities)."""
    teacher = sm.load_model(path, "object").eval()
    out = []
    for i in range(0, len(images), batch):
        x = normalise(images[i : i + batch])
        p = torch.sigmoid(teacher(x)) + torch.sigmoid(teacher(x.flip(-1))).flip(-1)
        out.append(0.5 * p)
    return torch.cat(out)


def normalise(image: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(sm.MEAN).view(1, 3, 1, 1)
    std = torch.tensor(sm.STD).view(1, 3, 1, 1)
    return (image - mean) / std


def fixation_loss(log_p: torch.Tensor, dens: torch.Tensor, fix: torch.Tensor) -> torch.Tensor:
    """SAM's loss: ``10 KL(g || p) - 2 CC(p, g) - NSS(p, f)`` averaged over the batch."""
    n = log_p.shape[0]
    lp = log_p.reshape(n, -1)
    g = dens.reshape(n, -1)
    g = g / g.sum(1, keepdim=True).clamp_min(1e-12)
    f = fix.reshape(n, -1)
    f = f / f.sum(1, keepdim=True).clamp_min(1e-12)
    kl = (g * (torch.log(g.clamp_min(1e-12)) - lp)).sum(1)
    p = lp.exp()
    pc = p - p.mean(1, keepdim=True)
    gc = g - g.mean(1, keepdim=True)
    cc = (pc * gc).sum(1) / (pc.norm(dim=1) * gc.norm(dim=1)).clamp_min(1e-12)
    z = pc / p.std(1, keepdim=True).clamp_min(1e-12)
    nss = (z * f).sum(1)
    return (10 * kl - 2 * cc - nss).mean()


def object_loss(logits: torch.Tensor, mask: torch.Tensor, l1: float = 0.0) -> torch.Tensor:
    """BCE + soft IoU (BASNet without its SSIM term) + ``l1`` * mean absolute error.

    BCE alone is minimised by the calibrated probability; the absolute error (the MAE
    metric) by the median, i.e. a sharper map where the network is unsure."""
    bce = F.binary_cross_entropy_with_logits(logits, mask)
    p = torch.sigmoid(logits)
    inter = (p * mask).sum((1, 2, 3))
    union = (p + mask - p * mask).sum((1, 2, 3))
    iou = 1 - (inter + 1) / (union + 1)
    loss = bce + iou.mean()
    if l1 > 0:
        loss = loss + l1 * (p - mask).abs().mean()
    return loss


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=sm.KINDS)
    ap.add_argument("--minutes", type=float, default=30.0, help="time budget of the training")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", type=Path, default=None, help="folder to cache resized data")
    ap.add_argument("--augment", choices=sorted(AUGMENT), default="basic")
    ap.add_argument(
        "--holdout",
        type=int,
        default=0,
        help="object: keep the last N training images out of training and score them every "
        "--eval-every epochs (model selection without the validation split)",
    )
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument(
        "--logit-scale",
        type=float,
        default=1.0,
        help="object: store 'logit_scale' in the weights' input spec (predict gives "
        "sigmoid(k * logits), a sharper map)",
    )
    ap.add_argument("--l1-weight", type=float, default=0.0, help="object: MAE term of the loss")
    ap.add_argument(
        "--input-size",
        type=int,
        default=0,
        help="network input: object: square side; fixation: long side (0: the default)",
    )
    ap.add_argument(
        "--flip-average",
        action="store_true",
        help="store 'flip': true in the weights' input spec (predict averages the image's "
        "map with its mirror image's)",
    )
    ap.add_argument(
        "--aux-fixation",
        type=float,
        default=0.0,
        help="object: weight of an auxiliary fixation task on OSIE 1001-1500 (a 1x1 head on "
        "the decoder, dropped from the saved weights); 0 = off",
    )
    ap.add_argument(
        "--pseudo-teacher",
        type=Path,
        default=None,
        help="object, with --aux-fixation: an object weights file whose flip-averaged maps of "
        "the auxiliary OSIE images become soft masks for the main head (self-training)",
    )
    ap.add_argument(
        "--pseudo-weight", type=float, default=1.0, help="weight of the pseudo-mask loss"
    )
    args = ap.parse_args(argv)
    if args.pseudo_teacher is not None and not (args.kind == "object" and args.aux_fixation > 0):
        ap.error("--pseudo-teacher needs kind object and --aux-fixation > 0")

    root = Path(os.environ.get("ATTNVISION_DATA", ""))
    if not (root / "osie").is_dir() or not (root / "sod").is_dir():
        print("set ATTNVISION_DATA to the real-data folder", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(args.seed)
    spec = dict(sm.DEFAULT_INPUT[args.kind])
    if args.input_size:
        spec = (
            {"long_side": args.input_size}
            if args.kind == "fixation"
            else {"size": [args.input_size] * 2}
        )
    config = dict(ARCH[args.kind])
    t0 = time.time()
    if args.kind == "fixation":
        size = sm.input_size(OSIE_SHAPE, spec)
        cached = args.cache / f"osie_{size[0]}x{size[1]}.pt" if args.cache else None
        if cached is not None and cached.is_file():
            data = torch.load(cached, weights_only=True)
        else:
            data = load_osie(root, OSIE_TRAIN, size)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                torch.save(data, cached)
        split = {"train": "OSIE 1001-1500", "validation": "OSIE 1501-1600"}
        target_keys = ["density", "fix"]
    else:
        size = sm.input_size((0, 0), spec)
        train, val = sod_split(root)
        held = train[len(train) - args.holdout :] if args.holdout > 0 else []
        train = train[: len(train) - len(held)]
        data = load_sod(root, train, size)
        split = {"train": train, "validation": val, "holdout": held}
        target_keys = ["mask"]
        holdout = [
            (
                sm.read_image(root / "sod" / "images" / f"{stem}.jpg"),
                read_mask(root / "sod" / "masks" / f"{stem}.png"),
            )
            for stem in held
        ]
        if args.aux_fixation > 0:
            aux_data = load_osie(root, OSIE_TRAIN, size)
            aux_head = torch.nn.Conv2d(config["widths"][0], 1, 1)
            aux_keys = ["density", "fix"]
            if args.pseudo_teacher is not None:
                aux_data["mask"] = teacher_masks(args.pseudo_teacher, aux_data["image"])
                aux_keys.append("mask")
    n = data["image"].shape[0]
    print(
        f"{args.kind}: {n} training images at {size} loaded in {time.time() - t0:.0f} s", flush=True
    )

    model = sm.build(args.kind, config)
    params = list(model.parameters())
    if args.kind == "object" and args.aux_fixation > 0:
        params += list(aux_head.parameters())
        aux_gen = torch.Generator().manual_seed(args.seed + 1)
        aux_order = torch.empty(0, dtype=torch.int64)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    budget = 60 * args.minutes
    warmup = 0.03
    start = time.time()
    epoch = step = 0
    done = False
    while not done:
        model.train()
        order = torch.randperm(n, generator=gen)
        losses = []
        for i in range(0, n - args.batch + 1, args.batch):
            frac = (time.time() - start) / budget
            if frac >= 1:
                done = True
                break
            lr = args.lr * (
                frac / warmup if frac < warmup else 0.5 * (1 + math.cos(math.pi * frac))
            )
            for group in opt.param_groups:
                group["lr"] = lr
            idx = order[i : i + args.batch]
            image, targets = augment(
                data["image"][idx], [data[k][idx] for k in target_keys], gen, args.augment
            )
            out = model(normalise(image))
            if args.kind == "fixation":
                loss = fixation_loss(out, *targets)
            else:
                loss = object_loss(out, targets[0].clamp(0, 1), args.l1_weight)
            if args.kind == "object" and args.aux_fixation > 0:
                if len(aux_order) < args.batch:
                    aux_order = torch.randperm(len(aux_data["image"]), generator=aux_gen)
                aidx, aux_order = aux_order[: args.batch], aux_order[args.batch :]
                aimg, atargets = augment(
                    aux_data["image"][aidx],
                    [aux_data[k][aidx] for k in aux_keys],
                    gen,
                    args.augment,
                )
                feats = model.decode(normalise(aimg))
                logit = F.interpolate(aux_head(feats), size=aimg.shape[-2:], mode="bilinear")
                log_p = torch.log_softmax(logit.flatten(1), 1).view_as(logit)
                loss = loss + args.aux_fixation * fixation_loss(log_p, *atargets[:2])
                if args.pseudo_teacher is not None:
                    obj = F.interpolate(model.out(feats), size=aimg.shape[-2:], mode="bilinear")
                    loss = loss + args.pseudo_weight * object_loss(obj, atargets[2].clamp(0, 1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            step += 1
        epoch += 1
        if holdout and (epoch % args.eval_every == 0 or done):
            print(f"epoch {epoch} holdout {score_objects(model, holdout, spec)}", flush=True)
        if losses:
            print(
                f"epoch {epoch} step {step} loss {np.mean(losses):.4f} lr {lr:.2e} "
                f"{(time.time() - start) / 60:.1f} min",
                flush=True,
            )
    model.eval()
    meta = {
        "split": split,
        "epochs": epoch,
        "steps": step,
        "minutes": args.minutes,
        "command": "benchmarks/train_saliency.py " + " ".join(argv or sys.argv[1:]),
        "seed": args.seed,
        "lr": args.lr,
        "batch": args.batch,
        "parameters": count_params(model),
        "augment": args.augment,
        "weight_decay": args.weight_decay,
        "aux_fixation": args.aux_fixation,
        "l1_weight": args.l1_weight,
        "input_size": args.input_size,
        "pseudo_teacher": str(args.pseudo_teacher) if args.pseudo_teacher else None,
        "pseudo_weight": args.pseudo_weight if args.pseudo_teacher else 0.0,
    }
    if args.flip_average:
        spec = dict(spec, flip=True)
    if args.logit_scale != 1.0:
        spec = dict(spec, logit_scale=args.logit_scale)
    sm.save_weights(args.out, model, args.kind, config, input_spec=spec, meta=meta)
    print(
        f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB) after {epoch} epochs",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
