"""``attnvision compare``: a fair, repeated comparison of attention mechanisms.

Every row is the same network (``config.model``) with one mechanism added, trained with
one budget on one dataset, ``compare.seeds`` times (initialisation and data order change
with the seed, the data do not):

- ``none``: the plain network;
- a block name from :func:`attnvision.layers.list_attention` (``se``, ``eca``, ``cbam``,
  ``coordatt``, ...): the network built with ``attention=`` that block;
- ``stn``: the plain network behind a spatial transformer
  (:class:`~attnvision.models.spatial.TransformerFront` with ``compare.stn_options``);
- ``stn_identity``: the control, the same transformer frozen at the identity, which costs
  what ``stn`` costs but attends to nothing.

:func:`compare` checks that every row can be built on the data before anything trains,
trains the runs (in ``compare.workers`` processes, one thread each, so the figures do not
depend on how many), measures parameters, FLOPs and CPU latency, and writes the report
folder (:mod:`attnvision.engine.report`). Each row reports the mean and standard
deviation of the test accuracy over seeds and the paired difference to ``none`` (seed by
seed) with a 95 % t-interval. The report is built in a temporary folder beside ``out`` and
moved into place only when everything succeeded; an existing report is replaced only
with ``force``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from .._utils import make_private_dir
from .config import Config, ModelConfig

#: the default of ``attnvision compare`` / ``make demo``: cluttered built-in digits. Each
#: 28x28 digit lies at a random place on a 60x60 canvas with 4 clutter pieces (8x8 crops of
#: other digits); the transformer reads a 30x30 window that it moves onto the digit (a
#: soft-argmax localisation network), so its classifier sees the digit at its own scale
#: without most of the clutter. Budget: 5 epochs x 3 seeds, measured to finish in under
#: 5 minutes on 2 CPU cores (BENCHMARKS.md, "The main job").
DEMO_DEFAULTS: dict[str, Any] = {
    # 2 differently cluttered copies of the 1,352 training digits, 60x60 canvases
    "data": {"name": "digits", "distortion": "cluttered", "batch_size": 64, "copies": 2},
    "model": {"name": "cnn"},
    "optim": {"name": "adamw", "lr": 4e-3, "weight_decay": 1e-4},
    "schedule": {"name": "cosine", "warmup_epochs": 0.5},
    "train": {"epochs": 5},
    "compare": {
        "stn_options": {
            "transform": "translation",
            "init_scale": 0.5,
            "out_size": 30,
            "loc": "softargmax",
            "loc_norm": True,
        }
    },
    "out": "runs/compare",
}

#: row names that are not attention blocks
PLAIN, STN, STN_IDENTITY = "none", "stn", "stn_identity"

#: how much memory a dataset may take to be decoded once and kept as tensors.
MATERIALISE_BYTES = 512 * 2**20


@dataclass
class ModelResult:
    """One row of the comparison: the test accuracy over seeds (``accuracy`` the mean,
    ``accuracy_sd`` the sample standard deviation), costs, and ``vs_none``: the paired
    difference to the ``none`` row (:func:`paired_difference`), ``None`` for that row."""

    attention: str
    model: str
    accuracy: float
    accuracy_sd: float
    params: int
    flops: int
    latency_ms: float
    train_seconds: float
    seeds: list[dict[str, Any]] = field(default_factory=list)
    vs_none: dict[str, Any] | None = None

    @property
    def error(self) -> float:
        """Mean test error (``1 - accuracy``)."""
        return 1.0 - self.accuracy


def compare_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    *,
    attention: list[str] | None = None,
    data: str | None = None,
    distortion: str | None = None,
    root: str | None = None,
    epochs: int | None = None,
    seeds: int | None = None,
    workers: int | None = None,
    out: str | None = None,
) -> Config:
    """The config of an ``attnvision compare`` run: :data:`DEMO_DEFAULTS`, then the YAML
    file ``path``, then ``overrides``, then the named options (what the command's flags
    set). A dataset other than the built-in digits starts without distortion and copies
    unless ``distortion`` says otherwise."""
    from .config import load_config

    extra = list(overrides or [])
    if attention:
        extra.append("compare.attention=[" + ",".join(attention) + "]")
    if data:
        extra.append(f"data.name={data}")
        if data != "digits":
            extra += ["data.distortion=null", "data.copies=1"]
    if distortion:
        extra.append(f"data.distortion={distortion}")
    if root:
        extra.append(f"data.root={root}")
    for key, value in (("train.epochs", epochs), ("compare.seeds", seeds)):
        if value is not None:
            extra.append(f"{key}={value}")
    if workers is not None:
        extra.append(f"compare.workers={workers}")
    if out:
        extra.append(f"out={out}")
    return load_config(path, extra, base=DEMO_DEFAULTS)


def materialise(ds: Dataset, limit_bytes: int = MATERIALISE_BYTES) -> Dataset:
    """Decode a (small) dataset once into a :class:`TensorDataset`; larger ones stay lazy.

    Distortions of :mod:`attnvision.data` depend only on ``(seed, index)``, so this
    changes nothing but speed.
    """
    if isinstance(ds, TensorDataset) or len(ds) == 0:
        return ds
    first = ds[0][0]
    if not isinstance(first, torch.Tensor) or first.numel() * 4 * len(ds) > limit_bytes:
        return ds
    images = torch.empty((len(ds), *first.shape), dtype=torch.float32)
    labels = torch.empty(len(ds), dtype=torch.int64)
    for i in range(len(ds)):
        image, label = ds[i]
        if image.shape != first.shape:
            raise ValueError(
                f"dataset images expected one size {tuple(first.shape)}, got "
                f"{tuple(image.shape)} at item {i} (for a folder set data.options.size=[H, W])"
            )
        images[i] = image
        labels[i] = int(label)
    return TensorDataset(images, labels)


def row_model(config: Config, name: str) -> ModelConfig:
    """The model section of row ``name``: the plain network, with the block ``name``, or
    behind a (trained or identity-frozen) spatial transformer."""
    plain = dataclasses.replace(config.model, attention=None, transformer=None)
    if name == PLAIN:
        return plain
    if name in (STN, STN_IDENTITY):
        options = dict(config.compare.stn_options)
        if name == STN_IDENTITY:
            options["identity"] = True
        return dataclasses.replace(plain, transformer=options)
    return dataclasses.replace(plain, attention=name)


def row_label(config: Config, name: str) -> str:
    """What the report's ``model`` column says for row ``name``."""
    return f"stn -> {config.model.name}" if name in (STN, STN_IDENTITY) else config.model.name


