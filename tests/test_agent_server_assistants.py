"""Assistants created, versioned and deleted over the Agent Server API, driven by the real
`langgraph-sdk` (`client.assistants`, sync and async clients) over loopback against the
served app on SQLite and PostgreSQL; runs with a created assistant (`runs.wait`,
`runs.stream`, background `runs.create`, the thread protocol's `run.start`) run its graph
with its config and context under their own.

Expected values are those LangGraph's Agent Server (langgraph-api 0.16.7, in-memory
runtime) answered for the same calls over loopback: the assistant's and its versions'
fields, `config.configurable` and `context` kept in step, metadata merged by an update, a
new version per update numbered after the highest, names sorted without regard to case,
404 for an unknown graph, 409 for a duplicate id, 422 for a malformed body, 400 for both
`configurable` and `context`, and what a node saw of `configurable` and `runtime.context`
for a run with no options, with `config.configurable` and with `context`. Where interlock
differs on purpose (edits need the role admin; the graphs' default assistants are
read-only; an older version made current restores its graph and context too), the test
says so."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
)
from langgraph_sdk.stream.transport import SyncProtocolSseTransport

import interlock as il
from interlock.server import ApiKeys, create_app
from tests._http import served
from tests.conftest import SAVERS, make_saver

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"
SEEN_KEYS = ("model", "keep", "tier")
"""The configurable keys the graphs report (the service adds its own)."""


class State(TypedDict, total=False):
    seen: Any
    ctx: Any
    answer: Any
    steps: int


def _report(state: State, runtime: il.Runtime) -> dict[str, Any]:
    conf = il.get_config().get("configurable") or {}
    return {"seen": {k: conf[k] for k in SEEN_KEYS if k in conf}, "ctx": runtime.context}


def _ask(state: State) -> dict[str, Any]:
    return {"answer": il.interrupt({"approve": "send"})}


def _step(state: State) -> dict[str, Any]:
    return {"steps": state.get("steps", 0) + 1}


def _graphs(saver: Any) -> dict[str, Any]:
    conf = il.StateGraph(State).add_node("report", _report).add_edge(il.START, "report")
    ask = il.StateGraph(State).add_node("ask", _ask).add_node("report", _report)
    ask.add_edge(il.START, "ask").add_edge("ask", "report")
    steps = il.StateGraph(State)
    for name in ("a", "b", "c"):
        steps.add_node(name, _step)
    steps.add_edge(il.START, "a").add_edge("a", "b").add_edge("b", "c")
    return {
        "conf": conf.compile(checkpointer=saver, name="conf"),
        "ask": ask.compile(checkpointer=saver, name="ask"),
        "steps": steps.compile(checkpointer=saver, name="steps"),
    }


@pytest.fixture(params=[k for k in SAVERS if k != "memory"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    saver = make_saver(request.param, tmp_path)
    app = create_app(_graphs(saver), keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/")
    finally:
        saver.close()


def _audit(url: str) -> list[dict[str, Any]]:
    got = httpx.get(f"{url}/v1/audit", params={"limit": 1000}, headers={"x-api-key": "k-root"})
    assert got.status_code == 200, got.text
    return [e for e in reversed(got.json()["entries"]) if e["action"].startswith("assistant.")]


def test_create_update_version_and_delete_over_the_sync_client(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-root") as root,
        get_sync_client(url=url, api_key="k-bob") as bob,
    ):
        made = root.assistants.create(
            "conf",
            config={"configurable": {"model": "a"}, "recursion_limit": 7, "tags": ["t"]},
            metadata={"team": "x", "n": {"a": 1, "b": 2}},
            name="Alpha",
            description="d",
        )
        aid = made["assistant_id"]
        assert set(made) == {
            "assistant_id",
            "graph_id",
            "config",
            "context",
            "metadata",
            "name",
            "created_at",
            "updated_at",
            "version",
            "description",
        }
        assert made["version"] == 1 and made["context"] == {"model": "a"}  # kept in step
        assert made["created_at"] == made["updated_at"]
        plain = root.assistants.create("conf", context={"model": "c"})
        assert plain["name"] == "Untitled" and plain["config"] == {"configurable": {"model": "c"}}
        # a duplicate id: 409, or the stored assistant unchanged with do_nothing
        with pytest.raises(ConflictError):
            root.assistants.create("conf", assistant_id=aid)
        same = root.assistants.create("steps", assistant_id=aid, if_exists="do_nothing", name="z")
        assert same == made
        # an update is a new version: metadata merged, the rest kept unless given
        v2 = root.assistants.update(aid, metadata={"team": "y", "new": 1}, name="Beta")
        assert (v2["version"], v2["name"], v2["description"]) == (2, "Beta", "d")
        assert v2["metadata"] == {"team": "y", "n": {"a": 1, "b": 2}, "new": 1}
        assert v2["config"] == made["config"] and v2["created_at"] == made["created_at"]
        v3 = root.assistants.update(aid, context={"model": "z"})  # a context alone
        assert v3["config"] == {"configurable": {"model": "z"}} and v3["context"] == {"model": "z"}
        v4 = root.assistants.update(aid, graph_id="steps")
        assert (v4["version"], v4["graph_id"]) == (4, "steps")
        versions = bob.assistants.get_versions(aid)
        assert [v["version"] for v in versions] == [4, 3, 2, 1]
        assert set(versions[0]) == {
            "assistant_id",
            "version",
            "graph_id",
            "config",
            "context",
            "metadata",
            "created_at",
            "name",
            "description",
        }
        assert [v["version"] for v in bob.assistants.get_versions(aid, metadata={"new": 1})] == [
            4,
            3,
            2,
        ]
        assert [v["version"] for v in bob.assistants.get_versions(aid, limit=1, offset=3)] == [1]
        with pytest.raises(NotFoundError):  # none matching: 404, as LangGraph answers
            bob.assistants.get_versions(aid, metadata={"zz": 1})
        # an older version made current: every field of it (LangGraph keeps graph, context)
        back = root.assistants.set_latest(aid, 1)
        assert (back["version"], back["name"], back["graph_id"]) == (1, "Alpha", "conf")
        assert back["config"] == made["config"] and back["context"] == {"model": "a"}
        assert back["metadata"] == {"team": "x", "n": {"a": 1, "b": 2}}
        assert bob.assistants.get(aid) == back == bob.assistants.get(aid.upper())
        v5 = root.assistants.update(aid, name="Gamma")
        assert v5["version"] == 5 and v5["context"] == {"model": "a"}
        with pytest.raises(NotFoundError):
            root.assistants.set_latest(aid, 9)
        # searches list created and default assistants together
        found = [a["name"] for a in bob.assistants.search(limit=10)]
        assert found[:2] == ["Untitled", "Gamma"]  # newest first; the defaults date from 1970
        assert sorted(found[2:]) == ["ask", "conf", "steps"]
        assert bob.assistants.count() == 5 and bob.assistants.count(graph_id="conf") == 3
        assert [a["name"] for a in bob.assistants.search(name="AMM")] == ["Gamma"]
        nested = bob.assistants.search(metadata={"n": {"a": 1}})
        assert [a["assistant_id"] for a in nested] == [aid]
        system = bob.assistants.search(metadata={"created_by": "system"}, graph_id="conf")
        assert [a["name"] for a in system] == ["conf"]
        by_name = bob.assistants.search(sort_by="name", sort_order="asc", select=["name"])
        assert by_name == [{"name": n} for n in ["ask", "conf", "Gamma", "steps", "Untitled"]]
        page = bob.assistants.search(limit=2, select=["assistant_id"], response_format="object")
        assert len(page["assistants"]) == 2 and page["next"] == "2"
        last = bob.assistants.search(limit=2, offset=4, response_format="object")
        assert len(last["assistants"]) == 1 and last["next"] is None
        # deleting drops every version
        root.assistants.delete(aid)
        with pytest.raises(NotFoundError):
            bob.assistants.get(aid)
        with pytest.raises(NotFoundError):
            bob.assistants.get_versions(aid)
        with pytest.raises(NotFoundError):
            root.assistants.delete(aid)
        assert bob.assistants.count() == 4
    actions = [(e["action"], e["actor"], e["detail"].get("version")) for e in _audit(url)]
    assert actions == [
        ("assistant.created", "root", 1),
        ("assistant.created", "root", 1),
        ("assistant.updated", "root", 2),
        ("assistant.updated", "root", 3),
        ("assistant.updated", "root", 4),
        ("assistant.version_set", "root", 1),
        ("assistant.updated", "root", 5),
        ("assistant.deleted", "root", 5),
    ]


def test_assistants_over_the_async_client(url: str) -> None:
    async def go() -> None:
        async with (
            get_client(url=url, api_key="k-root") as root,
            get_client(url=url, api_key="k-bob") as bob,
        ):
            made = await root.assistants.create("conf", config={"configurable": {"tier": 1}})
            aid = made["assistant_id"]
            v2 = await root.assistants.update(aid, config={"configurable": {"tier": 2}})
            assert (v2["version"], v2["context"]) == (2, {"tier": 2})
            versions = await bob.assistants.get_versions(aid)
            assert [v["context"] for v in versions] == [{"tier": 2}, {"tier": 1}]
            back = await root.assistants.set_latest(aid, 1)
            assert back["config"] == {"configurable": {"tier": 1}}
            thread = await bob.threads.create()
            ran = await bob.runs.wait(thread["thread_id"], aid, input={})
            assert ran["seen"] == {"tier": 1} and ran["ctx"] == {"tier": 1}
            assert await bob.assistants.count(graph_id="conf") == 2
            await root.assistants.delete(aid)
            with pytest.raises(NotFoundError):
                await bob.assistants.get(aid)

    asyncio.run(go())


def test_runs_merge_the_assistants_config_and_context(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-root") as root,
        get_sync_client(url=url, api_key="k-bob") as bob,
    ):
        made = root.assistants.create("conf", config={"configurable": {"model": "a", "keep": 1}})
        aid = made["assistant_id"]
        tid = bob.threads.create()["thread_id"]
        # what LangGraph's server gave the node for the same three runs
        assert bob.runs.wait(tid, aid, input={}) == {
            "seen": {"model": "a", "keep": 1},
            "ctx": {"model": "a", "keep": 1},
        }
        wanted_b = {"model": "b", "keep": 1}
        ran = bob.runs.wait(tid, aid, input={}, config={"configurable": {"model": "b"}})
        assert ran == {"seen": wanted_b, "ctx": wanted_b}
        ran = bob.runs.wait(tid, aid, input={}, context={"model": "c"})
        assert ran == {"seen": {"model": "c", "keep": 1}, "ctx": {"model": "c", "keep": 1}}
        thread = bob.threads.get(tid)
        assert thread["metadata"] == {"graph_id": "conf", "assistant_id": aid}
        listed = bob.runs.list(tid)
        assert {r["assistant_id"] for r in listed} == {aid}
        # the graph's default assistant runs it bare
        assert bob.runs.wait(tid, "conf", input={}) == {"seen": {}, "ctx": None}
        assert bob.threads.get(tid)["metadata"]["assistant_id"] != aid
        # a thread-less stream
        chunks = [p.data for p in bob.runs.stream(None, aid, input={}, stream_mode="values")]
        assert {"seen": {"model": "a", "keep": 1}, "ctx": {"model": "a", "keep": 1}} in chunks
        # a queued background run carries the assistant's configuration to its worker
        root.assistants.update(aid, config={"configurable": {"model": "v2"}})
        run = bob.runs.create(tid, aid, input={})
        assert run["assistant_id"] == aid
        assert bob.runs.join(tid, run["run_id"]) == {
            "seen": {"model": "v2"},
            "ctx": {"model": "v2"},
        }
        # ... and its own on top of it
        run = bob.runs.create(tid, aid, input={}, config={"configurable": {"model": "x"}})
        assert bob.runs.join(tid, run["run_id"]) == {
            "seen": {"model": "x"},
            "ctx": {"model": "x"},
        }
        [batched] = bob.runs.create_batch([{"assistant_id": aid, "thread_id": tid, "input": {}}])
        assert bob.runs.join(tid, batched["run_id"]) == {
            "seen": {"model": "v2"},
            "ctx": {"model": "v2"},
        }
        # the thread protocol's run.start
        with get_sync_client(url=url, api_key="k-bob") as client:
            transport = SyncProtocolSseTransport(client=client.http.client, thread_id=tid)
            params = {"assistant_id": aid, "input": {}}
            body = transport.send_command({"id": 1, "method": "run.start", "params": params})
        assert body is not None and body["type"] == "success", body
        joined = bob.runs.join(tid, body["result"]["run_id"])
        assert joined["seen"] == {"model": "v2"}
        # the current version at the run's start is the one that runs
        root.assistants.set_latest(aid, 1)
        assert bob.runs.wait(tid, aid, input={})["seen"] == {"model": "a", "keep": 1}


def test_an_assistants_recursion_limit_holds_in_request_and_queued(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-root") as root,
        get_sync_client(url=url, api_key="k-bob") as bob,
    ):
        short = root.assistants.create("steps", config={"recursion_limit": 2})["assistant_id"]
        tid = bob.threads.create()["thread_id"]
        assert bob.runs.wait(tid, "steps", input={}) == {"steps": 3}
        failed = bob.runs.wait(
            bob.threads.create()["thread_id"], short, input={}, raise_error=False
        )
        assert "recursion_limit=2 reached" in failed["__error__"]["message"]
        other = bob.threads.create()["thread_id"]
        run = bob.runs.create(other, short, input={})
        bob.runs.join(other, run["run_id"])
        assert bob.runs.get(other, run["run_id"])["status"] == "error"
        # the run's own limit goes over the assistant's
        longer = bob.runs.wait(
            bob.threads.create()["thread_id"], short, input={}, config={"recursion_limit": 10}
        )
        assert longer == {"steps": 3}


def _refusals(raw: httpx.Client, aid: str) -> list[tuple[httpx.Response, int, str | None]]:
    """Malformed or impossible requests, with the status and code each deserves."""
    return [
        (raw.post("/assistants", json={"graph_id": "nope"}), 404, "not_found"),
        (raw.post("/assistants", json={"graph_id": "ask", "config": "x"}), 422, None),
        (
            raw.post("/assistants", json={"graph_id": "ask", "config": {"configurable": 3}}),
            422,
            None,
        ),
        (
            raw.post("/assistants", json={"graph_id": "ask", "config": {"callbacks": []}}),
            422,
            "not_supported",
        ),
        (
            raw.post(
                "/assistants",
                json={"graph_id": "ask", "config": {"recursion_limit": 0}},
            ),
            422,
            "invalid_request",
        ),
        (raw.post("/assistants", json={"graph_id": "ask", "context": [1]}), 422, None),
        (raw.post("/assistants", json={"graph_id": "ask", "metadata": [1]}), 422, None),
        (
            raw.post("/assistants", json={"graph_id": "ask", "assistant_id": "not-a-uuid"}),
            422,
            "invalid_request",
        ),
        (raw.post("/assistants", json={"graph_id": "ask", "if_exists": "replace"}), 422, None),
        (raw.post("/assistants", json={}), 422, None),
        (raw.patch(f"/assistants/{aid}", json={"graph_id": "nope"}), 404, "not_found"),
        (raw.patch(f"/assistants/{aid}", json={"config": "x"}), 422, None),
        (raw.post(f"/assistants/{aid}/latest", json={"version": "x"}), 422, None),
        (raw.post("/assistants/search", json={"graph_id": "nope"}), 404, "not_found"),
        (raw.post("/assistants/count", json={"graph_id": "nope"}), 404, "not_found"),
        (raw.post("/assistants/search", json={"select": ["nope"]}), 422, None),
        (raw.post("/assistants/search", json={"sort_by": "version"}), 422, None),
        (raw.post("/assistants/search", json={"limit": 0}), 422, None),
        (raw.post(f"/assistants/{aid}/versions", json={"limit": 0}), 422, None),
        (raw.delete("/assistants/00000000-0000-4000-8000-000000000000"), 404, "not_found"),
    ]


def test_bad_input_is_a_4xx_and_a_waiting_run_stays_resumable(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-root") as root,
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        aid = root.assistants.create("ask", config={"configurable": {"model": "m"}})["assistant_id"]
        tid = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(tid, aid, input={})
        assert paused["__interrupt__"][0]["value"] == {"approve": "send"}
        with httpx.Client(base_url=url, headers={"x-api-key": "k-root"}) as raw:
            refusals = _refusals(raw, aid)
        for got, status, code in refusals:
            body = got.json()
            assert got.status_code == status, (got.request.url, got.text)
            assert body["message"] and body["code"], body
            if code is not None:
                assert body["code"] == code, body
        with pytest.raises(BadRequestError):  # both: 400, as LangGraph answers
            root.assistants.create("ask", config={"configurable": {"a": 1}}, context={"b": 1})
        # the graphs' default assistants are read-only
        default = bob.assistants.search(graph_id="ask", metadata={"created_by": "system"})[0]
        for call in (
            lambda: root.assistants.update(default["assistant_id"], name="x"),
            lambda: root.assistants.update("ask", name="x"),
            lambda: root.assistants.delete(default["assistant_id"]),
            lambda: root.assistants.set_latest(default["assistant_id"], 1),
        ):
            with pytest.raises(ConflictError) as refused:
                call()
            assert "read_only_assistant" in refused.value.response.text
        with pytest.raises(ConflictError):  # its id is taken
            root.assistants.create("ask", assistant_id=default["assistant_id"])
        assert [v["version"] for v in bob.assistants.get_versions("ask")] == [1]
        # who may: reads need requester or approver, changes admin
        with pytest.raises(PermissionDeniedError):
            bob.assistants.create("ask")
        with pytest.raises(PermissionDeniedError):
            ada.assistants.update(aid, name="mine")
        with pytest.raises(PermissionDeniedError):
            bob.assistants.delete(aid)
        assert ada.assistants.get(aid)["version"] == 1
        # runs naming no assistant: 404, before anything runs
        with pytest.raises(httpx.HTTPStatusError) as unknown:  # (runs.wait raises httpx's)
            bob.runs.wait(tid, "00000000-0000-4000-8000-000000000000", input={})
        assert unknown.value.response.status_code == 404
        assert unknown.value.response.json()["code"] == "not_found"
        with pytest.raises(NotFoundError):
            bob.runs.create(tid, "nope", input={})
        # the waiting run is intact: its request is answered under the assistant
        assert bob.threads.get(tid)["status"] == "interrupted"
        done = ada.runs.wait(tid, aid, command={"resume": "yes"})
        assert done["answer"] == "yes" and done["seen"] == {"model": "m"}


def test_deleting_an_assistant_with_its_threads_respects_reviews(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-root") as root,
        get_sync_client(url=url, api_key="k-bob") as bob,
    ):
        aid = root.assistants.create("ask")["assistant_id"]
        bobs = bob.threads.create()["thread_id"]
        bob.runs.wait(bobs, aid, input={})  # paused: root, an admin, may decide it
        roots = root.threads.create()["thread_id"]
        root.runs.wait(roots, aid, input={})  # paused on root's own request
        kept = bob.threads.create()["thread_id"]
        bob.runs.wait(kept, "ask", input={})  # the default assistant's thread
        with pytest.raises(PermissionDeniedError):  # root may not decide its own request
            root.assistants.delete(aid, delete_threads=True)
        assert root.assistants.get(aid)["assistant_id"] == aid  # nothing was deleted
        assert bob.threads.get(bobs)["status"] == "interrupted"
        ada = get_sync_client(url=url, api_key="k-ada")
        ada.runs.wait(roots, aid, command={"resume": "fine"})
        ada.close()
        root.assistants.delete(aid, delete_threads=True)
        with pytest.raises(NotFoundError):
            bob.threads.get(bobs)
        with pytest.raises(NotFoundError):
            root.threads.get(roots)
        assert bob.threads.get(kept)["status"] == "interrupted"


def test_thread_less_streams_send_their_end_before_their_thread_goes(url: str) -> None:
    """A thread-less `runs.stream` deletes its thread once the run ended
    (`on_completion="delete"`): only after its stream sent the end (it could otherwise
    miss it, its events deleted with the thread, and wait for ever)."""
    with get_sync_client(url=url, api_key="k-root") as root:
        aid = root.assistants.create("conf", context={"tier": 3})["assistant_id"]
    with httpx.Client(base_url=url, headers={"x-api-key": "k-bob"}, timeout=20) as http:
        for _ in range(12):
            body = {"assistant_id": aid, "input": {}, "stream_mode": "values"}
            with http.stream("POST", "/runs/stream", json=body) as got:
                text = "".join(got.iter_text())
            assert got.status_code == 200 and "event: end" in text
            assert '"ctx":{"tier":3}' in text


@pytest.mark.postgres
def test_text_postgresql_cannot_hold_is_a_422_and_writes_nothing(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    saver = make_saver("postgres", tmp_path)
    try:
        app = create_app(_graphs(saver), keys=ApiKeys.parse(KEYS), workers=0)
        with TestClient(app, headers={"x-api-key": "k-root"}) as raw:
            made = raw.post("/assistants", json={"graph_id": "conf", "name": "ok"}).json()
            aid = made["assistant_id"]
            nul = "a\x00b"
            for got in (
                raw.post("/assistants", json={"graph_id": "conf", "name": nul}),
                raw.post("/assistants", json={"graph_id": "conf", "description": nul}),
                raw.post("/assistants", json={"graph_id": "conf", "metadata": {nul: 1}}),
                raw.post("/assistants", json={"graph_id": "conf", "context": {"k": nul}}),
                raw.patch(f"/assistants/{aid}", json={"name": nul}),
                raw.patch(f"/assistants/{aid}", json={"config": {"configurable": {"k": nul}}}),
                raw.patch(f"/assistants/{aid}", json={"metadata": {"k": nul}}),
            ):
                assert got.status_code == 422, got.text
                assert got.json()["code"] == "not_serialisable", got.text
            assert raw.post("/assistants/count", json={}).json() == 1 + 3  # + the defaults
            versions = raw.post(f"/assistants/{aid}/versions", json={}).json()
            assert [v["version"] for v in versions] == [1]
            assert raw.get(f"/assistants/{aid}").json() == made
            actions = [e.action for e in saver.list_audit(after="", limit=100).items]
            assert actions == ["assistant.created"]
    finally:
        saver.close()
