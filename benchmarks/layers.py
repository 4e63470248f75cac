"""Speed and peak memory of the attention blocks against their peers, on CPU.

For every block (``attnvision.layers.create_attention(name, C)``) and every shape, the
script times the forward pass (under ``torch.no_grad``) and the forward+backward pass
(input requires grad, ``out.backward(g)`` with a fixed random ``g``), in float32 on the
CPU with ``torch.set_num_threads(2)``, and prints each time as a ratio ours / peer:

* se: timm ``SEModule`` and torchvision ``SqueezeExcitation`` (same widths);
* eca: timm ``EcaModule``; cbam: timm ``CbamModule(mlp_bias=True)``;
* sk: timm ``SelectiveKernel`` with our branch layout (kernel sizes, split, widths);
* gc: timm ``GlobalContext`` with our fusion options;
* coordatt: timm ``CoordAttn`` (``timm.layers.coord_attn``) with our widths and biases;
* bam, stn, residual_attention: no peer, our time only.

Timing: the implementations of one block are measured in interleaved repetitions (the
order rotates every repetition) after one warm-up call each; the table shows medians.
The "floor" is ``x * x.mean((2, 3), keepdim=True)`` (one mean over H, W and one
broadcast multiply), timed with the SE forward passes on the first shape.

Peak memory: one fresh subprocess per (block, implementation, shape). It sets glibc's
``M_MMAP_THRESHOLD`` to 128 KiB (so every freed tensor goes back to the OS and resident
memory follows the live tensors), builds the block and the inputs, runs one warm-up
forward+backward, then for each pass resets the peak resident set size
(``/proc/self/clear_refs`` = 5), reads the current RSS as the baseline (the inputs already
exist) and reports ``VmHWM - baseline`` after the pass. The forward+backward peak
includes the output and the input gradient; the forward peak includes the output.

Usage::

    python benchmarks/layers.py                      # every block, both shapes
    python benchmarks/layers.py --blocks se cbam --repeats 9
    python benchmarks/layers.py --shapes 8x512x28x28 --no-memory
    python benchmarks/layers.py --quick              # 3 repeats, second shape only
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
from collections.abc import Callable

import torch
from torch import nn

from _timing import environment, interleaved, summary_line
from attnvision._utils import count_params
from attnvision.layers import create_attention, list_attention

THREADS = 2
DEFAULT_SHAPES = ["32x256x56x56", "8x512x28x28"]
Builder = Callable[[], nn.Module]


# --------------------------------------------------------------------------- builders


def _timm_cbam_keys(state: dict) -> dict:
    out = {}
    for key, value in state.items():
        key = key.replace("spatial.conv.", "spatial.conv.conv.")
        out[key.replace("spatial.bn.", "spatial.conv.bn.")] = value
    return out


def implementations(name: str, channels: int) -> list[tuple[str, Builder]]:
    """``[("ours", build), (peer label, build), ...]`` for block ``name``."""
    ours: Builder = lambda: create_attention(name, channels=channels)  # noqa: E731
    impls: list[tuple[str, Builder]] = [("ours", ours)]
    if name == "se":
        from timm.layers.squeeze_excite import SEModule
        from torchvision.ops import SqueezeExcitation

        rd = ours().rd_channels
        impls.append(("timm SEModule", lambda: SEModule(channels)))
        impls.append(("torchvision SqueezeExcitation", lambda: SqueezeExcitation(channels, rd)))
    elif name == "eca":
        from timm.layers.eca import EcaModule

        impls.append(("timm EcaModule", lambda: EcaModule(channels)))
    elif name == "cbam":
        from timm.layers.cbam import CbamModule

        impls.append(("timm CbamModule(mlp_bias=True)", lambda: _peer_cbam(CbamModule, ours)))
    elif name == "sk":
        impls.append(("timm SelectiveKernel", lambda: _peer_sk(ours())))
    elif name == "gc":
        impls.append(("timm GlobalContext", lambda: _peer_gc(ours())))
    elif name == "coordatt":
        try:
            import timm.layers.coord_attn  # noqa: F401
        except ImportError:
            return impls
        impls.append(("timm CoordAttn", lambda: _peer_coordatt(ours())))
    return impls


def _peer_cbam(cls, ours: Builder) -> nn.Module:
    block = ours()
    peer = cls(block.channels, mlp_bias=True)
    peer.load_state_dict(_timm_cbam_keys(block.state_dict()))
    return peer


def _load_if_same(peer: nn.Module, ours: nn.Module) -> nn.Module:
    """Copy our weights into the peer when the layouts agree (checks the layout)."""
    try:
        peer.load_state_dict(ours.state_dict())
    except RuntimeError as err:
        first = str(err).splitlines()[1:2]
        print(f"  note: {type(peer).__name__} layout differs from ours: {first}", flush=True)
    return peer


def _peer_sk(ours: nn.Module) -> nn.Module:
    from timm.layers.selective_kernel import SelectiveKernel

    convs = list(ours.paths) if hasattr(ours, "paths") else []
    kernel_sizes = []
    for path in convs:
        conv = path.conv if hasattr(path, "conv") else path[0]
        k, d = conv.kernel_size[0], conv.dilation[0]
        kernel_sizes.append(k + (k - 1) * (d - 1))
    channels = ours.out_channels if hasattr(ours, "out_channels") else convs[0].conv.out_channels
    rd = ours.gate.fc_reduce.out_channels
    split = getattr(ours, "split_input", True)
    peer = SelectiveKernel(
        channels,
        channels,
        kernel_size=kernel_sizes or None,
        rd_channels=rd,
        split_input=split,
        keep_3x3=True,
    )
    return _load_if_same(peer, ours)


def _peer_gc(ours: nn.Module) -> nn.Module:
    from timm.layers.global_context import GlobalContext

    fuse_add = getattr(ours, "mlp_add", None) is not None
    fuse_scale = getattr(ours, "mlp_scale", None) is not None
    peer = GlobalContext(
        ours.channels, fuse_add=fuse_add, fuse_scale=fuse_scale, rd_channels=ours.rd_channels
    )
    return _load_if_same(peer, ours)


def _peer_coordatt(ours: nn.Module) -> nn.Module:
    from timm.layers.coord_attn import CoordAttn

    conv1 = ours.conv1
    peer = CoordAttn(conv1.in_channels, rd_channels=conv1.out_channels, bias=conv1.bias is not None)
    return _load_if_same(peer, ours)


# --------------------------------------------------------------------------- timing


def _parse_shape(text: str) -> tuple[int, int, int, int]:
    parts = tuple(int(p) for p in text.lower().split("x"))
    if len(parts) != 4:
        raise SystemExit(f"expected a shape like 32x256x56x56, got {text!r}")
    return parts  # type: ignore[return-value]


def _forward(module: Callable, x: torch.Tensor) -> None:
    with torch.no_grad():
        module(x)


def _train(module: Callable, x: torch.Tensor, g: torch.Tensor) -> None:
    x.grad = None
    module(x).backward(g)
    x.grad = None


def _floor(x: torch.Tensor) -> torch.Tensor:
    return x * x.mean((2, 3), keepdim=True)


def time_block(
    name: str, shape: tuple[int, int, int, int], repeats: int, with_floor: bool
) -> dict[str, dict[str, float]]:
    """Median forward / forward+backward seconds per implementation (and the floor)."""
    torch.manual_seed(0)
    impls = dict((label, build()) for label, build in implementations(name, shape[1]))
    x = torch.randn(shape).requires_grad_()
    g = torch.randn(shape)
    forward = {label: (lambda m=m: _forward(m, x)) for label, m in impls.items()}
    if with_floor:
        forward["floor"] = lambda: _forward(_floor, x)
    train = {label: (lambda m=m: _train(m, x, g)) for label, m in impls.items()}
    fwd = interleaved(forward, repeats, between=gc.collect)
    bwd = interleaved(train, repeats, between=gc.collect)
    result: dict[str, dict[str, float]] = {label: {"fwd": t} for label, t in fwd.items()}
    for label, module in impls.items():
        result[label]["train"] = bwd[label]
        result[label]["params"] = float(count_params(module))
    return result


# --------------------------------------------------------------------------- memory

_M_MMAP_THRESHOLD = -3


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def memory_child(name: str, impl_index: int, shape: tuple[int, int, int, int]) -> dict:
    """Peak RSS growth (bytes) of one forward and one forward+backward pass."""
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except OSError:
        pass
    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    module = implementations(name, shape[1])[impl_index][1]()
    x = torch.randn(shape).requires_grad_()
    g = torch.randn(shape)
    _train(module, x, g)  # warm-up: one-time buffers, thread pools, kernels
    _forward(module, x)
    gc.collect()
    peaks = {}
    for pass_name in ("fwd", "train"):
        _reset_peak()
        base = _rss_kib("VmRSS")
        if pass_name == "fwd":
            with torch.no_grad():
                out = module(x)
        else:
            out = module(x)
            out.backward(g)
        peaks[pass_name] = (_rss_kib("VmHWM") - base) * 1024
        del out
        x.grad = None
        gc.collect()
    return peaks


def measure_memory(name: str, impl_index: int, shape: tuple[int, int, int, int]) -> dict:
    cmd = [
        sys.executable,
        os.path.abspath(__file__),
        "--memory-child",
        name,
        str(impl_index),
        "x".join(map(str, shape)),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["?"]
        print(f"  memory child failed for {name}/{impl_index}: {tail[0]}", flush=True)
        return {}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", nargs="+", default=None, help="names (default: all)")
    parser.add_argument("--shapes", nargs="+", default=None, help="NxCxHxW (default: two)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions (median)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, second shape only")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    parser.add_argument("--memory-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.memory_child:
        name, index, shape = args.memory_child
        print(json.dumps(memory_child(name, int(index), _parse_shape(shape))))
        return

    torch.set_num_threads(THREADS)
    names = args.blocks or [
        n for n in list_attention() if n not in ("channel_gate", "spatial_gate")
    ]
    unknown = sorted(set(names) - set(list_attention()))
    if unknown:
        raise SystemExit(f"unknown blocks {unknown}; expected some of {list_attention()}")
    shape_texts = args.shapes or (DEFAULT_SHAPES[1:] if args.quick else DEFAULT_SHAPES)
    shapes = [_parse_shape(s) for s in shape_texts]
    repeats = 3 if args.quick and args.repeats == 7 else args.repeats
    print(
        environment("benchmarks/layers.py", dtype="float32", repeats=f"{repeats} interleaved"),
        flush=True,
    )

    header = (
        "| block | impl | shape | params | fwd ms | fwd+bwd ms | peak fwd MiB | "
        "peak fwd+bwd MiB | fwd ours/impl | fwd+bwd ours/impl | peak fwd+bwd ours/impl |"
    )
    rows = [header, "|" + "---|" * 11]
    summaries: list[str] = []
    for shape in shapes:
        shape_text = "x".join(map(str, shape))
        for name in names:
            with_floor = shape == shapes[0] and name == "se"
            print(f"timing {name} on {shape_text} ...", flush=True)
            times = time_block(name, shape, repeats, with_floor)
            labels = [label for label, _ in implementations(name, shape[1])]
            mem: dict[str, dict] = {}
            if not args.no_memory:
                for index, label in enumerate(labels):
                    mem[label] = measure_memory(name, index, shape)
            ours_t, ours_m = times["ours"], mem.get("ours", {})
            for label in labels:
                t, m = times[label], mem.get(label, {})
                mib = {k: v / 2**20 for k, v in m.items()}
                rows.append(
                    f"| {name} | {label} | {shape_text} | {int(t['params'])} "
                    f"| {t['fwd'] * 1e3:.1f} | {t['train'] * 1e3:.1f} "
                    f"| {mib.get('fwd', float('nan')):.0f} | {mib.get('train', float('nan')):.0f} "
                    f"| {_ratio(ours_t['fwd'], t['fwd']) if label != 'ours' else ''} "
                    f"| {_ratio(ours_t['train'], t['train']) if label != 'ours' else ''} "
                    f"| {_ratio(ours_m.get('train'), m.get('train')) if label != 'ours' else ''} |"
                )
            if with_floor:
                floor = times["floor"]["fwd"]
                rows.append(
                    f"| floor | mean(H,W) + broadcast mul | {shape_text} | 0 "
                    f"| {floor * 1e3:.1f} | | | | ours/floor: {_ratio(ours_t['fwd'], floor)} | | |"
                )
            print("\n".join(rows[-len(labels) - (1 if with_floor else 0) :]), flush=True)
            summaries.append(
                summary_line(
                    f"{name} forward + backward vs the peer",
                    " / ".join(
                        f"x{ours_t['train'] / times[label]['train']:.2f} {label.split()[0]}"
                        for label in labels
                        if label != "ours"
                    )
                    or "-",
                    shape_text,
                    f"python benchmarks/layers.py --blocks {name} --shapes {shape_text}",
                )
            )
    print("\n" + "\n".join(rows))
    print("\n".join(summaries))


if __name__ == "__main__":
    main()
