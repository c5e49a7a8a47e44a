"""A background run survives its worker: real `interlock serve` processes sharing one store.

Worker A claims a run whose node blocks (it tells the test over a loopback socket, then
waits forever); the test kills A with SIGKILL; worker B, started afterwards, takes the run
over once A's leases expire and completes it. The semantics this pins down: the run's
input is applied exactly once (one input checkpoint, the counter added once); the node
that A was running when it died runs again in B (a node that ran partially may re-run —
wrap side effects in `once()` to make them run once).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._served_store import served_store

pytestmark = pytest.mark.slow

AGENTS = textwrap.dedent(
    """
    import operator
    import os
    import socket
    import threading
    from pathlib import Path
    from typing import Annotated, TypedDict

    import interlock as il


    class Job(TypedDict, total=False):
        item: str
        count: Annotated[int, operator.add]
        done: bool


    def make(checkpointer):
        def work(state):
            with open(Path(os.environ["JOBS_LOG"]), "a") as log:
                log.write(f"work {os.environ['JOBS_ROLE']}\\n")
            if os.environ["JOBS_ROLE"] == "A":
                conn = socket.create_connection(("127.0.0.1", int(os.environ["JOBS_PORT"])))
                conn.sendall(b"entered\\n")
                threading.Event().wait()  # until this process is killed
            return {"done": True}

        g = il.StateGraph(Job)
        g.add_node("work", work)
        g.add_edge(il.START, "work")
        graph = g.compile(checkpointer=checkpointer, name="jobs")
        graph.lease_ttl = 2.0  # a dead worker's thread lease expires soon
        return {"jobs": graph}
    """
)
KEYS = "k-bob=bob:requester;k-ada=ada:approver"
BOB = {"Authorization": "Bearer k-bob"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _serve(workdir: Path, db: str, env: dict[str, str]) -> Iterator[tuple[str, Any]]:
    port = _free_port()
    exe = Path(sys.executable).with_name("interlock")
    command = [
        str(exe), "serve", "agents:make", "--db", db, "--port", str(port), "--keys", KEYS,
        "--workers", "1", "--run-lease", "2", "--expire-every", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(workdir), **env},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:  # readiness: the first answered health check (bounded by the timeout)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(`--db` URL, a saver on the same store for the test's own reads)."""
    with served_store(request.param, tmp_path) as pair:
        yield pair


def test_a_killed_workers_run_is_taken_over_and_its_input_applied_once(
    tmp_path: Path, store: tuple[str, Any]
) -> None:
    db, saver = store
    (tmp_path / "agents.py").write_text(AGENTS)
    log = tmp_path / "work.log"
    gate = socket.socket()
    gate.bind(("127.0.0.1", 0))
    gate.listen(1)
    gate.settimeout(60)
    env = {"JOBS_LOG": str(log), "JOBS_PORT": str(gate.getsockname()[1])}
    try:
        with _serve(tmp_path, db, {**env, "JOBS_ROLE": "A"}) as (a, proc_a):
            made = httpx.post(f"{a}/v1/threads", json={"thread_id": "j1"}, headers=BOB)
            assert made.status_code == 201, made.text
            queued = httpx.post(
                f"{a}/v1/threads/j1/runs",
                json={"input": {"item": "report", "count": 1}, "background": True},
                headers=BOB,
            )
            assert queued.status_code == 202, queued.text
            run_id = queued.json()["run_id"]
            conn, _ = gate.accept()  # A's worker is inside the node: the input is committed
            with conn:
                assert conn.makefile().readline() == "entered\n"
                running = saver.get_run(run_id)
                assert running is not None and running.status == "running"
                assert running.attempts == 1
                proc_a.kill()  # SIGKILL: no cleanup, the leases just stop being renewed
                proc_a.wait(timeout=30)
    finally:
        gate.close()

    with _serve(tmp_path, db, {**env, "JOBS_ROLE": "B"}) as (b, _):
        while True:  # B claims the run after A's leases expire (bounded by the test timeout)
            run = httpx.get(f"{b}/v1/runs/{run_id}", headers=BOB, timeout=10).json()
            if run["status"] not in ("queued", "running"):
                break
        assert run["status"] == "done", run
        assert run["attempts"] >= 2
        assert run["result"]["values"] == {"item": "report", "count": 1, "done": True}

    # exactly once: one input checkpoint, the counter added once; the node ran in A (killed
    # inside it) and again in B
    records = list(saver.list_checkpoints("j1"))
    assert [r.source for r in records].count("input") == 1
    assert {r.metadata.get("run_id") for r in records} == {run_id}
    assert log.read_text().splitlines() == ["work A", "work B"]
    finished = saver.get_run(run_id)
    assert finished is not None and finished.owner is not None and finished.status == "done"
