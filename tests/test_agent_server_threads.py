"""The thread-centric protocol (`POST /threads/{id}/commands`, events over SSE and
WebSocket at `/threads/{id}/stream/events`) driven by the real `langgraph-sdk`'s
`client.threads.stream(...)`, sync and async, against the app served by uvicorn over
loopback: the pause as `input.requested` + `interrupted`, answers on the one decision path,
replay with and without `since`."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.stream.transport import ProtocolSseTransport, SyncProtocolSseTransport
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

import interlock as il
from interlock import AIMessage, ScriptedChatModel, create_agent, tool
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-eve=eve:approver;k-root=root:admin"
GATE = threading.Event()
SHIPPED: list[str] = []


class Order(TypedDict, total=False):
    item: str
    approved: Any
    note: str
    ttl: float


def ask(state: Order) -> dict[str, Any]:
    assert GATE.wait(30), "the test did not open the gate"
    answer = il.interrupt({"ship": state["item"]}, approvers=["ada", "role:admin"])
    SHIPPED.append(state["item"])
    return {"approved": answer}


def note(state: Order) -> dict[str, Any]:
    il.get_stream_writer()({"noted": state["item"]})
    return {"note": f"noted {state['item']}"}


def _orders(saver: SqliteSaver) -> Any:
    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="orders")


def _notes(saver: SqliteSaver) -> Any:
    g = il.StateGraph(Order)
    g.add_node("note", note)
    g.add_edge(il.START, "note")
    return g.compile(checkpointer=saver, name="notes")


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
def url(tmp_path: Path) -> Iterator[str]:
    GATE.clear()
    SHIPPED.clear()
    saver = SqliteSaver(tmp_path / "threads.db")
    graphs = {"orders": _orders(saver), "notes": _notes(saver), "payer": _payer(saver)}
    app = create_app(graphs, keys=ApiKeys.parse(KEYS), workers=1)
    # the client leaves its closed streams' sockets open until the server writes (its reader
    # threads block in recv), so the shutdown does not wait for them
    with served(app, grace=0.5) as http:
        yield str(http.base_url).rstrip("/")
    GATE.set()
    saver.close()


def _audit(url: str, thread_id: str) -> list[dict[str, Any]]:
    got = httpx.get(
        f"{url}/v1/audit", params={"thread_id": thread_id}, headers={"x-api-key": "k-root"}
    )
    assert got.status_code == 200, got.text
    return list(got.json()["entries"])


def _pause(thread: Any, item: str) -> list[Any]:
    """Start an `orders` run and follow its values to the pause (the gate opens once the
    projection listens, so the pause cannot come before it)."""
    thread.run.start(input={"item": item})
    values = iter(thread.values)
    seen = [next(values)]  # the REST state; the subscription is registered now
    GATE.set()
    seen.extend(values)  # ends when the lifecycle watcher saw `input.requested`
    return seen


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_pause_answer_and_output_with_the_sync_client(url: str, transport: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        with bob.threads.stream(
            assistant_id="orders", transport=transport, headers={"x-api-key": "k-bob"}
        ) as mine:
            seen = _pause(mine, "book")
            assert {"item": "book"} in seen
            assert mine.interrupted
            (pause,) = mine.interrupts
            assert pause["value"] == {"ship": "book"} and pause["namespace"] == []
            tid = mine.thread_id
            # the requester may not answer: permission_denied, audited, the request intact
            with pytest.raises(RuntimeError, match="permission_denied"):
                mine.run.respond("yes")
            # ada answers with the client's command transport (a second person's
            # `threads.stream` on this thread could not know when its watcher has seen the
            # request: the sync client's projections wait for a run.start of their own)
            answer = SyncProtocolSseTransport(client=ada.http.client, thread_id=tid)
            params = {"namespace": [], "interrupt_id": pause["interrupt_id"], "response": "yes"}
            done = answer.send_command({"id": 1, "method": "input.respond", "params": params})
            assert done is not None and done["type"] == "success" and done["result"]["run_id"]
            assert mine.output == {"item": "book", "approved": "yes"}  # the same stream, on
        assert SHIPPED == ["book"]
        actions = [(e["action"], e["actor"]) for e in _audit(url, tid)]
        assert ("approval.refused", "bob") in actions
        assert [a for a in actions if a[0] == "approval.decided"] == [("approval.decided", "ada")]


@pytest.mark.parametrize("transport", ["sse", "websocket"])
def test_pause_answer_and_output_with_the_async_client(url: str, transport: str) -> None:
    async def main() -> None:
        async with (
            get_client(url=url, api_key="k-bob") as bob,
            get_client(url=url, api_key="k-ada") as ada,
            bob.threads.stream(
                assistant_id="orders", transport=transport, headers={"x-api-key": "k-bob"}
            ) as mine,
        ):
            await mine.run.start(input={"item": "lamp"})
            values = mine.values.__aiter__()
            assert await values.__anext__() in ({}, {"item": "lamp"})  # REST state: subscribed
            GATE.set()
            async for _ in values:
                pass
            assert mine.interrupted
            (pause,) = mine.interrupts
            assert pause["value"] == {"ship": "lamp"}
            answer = ProtocolSseTransport(client=ada.http.client, thread_id=mine.thread_id)
            params = {
                "namespace": [],
                "interrupt_id": pause["interrupt_id"],
                "response": {"ok": True},
            }
            done = await answer.send_command({"id": 1, "method": "input.respond", "params": params})
            assert done is not None and done["type"] == "success"
            assert await mine.output == {"item": "lamp", "approved": {"ok": True}}

    asyncio.run(main())
    assert SHIPPED == ["lamp"]


def test_an_answer_on_the_runs_api_completes_the_thread_stream(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        bob.threads.stream(assistant_id="orders") as mine,
    ):
        _pause(mine, "vase")
        (pause,) = mine.interrupts
        ada.runs.wait(mine.thread_id, "orders", command={"resume": {pause["interrupt_id"]: 1}})
        assert mine.output == {"item": "vase", "approved": 1}


def _command(url: str, key: str, thread_id: str, method: str, params: Any) -> dict[str, Any]:
    """One protocol command with the client's command transport (the envelope as it came:
    the thread stream's own methods raise on an error envelope, and have none for some)."""
    with get_sync_client(url=url, api_key=key) as client:
        transport = SyncProtocolSseTransport(client=client.http.client, thread_id=thread_id)
        body = transport.send_command({"id": 7, "method": method, "params": params})
    assert body is not None and body["id"] == 7
    return dict(body)


