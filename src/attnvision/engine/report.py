"""The report folder of ``attnvision compare``.

:func:`write_report` writes into the (staging) folder: ``results.json`` (every run of every
row), ``results.csv`` (one line per run), ``config.yaml``, ``cost.png`` (accuracy with its
spread against FLOPs and latency), ``curves.png`` (training curves, mean and spread over
seeds), one attention-map picture per row (``maps_<row>.png``), and ``report.md`` /
``report.html`` (self-contained, pictures inlined) that say the budget, the table, and in
words which differences to ``none`` are within noise.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import json
import math
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .._utils import atomic_write
from .compare import PLAIN, STN, STN_IDENTITY, ModelResult, describe_difference
from .config import Config, save_config

__all__ = ["write_report"]


def _budget(config: Config, results: list[ModelResult], wall_seconds: float) -> str:
    d, t, o, c = config.data, config.train, config.optim, config.compare
    data = d.name + (f", {d.distortion}" if d.distortion else "")
    copies = f", {d.copies} copies of each training image" if d.copies > 1 else ""
    runs = len(results) * c.seeds
    return (
        f"Data: {data}{copies}; {100 * d.val_fraction:g} % of the training images held out "
        f"for validation, which picks each run's epoch; accuracy is on the test split. "
        f"Budget: {c.seeds} seeds x {t.epochs} epochs per row ({runs} runs), batch "
        f"{d.batch_size}, {o.name} lr {o.lr:g}, {config.schedule.name} schedule; the seed "
        f"changes initialisation and data order, not the data. The whole comparison took "
        f"{wall_seconds / 60:.1f} minutes ({_workers_text(config)}). FLOPs: "
        f"torch.utils.flop_counter (one multiply-add = 2 FLOPs), batch 1. Latency: median of "
        f"{c.latency_repeats} forward passes, batch 1, CPU, {torch.get_num_threads()} threads."
    )


def _workers_text(config: Config) -> str:
    from .compare import _workers

    n = _workers(config, len(config.compare.attention) * config.compare.seeds)
    return f"{n} training process{'es' if n > 1 else ''}, one thread each"


def _verdicts(results: list[ModelResult]) -> list[str]:
    """One sentence per row on its difference to ``none``."""
    reference = next(r for r in results if r.attention == PLAIN)
    reference_sd = reference.accuracy_sd
    lines = []
    for r in results:
        diff = r.vs_none
        if diff is None:
            continue
        what = {STN: "the spatial transformer", STN_IDENTITY: "the identity-frozen control"}
        name = what.get(r.attention, r.attention)
        points = f"{100 * diff['mean']:+.2f} points"
        if diff["verdict"] == "one seed":
            lines.append(f"{name}: {points} from one seed; run --seeds 3 or more to judge noise.")
            continue
        interval = f"95 % interval [{100 * diff['low']:+.1f}, {100 * diff['high']:+.1f}]"
        if diff["verdict"] == "within noise":
            lines.append(f"{name}: {points} ({interval}), within noise of none.")
            gaps = [a["accuracy"] - b["accuracy"] for a, b in zip(r.seeds, reference.seeds)]
            if all(g > 0 for g in gaps) or all(g < 0 for g in gaps):
                lines[-1] += (
                    f" Each of the {diff['n']} seeds is {'above' if gaps[0] > 0 else 'below'} "
                    f"its paired none run, but {diff['n']} pairs are too few to exclude noise "
                    "at 95 %; more --seeds narrow the interval."
                )
        else:
            sds = ""
            if reference_sd > 0 and not math.isnan(reference_sd):
                sds = f", {abs(diff['mean']) / reference_sd:.1f} times none's standard deviation"
            lines.append(f"{name}: {points} ({interval}{sds}), {diff['verdict']} than none.")
    return lines


def _rows_text(config: Config, results: list[ModelResult]) -> str:
    """What each row is, in words."""
    names = [r.attention for r in results]
    parts = [f"Every row is {config.model.name} ({', '.join(names)})"]
    blocks = [n for n in names if n not in (PLAIN, STN, STN_IDENTITY)]
    if blocks:
        parts.append(
            f"with the block named in the row ({', '.join(blocks)}) where the network places it"
        )
    if STN in names or STN_IDENTITY in names:
        o = config.compare.stn_options
        window = o.get("out_size")
        reads = (
            f"a {o.get('init_scale', 1.0):g} window of the input, read at {window}x{window}"
            if o.get("transform") == "translation" and window
            else f"a {o.get('transform', 'affine')} transform of the input"
        )
        parts.append(
            f"stn puts a spatial transformer in front ({reads}; localisation network "
            f"{o.get('loc', 'regression')}); stn_identity is the same transformer frozen at the "
            "identity, reading the whole input at its size: its parameters and compute "
            "without the attention"
        )
    return "; ".join(parts) + "."


def _table(results: list[ModelResult]) -> tuple[list[str], list[list[str]]]:
    ref = next(r for r in results if r.attention == PLAIN)
    head = [
        "attention",
        "model",
        "accuracy % (mean +- sd)",
        "vs none, points [95 % CI]",
        "parameters (x none)",
        "MFLOPs (x none)",
        "latency ms (x none)",
        "train s / run",
    ]
    rows = []
    for r in results:
        rows.append(
            [
                r.attention,
                r.model,
                f"{100 * r.accuracy:.2f} +- {100 * r.accuracy_sd:.2f}",
                describe_difference(r.vs_none),
                f"{r.params:,} ({r.params / ref.params:.2f})",
                f"{r.flops / 1e6:.2f} ({r.flops / max(ref.flops, 1):.2f})",
                f"{r.latency_ms:.2f} ({r.latency_ms / ref.latency_ms:.2f})",
                f"{r.train_seconds:.1f}",
            ]
        )
    return head, rows


def _gallery(config: Config, stage: Path, results: list[ModelResult], test: Dataset) -> list[str]:
    """``maps_<row>.png`` for every row with something to show (seed 0's network)."""
    from attnvision.explain import capture
    from attnvision.explain.figures import save_attention_grid

    from .checkpoint import load_run

    n = min(config.compare.gallery, len(test))
    if n == 0:
        return []
    images = torch.stack([test[i][0] for i in range(n)])
    labels = [int(test[i][1]) for i in range(n)]
    drawn = []
    for r in results:
        model = load_run(stage / r.seeds[0]["run"]).model
        with torch.no_grad(), capture(model) as maps:
            predicted = model(images).argmax(1).tolist()
        if not maps:
            continue
        save_attention_grid(
            stage / f"maps_{r.attention}.png",
            images,
            maps,
            row_titles=[f"{t} -> {p}" for t, p in zip(labels, predicted)],
            title=f"{r.model} + {r.attention} (label -> predicted; seed {r.seeds[0]['seed']})",
        )
        drawn.append(r.attention)
    return drawn


def write_report(
    config: Config,
    stage: Path,
    results: list[ModelResult],
    test: Dataset,
    *,
    wall_seconds: float,
) -> None:
    """Write every file of the report folder into ``stage`` (see the module docstring)."""
    from attnvision.explain.figures import save_accuracy_cost, save_curves

    save_config(config, stage / "config.yaml")
    budget = _rows_text(config, results) + " " + _budget(config, results, wall_seconds)
    rows = [dataclasses.asdict(r) for r in results]
    with atomic_write(stage / "results.json", "w") as handle:
        json.dump(
            {
                "models": rows,
                "budget": budget,
                "wall_seconds": wall_seconds,
                "config": config.to_dict(),
            },
            handle,
            indent=1,
            allow_nan=True,
        )
    with atomic_write(stage / "results.csv", "w") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            ["attention", "model", "seed", "accuracy", "loss", "epoch", "train_seconds", "params"]
        )
        for r in results:
            for s in r.seeds:
                writer.writerow(
                    [
                        r.attention,
                        r.model,
                        s["seed"],
                        s["accuracy"],
                        s["loss"],
                        s["epoch"],
                        s["train_seconds"],
                        r.params,
                    ]  # fmt: skip
                )
    save_accuracy_cost(
        stage / "cost.png",
        [
            {
                "label": r.attention,
                "accuracy": r.accuracy,
                "sd": r.accuracy_sd,
                "mflops": r.flops / 1e6,
                "latency_ms": r.latency_ms,
            }
            for r in results
        ],
    )
    save_curves(
        stage / "curves.png", {r.attention: [s["history"] for s in r.seeds] for r in results}
    )
    maps = _gallery(config, stage, results, test)
    _write_pages(config, stage, results, budget, maps)


