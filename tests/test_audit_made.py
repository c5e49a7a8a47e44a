"""An act that was made is never reported as failed because its audit entry could not be
written (the real `langgraph-sdk` over loopback, on SQLite): the store blinks
(`StoreUnavailable`) on the entry of a thread copy, a run's cancel or deletion (Agent
Server and `/v1`), a background run's end; the client is told the act succeeded, the
act happened, and its entry is appended once the store answers — once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock import StoreUnavailable
from interlock.checkpoint.base import AuditEntry
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server._audit_later import record_made
from interlock.server.auth import Principal
from tests._http import served

KEYS = "k-bob=bob:requester;k-root=root:admin"
TICK = threading.Event()
"""Never set: the bounded wait between two looks at the audit trail."""


class Memo(TypedDict, total=False):
    text: str


def _graphs(saver: SqliteSaver) -> dict[str, Any]:
    memo = il.StateGraph(Memo)
    memo.add_node("write", lambda s: {"text": f"wrote {s.get('text')}"})
    memo.add_edge(il.START, "write")
    return {"memo": memo.compile(checkpointer=saver, name="memo")}


def _serve(tmp_path: Path, workers: int) -> Iterator[tuple[str, SqliteSaver]]:
    saver = SqliteSaver(tmp_path / "made.db")
    app = create_app(_graphs(saver), keys=ApiKeys.parse(KEYS), workers=workers)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/"), saver
    finally:
        saver.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, SqliteSaver]]:
    """A server whose worker runs background runs."""
    yield from _serve(tmp_path, workers=1)


@pytest.fixture
def idle(tmp_path: Path) -> Iterator[tuple[str, SqliteSaver]]:
    """A server with no worker: a background run stays queued."""
    yield from _serve(tmp_path, workers=0)


def _blink(monkeypatch: pytest.MonkeyPatch, saver: SqliteSaver, action: str) -> list[str]:
    """The store fails (`StoreUnavailable`) the first append of an audit entry `action`
    (once the act it records was made); the actions it refused."""
    real = saver.append_audit
    refused: list[str] = []

    def append(entries: Sequence[AuditEntry], *args: Any, **kwargs: Any) -> Any:
        if not refused and any(e.action == action for e in entries):
            refused.append(action)
            raise StoreUnavailable("the store is unavailable; nothing was changed, retry later")
        return real(entries, *args, **kwargs)

    monkeypatch.setattr(saver, "append_audit", append)
    return refused


def _entries(saver: SqliteSaver, thread_id: str, action: str) -> list[AuditEntry]:
    page = saver.list_audit(thread_id=thread_id, after="", limit=500)
    return [e for e in page.items if e.action == action]


def _entries_soon(saver: SqliteSaver, thread_id: str, action: str) -> list[AuditEntry]:
    """The thread's `action` entries once there is one (looked at every 50 ms, for at most
    10 s)."""
    deadline = time.monotonic() + 10
    while not (found := _entries(saver, thread_id, action)) and time.monotonic() < deadline:
        TICK.wait(0.05)
    return found


def test_an_entry_the_store_cannot_take_now_is_appended_once_it_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    saver = SqliteSaver(tmp_path / "one.db")
    try:
        refused = _blink(monkeypatch, saver, "run.cancelled")
        record_made(
            saver, Principal("bob", frozenset()), "run.cancelled", "t1", "i1", {"run_id": "r1"}
        )
        assert refused == ["run.cancelled"]
        (entry,) = _entries_soon(saver, "t1", "run.cancelled")
        assert (entry.actor, entry.interrupt_id, entry.detail) == ("bob", "i1", {"run_id": "r1"})
    finally:
        saver.close()


def test_a_thread_copy_whose_entry_the_store_fails_is_not_reported_undone(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`POST /threads/{id}/copy` copies the thread, then appending `thread.copied` fails:
    the client gets the copy (not a 503 "nothing was changed" it would retry, making a
    second copy), and the entry is written once the store answers."""
    url, saver = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "memo", input={"text": "hi"})
        refused = _blink(monkeypatch, saver, "thread.copied")
        copy = bob.threads.copy(tid)
        assert refused == ["thread.copied"]
        new = copy["thread_id"]
        assert new != tid
        assert bob.threads.get_state(new)["values"]["text"] == "wrote hi"
        (entry,) = _entries_soon(saver, new, "thread.copied")
        assert (entry.actor, entry.detail) == ("bob", {"from": tid})


def test_a_cancel_and_a_deletion_whose_entries_the_store_fails_succeed(
    idle: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Agent Server: a queued run is cancelled, then deleted; appending each one's entry
    fails once. Both answer 204, both happened, both entries are written later, once."""
    url, saver = idle
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        run = bob.runs.create(tid, "memo", input={"text": "hi"})
        refused = _blink(monkeypatch, saver, "run.cancelled")
        bob.runs.cancel(tid, run["run_id"])  # raises on a 503
        assert refused == ["run.cancelled"]
        assert bob.runs.get(tid, run["run_id"])["status"] == "interrupted"
        (cancelled,) = _entries_soon(saver, tid, "run.cancelled")
        assert cancelled.detail["run_id"] == run["run_id"]

        refused = _blink(monkeypatch, saver, "run.deleted")
        bob.runs.delete(tid, run["run_id"])
        assert refused == ["run.deleted"]
        assert bob.runs.list(tid) == []
        (deleted,) = _entries_soon(saver, tid, "run.deleted")
        assert deleted.detail["run_id"] == run["run_id"]
        assert len(_entries(saver, tid, "run.cancelled")) == 1


def test_a_v1_cancel_whose_entry_the_store_fails_answers_the_cancelled_run(
    idle: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, saver = idle
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        run = bob.runs.create(tid, "memo", input={"text": "hi"})
    refused = _blink(monkeypatch, saver, "run.cancelled")
    answer = httpx.post(f"{url}/v1/runs/{run['run_id']}/cancel", headers={"x-api-key": "k-bob"})
    assert refused == ["run.cancelled"]
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "cancelled"
    (entry,) = _entries_soon(saver, tid, "run.cancelled")
    assert entry.detail == {"run_id": run["run_id"]}


def test_a_background_run_whose_end_entry_the_store_fails_is_still_audited(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker finishes a run, then appending `run.finished` fails: the run stays
    finished (`success`), the worker goes on with the next run, and the entry is written
    once the store answers."""
    url, saver = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        refused = _blink(monkeypatch, saver, "run.finished")
        first = bob.runs.create(tid, "memo", input={"text": "one"})
        bob.runs.join(tid, first["run_id"])
        assert bob.runs.get(tid, first["run_id"])["status"] == "success"
        assert refused == ["run.finished"]
        bob.runs.wait(tid, "memo", input={"text": "two"})  # the worker still works
        assert bob.threads.get_state(tid)["values"]["text"] == "wrote two"
        found = _entries_soon(saver, tid, "run.finished")
        assert [e.detail["run_id"] for e in found].count(first["run_id"]) == 1
