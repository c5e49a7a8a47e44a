"""Run cancel on the Agent Server API, driven by the real langgraph-sdk: a queued run is
cancelled (it never runs; the SDK reads it `interrupted`), a run under way or ended is a
409 `cannot_cancel` (ConflictError), an unknown one 404."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError

from interlock import StateGraph
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester"
ENTERED = threading.Event()
GATE = threading.Event()
RAN: list[str] = []


class Job(TypedDict, total=False):
    item: str
    block: bool


def work(state: Job) -> dict[str, Any]:
    RAN.append(state["item"])
    if state.get("block"):
        ENTERED.set()
        assert GATE.wait(60), "the test never opened the gate"
    return {}


@pytest.fixture
def sdk(tmp_path: Path) -> Iterator[tuple[Any, SqliteSaver]]:
    ENTERED.clear()
    GATE.clear()
    RAN.clear()
    saver = SqliteSaver(tmp_path / "cancel.db")
    g = StateGraph(Job)
    g.add_node("work", work)
    g.add_edge("__start__", "work")
    graph = g.compile(checkpointer=saver, name="jobs")
    # no workers: background runs stay queued until cancelled
    app = create_app({"jobs": graph}, keys=ApiKeys.parse(KEYS), workers=0)
    with served(app) as http:
        client = get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-bob")
        try:
            yield client, saver
        finally:
            GATE.set()
            client.close()
    saver.close()


def test_a_queued_run_is_cancelled_and_never_runs(sdk: tuple[Any, SqliteSaver]) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "jobs", input={"item": "a"})
    assert run["status"] == "pending"
    assert client.runs.cancel(thread, run["run_id"]) is None
    assert client.runs.get(thread, run["run_id"])["status"] == "interrupted"
    client.runs.cancel(thread, run["run_id"], wait=True)  # again: still cancelled
    client.runs.join(thread, run["run_id"])  # its stream ended
    record = saver.get_run(run["run_id"])
    assert record is not None and record.status == "cancelled"
    assert saver.claim_run("w", ttl=60) is None  # never claimed, so never run
    assert RAN == []
    with pytest.raises(NotFoundError):
        client.runs.cancel(thread, "f" * 32)


def test_a_run_under_way_or_ended_cannot_be_cancelled(sdk: tuple[Any, SqliteSaver]) -> None:
    client, saver = sdk
    thread = client.threads.create()["thread_id"]
    waiting = threading.Thread(
        target=client.runs.wait,
        args=(thread, "jobs"),
        kwargs={"input": {"item": "b", "block": True}},
    )
    waiting.start()
    try:
        assert ENTERED.wait(30)
        [running] = [r for r in saver.list_runs(thread_id=thread) if r.status == "running"]
        with pytest.raises(ConflictError) as refused:
            client.runs.cancel(thread, running.run_id)
        assert refused.value.response.status_code == 409
        assert "cannot_cancel" in refused.value.response.text
    finally:
        GATE.set()
        waiting.join(30)
    assert saver.get_run(running.run_id).status == "done"  # type: ignore[union-attr]
    with pytest.raises(ConflictError):
        client.runs.cancel(thread, running.run_id)
    assert RAN == ["b"]
