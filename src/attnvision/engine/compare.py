"""``attnvision compare``: one network per attention type, one dataset, one budget, one report.

:func:`compare` trains ``config.model.name`` once per name in ``config.compare.attention``
(``stn`` uses ``config.compare.stn_model``), measures parameters, FLOPs
(:func:`~attnvision.engine.bench.count_flops`) and CPU latency (batch 1), records attention
maps of a few test images with :func:`attnvision.explain.capture`, and writes the report
folder: ``report.md``, ``report.html`` (self-contained, images inlined), ``results.json``,
``results.csv``, ``config.yaml``, ``curves.png``, ``maps_<attention>.png`` and each run's
folder under ``runs/``.

The report is built in a temporary folder beside ``out`` and moved into place only when
everything succeeded, so a failing run leaves an earlier report untouched.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from .._utils import atomic_write, make_private_dir
from .bench import count_flops, count_params, measure_latency
from .config import Config, save_config
from .data import build_datasets, dataset_info, resolve_builder

#: the default of ``attnvision compare`` / ``make demo``: cluttered built-in digits.
DEMO_DEFAULTS: dict[str, Any] = {
    # 2 differently cluttered copies of the 1,352 training digits, 60x60 canvases
    "data": {"name": "digits", "distortion": "cluttered", "batch_size": 64, "copies": 2},
    "model": {"name": "cnn"},
    "optim": {"name": "adamw", "lr": 4e-3, "weight_decay": 1e-4},
    "schedule": {"name": "cosine", "warmup_epochs": 0.5},
    "train": {"epochs": 3},
    # the transformer zooms the 60x60 canvas to 30x30 for its CNN (Jaderberg et al. 2015)
    "compare": {"stn_options": {"out_size": 30}},
    "out": "runs/compare",
}

#: how much memory a dataset may take to be decoded once and kept as tensors.
MATERIALISE_BYTES = 512 * 2**20


def compare_config(
    path: str | os.PathLike[str] | None = None,
    overrides: list[str] | None = None,
    *,
    attention: list[str] | None = None,
    data: str | None = None,
    distortion: str | None = None,
    root: str | None = None,
    epochs: int | None = None,
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
    if epochs is not None:
        extra.append(f"train.epochs={epochs}")
    if out:
        extra.append(f"out={out}")
    return load_config(path, extra, base=DEMO_DEFAULTS)


@dataclass
class ModelResult:
    """One row of the comparison."""

    attention: str
    model: str
    accuracy: float
    error: float
    params: int
    flops: int
    latency_ms: float
    train_seconds: float


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


def _run_config(config: Config, attention: str, out: Path) -> Config:
    if attention == "stn":
        model = dataclasses.replace(
            config.model,
            name=config.compare.stn_model,
            attention=None,
            options={**config.model.options, **config.compare.stn_options},
        )
    else:
        model = dataclasses.replace(
            config.model, attention=None if attention == "none" else attention
        )
    return dataclasses.replace(config, model=model, out=str(out / "runs" / attention))


def validate(config: Config) -> None:
    """Check names before any work: attention names, model builders, gallery size."""
    from attnvision.layers import get_attention_class

    if not config.compare.attention:
        raise ValueError("compare.attention expected at least one name, got an empty list")
    seen = set()
    for name in config.compare.attention:
        if name in seen:
            raise ValueError(f"compare.attention lists {name!r} twice")
        seen.add(name)
        if name == "stn":
            resolve_builder(config.compare.stn_model)
        elif name != "none":
            get_attention_class(name)
    resolve_builder(config.model.name)
    if config.compare.gallery < 0:
        raise ValueError(f"compare.gallery expected >= 0, got {config.compare.gallery}")


def compare(config: Config, *, out: str | os.PathLike[str] | None = None) -> list[ModelResult]:
    """Train and compare one model per attention type; write the report folder.

    Args:
        config: run configuration (``config.compare`` says which attention types).
        out: report folder (default ``config.out``).

    Returns:
        One :class:`ModelResult` per attention type, in the order asked.

    Raises:
        ValueError / TypeError / FileNotFoundError: bad names, data or options (raised
            before training starts; nothing is written then).
    """
    out = Path(out if out is not None else config.out)
    config = dataclasses.replace(config, out=str(out))
    validate(config)
    train_set, test_set = build_datasets(config.data)
    dataset_info(train_set)  # checks the item format early
    train_set, test_set = materialise(train_set), materialise(test_set)
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = make_private_dir(out.parent, out.name)
    try:
        results, histories = _run_all(config, stage, train_set, test_set)
        _write_report(config, stage, results, histories)
        _swap_into_place(stage, out)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return results


def _run_all(
    config: Config, stage: Path, train_set: Dataset, test_set: Dataset
) -> tuple[list[ModelResult], dict[str, list[dict[str, Any]]]]:
    from attnvision.engine.fit import fit
    from attnvision.explain import capture
    from attnvision.explain.figures import save_attention_grid

    results: list[ModelResult] = []
    histories: dict[str, list[dict[str, Any]]] = {}
    example = test_set[0][0].unsqueeze(0)
    n_show = min(config.compare.gallery, len(test_set))
    gallery = torch.stack([test_set[i][0] for i in range(n_show)]) if n_show else None
    labels = [int(test_set[i][1]) for i in range(n_show)]
    for attention in config.compare.attention:
        run_cfg = _run_config(config, attention, stage)
        fitted = fit(run_cfg, datasets=(train_set, test_set), desc=f"{attention:>5}")
        model = fitted.model.cpu().eval()
        results.append(
            ModelResult(
                attention=attention,
                model=run_cfg.model.name,
                accuracy=fitted.accuracy,
                error=1.0 - fitted.accuracy,
                params=count_params(model),
                flops=count_flops(model, example),
                latency_ms=measure_latency(model, example, repeats=config.compare.latency_repeats),
                train_seconds=fitted.train_seconds,
            )
        )
        histories[attention] = fitted.history
        if gallery is not None:
            with torch.no_grad(), capture(model) as maps:
                predicted = model(gallery).argmax(1).tolist()
            if maps:
                save_attention_grid(
                    stage / f"maps_{attention}.png",
                    gallery,
                    maps,
                    row_titles=[f"{t} -> {p}" for t, p in zip(labels, predicted)],
                    title=f"{run_cfg.model.name} + {attention} (label -> predicted)",
                )
    return results, histories


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
    head = (
        f"{'attention':<{aw}} {'model':<{mw}} {'acc %':>7} {'err %':>7} {'params':>10} "
        f"{'MFLOPs':>8} {'lat ms':>7} {'train s':>8}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lines.append(
            f"{r.attention:<{aw}} {r.model:<{mw}} {100 * r.accuracy:>7.2f} "
            f"{100 * r.error:>7.2f} {r.params:>10,} {r.flops / 1e6:>8.2f} "
            f"{r.latency_ms:>7.2f} {r.train_seconds:>8.1f}"
        )
    return "\n".join(lines)


def _markdown_table(results: list[ModelResult]) -> str:
    rows = [
        "| attention | model | accuracy (%) | error (%) | parameters | MFLOPs | CPU latency (ms) "
        "| training time (s) |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        rows.append(
            f"| {r.attention} | {r.model} | {100 * r.accuracy:.2f} | {100 * r.error:.2f} | "
            f"{r.params:,} | {r.flops / 1e6:.2f} | {r.latency_ms:.2f} | {r.train_seconds:.1f} |"
        )
    return "\n".join(rows)


def _describe(config: Config) -> str:
    d, t, o = config.data, config.train, config.optim
    data = d.name + (f" ({d.distortion})" if d.distortion else "")
    return (
        f"Dataset: {data}; {t.epochs} epochs, batch {d.batch_size}, {o.name} lr {o.lr}, "
        f"{config.schedule.name} schedule, seed {t.seed}. FLOPs: torch.utils.flop_counter "
        f"(one multiply-add = 2 FLOPs), batch 1. Latency: median of "
        f"{config.compare.latency_repeats} forward passes, batch 1, CPU, "
        f"{torch.get_num_threads()} threads."
    )


def _write_report(
    config: Config,
    stage: Path,
    results: list[ModelResult],
    histories: dict[str, list[dict[str, Any]]],
) -> None:
    from attnvision.explain.figures import save_curves

    save_config(config, stage / "config.yaml")
    rows = [dataclasses.asdict(r) for r in results]
    with atomic_write(stage / "results.json", "w") as handle:
        json.dump({"models": rows, "config": config.to_dict()}, handle, indent=2)
    with atomic_write(stage / "results.csv", "w") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    save_curves(stage / "curves.png", histories)
    maps = [r.attention for r in results if (stage / f"maps_{r.attention}.png").exists()]

    md = [
        "# attnvision compare",
        "",
        _describe(config),
        "",
        _markdown_table(results),
        "",
        "## Training curves",
        "",
        "![training curves](curves.png)",
        "",
        "## Attention maps",
        "",
        "Rows: test images (label -> predicted). Columns: the image, then each attention "
        "gate (spatial maps over the image, channel weights as bars, a spatial "
        "transformer's warped input as an image).",
        "",
    ]
    for name in maps:
        md += [f"### {name}", "", f"![{name} attention maps](maps_{name}.png)", ""]
    with atomic_write(stage / "report.md", "w") as handle:
        handle.write("\n".join(md))

    def img(name: str, alt: str) -> str:
        data = base64.b64encode((stage / name).read_bytes()).decode("ascii")
        return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'

    cells = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(v)}</td>"
            for v in (
                r.attention,
                r.model,
                f"{100 * r.accuracy:.2f}",
                f"{100 * r.error:.2f}",
                f"{r.params:,}",
                f"{r.flops / 1e6:.2f}",
                f"{r.latency_ms:.2f}",
                f"{r.train_seconds:.1f}",
            )
        )
        + "</tr>"
        for r in results
    )
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>attnvision compare</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,td:nth-child(2){{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>attnvision compare</h1><p>{html.escape(_describe(config))}</p>
<table><tr><th>attention</th><th>model</th><th>accuracy (%)</th><th>error (%)</th>
<th>parameters</th><th>MFLOPs</th><th>CPU latency (ms)</th><th>training time (s)</th></tr>
{cells}</table>
<h2>Training curves</h2>{img("curves.png", "training curves")}
<h2>Attention maps</h2><p>Rows: test images (label -&gt; predicted). Columns: the image, then
each attention gate.</p>
{"".join(f"<h3>{html.escape(n)}</h3>{img(f'maps_{n}.png', n)}" for n in maps)}
</body></html>
"""
    with atomic_write(stage / "report.html", "w") as handle:
        handle.write(page)