def _write_pages(
    config: Config, stage: Path, results: list[ModelResult], budget: str, maps: list[str]
) -> None:
    head, rows = _table(results)
    verdicts = _verdicts(results)
    gallery_text = (
        "Rows: test images (label -> predicted), drawn by seed 0's network of each row. "
        "Columns: the image, then each attention gate: spatial maps over the image, channel "
        "weights as bars, a spatial transformer's output as an image."
    )
    md = [
        "# attnvision compare",
        "",
        budget,
        "",
        "| " + " | ".join(head) + " |",
        "| --- | --- | " + " | ".join(["---:"] * (len(head) - 2)) + " |",
        *("| " + " | ".join(row) + " |" for row in rows),
        "",
        "## Differences to none",
        "",
        *(f"- {line}" for line in verdicts),
        "",
        "## Accuracy against cost",
        "",
        "![accuracy against cost](cost.png)",
        "",
        "## Training curves",
        "",
        "Mean over seeds; the band spans the lowest to the highest seed.",
        "",
        "![training curves](curves.png)",
        "",
        "## Attention maps",
        "",
        gallery_text,
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
        "<tr>" + "".join(f"<td>{html.escape(v)}</td>" for v in row) + "</tr>" for row in rows
    )
    items = "".join(f"<li>{html.escape(line)}</li>" for line in verdicts)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>attnvision compare</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
td:first-child,td:nth-child(2){{text-align:left}}img{{max-width:100%}}</style></head><body>
<h1>attnvision compare</h1><p>{html.escape(budget)}</p>
<table><tr>{"".join(f"<th>{html.escape(h)}</th>" for h in head)}</tr>
{cells}</table>
<h2>Differences to none</h2><ul>{items}</ul>
<h2>Accuracy against cost</h2>{img("cost.png", "accuracy against cost")}
<h2>Training curves</h2><p>Mean over seeds; the band spans the lowest to the highest seed.</p>
{img("curves.png", "training curves")}
<h2>Attention maps</h2><p>{html.escape(gallery_text)}</p>
{"".join(f"<h3>{html.escape(n)}</h3>{img(f'maps_{n}.png', n)}" for n in maps)}
</body></html>
"""
    with atomic_write(stage / "report.html", "w") as handle:
        handle.write(page)
