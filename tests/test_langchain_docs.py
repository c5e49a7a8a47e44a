"""docs/langchain.md: every python block runs as written, with only local resources."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[1] / "docs" / "langchain.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.S | re.M)


def test_the_page_has_its_examples() -> None:
    assert len(python_blocks()) == 7


@pytest.mark.parametrize("index", range(7))
def test_each_python_block_runs(index: int, tmp_path: Path) -> None:
    block = python_blocks()[index]
    out = subprocess.run(
        [sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip()  # each block shows what it did