def validate(config: Config, example: torch.Tensor, num_classes: int) -> None:
    """Build every row's network and run it on ``example`` ``(1, C, H, W)``: unknown
    names, duplicates and mechanisms that cannot go into the network fail here, before
    anything trains.

    Raises:
        ValueError: naming the row and why it cannot be built or run.
    """
    from attnvision.layers import get_attention_class

    from .data import build_model

    names = config.compare.attention
    if not names:
        raise ValueError("compare.attention expected at least one name, got an empty list")
    if PLAIN not in names:
        raise ValueError(
            f"compare.attention expected 'none' among the rows (every row is compared with "
            f"it), got {names}"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"compare.attention lists {name!r} twice")
        seen.add(name)
        if name not in (PLAIN, STN, STN_IDENTITY):
            get_attention_class(name)  # unknown names: the list of known ones
        try:
            model = build_model(row_model(config, name), num_classes, example.shape[1])
            with torch.no_grad():
                model.eval()(example)
        except (TypeError, ValueError, RuntimeError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ValueError(
                f"compare row {name!r} cannot be built into model {config.model.name!r} on "
                f"inputs of shape {tuple(example.shape[1:])}: {first}"
            ) from None


def paired_difference(
    values: list[float], reference: list[float], confidence: float = 0.95
) -> dict[str, Any]:
    """Mean of ``values[i] - reference[i]`` (paired by seed) with a two-sided Student-t
    interval, and a verdict: ``"better"`` / ``"worse"`` when the interval excludes 0,
    ``"within noise"`` when it does not, ``"one seed"`` when there is no interval.

    Returns:
        ``{"mean", "sd", "low", "high", "n", "verdict"}`` (``low``/``high`` NaN for one
        seed).
    """
    from scipy import stats

    if len(values) != len(reference) or not values:
        raise ValueError(
            f"expected paired figures of one length, got {len(values)} and {len(reference)}"
        )
    diffs = [a - b for a, b in zip(values, reference)]
    n = len(diffs)
    mean = sum(diffs) / n
    if n < 2:
        nan = float("nan")
        return {"mean": mean, "sd": nan, "low": nan, "high": nan, "n": n, "verdict": "one seed"}
    sd = math.sqrt(sum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * sd / math.sqrt(n)
    low, high = mean - half, mean + half
    verdict = "better" if low > 0 else "worse" if high < 0 else "within noise"
    return {"mean": mean, "sd": sd, "low": low, "high": high, "n": n, "verdict": verdict}


def _sd(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return float("nan")
    mean = sum(values) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


# --------------------------------------------------------------------------- runs

_DATA_CACHE: dict[str, tuple[Dataset, Dataset]] = {}


def _datasets(config: Config) -> tuple[Dataset, Dataset]:
    """The (materialised) datasets of ``config.data``, built once per process."""
    import json

    from .data import build_datasets

    key = json.dumps(dataclasses.asdict(config.data), sort_keys=True, default=str)
    if key not in _DATA_CACHE:
        train, test = build_datasets(config.data)
        _DATA_CACHE[key] = (materialise(train), materialise(test))
    return _DATA_CACHE[key]


def _run_one(config: Config, name: str, seed_index: int, stage: str) -> dict[str, Any]:
    """Train row ``name`` with seed ``train.seed + seed_index`` into ``stage/runs/name/seedK``
    (one thread); returns the figures of that run."""
    from .fit import fit

    torch.set_num_threads(1)
    run_cfg = dataclasses.replace(
        config,
        model=row_model(config, name),
        train=dataclasses.replace(
            config.train, seed=config.train.seed + seed_index, progress=False
        ),
        out=str(Path(stage) / "runs" / name / f"seed{seed_index}"),
    )
    result = fit(run_cfg, datasets=_datasets(config))
    return {
        "seed": run_cfg.train.seed,
        "accuracy": result.accuracy,
        "loss": result.loss,
        "epoch": result.epoch,
        "chosen_by": result.chosen_by,
        "train_seconds": result.train_seconds,
        "history": result.history,
        "run": str(Path("runs") / name / f"seed{seed_index}"),
    }


def _workers(config: Config, jobs: int) -> int:
    wanted = config.compare.workers or (os.cpu_count() or 1)
    return max(1, min(wanted, jobs))


def _train_all(config: Config, stage: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Every (row, seed) run, in worker processes when there are several workers."""
    jobs = [(name, k) for k in range(config.compare.seeds) for name in config.compare.attention]
    done: dict[tuple[str, int], dict[str, Any]] = {}
    start = time.monotonic()

    def report(name: str, k: int) -> None:
        if config.train.progress:
            figures = done[(name, k)]
            print(
                f"compare [{len(done)}/{len(jobs)}] {name} seed {figures['seed']}: test accuracy "
                f"{100 * figures['accuracy']:.2f} % ({time.monotonic() - start:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    workers = _workers(config, len(jobs))
    if workers == 1:
        threads = torch.get_num_threads()
        try:
            for name, k in jobs:
                done[(name, k)] = _run_one(config, name, k, str(stage))
                report(name, k)
        finally:
            torch.set_num_threads(threads)
        return done
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(_run_one, config, name, k, str(stage)): (name, k) for name, k in jobs
        }
        try:
            for future in as_completed(futures):
                done[futures[future]] = future.result()
                report(*futures[future])
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    return done


def _measure(
    config: Config, stage: Path, example: torch.Tensor, runs: dict[tuple[str, int], dict]
) -> list[ModelResult]:
    """Costs of each row's trained network and the statistics over seeds."""
    from .bench import count_flops, count_params, measure_latency
    from .checkpoint import load_run

    rows = []
    for name in config.compare.attention:
        seeds = [runs[(name, k)] for k in range(config.compare.seeds)]
        model = load_run(stage / seeds[0]["run"]).model
        accuracy = [s["accuracy"] for s in seeds]
        rows.append(
            ModelResult(
                attention=name,
                model=row_label(config, name),
                accuracy=sum(accuracy) / len(accuracy),
                accuracy_sd=_sd(accuracy),
                params=count_params(model),
                flops=count_flops(model, example),
                latency_ms=measure_latency(model, example, repeats=config.compare.latency_repeats),
                train_seconds=sum(s["train_seconds"] for s in seeds) / len(seeds),
                seeds=seeds,
            )
        )
    reference = next(r for r in rows if r.attention == PLAIN)
    for row in rows:
        if row is not reference:
            row.vs_none = paired_difference(
                [s["accuracy"] for s in row.seeds], [s["accuracy"] for s in reference.seeds]
            )
    return rows


def compare(
    config: Config, *, out: str | os.PathLike[str] | None = None, force: bool = False
) -> list[ModelResult]:
    """Train and compare every row of ``config.compare``; write the report folder.

    Args:
        config: run configuration (``config.compare`` says which rows, seeds, workers).
        out: report folder (default ``config.out``).
        force: replace a report already in ``out`` (without it, that is an error).

    Returns:
        One :class:`ModelResult` per row, in the order asked.

    Raises:
        ValueError / TypeError / FileNotFoundError: bad names, data or options, a row that
            cannot be built, or an existing report without ``force`` (raised before
            training starts; nothing is written then).
    """
    from .data import dataset_info
    from .report import write_report

    out = Path(out if out is not None else config.out)
    config = dataclasses.replace(config, out=str(out))
    if out.exists() and any(out.iterdir()) and not force:
        raise ValueError(f"{out} already holds files; pass --force to replace that report")
    start = time.monotonic()
    train_set, test_set = _datasets(config)
    num_classes, _ = dataset_info(train_set)
    example = test_set[0][0].unsqueeze(0)
    validate(config, example, num_classes)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = make_private_dir(out.parent, out.name)
    try:
        runs = _train_all(config, stage)
        results = _measure(config, stage, example, runs)
        write_report(config, stage, results, test_set, wall_seconds=time.monotonic() - start)
        _swap_into_place(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return results


def _swap_into_place(stage: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}-{int(time.time())}"
        os.replace(out, old)
    os.replace(stage, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def format_table(results: list[ModelResult]) -> str:
    """The results as a plain-text table (what the terminal shows)."""
    aw = max([9, *(len(r.attention) for r in results)])
    mw = max([5, *(len(r.model) for r in results)])
    diffs = [describe_difference(r.vs_none, short=True) for r in results]
    dw = max([7, *(len(d) for d in diffs)])
    head = (
        f"{'attention':<{aw}} {'model':<{mw}} {'acc %':>7} {'sd':>5} {'vs none':>{dw}} "
        f"{'params':>10} {'MFLOPs':>8} {'lat ms':>7}"
    )
    lines = [head, "-" * len(head)]
    for r, diff in zip(results, diffs):
        lines.append(
            f"{r.attention:<{aw}} {r.model:<{mw}} {100 * r.accuracy:>7.2f} "
            f"{100 * r.accuracy_sd:>5.2f} {diff:>{dw}} "
            f"{r.params:>10,} {r.flops / 1e6:>8.2f} {r.latency_ms:>7.2f}"
        )
    return "\n".join(lines)


def describe_difference(diff: dict[str, Any] | None, *, short: bool = False) -> str:
    """``+1.20 [-0.40, 2.80]`` points of accuracy, with the verdict unless ``short``."""
    if diff is None:
        return "reference"
    text = f"{100 * diff['mean']:+.2f}"
    if not math.isnan(diff["low"]):
        text += f" [{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]"
    return text if short else f"{text} ({diff['verdict']})"