def test_two_racing_answers_have_one_winner(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        bob.threads.stream(assistant_id="orders") as mine,
    ):
        _pause(mine, "pen")
        (pause,) = mine.interrupts
        tid = mine.thread_id
        answers: list[dict[str, Any]] = []
        start = threading.Barrier(2)

        def answer(key: str) -> None:
            start.wait()
            params = {"namespace": [], "interrupt_id": pause["interrupt_id"], "response": key}
            answers.append(_command(url, key, tid, "input.respond", params))

        racers = [threading.Thread(target=answer, args=(k,)) for k in ("k-ada", "k-root")]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert sorted(a["type"] for a in answers) == ["error", "success"]
        (lost,) = [a for a in answers if a["type"] == "error"]
        assert lost["error"] == "no_such_interrupt"
        assert mine.output["approved"] in ("k-ada", "k-root")
    assert SHIPPED == ["pen"]  # the node went on once
    decided = [e for e in _audit(url, tid) if e["action"] == "approval.decided"]
    assert len(decided) == 1


def test_several_answers_with_an_update_in_one_step(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        bob.threads.stream(assistant_id="orders") as mine,
    ):
        _pause(mine, "cup")
        (pause,) = mine.interrupts
        tid = mine.thread_id
        unknown = {"responses": [{"namespace": [], "interrupt_id": "nope", "response": 1}]}
        refused = _command(url, "k-ada", tid, "input.respond", unknown)
        assert refused["type"] == "error" and refused["error"] == "no_such_interrupt"
        both = {
            "responses": [
                {"namespace": [], "interrupt_id": pause["interrupt_id"], "response": "ok"}
            ],
            "update": {"note": "fragile"},
        }
        done = _command(url, "k-ada", tid, "input.respond", both)
        assert done["type"] == "success" and done["result"]["run_id"]
        assert mine.output == {"item": "cup", "note": "fragile", "approved": "ok"}
        again = _command(url, "k-ada", tid, "input.respond", both)
        assert again["type"] == "error" and again["error"] == "no_such_interrupt"
    assert SHIPPED == ["cup"]  # the node re-ran on the updated state, once


