"""README's quickstart runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


def test_quickstart_runs_and_resumes_in_a_new_process(tmp_path: Path) -> None:
    quickstart = python_blocks()[0]
    first, later = quickstart.split("# … later, in any process:")
    setup = first.split("config = ")[0]
    out1 = subprocess.run(
        [sys.executable, "-c", first], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert "Interrupt(value={'action': 'pay', 'amount': 120}" in out1
    resume = setup + 'config = {"configurable": {"thread_id": "invoice-42"}}\n' + later
    out2 = subprocess.run(
        [sys.executable, "-c", resume], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert "{'amount': 120, 'paid': True}" in out2


def test_the_two_commands_open_the_readme_and_ci_runs_the_second() -> None:
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert first_block is not None and text.index("```bash") < text.index("```python")
    demo, tests = first_block.group(1).strip().splitlines()
    assert demo.endswith("pip install -q -e '.[all]' && .venv/bin/interlock demo")
    assert tests.endswith("pip install -q -e '.[test]' && .venv/bin/python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci  # .ci/run runs the README's test command verbatim
