"""``make bench``: run the quick benchmarks and print the current-results table.

Each benchmark script prints ``SUMMARY | claim | ours / peer | shape or data | threads |
command |`` lines (:func:`_timing.summary_line`); this runs the quick form of each script
in its own process, keeps its full output in ``runs/bench/<script>.log`` and prints one
Markdown table of all summary lines: the table that opens BENCHMARKS.md. Scripts that need
the real data are skipped, with a note, when ``ATTNVISION_DATA`` is not set.

Example:
    .venv/bin/python benchmarks/summary.py            # all quick benchmarks
    .venv/bin/python benchmarks/summary.py ram_sensor  # some of them
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

#: script -> (arguments of its quick form, needs ATTNVISION_DATA)
QUICK: dict[str, tuple[list[str], bool]] = {
    "layers": (["--quick", "--no-memory", "--blocks", "se", "eca", "cbam", "coordatt"], False),
    "models": (["--models", "se_resnet50,cbam_resnet50", "--repeats", "3"], False),
    "attach": (
        [
            "--families",
            "resnet50,mobilenet_v2",
            "--attention",
            "se",
            "--no-finetune",
            "--repeats",
            "3",
        ],
        False,
    ),  # fmt: skip
    "ram_sensor": (["--reps", "100"], False),
    "saliency": (["--limit", "10", "--repeat", "3"], True),
    "sod": (["--models", "DSS", "--limit", "100", "--repeat", "3"], True),
    "saliency_latency": (["--repeats", "10", "--threads", "2"], False),
    "train_step": (["--repeats", "5", "--attention", "none"], False),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scripts", nargs="*", help=f"some of: {', '.join(QUICK)}")
    parser.add_argument("--logs", default="runs/bench", help="folder of the full outputs")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.scripts) - set(QUICK))
    if unknown:
        raise SystemExit(f"unknown benchmarks {unknown}; expected some of {list(QUICK)}")
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    has_data = bool(os.environ.get("ATTNVISION_DATA", "").strip())
    rows, notes = [], []
    for name in args.scripts or list(QUICK):
        options, needs_data = QUICK[name]
        if needs_data and not has_data:
            notes.append(f"{name}: skipped (set ATTNVISION_DATA to the real-data folder)")
            continue
        command = [sys.executable, str(HERE / f"{name}.py"), *options]
        start = time.monotonic()
        print(f"running benchmarks/{name}.py {' '.join(options)} ...", file=sys.stderr, flush=True)
        done = subprocess.run(command, capture_output=True, text=True)
        seconds = time.monotonic() - start
        (logs / f"{name}.log").write_text(done.stdout + done.stderr)
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
            notes.append(f"{name}: failed with exit code {done.returncode}: {last}")
            continue
        found = [line for line in done.stdout.splitlines() if line.startswith("SUMMARY |")]
        rows += [line[len("SUMMARY ") :] for line in found]
        notes.append(f"{name}: {len(found)} rows in {seconds:.0f} s ({logs / (name + '.log')})")
    print("| claim | ours / peer | shape or data | threads | command |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    print()
    for note in notes:
        print(f"- {note}")
    return 0 if all("failed" not in note for note in notes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
