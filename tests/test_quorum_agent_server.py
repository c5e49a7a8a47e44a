"""Quorum through LangGraph's Agent Server API (the real `langgraph-sdk` over loopback): a
resume is the caller's vote; one that does not decide the request leaves the thread
interrupted, and the N-th approval resumes the run once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.errors import ConflictError
from langgraph_sdk.stream.transport import SyncProtocolSseTransport

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-cy=cy:approver;k-root=root:admin"
SHIPPED: list[Any] = []


class Order(TypedDict, total=False):
    item: str
    approved: Any


def ask(state: Order) -> dict[str, Any]:
    answer = il.interrupt({"ship": state["item"]}, approvers=["ada", "cy", "dan"], quorum=2)
    SHIPPED.append(answer)
    return {"approved": answer}


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    SHIPPED.clear()
    saver = SqliteSaver(tmp_path / "as.db")
    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    app = create_app(
        {"orders": g.compile(checkpointer=saver, name="orders")},
        keys=ApiKeys.parse(KEYS),
        workers=1,
    )
    # the client leaves its closed streams' sockets open until the server writes: the
    # shutdown does not wait for them
    with served(app, grace=0.5) as http:
        yield str(http.base_url).rstrip("/")
    saver.close()


def test_a_resume_is_a_vote_and_the_second_one_resumes(url: str) -> None:
    bob = get_sync_client(url=url, api_key="k-bob")
    ada = get_sync_client(url=url, api_key="k-ada")
    cy = get_sync_client(url=url, api_key="k-cy")
    try:
        tid = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(tid, "orders", input={"item": "vase"})
        [request] = paused["__interrupt__"]
        voted = ada.runs.wait(tid, "orders", command={"resume": "yes"})
        assert voted["__interrupt__"][0]["id"] == request["id"] and SHIPPED == []
        assert ada.threads.get(tid)["status"] == "interrupted"
        view = httpx.get(
            f"{url}/v1/approvals/{request['id']}", headers={"Authorization": "Bearer k-ada"}
        ).json()
        assert view["quorum"]["required"] == 2
        assert [v["by"] for v in view["quorum"]["votes"]] == ["ada"]
        with pytest.raises((ConflictError, httpx.HTTPStatusError)) as again:
            ada.runs.wait(tid, "orders", command={"resume": "yes"})  # one vote per person
        response = getattr(again.value, "response", None)
        assert response is not None and response.status_code == 409
        assert response.json()["error"] == "already_voted"
        done = cy.runs.wait(tid, "orders", command={"resume": "yes"})
        assert done == {"item": "vase", "approved": "yes"} and SHIPPED == ["yes"]
    finally:
        for c in (bob, ada, cy):
            c.close()


def _events(url: str, thread_id: str, body: dict[str, Any], until: str) -> list[dict[str, Any]]:
    """Thread-protocol events (the SDK's SSE transport) up to the lifecycle event `until`."""
    with get_sync_client(url=url, api_key="k-bob") as bob:
        transport = SyncProtocolSseTransport(client=bob.http.client, thread_id=thread_id)
        handle = transport.open_event_stream(body)
        out = []
        try:
            for event in handle.events:
                out.append(event)
                if event["method"] == "lifecycle" and event["params"]["data"]["event"] == until:
                    return out
        finally:
            handle.close()
            transport.close()
    raise AssertionError("the stream ended")


def _one_of_two(by: list[str]) -> dict[str, Any]:
    return {
        "required": 2,
        "approvals": len(by),
        "votes": [{"by": b, "vote": "approve"} for b in by],
    }


def _votes(view: dict[str, Any]) -> dict[str, Any]:
    """A request's `quorum`, without the times of the votes."""
    quorum = view["quorum"]
    return {**quorum, "votes": [{k: v for k, v in x.items() if k != "at"} for x in quorum["votes"]]}


def test_a_vote_shows_on_the_request_the_clients_read(url: str) -> None:
    """After one of two approvals — by `command.resume` on the runs API, and by the
    thread protocol's `input.respond` — the thread is still interrupted and its request
    says who voted and how many approvals it still needs, wherever the SDK reads it."""
    bob = get_sync_client(url=url, api_key="k-bob")
    ada = get_sync_client(url=url, api_key="k-ada")
    try:
        tid = bob.threads.create()["thread_id"]
        (asked,) = bob.runs.wait(tid, "orders", input={"item": "vase"})["__interrupt__"]
        assert _votes(asked) == _one_of_two([])
        (voted,) = ada.runs.wait(tid, "orders", command={"resume": "yes"})["__interrupt__"]
        assert voted["id"] == asked["id"] and voted["value"] == {"ship": "vase"}
        assert _votes(voted) == _one_of_two(["ada"])
        thread = bob.threads.get(tid)
        assert thread["status"] == "interrupted"
        ((shown,),) = thread["interrupts"].values()
        assert _votes(shown) == _one_of_two(["ada"])
        state = bob.threads.get_state(tid)
        assert [_votes(i) for i in state["interrupts"]] == [_one_of_two(["ada"])]
        assert [_votes(i) for i in state["tasks"][0]["interrupts"]] == [_one_of_two(["ada"])]
        assert SHIPPED == []
    finally:
        bob.close()
        ada.close()


def test_a_vote_by_input_respond_leaves_the_thread_stream_interrupted(url: str) -> None:
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        get_sync_client(url=url, api_key="k-cy") as cy,
        bob.threads.stream(assistant_id="orders") as mine,
    ):
        mine.run.start(input={"item": "urn"})
        tid = mine.thread_id
        paused = _events(url, tid, {"channels": ["lifecycle", "input"]}, "interrupted")
        (asked,) = [e["params"]["data"] for e in paused if e["method"] == "input.requested"]
        assert _votes(asked) == _one_of_two([])
        params = {"namespace": [], "interrupt_id": asked["interrupt_id"], "response": "yes"}
        respond = SyncProtocolSseTransport(client=ada.http.client, thread_id=tid)
        done = respond.send_command({"id": 1, "method": "input.respond", "params": params})
        assert done is not None and done["type"] == "success" and done["result"]["run_id"]
        # the vote's run pauses again on the same request: not asked a second time (the
        # SDK keeps every `input.requested` until the run completes)
        since = {"channels": ["lifecycle", "input"], "since": paused[-1]["seq"]}
        again = _events(url, tid, since, "interrupted")
        assert [(e["method"], e["params"]["data"].get("event")) for e in again] == [
            ("lifecycle", "started"),
            ("lifecycle", "interrupted"),
        ]
        assert _votes(bob.threads.get_state(tid)["interrupts"][0]) == _one_of_two(["ada"])
        assert SHIPPED == []
        # the second approval resumes the run; the first stream carries it to its end
        respond = SyncProtocolSseTransport(client=cy.http.client, thread_id=tid)
        params["response"] = "yes"
        done = respond.send_command({"id": 2, "method": "input.respond", "params": params})
        assert done is not None and done["type"] == "success"
        assert mine.output == {"item": "urn", "approved": "yes"}
    assert SHIPPED == ["yes"]
