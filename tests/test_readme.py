"""The README's tour runs as written (it is the first code a user copies)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_the_tour_runs(capsys):
    text = README.read_text()
    tour = text.split("## A short tour", 1)[1]
    block = re.search(r"```python\n(.*?)```", tour, re.S)
    assert block is not None, "the tour's python block is missing"
    exec(compile(block.group(1), str(README), "exec"), {"__name__": "readme_tour"})
    out = capsys.readouterr().out
    assert "new attention tensors" in out and "cbam" in out
