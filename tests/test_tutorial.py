"""Execute the code of ``docs/quickstart.md`` top to bottom, so the docs fail the build when their code breaks."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "quickstart.md"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def code_blocks(text: str) -> list[str]:
    """The ```python blocks of a Markdown page, in order."""
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_extracts_every_python_block():
    text = "a\n```python\nx = 1\n```\n```text\nnot code\n```\n```python\ny = x + 1\n```\n"
    assert code_blocks(text) == ["x = 1\n", "y = x + 1\n"]


@pytest.mark.slow
def test_quickstart_runs_top_to_bottom(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow")
    matplotlib.use("Agg")
    blocks = code_blocks(PAGE.read_text())
    assert len(blocks) >= 5, "the quickstart lost its code blocks"
    monkeypatch.chdir(tmp_path)  # files the page writes land in a temporary folder
    ns: dict = {"__name__": "__quickstart__"}
    for i, code in enumerate(blocks, start=1):
        try:
            exec(compile(code, f"{PAGE.name}[block {i}]", "exec"), ns)
        except Exception as e:  # noqa: BLE001 - name the block that broke
            pytest.fail(f"{PAGE.name}, python block {i} raised {type(e).__name__}: {e}")
    for name in ("poincare", "rank", "rewards", "history"):
        assert (tmp_path / f"quickstart_{name}.png").stat().st_size > 5000
    import matplotlib.pyplot as plt

    plt.close("all")