def test_other_commands_are_reads_or_refused(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        bob.threads.stream(assistant_id="notes") as mine,
    ):
        mine.run.start(input={"item": "a"})
        assert mine.output == {"item": "a", "note": "noted a"}
        tid = mine.thread_id
    state = _command(url, "k-bob", tid, "state.get", {"namespace": [], "keys": ["note"]})
    assert state["result"]["values"] == {"note": "noted a"} and state["result"]["checkpoint"]
    listed = _command(url, "k-bob", tid, "state.listCheckpoints", {"limit": 2})
    assert len(listed["result"]["checkpoints"]) == 2
    assert listed["result"]["checkpoints"][0]["id"] == state["result"]["checkpoint"]["id"]
    tree = _command(url, "k-bob", tid, "agent.getTree", {})
    assert tree["result"]["tree"] == {"namespace": [], "status": "completed", "graph_name": "notes"}
    for method in ("state.fork", "input.inject", "subscription.subscribe"):
        refused = _command(url, "k-bob", tid, method, {})
        assert (refused["type"], refused["error"]) == ("error", "not_supported"), method
    assert _command(url, "k-bob", tid, "run.explode", {})["error"] == "unknown_command"
    fork = {"assistant_id": "notes", "input": {"item": "z"}}
    fork["config"] = {"configurable": {"checkpoint_id": state["result"]["checkpoint"]["id"]}}
    forked = _command(url, "k-bob", tid, "run.start", fork)  # the JS client's `forkFrom`
    assert forked["error"] == "not_supported" and "fork" in forked["message"]
    rolled = {"assistant_id": "notes", "input": {"item": "z"}, "multitaskStrategy": "rollback"}
    assert _command(url, "k-bob", tid, "run.start", rolled)["error"] == "not_supported"
    plain_start = {"assistant_id": "notes", "input": {"item": "z"}}  # ada only approves
    assert _command(url, "k-ada", tid, "run.start", plain_start)["error"] == "permission_denied"


def _events(url: str, thread_id: str, body: dict[str, Any], until: str) -> list[dict[str, Any]]:
    """Protocol events from the SSE stream up to the first of method/lifecycle `until`."""
    with get_sync_client(url=url, api_key="k-bob") as bob:
        out = []
        transport = SyncProtocolSseTransport(client=bob.http.client, thread_id=thread_id)
        handle = transport.open_event_stream(body)
        try:
            for event in handle.events:
                out.append(event)
                data = event["params"]["data"]
                if event["method"] == until or (
                    event["method"] == "lifecycle" and data.get("event") == until
                ):
                    return out
        finally:
            handle.close()
            transport.close()
    raise AssertionError("the stream ended")


