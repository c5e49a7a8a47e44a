"""The thread protocol across two `interlock serve` processes sharing one store, with the
real `langgraph-sdk`: a run started on one process and executed by the other's workers is
followed to its pause and, after an answer on the other process, to its end; every process
replays the same numbered events, with and without `since`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.stream.transport import SyncProtocolSseTransport

from tests.test_agent_server_processes import AGENTS, _server

pytestmark = pytest.mark.slow

CHANNELS = ["values", "updates", "custom", "lifecycle", "input"]


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    (tmp_path / "agents.py").write_text(AGENTS)
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    # a runs the background runs; b has no workers: all it serves comes from the store
    with _server(tmp_path, db, workers=1) as a, _server(tmp_path, db, workers=0) as b:
        yield a, b, tmp_path


def _until(url: str, key: str, thread_id: str, body: dict[str, Any], end: str) -> list[Any]:
    """Protocol events over SSE until a lifecycle event `end`."""
    with get_sync_client(url=url, api_key=key) as client:
        transport = SyncProtocolSseTransport(client=client.http.client, thread_id=thread_id)
        handle = transport.open_event_stream(body)
        out = []
        try:
            for event in handle.events:
                out.append(event)
                if event["method"] == "lifecycle" and event["params"]["data"]["event"] == end:
                    return out
        finally:
            handle.close()
            transport.close()
    raise AssertionError("the stream ended")


def test_a_thread_is_followed_answered_and_replayed_across_processes(
    two_servers: tuple[str, str, Path],
) -> None:
    a, b, tmp = two_servers
    gate = tmp / "gate"
    with (
        get_sync_client(url=b, api_key="k-bob") as bob,
        bob.threads.stream(assistant_id="jobs") as mine,
    ):
        assert mine.run.start(input={"gate": str(gate)})["run_id"]
        values = iter(mine.values)
        next(values)  # subscribed (on b, which runs nothing)
        gate.touch()  # a's worker goes on to the pause
        list(values)
        (pause,) = mine.interrupts
        assert pause["value"] == {"ship": "now?"}
        tid = mine.thread_id
        # the pause as b serves it, whole: started, the custom events, input.requested
        paused = _until(b, "k-bob", tid, {"channels": CHANNELS}, "interrupted")
        asked = [e for e in paused if e["method"] == "input.requested"]
        assert [e["params"]["data"]["interrupt_id"] for e in asked] == [pause["interrupt_id"]]
        customs = [e["params"]["data"]["payload"] for e in paused if e["method"] == "custom"]
        assert customs[0]["step"] == "started"
        # ada answers on a: the one decision path there; b's stream sees the run end
        with get_sync_client(url=a, api_key="k-ada") as ada:
            respond = SyncProtocolSseTransport(client=ada.http.client, thread_id=tid)
            params = {"namespace": [], "interrupt_id": pause["interrupt_id"], "response": "go"}
            done = respond.send_command({"id": 1, "method": "input.respond", "params": params})
            assert done is not None and done["type"] == "success"
            again = respond.send_command({"id": 2, "method": "input.respond", "params": params})
            assert again is not None and again["error"] == "no_such_interrupt"
        assert mine.output == {"gate": str(gate), "done": True, "approved": "go"}
    # every process replays the same numbered events; `since` loses and repeats nothing
    on_b = _until(b, "k-bob", tid, {"channels": CHANNELS}, "completed")
    on_a = _until(a, "k-bob", tid, {"channels": CHANNELS}, "completed")
    assert on_a == on_b
    assert on_b[: len(paused)] == paused
    seqs = [e["seq"] for e in on_b]
    assert seqs == sorted(set(seqs))
    for cut in (paused[-1]["seq"], on_b[1]["seq"]):
        rest = _until(a, "k-bob", tid, {"channels": CHANNELS, "since": cut}, "completed")
        assert rest == [e for e in on_b if e["seq"] > cut]


def test_a_run_whose_process_died_is_taken_over_and_its_failure_reaches_the_stream(
    tmp_path: Path,
) -> None:
    """A background run's process is killed mid-node; another process takes the run over
    (its lease lapsed), runs the node again, and the node fails there: a client following
    the thread on a third process sees the run start again and then `failed`."""
    # the dead process's leases lapse after a second: the run's and the thread's
    short = "\n_make = make\n\ndef make(cp):\n    graphs = _make(cp)\n"
    short += "    graphs['jobs'].lease_ttl = 1.0\n    return graphs\n"
    (tmp_path / "agents.py").write_text(AGENTS + short)
    db = f"sqlite:///{tmp_path / 'shared.db'}"
    lease = ("--run-lease", "1")
    gate = tmp_path / "gate"
    with (
        _server(tmp_path, db, 1, *lease),
        _server(tmp_path, db, 1, *lease),
        _server(tmp_path, db, 0) as watcher,
        get_sync_client(url=watcher, api_key="k-bob") as bob,
    ):
        tid = bob.threads.create()["thread_id"]
        bob.runs.create(tid, "jobs", input={"gate": str(gate)})  # queued: a worker takes it
        transport = SyncProtocolSseTransport(client=bob.http.client, thread_id=tid)
        handle = transport.open_event_stream({"channels": ["lifecycle", "custom"]})
        seen: list[Any] = []
        pids: list[int] = []
        try:
            for event in handle.events:
                data = event["params"]["data"]
                seen.append(data.get("event") or data["payload"]["step"])
                if event["method"] == "custom":
                    pids.append(data["payload"]["pid"])
                    if len(pids) == 1:  # the node waits at the gate: its process dies
                        os.kill(pids[0], signal.SIGKILL)
                        gate.write_text("fail")  # (after the kill: the dead process never reads it)
                if data.get("event") == "failed":
                    error = data["error"]
                    break
        finally:
            handle.close()
            transport.close()
        assert seen == ["started", "started", "started", "started", "failed"], (seen, error)
        assert len(pids) == 2 and pids[0] != pids[1]  # the other process ran it again
        assert "the gate says fail" in error
        (run,) = bob.runs.list(tid)
        assert run["status"] == "error"


def test_an_unknown_agent_inbox_agent_stops_serve(tmp_path: Path) -> None:
    (tmp_path / "agents.py").write_text(AGENTS)
    exe = Path(sys.executable).with_name("interlock")
    got = subprocess.run(
        [str(exe), "serve", "agents:make", "--db", f"sqlite:///{tmp_path / 'x.db'}",
         "--port", "0", "--agent-inbox", "nope"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert got.returncode != 0
    assert "--agent-inbox nope: no such agent (the agents are jobs)" in got.stderr
