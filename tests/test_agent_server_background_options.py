"""A background run of new input (`runs.create`, `runs.create_batch`, the thread protocol's
`run.start`) is queued in the store and run by a worker, and it runs as it was asked:
`config.configurable`, `config.recursion_limit`, `context`, `interrupt_before` /
`interrupt_after` and `durability` travel with the queued run, as they do in LangGraph's
Agent Server. Driven by the real `langgraph-sdk` over loopback, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.types import RunnableConfig
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver"


class Note(TypedDict, total=False):
    text: str
    tone: str
    who: str
    done: bool
    approved: Any


@dataclass
class Ctx:
    user: str


def greet(state: Note, config: RunnableConfig, runtime: il.Runtime[Ctx]) -> dict[str, Any]:
    tone = (config.get("configurable") or {}).get("tone", "plain")
    return {"tone": tone, "who": runtime.context.user if runtime.context else "nobody"}


def finish(state: Note) -> dict[str, Any]:
    return {"done": True}


def _notes(saver: Any) -> Any:
    g = il.StateGraph(Note, context_schema=Ctx)
    g.add_node("greet", greet)
    g.add_node("finish", finish)
    g.add_edge(il.START, "greet")
    g.add_edge("greet", "finish")
    return g.compile(checkpointer=saver, name="notes")


SENT: list[str] = []
STORE_OF: dict[str, str] = {}
"""The store kind behind each served app's URL."""


def draft(state: Note) -> dict[str, Any]:
    return {"tone": "drafted"}


def send(state: Note) -> dict[str, Any]:
    SENT.append(state["text"])
    return {"done": True}


def _mail(saver: Any) -> Any:
    """A graph compiled with a review before `send`."""
    g = il.StateGraph(Note)
    g.add_node("draft", draft)
    g.add_node("send", send)
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "send")
    return g.compile(checkpointer=saver, name="mail", interrupt_before=["send"])


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        saver: Any = SqliteSaver(tmp_path / "bg.db")
    else:
        from tests.pg import fresh_postgres_saver

        saver = fresh_postgres_saver()
    SENT.clear()
    graphs = {"notes": _notes(saver), "mail": _mail(saver)}
    app = create_app(graphs, keys=ApiKeys.parse(KEYS + ";k-root=root:admin"), workers=1)
    try:
        with served(app) as http:
            base = str(http.base_url).rstrip("/")
            STORE_OF[base] = request.param
            yield base
    finally:
        saver.close()


def _state(bob: Any, thread_id: str) -> dict[str, Any]:
    return dict(bob.threads.get_state(thread_id))


