"""The `tasks`, `checkpoints` and `debug` stream modes of the Agent Server runs API, driven
by the real `langgraph-sdk` (sync and async) over loopback on SQLite and PostgreSQL.

The payloads are the library's chunks for the same call (`graph.stream(...,
stream_mode=[...])` on interlock, whose chunk shapes are LangGraph 1.2.22's: see
docs/parity.md "Debug streams"), with what LangGraph's Agent Server adds to a checkpoint
(`checkpoint` and `parent_checkpoint`: `{thread_id, checkpoint_ns, checkpoint_id,
checkpoint_map}`); `debug` wraps them as `{"step", "timestamp", "type", "payload"}`. On
LangGraph 1.2.22 the same graph's first run streams `checkpoint -1, checkpoint 0, task 1
draft, task_result 1 draft, checkpoint 1, task 2 review, task_result 2 review`; interlock
has one input checkpoint fewer (docs/parity.md), hence `checkpoint -1, task 0 draft, ...`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client

from interlock import Command, InMemorySaver
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.conftest import make_saver
from tests.test_agent_server_forks import _graph

KEYS = "k-bob=bob:requester;k-ada=ada:approver"
MODES = ["tasks", "checkpoints", "debug"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    saver = make_saver(request.param, tmp_path)
    app = create_app({"drafts": _graph(saver)}, keys=ApiKeys.parse(KEYS), workers=1)
    with served(app) as http:
        yield str(http.base_url).rstrip("/")
    saver.close()


def _library(*calls: Any) -> list[list[tuple[str, Any]]]:
    """The library's chunks for the same calls on a fresh thread (one list per call)."""
    graph = _graph(InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    return [list(graph.stream(c, config, stream_mode=MODES)) for c in calls]


def _outline(parts: list[tuple[str, Any]]) -> list[tuple[Any, ...]]:
    """What must match between the library's stream and the server's: per chunk its mode,
    and the task's name or the checkpoint's step (debug: its type and step too)."""
    out: list[tuple[Any, ...]] = []
    for mode, data in parts:
        if mode == "debug":
            payload = data["payload"]
            name = payload.get("name") or payload["metadata"]["step"]
            out.append((mode, data["type"], data["step"], name))
        elif mode == "tasks":
            out.append((mode, data["name"], "result" in data))
        elif mode == "checkpoints":
            out.append((mode, data["metadata"]["step"], tuple(data["next"])))
    return out


def _check_shapes(parts: list[tuple[str, Any]], thread_id: str) -> None:
    last: dict[str, Any] = {}
    for mode, data in parts:
        if mode == "checkpoints":
            assert set(data) == {
                "config",
                "parent_config",
                "values",
                "metadata",
                "next",
                "tasks",
                "checkpoint",
                "parent_checkpoint",
            }
            conf = data["config"]["configurable"]
            assert data["checkpoint"] == {
                "thread_id": thread_id,
                "checkpoint_ns": "",
                "checkpoint_id": conf["checkpoint_id"],
                "checkpoint_map": None,
            }
            parent = data["parent_config"]
            assert (data["parent_checkpoint"] or {}).get("checkpoint_id") == (
                parent["configurable"]["checkpoint_id"] if parent else None
            )
        elif mode == "tasks":
            keys = {"id", "name", "error", "result", "interrupts"}
            assert set(data) == keys if "result" in data else {"id", "name", "input", "triggers"}
        elif mode == "debug":
            assert set(data) == {"step", "timestamp", "type", "payload"}
            assert data["payload"] == last[{"checkpoint": "checkpoints"}.get(data["type"], "tasks")]
        if mode in ("tasks", "checkpoints"):
            last[mode] = data


def _sent(parts: Any) -> list[tuple[str, Any]]:
    return [(p.event, p.data) for p in parts if p.event in MODES]


def test_tasks_checkpoints_and_debug_as_the_library_streams_them(url: str) -> None:
    bob = get_sync_client(url=url, api_key="k-bob")
    ada = get_sync_client(url=url, api_key="k-ada")
    try:
        thread = bob.threads.create()["thread_id"]
        first = _sent(bob.runs.stream(thread, "drafts", input={"log": ["hi"]}, stream_mode=MODES))
        second = _sent(
            ada.runs.stream(thread, "drafts", command={"resume": "ok"}, stream_mode=MODES)
        )
        want = _library({"log": ["hi"]}, Command(resume="ok"))
        assert _outline(first) == _outline(want[0])
        assert _outline(second) == _outline(want[1])
        assert [(t, s) for m, t, s, *_ in _outline(first) if m == "debug"] == [
            ("checkpoint", -1),
            ("task", 0),
            ("task_result", 0),
            ("checkpoint", 0),
            ("task", 1),
            ("task_result", 1),
        ]
        _check_shapes(first, thread)
        _check_shapes(second, thread)
        values = [d["values"] for m, d in first + second if m == "checkpoints"]
        assert values == [d["values"] for m, d in want[0] + want[1] if m == "checkpoints"]
        # the newest checkpoint streamed is the thread's head
        head = bob.threads.get_state(thread)["checkpoint"]["checkpoint_id"]
        assert [d for m, d in second if m == "checkpoints"][-1]["checkpoint"][
            "checkpoint_id"
        ] == head
        # a join of the ended run from an event in the middle: the chunks made whole again
        run_id = bob.runs.list(thread)[-1]["run_id"]
        events = list(bob.runs.join_stream(thread, run_id, stream_mode=["debug", "checkpoints"]))
        ids = [p.id for p in events if p.event == "checkpoints"]
        later = list(
            bob.runs.join_stream(
                thread, run_id, stream_mode=["debug", "checkpoints"], last_event_id=ids[0]
            )
        )
        rest = [(p.event, p.data) for p in events if p.event in MODES]
        rest = rest[[p.id for p in events if p.event in MODES].index(ids[0]) + 1 :]
        assert _sent(later) == rest
        assert all("values" in d for m, d in rest if m == "checkpoints")
        # `events` (astream_events) is not streamed: 422, nothing runs
        got = httpx.post(
            f"{url}/threads/{thread}/runs/stream",
            json={"assistant_id": "drafts", "input": {"log": ["x"]}, "stream_mode": ["events"]},
            headers={"x-api-key": "k-bob"},
        )
        assert got.status_code == 422 and got.json()["code"] == "invalid_stream_mode", got.text
        assert bob.threads.get_state(thread)["checkpoint"]["checkpoint_id"] == head
    finally:
        bob.close()
        ada.close()


def test_debug_of_a_resume_async(url: str) -> None:
    async def main() -> None:
        bob = get_client(url=url, api_key="k-bob")
        ada = get_client(url=url, api_key="k-ada")
        try:
            thread = (await bob.threads.create())["thread_id"]
            await bob.runs.wait(thread, "drafts", input={"log": ["hi"]})
            parts = [
                (p.event, p.data)
                async for p in ada.runs.stream(
                    thread, "drafts", command={"resume": "ok"}, stream_mode="debug"
                )
                if p.event == "debug"
            ]
            want = _library({"log": ["hi"]}, Command(resume="ok"))[1]
            assert _outline(parts) == [o for o in _outline(want) if o[0] == "debug"]
            assert parts[0][1]["payload"]["name"] == "review"
            assert parts[1][1]["payload"]["result"] == {"log": ["ok:draft:1"]}
            assert parts[-1][1]["payload"]["values"]["log"] == ["hi", "draft:1", "ok:draft:1"]
        finally:
            await bob.http.client.aclose()
            await ada.http.client.aclose()

    asyncio.run(main())
