"""Deadlines: a request nobody answers in time expires exactly once and its run goes on."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock import (
    AIMessage,
    Command,
    RequestExpired,
    ResumeConflict,
    ResumeError,
    ToolMessage,
    create_agent,
    tool,
)
from interlock.agent.models.scripted import ScriptedChatModel
from interlock.server import ApiKeys, create_app
from tests._http import served

later: list[Any] = []
lock = threading.Lock()


class Ask(TypedDict, total=False):
    answer: Any


def ask_graph(saver: Any, **interrupt_kwargs: Any) -> il.CompiledStateGraph:
    def ask(state: Ask) -> dict:
        try:
            answer = il.interrupt({"q": "ship it?"}, **interrupt_kwargs)
        except RequestExpired:
            answer = "expired-raised"
        with lock:
            later.append(answer)  # the side effect after the request
        return {"answer": answer}

    g = il.StateGraph(Ask)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="asker")


@pytest.fixture(autouse=True)
def _clear() -> None:
    later.clear()


def _pause(graph: il.CompiledStateGraph, thread: str) -> il.Interrupt:
    out = graph.invoke({}, {"configurable": {"thread_id": thread}})
    [request] = out["__interrupt__"]
    return request


def test_an_unanswered_request_expires_once_and_the_run_continues(saver: Any) -> None:
    graph = ask_graph(saver, deadline=timedelta(minutes=5), on_expiry="no answer")
    request = _pause(graph, "t")
    record = saver.get_interrupt(request.id)
    assert record.deadline == record.created_at + timedelta(minutes=5)

    assert graph.expire_due(now=record.created_at + timedelta(minutes=4)) == []  # not yet
    assert saver.get_interrupt(request.id).status == "pending"
    assert graph.expire_due(now=record.created_at + timedelta(minutes=6)) == [request.id]
    assert later == ["no answer"]
    assert graph.get_state({"configurable": {"thread_id": "t"}}).values == {"answer": "no answer"}
    expired = saver.get_interrupt(request.id)
    assert expired.status == "expired" and expired.decided_by is None

    assert graph.expire_due(now=record.created_at + timedelta(days=1)) == []  # only once
    with pytest.raises(ResumeConflict, match="expired"):
        graph.invoke(Command(resume={request.id: "yes"}), {"configurable": {"thread_id": "t"}})
    assert later == ["no answer"]


def test_without_on_expiry_the_node_sees_request_expired(saver: Any) -> None:
    deadline = datetime(2030, 1, 1, tzinfo=UTC)
    graph = ask_graph(saver, deadline=deadline)  # an absolute deadline
    request = _pause(graph, "t")
    assert saver.get_interrupt(request.id).deadline == deadline
    assert graph.expire_due(now=deadline) == [request.id]
    assert later == ["expired-raised"]


def test_a_decision_before_the_deadline_wins(saver: Any) -> None:
    graph = ask_graph(saver, deadline=60, on_expiry="no answer")  # seconds
    request = _pause(graph, "t")
    graph.invoke(Command(resume="yes"), {"configurable": {"thread_id": "t"}})
    assert graph.expire_due(now=datetime.now(UTC) + timedelta(hours=1)) == []
    assert later == ["yes"]
    assert saver.get_interrupt(request.id).status == "resolved"


def test_deciding_and_expiring_at_once_have_one_winner(saver: Any) -> None:
    graph = ask_graph(saver, deadline=timedelta(seconds=1), on_expiry="no answer")
    requests = [_pause(graph, f"t{i}") for i in range(8)]
    far = datetime.now(UTC) + timedelta(hours=1)
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[str]] = {"expired": [], "decided": []}

    def expire() -> None:
        barrier.wait()
        outcomes["expired"] = graph.expire_due(now=far)

    def decide() -> None:
        barrier.wait()
        for i, request in enumerate(requests):
            try:
                graph.invoke(
                    Command(resume={request.id: "yes"}), {"configurable": {"thread_id": f"t{i}"}}
                )
                outcomes["decided"].append(request.id)
            except (ResumeConflict, il.ThreadBusy):
                pass

    threads = [threading.Thread(target=expire), threading.Thread(target=decide)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    ids = {r.id for r in requests}
    assert set(outcomes["expired"]) | set(outcomes["decided"]) == ids
    assert not set(outcomes["expired"]) & set(outcomes["decided"])  # never both
    assert len(later) == 8  # each run went on exactly once
    for request in requests:
        status = saver.get_interrupt(request.id).status
        assert status == ("expired" if request.id in outcomes["expired"] else "resolved")


def test_requests_without_a_deadline_never_expire(saver: Any) -> None:
    graph = ask_graph(saver)
    request = _pause(graph, "t")
    assert graph.expire_due(now=datetime(2100, 1, 1, tzinfo=UTC)) == []
    from interlock.graph._interrupt import EXPIRED

    with pytest.raises(ResumeError, match="no deadline"):
        graph.invoke(Command(resume={request.id: EXPIRED}), {"configurable": {"thread_id": "t"}})
    assert saver.get_interrupt(request.id).status == "pending"


@tool
def refund(order_id: str) -> str:
    """Refund an order.

    Args:
        order_id: The order.
    """
    with lock:
        later.append(("refund", order_id))
    return f"refunded {order_id}"


def test_an_agent_review_past_its_deadline_rejects_the_call(saver: Any) -> None:
    model = ScriptedChatModel(
        [
            AIMessage(
                content="", tool_calls=[{"name": "refund", "args": {"order_id": "o1"}, "id": "c1"}]
            ),
            "Nobody approved the refund in time.",
        ]
    )
    agent = create_agent(
        model=model,
        tools=[refund],
        checkpointer=saver,
        interrupt_on={"refund": {"deadline": timedelta(hours=1)}},
    )
    config = {"configurable": {"thread_id": "a"}}
    [request] = agent.invoke({"messages": [{"role": "user", "content": "refund o1"}]}, config)[
        "__interrupt__"
    ]
    record = saver.get_interrupt(request.id)
    assert record.deadline == record.created_at + timedelta(hours=1)
    assert agent.expire_due(now=record.created_at + timedelta(hours=2)) == [request.id]
    messages = agent.get_state(config).values["messages"]
    [answer] = [m for m in messages if isinstance(m, ToolMessage)]
    assert "expired" in answer.content and answer.status == "success"
    assert messages[-1].content == "Nobody approved the refund in time."
    assert later == []  # the refund never ran


def test_the_server_expires_on_request_and_audits_it(saver: Any) -> None:
    graph = ask_graph(saver, deadline=timedelta(minutes=1), on_expiry="no answer")
    keys = ApiKeys.parse("k-bob=bob:requester;k-root=root:admin")
    with served(create_app({"asker": graph}, keys=keys)) as http:
        started = http.post(
            "/v1/threads", json={"input": {}}, headers={"Authorization": "Bearer k-bob"}
        ).json()
        [request] = started["run"]["interrupts"]
        root = {"Authorization": "Bearer k-root"}
        pending = http.get(f"/v1/approvals/{request['id']}", headers=root).json()
        assert pending["deadline"] is not None
        assert http.post("/v1/approvals/expire", json={}, headers=root).json() == {
            "expired": [],
            "escalated": [],
        }  # not due yet on the server clock
        bob = http.post("/v1/approvals/expire", json={}, headers={"X-API-Key": "k-bob"})
        assert bob.status_code == 403
        now = (datetime.now(UTC) + timedelta(minutes=2)).isoformat()
        swept = http.post("/v1/approvals/expire", json={"now": now}, headers=root).json()
        assert swept == {"expired": [request["id"]], "escalated": []}
        after = http.get(f"/v1/approvals/{request['id']}", headers=root).json()
        assert after["status"] == "expired"
        audit = http.get("/v1/audit", params={"interrupt_id": request["id"]}, headers=root).json()[
            "entries"
        ]
        assert audit[0]["action"] == "approval.expired" and audit[0]["actor"] is None  # system
    assert later == ["no answer"]


def test_the_server_sweeps_on_its_own(saver: Any) -> None:
    graph = ask_graph(saver, deadline=timedelta(seconds=0), on_expiry="swept")
    with served(create_app({"asker": graph}, expire_every=0.05)) as http:
        request = http.post("/v1/threads", json={"input": {}}).json()["run"]["interrupts"][0]
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while http.get(f"/v1/approvals/{request['id']}").json()["status"] == "pending":
            assert datetime.now(UTC) < deadline, "the sweeper never expired the request"
        assert http.get(f"/v1/approvals/{request['id']}").json()["status"] == "expired"
    assert later == ["swept"]


# ---- review findings -----------------------------------------------------------------------


def two_step_graph(saver: Any) -> il.CompiledStateGraph:
    """Asks with a deadline; on expiry asks again (the agent pattern: retry after a reject)."""

    def ask(state: Ask) -> dict:
        first = il.interrupt({"step": 1}, deadline=timedelta(minutes=1), on_expiry="expired")
        second = il.interrupt({"step": 2, "pay": "wire"}) if first == "expired" else first
        with lock:
            later.append(second)
        return {"answer": second}

    g = il.StateGraph(Ask)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="two-step")


def test_a_request_raised_after_an_expiry_is_still_the_requesters_own(saver: Any) -> None:
    keys = ApiKeys.parse("k-carl=carl:requester,approver;k-ada=ada:approver;k-root=root:admin")
    carl, ada = {"X-API-Key": "k-carl"}, {"X-API-Key": "k-ada"}
    with served(create_app({"two": two_step_graph(saver)}, keys=keys)) as http:
        started = http.post("/v1/threads", json={"input": {}}, headers=carl).json()
        first = started["run"]["interrupts"][0]["id"]
        later_now = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
        swept = http.post(
            "/v1/approvals/expire", json={"now": later_now}, headers={"X-API-Key": "k-root"}
        ).json()
        assert swept == {"expired": [first], "escalated": []}
        [second] = http.get("/v1/approvals", headers=ada).json()["approvals"]
        assert second["value"] == {"step": 2, "pay": "wire"}
        assert second["requested_by"] == "carl"  # the expiry ran as the person who asked
        own = http.post(
            f"/v1/approvals/{second['id']}/decision", json={"value": "ok"}, headers=carl
        )
        assert own.status_code == 403 and own.json()["error"] == "self_approval"
        audit = http.get(
            "/v1/audit", params={"interrupt_id": second["id"]}, headers={"X-API-Key": "k-root"}
        ).json()["entries"]
        assert [(e["action"], e["actor"]) for e in audit] == [
            ("approval.refused", "carl"),
            ("approval.requested", "carl"),
        ]
    assert later == []


def test_other_graphs_due_requests_do_not_starve_a_graph() -> None:
    saver = il.InMemorySaver()
    other = ask_graph(saver, deadline=timedelta(seconds=1), on_expiry="x")
    mine = two_step_graph(saver)
    for i in range(250):  # more than a page of someone else's due requests, older than mine
        _pause(other, f"o{i}")
    [request] = mine.invoke({}, {"configurable": {"thread_id": "m"}})["__interrupt__"]
    assert mine.expire_due(now=datetime.now(UTC) + timedelta(hours=1)) == [request.id]


def test_on_expiry_must_be_storable_when_the_request_is_made(saver: Any) -> None:
    graph = ask_graph(saver, deadline=timedelta(minutes=1), on_expiry=object())
    with pytest.raises(il.SerializationError, match="on_expiry"):
        graph.invoke({}, {"configurable": {"thread_id": "t"}})


def test_a_naive_deadline_is_local_time(saver: Any) -> None:
    naive = datetime(2031, 3, 4, 5, 6, 7)
    graph = ask_graph(saver, deadline=naive, on_expiry="x")
    request = _pause(graph, "t")
    assert saver.get_interrupt(request.id).deadline == naive.astimezone()


def test_the_expiry_marker_cannot_be_sent_as_a_decision(saver: Any) -> None:
    from interlock.graph._interrupt import EXPIRED

    graph = ask_graph(saver, deadline=timedelta(hours=1), on_expiry="x")
    with served(create_app({"asker": graph})) as http:
        iid = http.post("/v1/threads", json={"input": {}}).json()["run"]["interrupts"][0]["id"]
        forged = http.post(f"/v1/approvals/{iid}/decision", json={"value": EXPIRED})
        assert forged.status_code == 422 and forged.json()["error"] == "invalid_decision"
        assert http.get(f"/v1/approvals/{iid}").json()["status"] == "pending"
    assert later == []


def test_sweeps_need_a_positive_period(saver: Any) -> None:
    with pytest.raises(ValueError, match="positive"):
        create_app({"asker": ask_graph(saver)}, expire_every=0)
