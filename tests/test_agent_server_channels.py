"""The thread protocol's `checkpoints` and `tasks` channels, subgraphs' events under their
namespace, what runs started with `runs.wait` / `runs.stream` leave for a later thread
stream, and runs whose process died — with the real `langgraph-sdk` against the app served
by uvicorn over loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.stream.transport import SyncProtocolSseTransport

import interlock as il
from interlock import AIMessage, ScriptedChatModel, create_agent, tool
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server.agent_server._lost import settle_lost
from interlock.server.runs import UNRECORDED, RunWorkers
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver"


class Doc(TypedDict, total=False):
    item: str
    note: str
    done: bool
    approved: Any


def _inner(asks: bool) -> Any:
    def look(state: Doc) -> dict[str, Any]:
        il.get_stream_writer()({"looked": state["item"]})
        return {"note": f"looked at {state['item']}"}

    def ask(state: Doc) -> dict[str, Any]:
        return {"approved": il.interrupt({"ship": state["item"]})}

    g = il.StateGraph(Doc)
    g.add_node("look", look)
    g.add_edge(il.START, "look")
    if asks:
        g.add_node("ask", ask)
        g.add_edge("look", "ask")
    return g.compile()


def _outer(saver: SqliteSaver, name: str, asks: bool) -> Any:
    g = il.StateGraph(Doc)
    g.add_node("review", _inner(asks))
    g.add_node("finish", lambda s: {"done": True})
    g.add_edge(il.START, "review")
    g.add_edge("review", "finish")
    return g.compile(checkpointer=saver, name=name)


def _orders(saver: SqliteSaver) -> Any:
    g = il.StateGraph(Doc)
    g.add_node("ask", lambda s: {"approved": il.interrupt({"ship": s["item"]})})
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="orders")


@tool
def pay(amount: int) -> str:
    """Pay an invoice.

    Args:
        amount: how much
    """
    return f"paid {amount}"


def _payer(saver: SqliteSaver) -> Any:
    call = {"name": "pay", "args": {"amount": 5}, "id": "call-1", "type": "tool_call"}
    model = ScriptedChatModel([AIMessage(content="", tool_calls=[call]), "done paying"])
    return create_agent(model, [pay], checkpointer=saver, interrupt_on={"pay": True}, name="payer")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, SqliteSaver]]:
    saver = SqliteSaver(tmp_path / "channels.db")
    graphs = {
        "outer": _outer(saver, "outer", asks=False),
        "asks": _outer(saver, "asks", asks=True),
        "orders": _orders(saver),
        "payer": _payer(saver),
    }
    app = create_app(graphs, keys=ApiKeys.parse(KEYS), workers=1)
    with served(app, grace=0.5) as http:
        yield str(http.base_url).rstrip("/"), saver
    saver.close()


def _events(
    url: str, thread_id: str, body: dict[str, Any], until: str, key: str = "k-bob"
) -> list[dict[str, Any]]:
    """Protocol events from the SSE stream (the SDK's transport) up to the first lifecycle
    event `until`."""
    with get_sync_client(url=url, api_key=key) as client:
        transport = SyncProtocolSseTransport(client=client.http.client, thread_id=thread_id)
        handle = transport.open_event_stream(body)
        out = []
        try:
            for event in handle.events:
                out.append(event)
                data = event["params"]["data"]
                if event["method"] == "lifecycle" and data.get("event") == until:
                    return out
        finally:
            handle.close()
            transport.close()
    raise AssertionError("the stream ended")


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_checkpoints_tasks_and_subgraphs_through_the_sdks_projections(
    server: tuple[str, SqliteSaver], transport: str
) -> None:
    url, _ = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        bob.threads.stream(
            assistant_id="outer", transport=transport, headers={"x-api-key": "k-bob"}
        ) as thread,
    ):
        thread.run.start(input={"item": "vase"})
        seen = list(thread.interleave_projections(["checkpoints", "tasks", "subgraphs"]))
        assert thread.output == {"item": "vase", "note": "looked at vase", "done": True}
        tid = thread.thread_id
        history = bob.threads.get_history(tid, limit=10)
    checkpoints = [item for name, item in seen if name == "checkpoints"]
    tasks = [item for name, item in seen if name == "tasks"]
    (child,) = [item for name, item in seen if name == "subgraphs"]
    # one `checkpoints` event per checkpoint the run wrote (the root's), as get_state says
    ids = [h["checkpoint"]["checkpoint_id"] for h in reversed(history)]
    assert [c["config"]["configurable"]["checkpoint_id"] for c in checkpoints] == ids
    assert [c["next"] for c in checkpoints] == [["review"], ["finish"], []]
    assert checkpoints[-1]["values"] == {"item": "vase", "note": "looked at vase", "done": True}
    assert checkpoints[1]["parent_config"] == checkpoints[0]["config"]
    # a start and a result per node run at the root
    assert [(t["name"], "result" in t) for t in tasks] == [
        ("review", False),
        ("review", True),
        ("finish", False),
        ("finish", True),
    ]
    assert tasks[0]["input"] == {"item": "vase"} and tasks[0]["id"] == tasks[1]["id"]
    assert tasks[1]["result"] == {"item": "vase", "note": "looked at vase"}  # the subgraph's
    assert tasks[1]["error"] is None and tasks[1]["interrupts"] == []
    assert tasks[3]["result"] == {"done": True}
    # the subgraph, found from its own events' namespace: `review:<the task's id>`
    assert child.path == (f"review:{tasks[0]['id']}",)
    assert child.graph_name == "review" and child.trigger_call_id == tasks[0]["id"]
    assert child.status == "completed"  # its parent task's result closed it


def test_a_subgraphs_events_and_request_carry_its_namespace(
    server: tuple[str, SqliteSaver],
) -> None:
    url, _ = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = bob.threads.create()["thread_id"]
        (pause,) = bob.runs.wait(tid, "asks", input={"item": "urn"})["__interrupt__"]
        channels = ["values", "updates", "custom", "tasks", "checkpoints", "input", "lifecycle"]
        paused = _events(url, tid, {"channels": channels}, "interrupted")
        review = next(e for e in paused if e["method"] == "tasks" and not e["params"]["namespace"])
        inside = [f"review:{review['params']['data']['id']}"]
        by_ns: dict[str, list[str]] = {}
        for e in paused:
            by_ns.setdefault(str(e["params"]["namespace"]), []).append(e["method"])
        assert set(by_ns) == {"[]", str(inside)}
        assert {"values", "updates", "custom", "tasks", "checkpoints"} <= set(by_ns[str(inside)])
        (custom,) = [e for e in paused if e["method"] == "custom"]
        assert custom["params"] == {**custom["params"], "namespace": inside}
        assert custom["params"]["data"] == {"payload": {"looked": "urn"}}
        (asked,) = [e for e in paused if e["method"] == "input.requested"]
        assert asked["params"]["namespace"] == inside
        assert asked["params"]["data"]["interrupt_id"] == pause["id"]
        # the root's events stay at the root; the subgraph's task result says it paused
        root_results = [
            e["params"]["data"]
            for e in paused
            if e["method"] == "tasks" and not e["params"]["namespace"]
        ]
        assert root_results[-1]["interrupts"][0]["id"] == pause["id"]
        # namespaces as the SDK sends them: a node's name matches its subgraph's runs;
        # depth 0 keeps the subgraph's own events (and the root's, from the prefix [])
        scoped = _events(
            url,
            tid,
            {"channels": ["updates", "lifecycle"], "namespaces": [[], ["review"]], "depth": 0},
            "interrupted",
        )
        updates = [e for e in scoped if e["method"] == "updates"]
        assert [(e["params"]["namespace"], e["params"]["data"]["node"]) for e in updates] == [
            (inside, "look")
        ]
        # answered with the namespace the SDK sends along: the run goes on to its end
        respond = SyncProtocolSseTransport(client=ada.http.client, thread_id=tid)
        params = {"namespace": inside, "interrupt_id": pause["id"], "response": "yes"}
        done = respond.send_command({"id": 1, "method": "input.respond", "params": params})
        assert done is not None and done["type"] == "success"
        since = {"channels": ["lifecycle"], "since": paused[-1]["seq"]}
        ended = _events(url, tid, since, "completed")
        assert [e["params"]["data"]["event"] for e in ended] == ["started", "completed"]
        assert bob.threads.get_state(tid)["values"]["approved"] == "yes"


def test_runs_in_the_request_log_what_a_later_thread_stream_reads(
    server: tuple[str, SqliteSaver],
) -> None:
    """`runs.wait` asks only `values` and `runs.stream` what its client streams: both still
    log every mode, so a thread stream opened later has their updates, tools, tasks and
    checkpoints — and their own responses carry what they did before."""
    url, _ = server
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(
            tid, "payer", input={"messages": [{"role": "user", "content": "pay"}]}
        )
        assert set(paused) == {"messages", "__interrupt__"}
        (request,) = paused["__interrupt__"]
        answer = {"decisions": [{"type": "approve"}]}
        parts = list(
            ada.runs.stream(tid, "payer", command={"resume": {request["id"]: answer}},
                            stream_mode="updates")
        )  # fmt: skip
        assert {p.event for p in parts} == {"metadata", "updates", "end"}
        channels = ["values", "updates", "tools", "tasks", "checkpoints", "lifecycle"]
        everything = _events(url, tid, {"channels": channels}, "completed")
    methods = [e["method"] for e in everything]
    assert {"values", "updates", "tools", "tasks", "checkpoints"} <= set(methods)
    tools = [e["params"]["data"] for e in everything if e["method"] == "tools"]
    assert tools == [
        {
            "event": "tool-started",
            "tool_call_id": "call-1",
            "tool_name": "pay",
            "input": {"amount": 5},
        },
        {"event": "tool-finished", "tool_call_id": "call-1", "output": "paid 5"},
    ]
    nodes = [e["params"]["data"]["node"] for e in everything if e["method"] == "updates"]
    assert nodes == ["model", "review", "tools", "model"]  # the review step: the resumed run
    lifecycle = [e["params"]["data"]["event"] for e in everything if e["method"] == "lifecycle"]
    assert lifecycle == ["started", "interrupted", "started", "completed"]


def test_stream_subgraphs_on_the_runs_api(server: tuple[str, SqliteSaver]) -> None:
    """LangGraph's `stream_subgraphs`: a subgraph's chunks named `<mode>|<namespace>`;
    without it, only what nodes write themselves (custom, messages) comes from inside."""
    url, _ = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        modes = ["updates", "custom"]
        plain_parts = list(bob.runs.stream(tid, "outer", input={"item": "a"}, stream_mode=modes))
        assert [p.event for p in plain_parts] == ["metadata", "custom", "updates", "updates", "end"]
        other = bob.threads.create()["thread_id"]
        deep = list(
            bob.runs.stream(other, "outer", input={"item": "b"}, stream_mode=modes,
                            stream_subgraphs=True)
        )  # fmt: skip
        names = [p.event for p in deep]
        inside = [n for n in names if "|" in n]
        assert inside and {n.split("|")[1].split(":")[0] for n in inside} == {"review"}
        assert [n.split("|")[0] for n in inside] == ["custom", "updates"]
        assert [p.data for p in deep if p.event.startswith("updates|")] == [
            {"look": {"note": "looked at b"}}
        ]
        # a join without modes streams the runs API's modes at the root, as before
        (run,) = bob.runs.list(other)
        joined = [p.event for p in bob.runs.join_stream(other, run["run_id"])]
        assert set(joined) == {"metadata", "values", "updates", "custom", "end"}


def test_a_run_whose_process_died_fails_on_the_thread_stream(
    server: tuple[str, SqliteSaver],
) -> None:
    """A resume whose process died before its decision was recorded is taken over and
    fails (the request stays pending): a subscribed client sees `failed`, not silence."""
    url, saver = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        (pause,) = bob.runs.wait(tid, "orders", input={"item": "cup"})["__interrupt__"]
    # what the dead process left: the run queued claimed by it, its lease lapsed, a
    # started stream without an end
    dead = saver.enqueue_run(
        thread_id=tid,
        agent="orders",
        input={"interrupt_ids": [pause["id"]]},
        kind="resume",
        created_by="ada",
        owner="gone:1",
        ttl=0,
    )
    saver.append_events(tid, dead.run_id, [("metadata", {"run_id": dead.run_id})])
    with get_sync_client(url=url, api_key="k-bob") as bob:
        transport = SyncProtocolSseTransport(client=bob.http.client, thread_id=tid)
        handle = transport.open_event_stream({"channels": ["lifecycle", "input"]})
        seen: list[tuple[str, Any]] = []
        try:
            for event in handle.events:
                data = event["params"]["data"]
                seen.append((event["method"], data.get("event") or data.get("interrupt_id")))
                if seen[-1] == ("lifecycle", "started") and len(seen) > 1:
                    # the dead run's start, replayed: another process takes it over now
                    # (this one's worker may have claimed it first; either fails it)
                    claimed = saver.claim_run("taker:1", ttl=60)
                    if claimed is not None:
                        RunWorkers(saver, {"orders": _orders(saver)}, workers=0).execute(
                            claimed, "taker:1"
                        )
                if seen[-1] == ("lifecycle", "failed"):
                    error = data["error"]
                    break
        finally:
            handle.close()
            transport.close()
    assert seen == [
        ("lifecycle", "started"),
        ("input.requested", pause["id"]),
        ("lifecycle", "interrupted"),
        ("lifecycle", "started"),
        ("lifecycle", "failed"),
    ]
    assert error == UNRECORDED
    assert saver.get_interrupt(pause["id"]).status == "pending"


def test_a_run_nobody_will_end_is_settled_for_its_subscribers(
    server: tuple[str, SqliteSaver],
) -> None:
    """A run the queue does not know, whose stream stopped and whose thread is not
    leased: after a quiet second the stream logs its end (`RunLost`) and sends `failed`;
    every later reader sees the same."""
    url, saver = server
    with get_sync_client(url=url, api_key="k-bob") as bob:
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "outer", input={"item": "x"})
        saver.append_events(tid, "dead-run", [("run", {}), ("metadata", {"run_id": "dead-run"})])
        first = _events(url, tid, {"channels": ["lifecycle"]}, "failed")
        assert [e["params"]["data"]["event"] for e in first] == ["started", "failed"]
        assert "stopped before it ended" in first[-1]["params"]["data"]["error"]
        again = _events(url, tid, {"channels": ["lifecycle"]}, "failed")
        assert again == first
        parts = list(bob.runs.join_stream(tid, "dead-run"))
        assert [p.event for p in parts] == ["metadata", "error"]
        assert parts[-1].data["error"] == "RunLost"


def test_settling_follows_the_run_record(tmp_path: Path) -> None:
    """The end `settle_lost` logs is the one the run's record says; a run still queued or
    running (taken over soon) and a run that ended are left alone."""
    saver = SqliteSaver(tmp_path / "settle.db")
    try:
        for status in ("done", "interrupted", "failed", "running"):
            run = saver.enqueue_run(
                thread_id=status, agent="g", input={}, owner="gone", ttl=60 if status else 0
            )
            saver.append_events(status, run.run_id, [("metadata", {})])
            if status != "running":
                error = "Boom: it broke" if status == "failed" else None
                saver.finish_run(run.run_id, "gone", status=status, error=error)  # type: ignore[arg-type]
            assert settle_lost(saver, status, run.run_id) is (status != "running")
            assert not settle_lost(saver, status, run.run_id)  # once
            last = saver.read_events(status)[-1]
            if status == "running":
                assert last.event == "metadata"
            else:
                assert (last.event, last.data.get("status"), last.data.get("message")) == {
                    "done": ("end", "success", None),
                    "interrupted": ("end", "interrupted", None),
                    "failed": ("error", None, "Boom: it broke"),
                }[status]
        assert not settle_lost(saver, "nothing", "no-run")  # no stream: nothing to end
    finally:
        saver.close()


@pytest.fixture
def pg_server() -> Iterator[tuple[str, Any]]:
    from tests.pg import fresh_postgres_saver

    saver = fresh_postgres_saver()
    graphs = {
        "outer": _outer(saver, "outer", asks=False),
        "asks": _outer(saver, "asks", asks=True),
        "orders": _orders(saver),
        "payer": _payer(saver),
    }
    app = create_app(graphs, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app, grace=0.5) as http:
            yield str(http.base_url).rstrip("/"), saver
    finally:
        saver.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "flow",
    [
        test_a_subgraphs_events_and_request_carry_its_namespace,
        test_runs_in_the_request_log_what_a_later_thread_stream_reads,
        test_a_run_whose_process_died_fails_on_the_thread_stream,
    ],
    ids=lambda f: f.__name__.removeprefix("test_"),
)
def test_the_flows_on_postgres(flow: Any, pg_server: tuple[str, Any]) -> None:
    flow(pg_server)
