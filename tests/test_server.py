"""The HTTP API: threads, the inbox across threads, decisions exactly once, roles, audit."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from pydantic import BaseModel

import interlock as il
from interlock import AIMessage, Command, create_agent, tool
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-eve=eve:approver;k-root=root:admin"
BOB = {"Authorization": "Bearer k-bob"}
ADA = {"Authorization": "Bearer k-ada"}
EVE = {"X-API-Key": "k-eve"}
ROOT = {"Authorization": "Bearer k-root"}

effects: list[tuple[str, Any]] = []
effects_lock = threading.Lock()


class Order(TypedDict, total=False):
    item: str
    answer: Any
    shipped: bool


class Answer(BaseModel):
    approved: bool


def order_graph(saver: Any, name: str = "orders") -> il.CompiledStateGraph:
    def ask(state: Order) -> dict:
        answer = il.interrupt({"ship": state["item"]}, response_schema=Answer)
        return {"answer": answer.model_dump()}  # validated: an `Answer`

    def ship(state: Order) -> dict:
        if state["answer"]["approved"]:
            with effects_lock:
                effects.append(("shipped", state["item"]))
        return {"shipped": bool(state["answer"]["approved"])}

    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_node("ship", ship)
    g.add_edge(il.START, "ask")
    g.add_edge("ask", "ship")
    return g.compile(checkpointer=saver, name=name)


@pytest.fixture(autouse=True)
def _clear_effects() -> None:
    effects.clear()


@pytest.fixture
def serve() -> Iterator[Any]:
    """`serve(app)` -> an HTTP client of `app` on a loopback port (stopped after the test)."""
    with contextlib.ExitStack() as stack:
        yield lambda app: stack.enter_context(served(app))


@pytest.fixture
def client(saver: Any) -> Iterator[httpx.Client]:
    app = create_app({"orders": order_graph(saver)}, keys=ApiKeys.parse(KEYS))
    with served(app) as http:
        yield http


def _start(client: httpx.Client, item: str = "book", thread_id: str | None = None) -> dict:
    body: dict[str, Any] = {"input": {"item": item}}
    if thread_id:
        body["thread_id"] = thread_id
    response = client.post("/v1/threads", json=body, headers=BOB)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_request_is_asked_listed_decided_and_run_once(client: httpx.Client) -> None:
    started = _start(client, "book")
    assert started["status"] == "paused" and started["agent"] == "orders"
    [request] = started["run"]["interrupts"]
    assert request["value"] == {"ship": "book"}

    inbox = client.get("/v1/approvals", headers=ADA).json()["approvals"]
    assert [a["id"] for a in inbox] == [request["id"]]
    assert inbox[0]["requested_by"] == "bob" and inbox[0]["status"] == "pending"
    assert inbox[0]["response_schema"]["required"] == ["approved"]

    decided = client.post(
        f"/v1/approvals/{request['id']}/decision", json={"value": {"approved": True}}, headers=ADA
    )
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["run"]["status"] == "finished"
    assert body["run"]["values"]["shipped"] is True
    assert body["approval"]["status"] == "resolved" and body["approval"]["decided_by"] == "ada"
    assert body["approval"]["decision"] == {"approved": True}
    assert effects == [("shipped", "book")]

    again = client.post(
        f"/v1/approvals/{request['id']}/decision", json={"value": {"approved": True}}, headers=EVE
    )
    assert again.status_code == 409
    assert again.json()["error"] == "already_decided" and "ada" in again.json()["message"]
    assert effects == [("shipped", "book")]  # the second decision ran nothing
    assert client.get("/v1/approvals", headers=ADA).json()["approvals"] == []


def test_the_inbox_spans_threads_and_pages(client: httpx.Client) -> None:
    ids = [_start(client, f"item{i}")["run"]["interrupts"][0]["id"] for i in range(5)]
    first = client.get("/v1/approvals", params={"limit": 2}, headers=ADA).json()
    second = client.get(
        "/v1/approvals", params={"limit": 2, "cursor": first["next_cursor"]}, headers=ADA
    ).json()
    third = client.get(
        "/v1/approvals", params={"limit": 2, "cursor": second["next_cursor"]}, headers=ADA
    ).json()
    seen = [a["id"] for page in (first, second, third) for a in page["approvals"]]
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 5
    assert third["next_cursor"] is None
    assert {
        a["thread_id"] for page in (first, second, third) for a in page["approvals"]
    }.__len__() == 5
    bad = client.get("/v1/approvals?cursor=nonsense", headers=ADA)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_cursor"


def test_concurrent_decisions_have_one_winner(client: httpx.Client) -> None:
    request = _start(client)["run"]["interrupts"][0]
    url = f"/v1/approvals/{request['id']}/decision"

    def decide(headers: dict) -> int:
        return client.post(url, json={"value": {"approved": True}}, headers=headers).status_code

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(decide, [ADA, EVE, ROOT] * 2))
    assert sorted(codes) == [200, 409, 409, 409, 409, 409]
    assert effects == [("shipped", "book")]


def test_bad_decisions_are_refused_and_the_request_stays_pending(client: httpx.Client) -> None:
    request = _start(client)["run"]["interrupts"][0]
    url = f"/v1/approvals/{request['id']}/decision"

    wrong_shape = client.post(url, json={"value": {"approved": "maybe"}}, headers=ADA)
    assert wrong_shape.status_code == 422 and wrong_shape.json()["error"] == "invalid_decision"
    malformed = client.post(url, content=b"{not json", headers=ADA)
    assert malformed.status_code == 422 and malformed.json()["error"] == "invalid_request"
    missing = client.post(url, json={}, headers=ADA)
    assert missing.status_code == 422 and missing.json()["details"][0]["where"] == "body.value"
    extra = client.post(url, json={"value": {"approved": True}, "oops": 1}, headers=ADA)
    assert extra.status_code == 422
    unknown = client.post("/v1/approvals/" + "0" * 32 + "/decision", json={"value": 1}, headers=ADA)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_approval"

    still = client.get(f"/v1/approvals/{request['id']}", headers=ADA).json()
    assert still["status"] == "pending" and effects == []
    ok = client.post(url, json={"value": {"approved": False}}, headers=ADA)
    assert ok.status_code == 200 and ok.json()["run"]["values"]["shipped"] is False


def test_who_may_do_what(client: httpx.Client) -> None:
    assert client.get("/v1/approvals").status_code == 401
    assert client.get("/v1/approvals", headers={"Authorization": "Bearer wrong"}).json() == {
        "error": "unauthenticated",
        "message": "send a valid API key (Authorization: Bearer)",
    }
    assert client.get("/v1/approvals", headers=BOB).status_code == 403  # requesters don't see
    assert client.post("/v1/threads", json={"input": {"item": "x"}}, headers=ADA).status_code == 403
    assert client.get("/v1/audit", headers=ADA).status_code == 403
    assert client.get("/v1/health").json() == {"ok": True}
    assert client.get("/v1/agents", headers=BOB).json() == {"agents": ["orders"]}


def test_a_requester_may_not_approve_their_own_request(saver: Any, serve: Any) -> None:
    both = "k-bob=bob:requester,approver;k-ada=ada:approver"
    app = create_app({"orders": order_graph(saver)}, keys=ApiKeys.parse(both))
    client = serve(app)
    request = client.post("/v1/threads", json={"input": {"item": "x"}}, headers=BOB).json()
    iid = request["run"]["interrupts"][0]["id"]
    own = client.post(
        f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}}, headers=BOB
    )
    assert own.status_code == 403 and own.json()["error"] == "self_approval"
    assert client.get(f"/v1/approvals/{iid}", headers=ADA).json()["status"] == "pending"
    assert effects == []
    ok = client.post(
        f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}}, headers=ADA
    )
    assert ok.status_code == 200

    lenient = serve(
        create_app(
            {"orders": order_graph(saver)}, keys=ApiKeys.parse(both), allow_self_approval=True
        )
    )
    request = lenient.post("/v1/threads", json={"input": {"item": "y"}}, headers=BOB).json()
    iid = request["run"]["interrupts"][0]["id"]
    mine = lenient.post(
        f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}}, headers=BOB
    )
    assert mine.status_code == 200


def test_threads_state_history_and_new_input(client: httpx.Client) -> None:
    started = _start(client, "lamp", thread_id="t-lamp")
    assert started["thread_id"] == "t-lamp"
    duplicate = client.post(
        "/v1/threads", json={"thread_id": "t-lamp", "input": {"item": "x"}}, headers=BOB
    )
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "thread_exists"

    state = client.get("/v1/threads/t-lamp", headers=BOB).json()
    assert state["status"] == "interrupted" and state["values"]["item"] == "lamp"
    assert state["next"] == ["ask"] and len(state["pending"]) == 1

    busy = client.post("/v1/threads/t-lamp/runs", json={"input": {"item": "z"}}, headers=BOB)
    assert busy.status_code == 409 and busy.json()["error"] == "waiting_for_decision"

    iid = state["pending"][0]["id"]
    client.post(f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}}, headers=ADA)
    turn = client.post("/v1/threads/t-lamp/runs", json={"input": {"item": "desk"}}, headers=BOB)
    assert turn.status_code == 200 and turn.json()["status"] == "paused"

    history = client.get("/v1/threads/t-lamp/history?limit=3", headers=ADA).json()["checkpoints"]
    assert len(history) == 3 and history[0]["values"]["item"] == "desk"
    listed = client.get("/v1/threads", headers=ADA).json()["threads"]
    assert [t["thread_id"] for t in listed] == ["t-lamp"]
    missing = client.get("/v1/threads/nope", headers=BOB)
    assert missing.status_code == 404 and missing.json()["error"] == "unknown_thread"
    empty = client.post("/v1/threads/t-lamp/runs", json={}, headers=BOB)
    assert empty.status_code == 422


def test_the_audit_log_says_who_asked_and_who_decided(client: httpx.Client) -> None:
    request = _start(client, "chair", thread_id="t-chair")["run"]["interrupts"][0]
    client.post(
        f"/v1/approvals/{request['id']}/decision", json={"value": {"approved": True}}, headers=ADA
    )
    entries = client.get("/v1/audit?thread_id=t-chair", headers=ROOT).json()["entries"]
    assert [(e["action"], e["actor"]) for e in reversed(entries)] == [
        ("thread.created", "bob"),
        ("run.started", "bob"),
        ("approval.requested", "bob"),
        ("approval.decided", "ada"),
    ]
    decided = entries[0]
    assert decided["interrupt_id"] == request["id"]
    assert decided["detail"] == {"value": {"ship": "chair"}, "decision": {"approved": True}}


def test_a_store_down_is_a_503_and_loses_nothing(tmp_path: Path, serve: Any) -> None:
    saver = SqliteSaver(tmp_path / "s.db")
    client = serve(create_app({"orders": order_graph(saver)}))
    request = client.post("/v1/threads", json={"input": {"item": "pen"}}).json()
    iid = request["run"]["interrupts"][0]["id"]

    real = saver.resolve_interrupts

    def down(*args: Any, **kwargs: Any) -> Any:
        raise il.StoreUnavailable("database is locked: simulated outage")

    saver.resolve_interrupts = down  # type: ignore[method-assign]
    failed = client.post(f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}})
    assert failed.status_code == 503 and failed.json()["error"] == "store_unavailable"
    saver.resolve_interrupts = real  # type: ignore[method-assign]
    assert client.get(f"/v1/approvals/{iid}").json()["status"] == "pending"
    ok = client.post(f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}})
    assert ok.status_code == 200 and effects == [("shipped", "pen")]
    saver.close()


@tool
def refund(order_id: str, amount: float) -> str:
    """Refund an order.

    Args:
        order_id: The order.
        amount: How much to give back.
    """
    with effects_lock:
        effects.append(("refund", (order_id, amount)))
    return f"refunded {amount} on {order_id}"


def test_an_agent_asks_over_http_and_an_edit_is_what_runs(tmp_path: Path, serve: Any) -> None:
    saver = SqliteSaver(tmp_path / "agent.db")
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "refund", "args": {"order_id": "o1", "amount": 90.0}, "id": "c1"}
                ],
            ),
            "Done: refunded.",
        ]
    )
    agent = create_agent(
        model=model, tools=[refund], checkpointer=saver, interrupt_on={"refund": True}
    )
    client = serve(create_app({"support": agent}, keys=ApiKeys.parse(KEYS)))
    started = client.post(
        "/v1/threads", json={"message": "refund order o1 please"}, headers=BOB
    ).json()
    [request] = started["run"]["interrupts"]
    action = request["value"]["action_requests"][0]
    assert action["name"] == "refund" and action["args"] == {"order_id": "o1", "amount": 90.0}
    edit = {
        "type": "edit",
        "edited_action": {"name": "refund", "args": {"order_id": "o1", "amount": 45.0}},
    }
    done = client.post(
        f"/v1/approvals/{request['id']}/decision",
        json={"value": {"decisions": [edit]}},
        headers=ADA,
    )
    assert done.status_code == 200, done.text
    messages = done.json()["run"]["values"]["messages"]
    assert messages[0]["type"] == "human" and messages[-1]["content"] == "Done: refunded."
    assert effects == [("refund", ("o1", 45.0))]
    saver.close()


def test_resuming_through_the_api_matches_the_library(saver: Any, serve: Any) -> None:
    """The same decision through HTTP and through `invoke(Command(...))` ends alike."""
    client = serve(create_app({"orders": order_graph(saver)}))
    via_http = client.post("/v1/threads", json={"input": {"item": "cup"}}).json()
    iid = via_http["run"]["interrupts"][0]["id"]
    http_result = client.post(
        f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}}
    ).json()["run"]["values"]

    graph = order_graph(saver)
    config = {"configurable": {"thread_id": "lib"}}
    graph.invoke({"item": "cup"}, config)
    lib_result = graph.invoke(Command(resume={"approved": True}), config)
    assert http_result == lib_result


def test_a_thread_created_empty_takes_its_first_turn_later(client: httpx.Client) -> None:
    created = client.post("/v1/threads", json={"thread_id": "empty"}, headers=BOB)
    assert created.status_code == 201 and created.json()["run"] is None
    again = client.post("/v1/threads", json={"thread_id": "empty"}, headers=BOB)
    assert again.status_code == 409 and again.json()["error"] == "thread_exists"
    turn = client.post("/v1/threads/empty/runs", json={"input": {"item": "mug"}}, headers=BOB)
    assert turn.status_code == 200 and turn.json()["status"] == "paused"
    assert client.get("/v1/threads/empty", headers=BOB).json()["values"]["item"] == "mug"


def test_input_that_cannot_be_rendered_back_is_refused(client: httpx.Client) -> None:
    deep: Any = "x"
    for _ in range(300):
        deep = [deep]
    response = client.post("/v1/threads", json={"input": {"item": deep}}, headers=BOB)
    assert response.status_code == 422 and response.json()["error"] == "too_deep"
    huge = client.post("/v1/threads", json={"input": {"item": "x" * 2_000_000}}, headers=BOB)
    assert huge.status_code == 413 and huge.json()["error"] == "too_large"
    assert client.get("/v1/approvals", headers=ADA).json()["approvals"] == []  # inbox intact
    unknown_key = client.post("/v1/threads", json={"input": {"nope": 1}}, headers=BOB)
    assert unknown_key.status_code == 422 and unknown_key.json()["error"] == "invalid_input"


def test_odd_ids_and_cursors_are_client_errors(client: httpx.Client) -> None:
    assert client.get("/v1/approvals/a%00b", headers=ADA).status_code == 404
    assert client.get("/v1/threads/a%00b", headers=BOB).status_code == 404
    bad = client.get("/v1/approvals", params={"thread_id": "a\x00b"}, headers=ADA)
    assert bad.status_code == 422
    for cursor in ("W1sxXSwgMl0=", "WyIwMDAxLTAxLTAxVDAwOjAwOjAwKzA1OjAwIiwgImlkIl0=", "@@"):
        page = client.get("/v1/approvals", params={"cursor": cursor}, headers=ADA)
        assert page.status_code == 400 and page.json()["error"] == "invalid_cursor", cursor


def test_a_decision_whose_run_then_fails_is_recorded_and_said_so(saver: Any, serve: Any) -> None:
    def ask(state: Order) -> dict:
        il.interrupt({"ship": state["item"]})
        raise RuntimeError("the warehouse is on fire")

    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    client = serve(create_app({"fragile": g.compile(checkpointer=saver, name="fragile")}))
    iid = client.post("/v1/threads", json={"input": {"item": "x"}}).json()["run"]["interrupts"][0][
        "id"
    ]
    failed = client.post(f"/v1/approvals/{iid}/decision", json={"value": "go"})
    assert failed.status_code == 500 and failed.json()["error"] == "run_failed"
    assert "warehouse" in failed.json()["message"] and "recorded" in failed.json()["message"]
    assert client.get(f"/v1/approvals/{iid}").json()["status"] == "resolved"
    actions = [e["action"] for e in client.get("/v1/audit").json()["entries"]]
    assert "approval.decided" in actions
    again = client.post(f"/v1/approvals/{iid}/decision", json={"value": "go"})
    assert again.status_code == 409


def test_each_request_goes_to_the_graph_that_asked(saver: Any) -> None:
    with pytest.raises(ValueError, match="distinct graph names"):
        create_app({"a": order_graph(saver), "b": order_graph(saver)})
    billing = order_graph(saver, name="billing")
    iid = billing.invoke({"item": "x"}, {"configurable": {"thread_id": "bill"}})["__interrupt__"][
        0
    ].id
    with served(create_app({"orders": order_graph(saver)})) as http:  # billing not served
        wrong = http.post(f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}})
        assert wrong.status_code == 409 and wrong.json()["error"] == "unknown_agent"
        assert http.get(f"/v1/approvals/{iid}").json()["status"] == "pending"
    assert effects == []


def test_the_body_limit_holds_for_chunked_bodies(client: httpx.Client) -> None:
    def chunks() -> Any:
        for _ in range(300):
            yield b"x" * 10_000  # 3 MB, sent chunked, no Content-Length

    response = client.post(
        "/v1/threads", content=chunks(), headers={**BOB, "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["error"] == "too_large"


def test_errors_keep_one_shape(client: httpx.Client, saver: Any) -> None:
    missing = client.get("/v1/nothing-here", headers=BOB)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong_method = client.delete("/v1/threads", headers=BOB)
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    nul = client.post("/v1/threads", json={"input": {"item": "a\x00b"}}, headers=BOB)
    if type(saver).__name__ == "PostgresSaver":  # PostgreSQL cannot hold a NUL character
        assert nul.status_code == 422 and nul.json()["error"] == "not_serialisable"
    else:
        assert nul.status_code == 201


def _sse_events(text: str) -> list[tuple[str, Any]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_a_run_streams_as_server_sent_events(client: httpx.Client) -> None:
    client.post("/v1/threads", json={"thread_id": "s"}, headers=BOB)
    with client.stream(
        "POST", "/v1/threads/s/runs/stream", json={"input": {"item": "kettle"}}, headers=BOB
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _sse_events(response.read().decode())
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "end" and "updates" in kinds
    end = events[-1][1]
    assert end["status"] == "paused" and end["values"]["item"] == "kettle"
    [request] = end["interrupts"]
    assert request["value"] == {"ship": "kettle"}
    inbox = client.get("/v1/approvals", headers=ADA).json()["approvals"]
    assert [a["id"] for a in inbox] == [request["id"]]

    refused = client.post(
        "/v1/threads/s/runs/stream", json={"input": {"item": "x"}}, headers=BOB
    )  # still waiting for a decision: refused before any event
    assert refused.status_code == 409 and refused.json()["error"] == "waiting_for_decision"
    entries = client.get("/v1/audit", params={"thread_id": "s"}, headers=ROOT).json()["entries"]
    assert [e["action"] for e in entries] == [
        "run.refused",
        "run.started",
        "approval.requested",
        "run.started",
        "thread.created",
    ]


def test_a_client_leaving_a_stream_does_not_leave_the_run_half_done(saver: Any) -> None:
    def work(state: Order) -> dict:
        writer = il.get_stream_writer()
        for i in range(3):
            writer({"tick": i})
        return {"answer": il.interrupt({"ship": state["item"]})}

    g = il.StateGraph(Order)
    g.add_node("work", work)
    g.add_edge(il.START, "work")
    app = create_app({"slow": g.compile(checkpointer=saver, name="slow")})
    with served(app) as http:
        http.post("/v1/threads", json={"thread_id": "gone"})
        with http.stream(
            "POST", "/v1/threads/gone/runs/stream", json={"input": {"item": "x"}}
        ) as r:
            assert next(r.iter_lines()).startswith("event: ")  # one event, then the client leaves
        deadline = time.monotonic() + 20
        while not http.get("/v1/approvals").json()["approvals"]:  # the run finishes anyway
            assert time.monotonic() < deadline, "the run did not finish after the client left"
        state = http.get("/v1/threads/gone").json()
        assert state["status"] == "interrupted" and len(state["pending"]) == 1
        iid = state["pending"][0]["id"]
        assert http.post(f"/v1/approvals/{iid}/decision", json={"value": "go"}).status_code == 200


def test_a_store_lost_after_the_decision_says_the_decision_was_recorded(
    tmp_path: Path, serve: Any
) -> None:
    saver = SqliteSaver(tmp_path / "s.db")
    client = serve(create_app({"orders": order_graph(saver)}))
    iid = client.post("/v1/threads", json={"input": {"item": "pen"}}).json()["run"]["interrupts"][
        0
    ]["id"]
    real = saver.put_checkpoint

    def down(*args: Any, **kwargs: Any) -> Any:
        raise il.StoreUnavailable("connection lost: simulated outage")

    saver.put_checkpoint = down  # type: ignore[method-assign]
    response = client.post(f"/v1/approvals/{iid}/decision", json={"value": {"approved": True}})
    saver.put_checkpoint = real  # type: ignore[method-assign]
    assert response.status_code == 503 and "recorded" in response.json()["message"]
    assert client.get(f"/v1/approvals/{iid}").json()["status"] == "resolved"
    saver.close()
