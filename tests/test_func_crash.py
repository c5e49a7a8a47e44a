"""A process killed with SIGKILL between two tasks of an entrypoint: the run resumes in
another process without running the first task again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interlock import ThreadBusy
from tests._func_crash_child import build
from tests._race import open_saver

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgres"])
def spec(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:{tmp_path / 'crash.db'}"
    from tests.pg import postgres_spec

    return postgres_spec()


def test_kill_between_two_tasks_resumes_without_repeating_the_first(
    spec: str, tmp_path: Path
) -> None:
    effects = tmp_path / "effects.txt"
    ttl = 1.0
    child = subprocess.Popen(
        [sys.executable, "-m", "tests._func_crash_child", spec, "t-crash", str(effects), str(ttl)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "second started"
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=30)
    child.stdout.close()
    assert effects.read_text().split() == ["first", "second"]

    saver = open_saver(spec)
    flow = build(saver, str(effects), block=False)
    config = {"configurable": {"thread_id": "t-crash"}}
    assert flow.get_state(config).next == ("order_flow",)  # the step is still to finish
    # the dead process holds the thread's lease until it lapses (the behaviour under test)
    deadline = time.monotonic() + 30
    while True:
        try:
            result = flow.invoke(None, config)
            break
        except ThreadBusy:
            assert time.monotonic() < deadline, "the dead process's lease never lapsed"
            time.sleep(0.2)
    assert result == ["o-7: reserved", "o-7: reserved, charged"]
    # the first task ran once; only the second (killed mid-way) ran again
    assert effects.read_text().split() == ["first", "second", "second"]
    saver.close()
