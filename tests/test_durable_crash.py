"""Nothing stranded: two real `interlock serve` processes on one store (SQLite, PostgreSQL);
process A is killed with SIGKILL at a named crash point of a run the service started in a
request, and process B takes the run over once A's leases lapse.

Crash points (injected by this test's agents module, from `CRASH_AT` in A's environment —
test code, not the product's):

- `message`: inside the node of a message's run, before it reaches its pause;
- `after-decision`: right after the decision is committed (`resolve_interrupts` returned);
- `in-node`: inside the resumed action, after its side effect, before the node returns;
- `before-final-checkpoint`: the node returned, the run's last checkpoint is not written;
- `while-streaming`: a resume streamed to the caller over the Agent Server API, A killed
  while the caller reads the stream (inside the action).

Every time: the decided action happens exactly once (the payment ledger, idempotent by
key as a real payment API is, holds one payment; the node may run again, as after any
crash — its attempts are counted), the request ends decided and carried out, the thread
finished, and nothing is stranded (no open run, `stranded_threads` empty).
"""

from __future__ import annotations

import json
import socket
import sqlite3
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._served_store import served_store
from tests.test_runs_takeover import _serve

pytestmark = pytest.mark.slow

AGENTS = textwrap.dedent(
    """
    import operator
    import os
    import signal
    import socket
    import sqlite3
    import threading
    from typing import Annotated, TypedDict

    import interlock as il

    ROLE, CRASH_AT = os.environ["ROLE"], os.environ.get("CRASH_AT")


    def crash(point):
        if ROLE == "A" and CRASH_AT == point:
            os.kill(os.getpid(), signal.SIGKILL)


    class Pay(TypedDict, total=False):
        item: str
        approved: str
        paid: Annotated[list[str], operator.add]


    def pay(key, item):
        '''An idempotent payment (one row per key); every attempt is counted.'''
        with sqlite3.connect(os.environ["LEDGER"], timeout=30) as db:
            db.execute("CREATE TABLE IF NOT EXISTS paid (key TEXT PRIMARY KEY, item TEXT)")
            db.execute("CREATE TABLE IF NOT EXISTS attempts (key TEXT, role TEXT)")
            db.execute("INSERT INTO attempts VALUES (?, ?)", (key, ROLE))
            db.execute("INSERT OR IGNORE INTO paid VALUES (?, ?)", (key, item))


    def make(checkpointer):
        resolve, put = checkpointer.resolve_interrupts, checkpointer.put_checkpoint

        def resolve_then_crash(*args, **kwargs):
            out = resolve(*args, **kwargs)
            crash("after-decision")
            return out

        def put_or_crash(record, *args, **kwargs):
            if not record.next and not record.sends and record.source != "input":
                crash("before-final-checkpoint")
            return put(record, *args, **kwargs)

        checkpointer.resolve_interrupts = resolve_then_crash
        checkpointer.put_checkpoint = put_or_crash

        def review(state):
            crash("message")
            return {"approved": il.interrupt({"pay": state["item"]})}

        def act(state, config):
            pay(config["configurable"]["thread_id"], state["item"])
            crash("in-node")
            if ROLE == "A" and CRASH_AT == "while-streaming":
                conn = socket.create_connection(("127.0.0.1", int(os.environ["GATE"])))
                conn.sendall(b"entered\\n")
                threading.Event().wait()  # until the test kills this process
            return {"paid": [state["item"]]}

        g = il.StateGraph(Pay)
        g.add_node("review", review)
        g.add_node("act", act)
        g.add_edge(il.START, "review")
        g.add_edge("review", "act")
        graph = g.compile(checkpointer=checkpointer, name="pay")
        graph.lease_ttl = 2.0  # a dead process's thread lease lapses soon
        return {"pay": graph}
    """
)
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}
POINTS = ["message", "after-decision", "in-node", "before-final-checkpoint", "while-streaming"]


