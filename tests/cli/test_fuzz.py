"""Every subcommand against bad input: exit code 2, one line on stderr that names the problem,
no traceback, nothing on stdout, and every file written earlier unchanged (checksums).

One module-scoped "world" holds a trained run, images of every kind (good, corrupt,
16-bit, tiny, a decompression bomb), fixation files (good, NaN, empty, not numbers), maps
(NaN, 3-D, complex, wrong size) and salient-object folders; each case runs one command
and the world's checksums are compared before and after.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parent / "engine"))

import _tiny  # noqa: E402

from attnvision.cli import main  # noqa: E402


def _bomb(path: Path) -> None:
    """A PNG whose header claims 20000 x 20000 pixels (PIL refuses it before decoding)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    data = _tiny.make_tensors(w / "t.pt")
    args = ["train", "data.name=tensors", f"data.root={data}", "data.batch_size=16",
            "model.name=_tiny:tiny_net", "train.epochs=1", "train.progress=false",
            f"out={w / 'run'}"]  # fmt: skip
    assert main(args) == 0
    images = w / "images"
    images.mkdir()
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(images / "good.png")
    Image.fromarray(rng.integers(0, 255, (10, 12), dtype=np.uint8)).save(w / "tiny.png")
    Image.fromarray((rng.random((40, 48)) * 65535).astype(np.uint16)).save(w / "g16.png")
    (w / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    (w / "text.png").write_text("hello")
    Image.fromarray(np.zeros((4, 4), np.float32)).save(w / "float.tif")
    _bomb(w / "bomb.png")
    (w / "empty").mkdir()
    fix = w / "fix"
    fix.mkdir()
    (fix / "a.csv").write_text("x,y\n10,12\n20,5\n")
    (w / "fixnan").mkdir()
    (w / "fixnan" / "a.csv").write_text("x,y\nnan,12\n")
    (w / "fixtext").mkdir()
    (w / "fixtext" / "a.csv").write_text("x,y\nten,twelve\n")
    (w / "fixempty").mkdir()
    (w / "fixempty" / "a.csv").write_text("x,y\n")
    gt = w / "gt"
    gt.mkdir()
    np.save(gt / "a.npy", rng.random((24, 32)))
    for name, value in {
        "prednan": np.full((24, 32), np.nan),
        "pred3d": rng.random((2, 24, 32)),
        "predcomplex": rng.random((24, 32)) * 1j,
        "predsize": rng.random((12, 16)),
    }.items():
        (w / name).mkdir()
        np.save(w / name / "a.npy", value)
    masks, preds = w / "masks", w / "preds"
    masks.mkdir()
    preds.mkdir()
    mask = np.zeros((24, 32), np.uint8)
    mask[6:18, 8:24] = 255
    Image.fromarray(mask).save(masks / "a.png")
    Image.fromarray(mask).save(preds / "a.png")
    (w / "predscorrupt").mkdir()
    (w / "predscorrupt" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (w / "predssize").mkdir()
    Image.fromarray(mask[:12]).save(w / "predssize" / "a.png")
    (w / "evil.pt").write_bytes(_evil_pickle())
    (w / "notes.txt").write_text("not a checkpoint")
    return w


def _evil_pickle() -> bytes:
    """A torch file whose pickle asks to call ``os.system`` (weights_only refuses it)."""
    import io
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    buffer = io.BytesIO()
    torch.save({"format": "attnvision-checkpoint", "version": 1, "x": Evil()}, buffer)
    return buffer.getvalue()


def _checksums(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


#: (case id, argv with {w} for the world folder, text the error line must contain)
CASES = [
    ("list bad choice", ["list", "everything"], "invalid choice"),
    ("train no config", ["train", "{w}/nope.yaml"], "config file not found"),
    ("train epochs 0", ["train", "out={w}/r2", "train.epochs=0"], "expected a value >= 1, got 0"),
    ("train batch 0", ["train", "out={w}/r2", "data.batch_size=0"], "'data.batch_size' expected"),
    ("train over a run", ["train", "data.name=tensors", "data.root={w}/t.pt",
                          "model.name=_tiny:tiny_net", "out={w}/run"], "already holds a run"),
    ("train resume nothing", ["train", "--resume", "{w}/empty"], "nothing to resume"),
    ("train bad yaml", ["train", "{w}/notes.txt"], "expected a mapping"),
    ("evaluate missing", ["evaluate", "{w}/missing.pt"], "checkpoint not found"),
    ("evaluate not torch", ["evaluate", "{w}/notes.txt"], "not a readable checkpoint"),
    ("evaluate evil", ["evaluate", "{w}/evil.pt"], "refusing to load"),
    ("evaluate folder", ["evaluate", "{w}/empty"], "checkpoint not found"),
    ("bench threads", ["bench", "--threads", "-1"], "threads expected >= 1, got -1"),
    ("bench repeats", ["bench", "--repeats", "0"], "repeats expected >= 1, got 0"),
    ("bench huge", ["bench", "--input", "1,1,100000,100000"], "expected at most 268,435,456"),
    ("bench shape", ["bench", "--input", "1,2,3"], "expected 4 positive sizes"),
    ("bench block", ["bench", "--block", "nope"], "unknown attention 'nope'"),
    ("compare epochs", ["compare", "--epochs", "0", "--out", "{w}/c"], "expected a value >= 1"),
    ("compare seeds", ["compare", "--seeds", "0", "--out", "{w}/c"], "'compare.seeds' expected"),
    ("compare over", ["compare", "--out", "{w}/images"], "pass --force"),
    ("compare row", ["compare", "--attention", "none,nope", "--out", "{w}/c"], "unknown attention"),
    ("maps no sigma", ["saliency", "maps", "{w}/fix", "{w}/m", "--shape", "24", "32"],
     "one of the arguments --sigma-deg --sigma-px is required"),
    ("maps nan", ["saliency", "maps", "{w}/fixnan", "{w}/m", "--sigma-px", "2",
                  "--shape", "24", "32"], "{w}/fixnan/a.csv"),
    ("maps text", ["saliency", "maps", "{w}/fixtext", "{w}/m", "--sigma-px", "2",
                   "--shape", "24", "32"], "{w}/fixtext/a.csv"),
    ("maps empty", ["saliency", "maps", "{w}/fixempty", "{w}/m", "--sigma-px", "2",
                    "--shape", "24", "32"], "no map written"),
    ("maps sigma", ["saliency", "maps", "{w}/fix", "{w}/m", "--sigma-px", "-1", "--shape", "24",
                    "32"], "expected a positive sigma"),
    ("maps deg", ["saliency", "maps", "{w}/fix", "{w}/m", "--sigma-deg", "1", "--shape", "24",
                  "32"], "--sigma-deg needs --ppd"),
    ("maps folder", ["saliency", "maps", "{w}/empty", "{w}/m", "--sigma-px", "1", "--shape",
                     "24", "32"], "expected .csv or .json fixation files, found none"),
    ("evaluate nan", ["saliency", "evaluate", "{w}/prednan", "{w}/gt"], "NaN"),
    ("evaluate 3d", ["saliency", "evaluate", "{w}/pred3d", "{w}/gt"], "expected a 2-D"),
    ("evaluate complex", ["saliency", "evaluate", "{w}/predcomplex", "{w}/gt"],
     "expected a real-valued map, got dtype complex128"),
    ("evaluate size", ["saliency", "evaluate", "{w}/predsize", "{w}/gt"], "pass --resize"),
    ("evaluate empty", ["saliency", "evaluate", "{w}/empty", "{w}/gt"], "without a prediction"),
    ("evaluate metric", ["saliency", "evaluate", "{w}/gt", "{w}/gt", "--metrics", "nope"],
     "unknown metric 'nope'"),
    ("evaluate out", ["saliency", "evaluate", "{w}/gt", "{w}/gt", "--out", "{w}/r.txt"],
     "expected --out to end in .json or .csv"),
    ("predict corrupt", ["saliency", "predict", "{w}/corrupt.png", "--out", "{w}/p"],
     "corrupt.png: cannot read as an image"),
    ("predict text", ["saliency", "predict", "{w}/text.png", "--out", "{w}/p"],
     "text.png: cannot read as an image"),
    ("predict bomb", ["saliency", "predict", "{w}/bomb.png", "--out", "{w}/p"], "too large"),
    ("predict float", ["saliency", "predict", "{w}/float.tif", "--out", "{w}/p"],
     "floating-point samples"),
    ("predict empty", ["saliency", "predict", "{w}/empty", "--out", "{w}/p"], "found none"),
    ("predict weights", ["saliency", "predict", "{w}/images", "--out", "{w}/p", "--weights",
                         "{w}/notes.txt"], "notes.txt"),
    ("sod corrupt", ["sod", "evaluate", "{w}/predscorrupt", "{w}/masks"], "a.png"),
    ("sod size", ["sod", "evaluate", "{w}/predssize", "{w}/masks"], "pass --resize"),
    ("sod empty", ["sod", "evaluate", "{w}/empty", "{w}/masks"], "empty"),
    ("sod missing", ["sod", "evaluate", "{w}/nothing", "{w}/masks"], "nothing"),
    ("visualize missing", ["visualize", "{w}/none.pt", "{w}/images/good.png", "--out", "{w}/v"],
     "checkpoint not found"),
    ("visualize image", ["visualize", "{w}/run", "{w}/corrupt.png", "--out", "{w}/v",
                         "--size", "8", "8"], "corrupt.png: cannot read as an image"),
    ("visualize size", ["visualize", "{w}/run", "{w}/images/good.png", "--out", "{w}/v",
                        "--size", "0", "8"], "expected a positive input size"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(world, capsys, argv, expected):
    before = _checksums(world)
    args = [a.replace("{w}", str(world)) for a in argv]
    try:
        code = main(args)
    except SystemExit as exit_info:  # argparse's own usage errors
        code = exit_info.code
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err and "Warning" not in err
    assert "error:" in lines[0] and expected.replace("{w}", str(world)) in lines[0], lines[0]
    assert out == ""
    assert _checksums(world) == before


def test_good_inputs_of_every_kind_pass(world, capsys, tmp_path):
    """The same world, used right: 16-bit and tiny images convert; JSON output parses."""
    ckpt = world / "run"
    assert main(["evaluate", str(ckpt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 32
    code = main(["visualize", str(ckpt), str(world / "g16.png"), "--out", str(tmp_path / "v"),
                 "--size", "8", "8"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
