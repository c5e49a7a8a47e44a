"""`interlock serve` as a real process on a loopback port: a request asked before a restart
is decided after it, over real HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

AGENTS = textwrap.dedent(
    """
    from typing import Any, TypedDict

    import interlock as il


    class Order(TypedDict, total=False):
        item: str
        approved: Any


    def make(checkpointer):
        def ask(state):
            return {"approved": il.interrupt({"ship": state["item"]})}

        g = il.StateGraph(Order)
        g.add_node("ask", ask)
        g.add_edge(il.START, "ask")
        return {"orders": g.compile(checkpointer=checkpointer, name="orders")}
    """
)
KEYS = "k-bob=bob:requester;k-ada=ada:approver"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(workdir: Path, db: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = _free_port()
    exe = Path(sys.executable).with_name("interlock")
    command = [str(exe), "serve", "agents:make", "--db", db, "--port", str(port), "--keys", KEYS]
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
        deadline = time.monotonic() + 30
        while True:  # readiness: the first answered health check
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not start"
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


def test_serve_asks_then_decides_across_a_restart(tmp_path: Path) -> None:
    (tmp_path / "agents.py").write_text(AGENTS)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    bob = {"Authorization": "Bearer k-bob"}
    ada = {"Authorization": "Bearer k-ada"}
    with _server(tmp_path, db) as (base, _):
        started = httpx.post(
            f"{base}/v1/threads", json={"input": {"item": "book"}}, headers=bob, timeout=10
        )
        assert started.status_code == 201, started.text
        iid = started.json()["run"]["interrupts"][0]["id"]
        assert httpx.get(f"{base}/v1/approvals", headers=bob, timeout=10).status_code == 403
        spec = httpx.get(f"{base}/openapi.json", timeout=10).json()
        assert "/v1/approvals/{interrupt_id}/decision" in spec["paths"]

    with _server(tmp_path, db) as (base, _):  # a new process: the request waited in the store
        inbox = httpx.get(f"{base}/v1/approvals", headers=ada, timeout=10).json()
        assert [a["id"] for a in inbox["approvals"]] == [iid]
        decided = httpx.post(
            f"{base}/v1/approvals/{iid}/decision",
            json={"value": "yes"},
            headers=ada,
            timeout=10,
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["run"]["values"] == {"item": "book", "approved": "yes"}
        twice = httpx.post(
            f"{base}/v1/approvals/{iid}/decision", json={"value": "no"}, headers=ada, timeout=10
        )
        assert twice.status_code == 409 and twice.json()["error"] == "already_decided"


def test_ctrl_c_stops_serve_while_a_browser_watches_the_inbox(tmp_path: Path) -> None:
    import signal

    (tmp_path / "agents.py").write_text(AGENTS)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    with _server(tmp_path, db) as (base, proc), httpx.Client(base_url=base, timeout=30) as browser:
        signed_in = browser.post("/inbox/login", data={"key": "k-ada"})
        assert signed_in.status_code == 303, signed_in.text
        with browser.stream("GET", "/inbox/events") as events:
            assert events.status_code == 200
            lines = events.iter_lines()  # held: a dropped iterator closes the stream
            assert next(lines) == ": watching"
            proc.send_signal(signal.SIGINT)  # the live-update stream is still open
            assert [line for line in lines if line] == []  # ended by the server, cleanly
            # well inside uvicorn's 10 s graceful-shutdown bound: not waited out
            assert proc.wait(timeout=8) == 0