def _until(check: Any, what: str, limit: float = 90.0) -> Any:
    """Poll `check()` until it returns something truthy (the takeover takes a lease's
    time); fails after `limit` seconds."""
    deadline = time.monotonic() + limit
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _ledger(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    with sqlite3.connect(path) as db:
        paid = db.execute("SELECT key, item FROM paid").fetchall()
        attempts = [r[0] for r in db.execute("SELECT role FROM attempts").fetchall()]
    return paid, attempts


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(`--db` URL, a saver on the same store for the test's own reads)."""
    with served_store(request.param, tmp_path) as pair:
        yield pair


@pytest.fixture
def gate() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    sock.settimeout(60)
    yield sock
    sock.close()


@pytest.mark.parametrize("point", POINTS)
def test_a_run_killed_at_a_crash_point_is_carried_out_once_by_the_other_process(
    point: str, tmp_path: Path, store: tuple[str, Any], gate: socket.socket
) -> None:
    db, saver = store
    (tmp_path / "agents.py").write_text(AGENTS)
    ledger = tmp_path / "ledger.db"
    env = {"LEDGER": str(ledger), "GATE": str(gate.getsockname()[1]), "CRASH_AT": point}
    with (
        _serve(tmp_path, db, {**env, "ROLE": "B"}) as (b, _),
        _serve(tmp_path, db, {**env, "ROLE": "A"}) as (a, proc_a),
    ):
        made = httpx.post(f"{a}/v1/threads", json={"thread_id": "t1"}, headers=BOB)
        assert made.status_code == 201, made.text
        run_id = None
        if point == "message":  # A dies inside the message's run, before its pause
            with pytest.raises(httpx.TransportError):
                httpx.post(
                    f"{a}/v1/threads/t1/runs", json={"input": {"item": "inv-1"}}, headers=BOB
                )
            [run] = saver.list_runs(thread_id="t1")
            run_id = run.run_id
            pending = _until(
                lambda: saver.list_interrupts(status="pending", thread_id="t1").items,
                "B to take the message's run over to its pause",
            )
            iid = pending[0].interrupt_id
            decided = httpx.post(
                f"{b}/v1/approvals/{iid}/decision", json={"value": "yes"}, headers=ADA, timeout=60
            )
            assert decided.status_code == 200, decided.text
        else:
            paused = httpx.post(
                f"{b}/v1/threads/t1/runs", json={"input": {"item": "inv-1"}}, headers=BOB
            )
            assert paused.status_code == 200 and paused.json()["status"] == "paused", paused.text
            iid = paused.json()["interrupts"][0]["id"]
            if point == "while-streaming":
                run_id = _stream_until_killed(a, proc_a, gate)
            else:
                with pytest.raises(httpx.TransportError):
                    httpx.post(
                        f"{a}/v1/approvals/{iid}/decision",
                        json={"value": "yes"},
                        headers=ADA,
                        timeout=60,
                    )
        proc_a.wait(timeout=30)
        assert proc_a.returncode == -9  # killed at the crash point, not by anything else

        def finished() -> bool:
            runs = saver.list_runs(thread_id="t1")
            thread = httpx.get(f"{b}/v1/threads/t1", headers=BOB, timeout=10).json()
            open_runs = [r for r in runs if r.status in ("queued", "running")]
            return not open_runs and thread["next"] == [] and thread["status"] != "busy"

        _until(finished, "B to carry the decision out")
        thread = httpx.get(f"{b}/v1/threads/t1", headers=BOB, timeout=10).json()

    paid, attempts = _ledger(ledger)
    assert paid == [("t1", "inv-1")]  # the decided action happened exactly once
    assert thread["values"] == {"item": "inv-1", "approved": "yes", "paid": ["inv-1"]}
    request = saver.get_interrupt(iid)
    assert request is not None and (request.status, request.resume) == ("resolved", "yes")
    assert request.decided_by == "ada"
    assert saver.list_interrupts(status="pending", thread_id="t1").items == ()
    far = saver.list_runs(thread_id="t1")
    assert {r.status for r in far} <= {"done", "interrupted"}, far
    assert saver.stranded_threads(since=request.decided_at) == ()  # nothing stranded
    inputs = [c for c in saver.list_checkpoints("t1") if c.source == "input"]
    assert len(inputs) == 1  # the message applied once
    if point in ("in-node", "before-final-checkpoint", "while-streaming"):
        assert attempts == ["A", "B"]  # the action's node ran again in B (the engine's rule)
    else:  # A died before the action: it ran only in B
        assert attempts == ["B"]
    [resume] = [r for r in far if r.kind == "resume"]  # one run carried the decision out:
    if point == "message":  # B's own, in the request that decided
        assert resume.attempts == 1
    else:  # A's, queued before it decided and taken over by B (not a sweep's new run)
        assert resume.attempts == 2 and resume.input == {"interrupt_ids": [iid]}
        run_id = run_id or resume.run_id
    if run_id is not None:
        taken = saver.get_run(run_id)
        assert taken is not None and taken.attempts >= 2 and taken.status in ("done", "interrupted")
    if point == "while-streaming":  # B logged on under the same run id: joinable anywhere
        events = saver.read_events("t1", run_id=run_id)
        attempts_logged = [e.data.get("attempt") for e in events if e.event == "metadata"]
        assert attempts_logged[0] == 1 and attempts_logged[-1] >= 2
        assert events[-1].event == "end"


def _stream_until_killed(a: str, proc_a: Any, gate: socket.socket) -> str:
    """Resume over the Agent Server API as a stream from A; once the stream has started
    and A is inside the action, kill A. The run's id."""
    body = {"assistant_id": "pay", "command": {"resume": "yes"}, "stream_mode": ["updates"]}
    run_id = None
    with httpx.stream(
        "POST",
        f"{a}/threads/t1/runs/stream",
        json=body,
        headers={"x-api-key": "k-ada"},
        timeout=60,
    ) as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        event = None
        for line in lines:
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: ") and event == "metadata":
                run_id = json.loads(line[len("data: ") :])["run_id"]
            elif line.startswith("data: ") and event == "updates":
                break  # the caller is reading the stream
        conn, _ = gate.accept()  # A is inside the action
        with conn:
            assert conn.makefile().readline() == "entered\n"
            proc_a.kill()
        with pytest.raises(httpx.HTTPError):
            for _ in lines:  # the stream breaks with A
                pass
    assert run_id is not None
    return str(run_id)