def test_channels_replay_and_since(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        bob.threads.stream(assistant_id="notes") as mine,
    ):
        mine.run.start(input={"item": "b"})
        assert mine.output == {"item": "b", "note": "noted b"}
        tid = mine.thread_id
    everything = _events(
        url, tid, {"channels": ["values", "updates", "custom", "lifecycle"]}, "completed"
    )
    methods = [e["method"] for e in everything]
    assert methods[0] == "lifecycle" and everything[0]["params"]["data"]["event"] == "started"
    assert {"values", "updates", "custom"} <= set(methods)
    seqs = [e["seq"] for e in everything]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    update = next(e for e in everything if e["method"] == "updates")["params"]["data"]
    assert update == {"node": "note", "values": {"note": "noted b"}}
    custom = next(e for e in everything if e["method"] == "custom")["params"]["data"]
    assert custom == {"payload": {"noted": "b"}}
    # since: exactly what follows, nothing repeated, nothing lost
    middle = everything[len(everything) // 2]["seq"]
    rest = _events(
        url,
        tid,
        {"channels": ["values", "updates", "custom", "lifecycle"], "since": middle},
        "completed",
    )
    assert rest == [e for e in everything if e["seq"] > middle]
    only = _events(url, tid, {"channels": ["lifecycle"]}, "completed")
    assert [e["params"]["data"]["event"] for e in only] == ["started", "completed"]


def test_messages_and_tools_of_an_agent(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        bob.threads.stream(assistant_id="payer") as mine,
    ):
        mine.run.start(input={"messages": [{"role": "user", "content": "pay"}]})
        tid = mine.thread_id
        asked = _events(url, tid, {"channels": ["input", "lifecycle"]}, "interrupted")
        request = [e for e in asked if e["method"] == "input.requested"]
        (one,) = request
        data = one["params"]["data"]
        assert data["payload"] == data["value"]
        assert data["value"]["action_requests"][0]["args"] == {"amount": 5}
        answer = {"decisions": [{"type": "approve"}]}
        params = {"namespace": [], "interrupt_id": data["interrupt_id"], "response": answer}
        respond = SyncProtocolSseTransport(client=ada.http.client, thread_id=tid)
        respond.send_command({"id": 1, "method": "input.respond", "params": params})
        assert mine.output["messages"][-1]["content"] == "done paying"
    everything = _events(url, tid, {"channels": ["messages", "tools", "lifecycle"]}, "completed")
    tools = [e["params"]["data"] for e in everything if e["method"] == "tools"]
    assert tools[0] == {
        "event": "tool-started",
        "tool_call_id": "call-1",
        "tool_name": "pay",
        "input": {"amount": 5},
    }
    assert tools[1] == {"event": "tool-finished", "tool_call_id": "call-1", "output": "paid 5"}
    messages = [e["params"]["data"] for e in everything if e["method"] == "messages"]
    kinds = [m["event"] for m in messages]
    assert kinds.count("message-start") == kinds.count("message-finish") == 2
    text = "".join(m["delta"]["text"] for m in messages if m["event"] == "content-block-delta")
    assert text == "done paying"
    calls = [m["content"] for m in messages if m["event"] == "content-block-finish" and m["index"]]
    assert calls == [{"type": "tool_call", "id": "call-1", "name": "pay", "args": {"amount": 5}}]


def test_credentials_on_every_transport(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        bob.threads.stream(assistant_id="notes") as mine,
    ):
        mine.run.start(input={"item": "c"})
        assert mine.output["note"] == "noted c"
        tid = mine.thread_id
        events = f"{url}/threads/{tid}/stream/events"
        assert httpx.post(events, json={"channels": ["values"]}).status_code == 401
        state = {"id": 1, "method": "state.get", "params": {"namespace": []}}
        assert httpx.post(f"{url}/threads/{tid}/commands", json=state).status_code == 401
        ws_url = url.replace("http://", "ws://") + f"/threads/{tid}/stream/events"
        with pytest.raises(InvalidStatus) as denied:
            connect(ws_url)
        assert denied.value.response.status_code == 401
        with pytest.raises(InvalidStatus) as hidden:  # a thread this caller may not see
            connect(
                ws_url.replace(tid, "no-such-thread"), additional_headers={"x-api-key": "k-bob"}
            )
        assert hidden.value.response.status_code == 404
        # through the SDK: its api_key is not sent on the handshake (per-stream headers are)
        with bob.threads.stream(thread_id=tid, assistant_id="notes", transport="websocket") as t:
            t.run.start(input={"item": "d"})
            with pytest.raises(InvalidStatus, match="401"):
                _ = t.output


def test_self_approval_and_deadlines_hold_on_input_respond(tmp_path: Path) -> None:
    """rita may start runs and approve, but not her own request; a request past its
    deadline is answered by nobody."""

    def timed(state: Order) -> dict[str, Any]:
        answer = il.interrupt({"ship": state["item"]}, deadline=state.get("ttl"), on_expiry="late")
        return {"approved": answer}

    saver = SqliteSaver(tmp_path / "self.db")
    g = il.StateGraph(Order)
    g.add_node("ask", timed)
    g.add_edge(il.START, "ask")
    app = create_app(
        {"timed": g.compile(checkpointer=saver, name="timed")},
        keys=ApiKeys.parse("k-rita=rita:requester,approver;k-root=root:admin"),
        workers=1,
    )
    with (
        served(app, grace=0.5) as http,
        get_sync_client(url=str(http.base_url), api_key="k-rita") as rita,
    ):
        url = str(http.base_url).rstrip("/")
        tid = rita.threads.create()["thread_id"]
        paused = rita.runs.wait(tid, "timed", input={"item": "x"})
        (pause,) = paused["__interrupt__"]
        params = {"namespace": [], "interrupt_id": pause["id"], "response": "mine"}
        mine = _command(url, "k-rita", tid, "input.respond", params)
        assert mine["error"] == "permission_denied" and "may not decide" in mine["message"]
        refused = [e for e in _audit(url, tid) if e["action"] == "approval.refused"]
        assert refused[0]["detail"]["reason"] == "self_approval"
        # a request whose deadline passed is expired by the sweep: nobody answers it
        other = rita.threads.create()["thread_id"]
        (late,) = rita.runs.wait(other, "timed", input={"item": "y", "ttl": 0.001})["__interrupt__"]
        swept = httpx.post(f"{url}/v1/approvals/expire", json={}, headers={"x-api-key": "k-root"})
        assert swept.status_code == 200, swept.text
        params = {"namespace": [], "interrupt_id": late["id"], "response": "late"}
        expired = _command(url, "k-root", other, "input.respond", params)
        assert expired["error"] == "no_such_interrupt" and "not pending" in expired["message"]
    saver.close()


def test_the_websocket_and_sse_refuse_malformed_subscriptions(url: str) -> None:
    """The wire format directly (the client never sends these): a first frame that is not
    `subscription.subscribe`, a later command frame, a bad SSE body."""
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        bob.threads.stream(assistant_id="notes") as mine,
    ):
        mine.run.start(input={"item": "w"})
        assert mine.output["note"] == "noted w"
        tid = mine.thread_id
    events = f"{url}/threads/{tid}/stream/events"
    bad = httpx.post(events, json={"channels": ["nope"]}, headers={"x-api-key": "k-bob"})
    assert bad.status_code == 422 and "nope" in bad.json()["message"]
    ws_url = events.replace("http://", "ws://")
    with connect(ws_url, additional_headers={"x-api-key": "k-bob"}) as ws:
        ws.send(json.dumps({"id": 3, "method": "run.start", "params": {}}))
        refused = json.loads(ws.recv(timeout=10))
        assert (refused["type"], refused["id"], refused["error"]) == (
            "error",
            3,
            "invalid_argument",
        )
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4422
    with connect(ws_url, additional_headers={"x-api-key": "k-bob"}) as ws:
        subscribe = {"channels": ["lifecycle"]}
        ws.send(json.dumps({"id": 1, "method": "subscription.subscribe", "params": subscribe}))
        answer = json.loads(ws.recv(timeout=10))
        assert (answer["type"], answer["id"]) == ("success", 1)
        assert answer["result"]["subscription_id"]
        started = json.loads(ws.recv(timeout=10))
        assert started["params"]["data"]["event"] == "started"
        assert json.loads(ws.recv(timeout=10))["params"]["data"]["event"] == "completed"
        ws.send(json.dumps({"id": 2, "method": "state.get", "params": {}}))
        later = json.loads(ws.recv(timeout=10))
        assert (later["id"], later["error"]) == (2, "not_supported")


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.pg import fresh_postgres_saver

    GATE.clear()
    SHIPPED.clear()
    saver = fresh_postgres_saver()
    graphs = {"orders": _orders(saver), "notes": _notes(saver), "payer": _payer(saver)}
    app = create_app(graphs, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app, grace=0.5) as http:
            yield str(http.base_url).rstrip("/")
    finally:
        GATE.set()
        saver.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "flow",
    [
        test_two_racing_answers_have_one_winner,
        test_several_answers_with_an_update_in_one_step,
        test_channels_replay_and_since,
    ],
    ids=lambda f: f.__name__.removeprefix("test_"),
)
def test_the_flows_on_postgres(flow: Any, pg_url: str) -> None:
    flow(pg_url)
