"""The Agent Server API across `interlock serve` processes sharing one store, with the real
`langgraph-sdk`: a background run executed by one process is followed live, joined and
reconnected from another; two processes racing to answer one request give one success."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_sync_client

pytestmark = pytest.mark.slow

AGENTS = textwrap.dedent(
    """
    import os
    import time
    from typing import Any, TypedDict

    import interlock as il


    class Job(TypedDict, total=False):
        gate: str
        done: bool
        approved: Any


    def work(state):
        write = il.get_stream_writer()
        write({"step": "started", "pid": os.getpid()})
        while not os.path.exists(state["gate"]):  # the test opens the gate
            time.sleep(0.02)
        with open(state["gate"]) as gate:
            if gate.read() == "fail":
                raise RuntimeError("the gate says fail")
        write({"step": "released"})
        return {"done": True}


    def ask(state):
        return {"approved": il.interrupt({"ship": "now?"})}


    def make(checkpointer):
        g = il.StateGraph(Job)
        g.add_node("work", work)
        g.add_node("ask", ask)
        g.add_edge(il.START, "work")
        g.add_edge("work", "ask")
        return {"jobs": g.compile(checkpointer=checkpointer, name="jobs")}
    """
)
KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(workdir: Path, db: str, workers: int, *extra: str) -> Iterator[str]:
    port = _free_port()
    exe = Path(sys.executable).with_name("interlock")
    command = [
        str(exe), "serve", "agents:make", "--db", db, "--port", str(port), "--keys", KEYS,
        "--workers", str(workers), *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(workdir)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while True:  # readiness: the first answered health check (bounded by the test timeout)
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/ok", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    (tmp_path / "agents.py").write_text(AGENTS)
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    # a runs the background runs; b has no workers: all it serves comes from the store
    with _server(tmp_path, db, workers=1) as a, _server(tmp_path, db, workers=0) as b:
        yield a, b, tmp_path


def test_a_background_run_is_followed_joined_and_reconnected_from_another_process(
    two_servers: tuple[str, str, Path],
) -> None:
    a, b, tmp = two_servers
    gate = tmp / "gate"
    with (
        get_sync_client(url=a, api_key="k-bob") as on_a,
        get_sync_client(url=b, api_key="k-bob") as on_b,
    ):
        tid = on_a.threads.create()["thread_id"]
        run = on_a.runs.create(tid, "jobs", input={"gate": str(gate)})
        seen: list[Any] = []
        for part in on_b.runs.join_stream(tid, run["run_id"]):
            seen.append(part)
            if part.event == "custom" and part.data["step"] == "started":
                assert not gate.exists()  # followed live, while the run waits on process a
                assert part.data["pid"] != os.getpid()
                gate.write_text("go")
        names = [p.event for p in seen]
        assert names[0] == "metadata" and names[-1] == "end"
        steps = [p.data["step"] for p in seen if p.event == "custom"]
        assert steps == ["started", "released"]
        assert seen[-1].data["status"] == "interrupted"
        assert [int(p.id) for p in seen] == sorted(int(p.id) for p in seen)
        again = list(on_b.runs.join_stream(tid, run["run_id"], last_event_id=seen[2].id))
        assert [(p.id, p.event) for p in again] == [(p.id, p.event) for p in seen[3:]]
        joined = on_b.runs.join(tid, run["run_id"])
        assert joined["done"] is True and joined["__interrupt__"][0]["value"] == {"ship": "now?"}
        assert on_b.runs.get(tid, run["run_id"])["status"] == "interrupted"
        assert [t["thread_id"] for t in on_b.threads.search(status="interrupted")] == [tid]


def test_two_processes_racing_to_answer_one_request_give_one_success(
    two_servers: tuple[str, str, Path],
) -> None:
    a, b, tmp = two_servers
    gate = tmp / "open"
    gate.write_text("go")
    with get_sync_client(url=a, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        assert bob.runs.wait(tid, "jobs", input={"gate": str(gate)})["__interrupt__"]
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def answer(url: str, key: str, value: str) -> None:
        with get_sync_client(url=url, api_key=key) as c:
            barrier.wait()
            try:
                outcomes.append(c.runs.wait(tid, "jobs", command={"resume": value}))
            except httpx.HTTPStatusError as exc:
                outcomes.append((exc.response.status_code, exc.response.json()["code"]))

    racers = [
        threading.Thread(target=answer, args=(a, "k-ada", "yes")),
        threading.Thread(target=answer, args=(b, "k-root", "no")),
    ]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    wins = [o for o in outcomes if isinstance(o, dict)]
    losses = [o for o in outcomes if isinstance(o, tuple)]
    assert len(wins) == 1 and len(losses) == 1, outcomes
    assert losses[0][0] == 409 and losses[0][1] in ("already_decided", "nothing_to_resume")
    with get_sync_client(url=b, api_key="k-bob") as bob:
        assert bob.threads.get_state(tid)["values"]["approved"] == wins[0]["approved"]