def test_configurable_and_context_reach_the_nodes_of_a_queued_run(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        run = bob.runs.create(
            tid,
            "notes",
            input={"text": "hi"},
            config={"configurable": {"tone": "warm"}},
            context={"user": "rita"},
        )
        values = bob.runs.join(tid, run["run_id"])
        assert values == {"text": "hi", "tone": "warm", "who": "rita", "done": True}
        assert bob.runs.get(tid, run["run_id"])["status"] == "success"
        # what the run was asked is on its record, as for a run in the request
        kwargs = bob.runs.get(tid, run["run_id"])["kwargs"]
        assert kwargs["context"] == {"user": "rita"}


def test_interrupt_before_and_after_stop_a_queued_run_where_asked(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        before = bob.threads.create()["thread_id"]
        run = bob.runs.create(
            before, "notes", input={"text": "a"}, interrupt_before=["finish"], context={"user": "x"}
        )
        bob.runs.join(before, run["run_id"])
        state = _state(bob, before)
        assert state["next"] == ["finish"]
        assert state["values"] == {"text": "a", "tone": "plain", "who": "x"}

        after = bob.threads.create()["thread_id"]
        run = bob.runs.create(
            after, "notes", input={"text": "b"}, interrupt_after=["greet"], context={"user": "y"}
        )
        bob.runs.join(after, run["run_id"])
        assert _state(bob, after)["next"] == ["finish"]
        # a breakpoint is a review: an approver goes on past it, and the rest runs
        with get_sync_client(url=url, api_key="k-ada") as ada:
            done = ada.runs.wait(after, "notes", input=None)
        assert done == {"text": "b", "tone": "plain", "who": "y", "done": True}


def test_recursion_limit_of_a_queued_run_is_its_own(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        # two nodes after new input need more supersteps than a limit of 2 allows
        run = bob.runs.create(
            tid,
            "notes",
            input={"text": "c"},
            context={"user": "z"},
            config={"recursion_limit": 2},
        )
        bob.runs.join(tid, run["run_id"])
        record = bob.runs.get(tid, run["run_id"])
        assert record["status"] == "error"
        # the same input with the default limit finishes: the limit came from the run
        again = bob.runs.create(tid, "notes", input={"text": "d"}, context={"user": "z"})
        assert bob.runs.join(tid, again["run_id"])["done"] is True


def test_exit_durability_of_a_queued_run_keeps_only_its_end(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        synced = bob.threads.create()["thread_id"]
        run = bob.runs.create(synced, "notes", input={"text": "e"}, context={"user": "u"})
        bob.runs.join(synced, run["run_id"])
        exited = bob.threads.create()["thread_id"]
        run = bob.runs.create(
            exited, "notes", input={"text": "e"}, context={"user": "u"}, durability="exit"
        )
        assert bob.runs.join(exited, run["run_id"])["done"] is True
        # `exit` writes the run's end, not a checkpoint per step as `sync` does
        assert len(bob.threads.get_history(exited)) < len(bob.threads.get_history(synced))


def test_a_batch_and_the_async_client_carry_the_options_too(url: str) -> None:
    async def main() -> list[dict[str, Any]]:
        async with get_client(url=url, api_key="k-bob") as bob:
            threads = [(await bob.threads.create())["thread_id"] for _ in range(2)]
            runs = await bob.runs.create_batch(
                [
                    {
                        "thread_id": tid,
                        "assistant_id": "notes",
                        "input": {"text": str(i)},
                        "config": {"configurable": {"tone": f"t{i}"}},
                        "context": {"user": f"u{i}"},
                    }
                    for i, tid in enumerate(threads)
                ]
            )
            return [await bob.runs.join(r["thread_id"], r["run_id"]) for r in runs]

    got = asyncio.run(main())
    assert [(v["tone"], v["who"]) for v in got] == [("t0", "u0"), ("t1", "u1")]


def test_options_a_run_may_not_carry_are_still_refused_before_anything_is_queued(
    url: str,
) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        for fields, word in (
            ({"config": {"recursion_limit": 0}}, "recursion_limit"),
            ({"config": {"configurable": {"x": "\ud800"}}}, "config"),  # not UTF-8
            ({"context": {"user": "\ud800"}}, "context"),
            ({"interrupt_before": ["nowhere"]}, "nowhere"),
        ):
            got = httpx.post(
                f"{url}/threads/{tid}/runs",
                content=json.dumps({"assistant_id": "notes", "input": {"text": "x"}, **fields}),
                headers={"x-api-key": "k-bob", "content-type": "application/json"},
            )
            assert got.status_code == 422, got.text
            assert word in got.json()["message"]
        assert bob.runs.list(tid) == []


def test_a_takeover_runs_with_the_recursion_limit_its_run_was_asked() -> None:
    # a run started in the request keeps its options for a takeover; the limit belongs in
    # the config (as a keyword of `stream` it was silently dropped)
    from datetime import UTC, datetime

    from interlock.checkpoint.base import RunRecord
    from interlock.server._durable import takeover_config, takeover_kwargs

    now = datetime.now(UTC)
    kwargs = {"recursion_limit": 3, "interrupt_before": ["finish"], "durability": "exit"}
    run = RunRecord(
        run_id="r",
        thread_id="t",
        agent="notes",
        input={"text": "x"},
        created_at=now,
        updated_at=now,
        options={"log": {"configurable": {"tone": "warm"}, "kwargs": kwargs}},
    )
    config = takeover_config(run)
    assert config["recursion_limit"] == 3
    assert config["configurable"]["tone"] == "warm"
    assert takeover_kwargs(run) == {"interrupt_before": ["finish"], "durability": "exit"}


def test_a_caller_adds_breakpoints_but_never_lifts_the_graphs_own(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        queued = bob.threads.create()["thread_id"]
        run = bob.runs.create(queued, "mail", input={"text": "q"}, interrupt_before=[])
        bob.runs.join(queued, run["run_id"])
        assert _state(bob, queued)["next"] == ["send"]  # the compiled review stays
        asked = bob.threads.create()["thread_id"]
        bob.runs.wait(asked, "mail", input={"text": "w"}, interrupt_before=["draft"])
        assert _state(bob, asked)["next"] == ["draft"]  # added
        with get_sync_client(url=url, api_key="k-ada") as ada:
            ada.runs.wait(asked, "mail", input=None)
        assert _state(bob, asked)["next"] == ["send"]  # and the graph's own still there
    assert SENT == []
    entries = httpx.get(
        f"{url}/v1/audit", params={"thread_id": queued}, headers={"x-api-key": "k-root"}
    ).json()["entries"]
    (entry,) = [e for e in entries if e["action"] == "run.queued"]
    assert entry["detail"]["kwargs"]["interrupt_before"] == ["send"]


def test_an_empty_breakpoint_list_keeps_the_compiled_ones_in_the_library() -> None:
    # as LangGraph's `interrupt_before or compiled` (observed with LangGraph 1.2.22)
    from interlock.checkpoint.memory import InMemorySaver

    graph = _mail(InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    graph.invoke({"text": "x"}, config, interrupt_before=[])
    assert graph.get_state(config).next == ("send",)
    assert SENT == []


def test_a_refused_threadless_run_leaves_no_thread_behind(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        before = bob.threads.count()
        got = httpx.post(
            f"{url}/runs",
            json={"assistant_id": "notes", "input": {"text": "x"}, "interrupt_after": ["nope"]},
            headers={"x-api-key": "k-bob"},
        )
        assert got.status_code == 422, got.text
        assert bob.threads.count() == before


def test_a_batch_whose_payload_the_store_cannot_hold_queues_nothing(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        first, second = (bob.threads.create()["thread_id"] for _ in range(2))
        payloads = [
            {"thread_id": first, "assistant_id": "notes", "input": {"text": "ok"}},
            {
                "thread_id": second,
                "assistant_id": "notes",
                "input": {"text": "x"},
                "context": {"user": "a\x00b"},  # PostgreSQL cannot store a NUL character
            },
        ]
        got = httpx.post(f"{url}/runs/batch", json=payloads, headers={"x-api-key": "k-bob"})
        if STORE_OF[url] == "postgres":
            assert got.status_code == 422 and got.json()["code"] == "not_serialisable"
            assert "payload 1" in got.json()["message"]
            assert bob.runs.list(first) == [] and bob.runs.list(second) == []
        else:  # SQLite holds it
            assert got.status_code == 200, got.text
            assert len(bob.runs.list(first)) == len(bob.runs.list(second)) == 1
