"""Latency of ``attnvision.saliency.predict`` on an 800x600 image, per kind, against the
bare encoder in timm measured in the same run.

For each kind and each torch thread count, ``predict(image, kind)`` (the shipped weights,
already loaded: the first call is a warm-up) runs ``--repeats`` times on one OSIE photo
(800x600, or a seeded random image without ``ATTNVISION_DATA``); the median wall time is
printed beside the median of timm's ``tf_efficientnet_lite0`` (the same architecture and
padding) forward on the network's input size alone, and their ratio: what reading the image
size, resizing, the decoder / readout and the upsampling to 800x600 cost on top of the
encoder. The target of issue 20 is <= 150 ms per image on 2 CPU cores; the 1-minute load
average is printed, since other processes on shared cores inflate the figures (torch's
threads wait for each other when a core is taken).

Usage:
    ATTNVISION_DATA=/work/shared/data .venv/bin/python benchmarks/saliency_latency.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from _timing import summary_line
from attnvision.saliency import model as sm


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--kinds", nargs="+", choices=sm.KINDS, default=list(sm.KINDS))
    args = ap.parse_args(argv)
    root = os.environ.get("ATTNVISION_DATA")
    photo = Path(root or "") / "osie" / "stimuli" / "1501.jpg"
    if root and photo.is_file():
        image, source = sm.read_image(photo), str(photo.name)
    else:
        image = np.random.default_rng(0).integers(0, 256, (600, 800, 3), dtype=np.uint8)
        source = "random 800x600"
    try:
        import timm
    except ImportError:
        timm = None
    print(f"image {source} {image.shape[1]}x{image.shape[0]}; median of {args.repeats} calls")
    print("| kind | threads | network input | predict ms | timm encoder ms | ratio |")
    print("| --- | --- | --- | --- | --- | --- |")
    summaries = []
    for kind in args.kinds:
        model = sm.load_model(sm.default_weights(kind), kind)
        size = sm.input_size(image.shape[:2], model.input_spec)
        flips = 2 if model.input_spec.get("flip") else 1
        peer = None
        if timm is not None:
            peer = timm.create_model("tf_efficientnet_lite0", pretrained=False).eval()
        x = torch.randn(flips, 3, *size)
        for threads in args.threads:
            torch.set_num_threads(threads)
            ours = _median_ms(lambda k=kind: sm.predict(image, k), args.repeats)
            line = f"| {kind} | {threads} | {flips} x {size[1]}x{size[0]} | {ours:.1f} |"
            if peer is not None:
                with torch.inference_mode():
                    theirs = _median_ms(lambda p=peer, t=x: p.forward_features(t), args.repeats)
                line += f" {theirs:.1f} | {ours / theirs:.2f} |"
            else:
                line += " (timm not installed) | |"
            print(line, flush=True)
            if threads != max(args.threads):
                continue
            summaries.append(
                summary_line(
                    f"saliency.predict latency, kind {kind} (target <= 150 ms on 2 cores)",
                    f"{ours:.0f} ms"
                    + (f" ({ours / theirs:.2f}x timm's bare encoder)" if peer is not None else ""),
                    f"{source}, {image.shape[1]}x{image.shape[0]}",
                    f"python benchmarks/saliency_latency.py --repeats {args.repeats}",
                )
            )
    print("\n".join(summaries))
    print(f"1-minute load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
