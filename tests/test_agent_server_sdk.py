"""LangGraph's Agent Server API, driven by the real `langgraph-sdk` (sync and async clients)
over loopback against the app served by uvicorn: threads, runs, streams, and the guarantees
(one decision path, no way around a review)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError, PermissionDeniedError

import interlock as il
from interlock import AIMessage, ScriptedChatModel, create_agent, tool
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-eve=eve:approver;k-root=root:admin"
SHIPPED: list[str] = []


GATE = threading.Event()


class Order(TypedDict, total=False):
    item: str
    ttl: float
    approved: Any
    note: str


def ask(state: Order) -> dict[str, Any]:
    answer = il.interrupt(
        {"ship": state["item"]},
        approvers=["ada", "role:admin"],
        deadline=state.get("ttl"),
        on_expiry="expired",
    )
    SHIPPED.append(state["item"])
    return {"approved": answer}


def gated(state: Order) -> dict[str, Any]:
    il.get_stream_writer()({"step": "started"})
    assert GATE.wait(30), "the test did not open the gate"
    return {"approved": "gated"}


@tool
def pay(amount: int) -> str:
    """Pay an invoice.

    Args:
        amount: how much
    """
    return f"paid {amount}"


def _orders(saver: SqliteSaver) -> Any:
    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="orders")


def _gated(saver: SqliteSaver) -> Any:
    g = il.StateGraph(Order)
    g.add_node("work", gated)
    g.add_edge(il.START, "work")
    return g.compile(checkpointer=saver, name="gated")


def _agent(saver: SqliteSaver) -> Any:
    call = {"name": "pay", "args": {"amount": 5}, "id": "call-1", "type": "tool_call"}
    model = ScriptedChatModel(
        [AIMessage(content="", tool_calls=[call]), "done paying", "again", "more"]
    )
    return create_agent(model, [pay], checkpointer=saver, interrupt_on={"pay": True}, name="payer")


_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, SqliteSaver]]:
    SHIPPED.clear()
    GATE.clear()
    saver = SqliteSaver(tmp_path / "as.db")
    app = create_app(
        {"orders": _orders(saver), "payer": _agent(saver), "gated": _gated(saver)},
        keys=ApiKeys.parse(KEYS),
        workers=1,
    )
    with served(app) as http:
        yield str(http.base_url).rstrip("/"), saver
    GATE.set()
    saver.close()


@pytest.fixture
def url(server: tuple[str, SqliteSaver]) -> str:
    return server[0]


def client(url: str, key: str | None, **kwargs: Any) -> Any:
    """A sync SDK client (closed after the test)."""
    made = get_sync_client(url=url, api_key=key, **kwargs)
    _OPEN.append(made)
    return made


def audit(url: str, thread_id: str) -> list[dict[str, Any]]:
    got = httpx.get(
        f"{url}/v1/audit",
        params={"thread_id": thread_id},
        headers={"Authorization": "Bearer k-root"},
    )
    assert got.status_code == 200, got.text
    return list(got.json()["entries"])


# ---- meta, assistants, auth -----------------------------------------------------------------


def test_info_assistants_and_credentials(url: str) -> None:
    bob = client(url, "k-bob")
    assert httpx.get(f"{url}/ok").json() == {"ok": True}
    info = httpx.get(f"{url}/info").json()
    assert info["strict_resume"] is True
    found = bob.assistants.search()
    assert sorted(a["graph_id"] for a in found) == ["gated", "orders", "payer"]
    orders = bob.assistants.search(graph_id="orders")[0]
    assert bob.assistants.get(orders["assistant_id"])["graph_id"] == "orders"
    assert bob.assistants.get("orders")["assistant_id"] == orders["assistant_id"]
    drawing = bob.assistants.get_graph("orders")
    assert {n["id"] for n in drawing["nodes"]} >= {"__start__", "ask", "__end__"}
    assert {"source": "__start__", "target": "ask"} in drawing["edges"]
    assert "item" in bob.assistants.get_schemas("orders")["state_schema"]["properties"]
    with pytest.raises(NotFoundError):
        bob.assistants.get("nope")
    # no key: 401 with the SDK's fields; a bearer token works as x-api-key does
    anonymous = httpx.post(f"{url}/threads/search", json={})
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    bearer = client(url, None, headers={"Authorization": "Bearer k-bob"})
    assert bearer.threads.search() == []


# ---- the flow, sync ---------------------------------------------------------------------------


def test_pause_inspect_find_and_resume_with_the_sync_client(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    thread = bob.threads.create(metadata={"team": "shipping"})
    tid = thread["thread_id"]
    assert thread["status"] == "idle" and thread["metadata"] == {"team": "shipping"}
    paused = bob.runs.wait(tid, "orders", input={"item": "book"})
    assert paused["item"] == "book"
    (pause,) = paused["__interrupt__"]
    assert pause["value"] == {"ship": "book"}
    state = bob.threads.get_state(tid)
    assert state["next"] == ["ask"]
    assert state["tasks"][0]["interrupts"] == [pause]
    assert state["interrupts"] == [pause]
    got = bob.threads.get(tid)
    assert got["status"] == "interrupted"
    assert got["metadata"]["graph_id"] == "orders" and got["metadata"]["team"] == "shipping"
    assert [pause] in got["interrupts"].values()
    found = bob.threads.search(status="interrupted")
    assert [t["thread_id"] for t in found] == [tid]
    assert bob.threads.search(status="idle") == []
    assert bob.threads.count(status="interrupted") == 1
    assert [t["thread_id"] for t in bob.threads.search(metadata={"graph_id": "orders"})] == [tid]
    done = ada.runs.wait(tid, "orders", command={"resume": "yes"})
    assert done == {"item": "book", "approved": "yes"}
    assert SHIPPED == ["book"]
    assert bob.threads.get(tid)["status"] == "idle"
    history = bob.threads.get_history(tid, limit=10)
    assert history[0]["values"] == {"item": "book", "approved": "yes"}
    assert len(history) >= 2 and history[-1]["parent_checkpoint"] is None
    runs = bob.runs.list(tid)
    assert [r["status"] for r in runs] == ["success", "interrupted"]
    assert bob.runs.get(tid, runs[1]["run_id"])["assistant_id"] == runs[1]["assistant_id"]
    # the decision went the /v1 way: decided by ada, audited
    decided = [e for e in audit(url, tid) if e["action"] == "approval.decided"]
    assert [e["actor"] for e in decided] == ["ada"]


def test_a_second_answer_is_409_with_the_fields_the_sdk_reads(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    (pause,) = bob.runs.wait(tid, "orders", input={"item": "pen"})["__interrupt__"]
    ada.runs.wait(tid, "orders", command={"resume": {pause["id"]: "yes"}})
    with pytest.raises(ConflictError) as again:
        ada.runs.create(tid, "orders", command={"resume": {pause["id"]: "no"}})
    assert again.value.code == "already_decided"
    assert "already" in again.value.message
    with pytest.raises(ConflictError) as nothing:
        ada.runs.create(tid, "orders", command={"resume": "no"})
    assert nothing.value.code == "nothing_to_resume"
    assert SHIPPED == ["pen"]


def test_a_concurrent_double_resume_has_one_winner(url: str) -> None:
    bob = client(url, "k-bob")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "orders", input={"item": "lamp"})
    barrier = threading.Barrier(2)
    outcomes: list[Any] = []

    def answer(key: str, value: str) -> None:
        barrier.wait()
        try:
            outcomes.append(client(url, key).runs.wait(tid, "orders", command={"resume": value}))
        except httpx.HTTPStatusError as exc:
            outcomes.append(exc.response.status_code)

    racers = [
        threading.Thread(target=answer, args=("k-ada", "yes")),
        threading.Thread(target=answer, args=("k-root", "no")),
    ]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    wins = [o for o in outcomes if isinstance(o, dict)]
    assert len(wins) == 1 and outcomes.count(409) == 1, outcomes
    assert SHIPPED == ["lamp"]  # the node continued once
    assert bob.threads.get_state(tid)["values"]["approved"] == wins[0]["approved"]


def test_a_requester_can_neither_answer_nor_edit_past_the_review(url: str) -> None:
    bob, eve, ada = client(url, "k-bob"), client(url, "k-eve"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "orders", input={"item": "car"})
    with pytest.raises(PermissionDeniedError):
        bob.runs.create(tid, "orders", command={"resume": "yes"})
    with pytest.raises(PermissionDeniedError) as edit:
        bob.threads.update_state(tid, {"approved": "forged"}, as_node="ask")
    assert edit.value.code == "self_approval"
    with pytest.raises(PermissionDeniedError):
        bob.runs.create(tid, "orders", command={"update": {"approved": "x"}, "goto": "__end__"})
    with pytest.raises(PermissionDeniedError) as rule:
        eve.threads.update_state(tid, {"approved": "forged"})
    assert rule.value.code == "not_an_approver"
    with pytest.raises(PermissionDeniedError) as gone:
        bob.threads.delete(tid)
    assert gone.value.code == "self_approval"
    with pytest.raises(PermissionDeniedError) as answer:
        eve.runs.create(tid, "orders", command={"resume": "yes"})
    assert answer.value.code == "not_an_approver"
    state = bob.threads.get_state(tid)
    assert state["interrupts"] and "approved" not in state["values"]  # untouched
    assert SHIPPED == []
    refused = [e for e in audit(url, tid) if e["action"] in ("state.refused", "approval.refused")]
    assert len(refused) == 6
    assert {e["actor"] for e in refused} == {"bob", "eve"}
    # an approver who may decide may edit: audited, and the review is cancelled
    ada.threads.update_state(tid, {"approved": "edited by ada"}, as_node="ask")
    assert bob.threads.get(tid)["status"] == "idle"
    updates = [e for e in audit(url, tid) if e["action"] == "state.updated"]
    assert [e["actor"] for e in updates] == ["ada"] and updates[0]["detail"]["pending"]


# ---- streams ----------------------------------------------------------------------------------


def test_stream_modes_and_the_interrupt_with_the_async_client(url: str) -> None:
    async def main() -> None:
        async with (
            get_client(url=url, api_key="k-bob") as bob,
            get_client(url=url, api_key="k-ada") as ada,
        ):
            await flow(bob, ada)

    async def flow(bob: Any, ada: Any) -> None:
        tid = (await bob.threads.create())["thread_id"]
        parts = [
            p
            async for p in bob.runs.stream(
                tid,
                "payer",
                input={"messages": [{"role": "user", "content": "pay the invoice"}]},
                stream_mode=["values", "updates", "messages-tuple"],
            )
        ]
        names = [p.event for p in parts]
        assert names[0] == "metadata" and names[-1] == "end"
        assert {"values", "updates", "messages"} <= set(names)
        assert [int(p.id) for p in parts] == sorted(int(p.id) for p in parts)
        interrupt = next(
            p.data["__interrupt__"]
            for p in parts
            if p.event == "updates" and "__interrupt__" in p.data
        )
        request = interrupt[0]["value"]  # LangChain v1's HITLRequest (Agent Chat UI)
        assert request["action_requests"][0]["name"] == "pay"
        assert request["review_configs"][0]["allowed_decisions"]
        last_values = [p.data for p in parts if p.event == "values"][-1]
        assert last_values["__interrupt__"] == interrupt
        message, meta = next(p.data for p in parts if p.event == "messages")
        assert message["type"] in ("ai", "AIMessageChunk") and "langgraph_node" in meta
        state = await bob.threads.get_state(tid)
        assert state["interrupts"] == interrupt
        resumed = [
            p
            async for p in ada.runs.stream(
                tid,
                "payer",
                command={"resume": {"decisions": [{"type": "approve"}]}},
                stream_mode="values",
            )
        ]
        final = [p.data for p in resumed if p.event == "values"][-1]
        contents = [m["content"] for m in final["messages"]]
        assert "paid 5" in contents and contents[-1] == "done paying"

    asyncio.run(main())


def test_agent_inbox_answers_map_to_decisions(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "payer", input={"messages": [{"role": "user", "content": "pay"}]})
    done = ada.runs.wait(tid, "payer", command={"resume": [{"type": "ignore", "args": None}]})
    tool_reply = next(m for m in done["messages"] if m["type"] == "tool")
    assert "rejected" in tool_reply["content"] and "ignored by ada" in tool_reply["content"]


def test_a_background_run_is_joined_and_its_stream_reconnected(url: str) -> None:
    bob = client(url, "k-bob")
    tid = bob.threads.create()["thread_id"]
    run = bob.runs.create(tid, "orders", input={"item": "desk"})
    assert run["status"] in ("pending", "running", "interrupted")
    joined = bob.runs.join(tid, run["run_id"])
    assert joined["__interrupt__"][0]["value"] == {"ship": "desk"}
    assert bob.runs.get(tid, run["run_id"])["status"] == "interrupted"
    full = list(bob.runs.join_stream(tid, run["run_id"]))
    names = [p.event for p in full]
    assert names[0] == "metadata" and names[-1] == "end" and "updates" in names
    # a reconnect after the second event gets the rest, nothing lost or repeated
    rest = list(bob.runs.join_stream(tid, run["run_id"], last_event_id=full[1].id))
    assert [p.id for p in rest] == [p.id for p in full[2:]]
    only = list(bob.runs.join_stream(tid, run["run_id"], stream_mode="values"))
    assert {p.event for p in only} <= {"metadata", "values", "end"}


def test_threadless_runs_and_thread_lifecycle(url: str) -> None:
    bob, root = client(url, "k-bob"), client(url, "k-root")
    out = bob.runs.wait(None, "payer", input={"messages": [{"role": "user", "content": "hi"}]})
    assert out["__interrupt__"]  # it paused: its thread is kept (deleting drops the request)
    made = bob.threads.create(thread_id="t-fixed", metadata={"a": 1})
    assert made["thread_id"] == "t-fixed"
    with pytest.raises(ConflictError):
        bob.threads.create(thread_id="t-fixed")
    assert bob.threads.create(thread_id="t-fixed", if_exists="do_nothing")["thread_id"] == "t-fixed"
    patched = bob.threads.update("t-fixed", metadata={"b": 2})
    assert patched["metadata"] == {"a": 1, "b": 2}
    assert bob.threads.get("t-fixed")["metadata"] == {"a": 1, "b": 2}
    root.threads.delete("t-fixed")
    with pytest.raises(NotFoundError):
        bob.threads.get("t-fixed")
    with pytest.raises(NotFoundError):
        client(url, "k-eve").threads.get("nope")


def test_unsupported_fields_are_refused_clearly(url: str) -> None:
    bob = client(url, "k-bob")
    tid = bob.threads.create()["thread_id"]
    for kwargs in (
        {"stream_mode": "events"},
        {"multitask_strategy": "rollback"},
        {"webhook": "http://127.0.0.1:1/hook"},
    ):
        got = httpx.post(
            f"{url}/threads/{tid}/runs",
            json={"assistant_id": "orders", "input": {"item": "x"}, **kwargs},
            headers={"x-api-key": "k-bob"},
        )
        assert got.status_code == 422, (kwargs, got.text)
        assert got.json()["code"] in ("not_supported", "invalid_stream_mode")


def test_state_keys_the_graph_lacks_are_refused_in_input_and_in_a_command(url: str) -> None:
    """The library leaves such keys out, as LangGraph does; the HTTP API refuses them,
    so a typo is not lost silently, and the waiting run is untouched."""
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    with pytest.raises(httpx.HTTPStatusError) as typo:
        bob.runs.wait(tid, "orders", input={"itme": "map"})
    assert typo.value.response.status_code == 422
    assert typo.value.response.json()["code"] == "invalid_input"
    bob.runs.wait(tid, "orders", input={"item": "map"})
    with pytest.raises(httpx.HTTPStatusError) as bad:
        ada.runs.wait(tid, "orders", command={"resume": "ok", "update": {"nte": "x"}})
    assert bad.value.response.status_code == 422
    assert len(bob.threads.get_state(tid)["interrupts"]) == 1  # still waiting, answerable
    done = ada.runs.wait(tid, "orders", command={"resume": "ok", "update": {"note": "x"}})
    assert done["approved"] == "ok" and done["note"] == "x"


def test_the_thread_stream_follows_its_current_run(url: str) -> None:
    bob = client(url, "k-bob")
    tid = bob.threads.create()["thread_id"]
    run = bob.runs.create(tid, "gated", input={"item": "x"})
    seen = []
    for part in bob.threads.join_stream(tid):
        seen.append(part)
        if part.event == "custom":
            GATE.set()  # seen live, while the run waits
    names = [p.event for p in seen]
    assert names[0] == "metadata" and names[-1] == "end" and "custom" in names
    assert seen[0].data["run_id"] == run["run_id"]
    assert list(bob.threads.join_stream(tid)) == []  # nothing under way now
    rest = list(bob.threads.join_stream(tid, last_event_id=seen[0].id))
    assert [p.id for p in rest] == [p.id for p in seen[1:]]


def test_a_run_whose_process_died_ends_its_followers_with_an_error(
    server: tuple[str, SqliteSaver],
) -> None:
    url, saver = server
    bob = client(url, "k-bob")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "orders", input={"item": "a"})
    # what a process that died mid-run leaves: a started stream, no end, no lease
    saver.append_events(tid, "dead-run", [("run", {}), ("metadata", {"run_id": "dead-run"})])
    parts = list(bob.runs.join_stream(tid, "dead-run"))
    assert [p.event for p in parts] == ["metadata", "error"]
    assert parts[-1].data["error"] == "RunLost"


def test_an_expired_request_cannot_be_answered(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    (pause,) = bob.runs.wait(tid, "orders", input={"item": "tea", "ttl": 3600})["__interrupt__"]
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    swept = httpx.post(
        f"{url}/v1/approvals/expire", json={"now": later}, headers={"x-api-key": "k-root"}
    )
    assert swept.json()["expired"] == [pause["id"]]
    with pytest.raises(ConflictError) as late:
        ada.runs.create(tid, "orders", command={"resume": {pause["id"]: "yes"}})
    assert late.value.code == "already_decided" and "expired" in late.value.message
    assert bob.threads.get_state(tid)["values"]["approved"] == "expired"


def test_a_breakpoint_is_continued_through_the_decision_path(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    stopped = bob.runs.wait(tid, "orders", input={"item": "map"}, interrupt_before=["ask"])
    (pause,) = stopped["__interrupt__"]
    assert pause["value"]["type"] == "breakpoint"
    assert bob.threads.get_state(tid)["next"] == ["ask"]
    with pytest.raises(httpx.HTTPStatusError) as refused:
        bob.runs.wait(tid, "orders", input=None)  # continuing decides the breakpoint
    assert refused.value.response.status_code == 403
    asked = ada.runs.wait(tid, "orders", input=None)
    assert asked["__interrupt__"][0]["value"] == {"ship": "map"}
    decided = [e for e in audit(url, tid) if e["action"] == "approval.decided"]
    assert [(e["actor"], e["interrupt_id"]) for e in decided] == [("ada", pause["id"])]


def test_agent_inbox_sees_human_interrupts_and_answers_them(tmp_path: Path) -> None:
    saver = SqliteSaver(tmp_path / "inbox.db")
    app = create_app(
        {"payer": _agent(saver)},
        keys=ApiKeys.parse(KEYS),
        interrupt_formats={"payer": "agent_inbox"},
    )
    with served(app) as http:
        url = str(http.base_url).rstrip("/")
        bob, ada = client(url, "k-bob"), client(url, "k-ada")
        tid = bob.threads.create()["thread_id"]
        paused = bob.runs.wait(tid, "payer", input={"messages": [{"role": "user", "content": "p"}]})
        (asked,) = paused["__interrupt__"][0]["value"]
        assert asked["action_request"] == {"action": "pay", "args": {"amount": 5}}
        assert asked["config"] == {
            "allow_accept": True,
            "allow_edit": True,
            "allow_respond": True,
            "allow_ignore": True,
        }
        (listed,) = ada.threads.search(status="interrupted")
        assert [i["value"] for i in next(iter(listed["interrupts"].values()))] == [[asked]]
        assert ada.threads.get_state(tid)["interrupts"][0]["value"] == [asked]
        done = ada.runs.wait(tid, "payer", command={"resume": [{"type": "accept", "args": None}]})
        assert [m["content"] for m in done["messages"]][-2:] == ["paid 5", "done paying"]
    saver.close()
    with SqliteSaver(":memory:") as other, pytest.raises(ValueError):
        create_app({"payer": _agent(other)}, interrupt_formats={"x": "y"})


def test_run_options_if_not_exists_on_completion_and_sorting(url: str) -> None:
    bob = client(url, "k-bob")
    with pytest.raises(httpx.HTTPStatusError) as missing:  # runs.wait raises httpx's error
        bob.runs.wait("t-new", "orders", input={"item": "cup"})
    assert missing.value.response.status_code == 404
    made = bob.runs.wait("t-new", "orders", input={"item": "cup"}, if_not_exists="create")
    assert made["__interrupt__"]
    assert bob.threads.get("t-new")["metadata"]["graph_id"] == "orders"
    GATE.set()
    created: list[Any] = []
    done = bob.runs.wait(None, "gated", input={"item": "z"}, on_run_created=created.append)
    assert done == {"item": "z", "approved": "gated"}
    (meta,) = created
    with pytest.raises(NotFoundError):  # a thread-less run's thread goes when it ended
        bob.threads.get(meta["thread_id"])
    kept: list[Any] = []
    bob.runs.wait(
        None, "gated", input={"item": "k"}, on_completion="keep", on_run_created=kept.append
    )
    assert bob.threads.get(kept[0]["thread_id"])["values"] == {"item": "k", "approved": "gated"}
    ids = [t["thread_id"] for t in bob.threads.search(sort_by="created_at", sort_order="asc")]
    assert ids == ["t-new", kept[0]["thread_id"]]
    newest = bob.threads.search(sort_by="updated_at", sort_order="desc", limit=1)
    assert [t["thread_id"] for t in newest] == [kept[0]["thread_id"]]
    assert bob.threads.search(select=["thread_id"], limit=1)[0].keys() == {"thread_id"}


def test_new_input_while_a_request_waits_is_refused_and_leaves_no_run(url: str) -> None:
    bob = client(url, "k-bob")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "orders", input={"item": "rug"})
    before = bob.runs.list(tid)
    with pytest.raises(ConflictError) as waiting:
        bob.runs.create(tid, "orders", input={"item": "other"})
    assert waiting.value.code == "waiting_for_decision"
    with pytest.raises(ConflictError):
        list(bob.runs.stream(tid, "orders", input={"item": "other"}))
    assert bob.runs.list(tid) == before
    assert bob.threads.get_state(tid)["values"] == {"item": "rug"}


def test_a_resume_carries_its_update_in_the_same_step(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "orders", input={"item": "vase"})
    done = ada.runs.wait(tid, "orders", command={"resume": "yes", "update": {"note": "fragile"}})
    assert done == {"item": "vase", "note": "fragile", "approved": "yes"}
    assert SHIPPED == ["vase"]  # the node re-ran on the updated state, once


def test_an_update_that_changes_the_question_reopens_it(url: str) -> None:
    """An answer is bound to the question it answered: an update sent with it that makes
    the node ask something else does not carry the answer over to the new question."""
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "orders", input={"item": "vase"})
    again = ada.runs.wait(tid, "orders", command={"resume": "yes", "update": {"item": "urn"}})
    [asked] = again["__interrupt__"]
    assert asked["value"] == {"ship": "urn"} and SHIPPED == []  # asked anew, nothing shipped
    state = ada.threads.get_state(tid)
    [task] = state["tasks"]
    assert task["interrupts"][0]["value"] == {"ship": "urn"}
    done = ada.runs.wait(tid, "orders", command={"resume": "yes"})
    assert done == {"item": "urn", "approved": "yes"} and SHIPPED == ["urn"]


def test_without_keys_every_local_caller_may_do_everything(tmp_path: Path) -> None:
    with SqliteSaver(tmp_path / "local.db") as saver:
        app = create_app({"orders": _orders(saver)})
        with served(app) as http:
            local = client(str(http.base_url).rstrip("/"), None)
            tid = local.threads.create()["thread_id"]
            local.runs.wait(tid, "orders", input={"item": "pen"})
            assert local.runs.wait(tid, "orders", command={"resume": "ok"})["approved"] == "ok"


def test_agent_inbox_answers_of_every_kind() -> None:
    from interlock.checkpoint.base import InterruptRecord
    from interlock.server.agent_server._guard import from_agent_inbox
    from interlock.server.auth import Principal

    request = {
        "action_requests": [{"name": "pay", "args": {"amount": 5}}],
        "review_configs": [{"action_name": "pay", "allowed_decisions": ["approve", "edit"]}],
    }
    record = InterruptRecord(
        interrupt_id="i" * 32,
        thread_id="t",
        checkpoint_ns="",
        checkpoint_id="c",
        task_id="k",
        task_name="tools",
        index=0,
        value=request,
        created_at=datetime.now(UTC),
    )
    ada = Principal("ada", frozenset({"approver"}))

    def answer(kind: str, args: Any) -> Any:
        return from_agent_inbox([{"type": kind, "args": args}], record, ada)

    assert answer("accept", None) == {"decisions": [{"type": "approve"}]}
    edited = answer("edit", {"action": "pay", "args": {"amount": 3}})
    assert edited == {
        "decisions": [{"type": "edit", "edited_action": {"name": "pay", "args": {"amount": 3}}}]
    }
    assert answer("response", "ask finance") == {
        "decisions": [{"type": "respond", "message": "ask finance"}]
    }
    assert answer("ignore", None) == {
        "decisions": [{"type": "reject", "message": "ignored by ada"}]
    }
    assert from_agent_inbox({"decisions": []}, record, ada) == {"decisions": []}  # ours: as is


@pytest.fixture
def pg_url() -> Iterator[str]:
    from tests.pg import fresh_postgres_saver

    SHIPPED.clear()
    saver = fresh_postgres_saver()
    app = create_app(
        {"orders": _orders(saver), "payer": _agent(saver), "gated": _gated(saver)},
        keys=ApiKeys.parse(KEYS),
    )
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/")
    finally:
        saver.close()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "flow",
    [
        test_pause_inspect_find_and_resume_with_the_sync_client,
        test_a_concurrent_double_resume_has_one_winner,
        test_a_requester_can_neither_answer_nor_edit_past_the_review,
        test_a_background_run_is_joined_and_its_stream_reconnected,
    ],
    ids=lambda f: f.__name__.removeprefix("test_"),
)
def test_the_flows_on_postgres(flow: Any, pg_url: str) -> None:
    flow(pg_url)


def test_state_at_a_checkpoint_and_history_pages(url: str) -> None:
    bob, ada = client(url, "k-bob"), client(url, "k-ada")
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "orders", input={"item": "ink"})
    ada.runs.wait(tid, "orders", command={"resume": "yes"})
    history = bob.threads.get_history(tid, limit=10)
    assert history[0]["values"]["approved"] == "yes"
    older = history[1]
    at = bob.threads.get_state(tid, checkpoint_id=older["checkpoint"]["checkpoint_id"])
    assert at["values"] == older["values"] and at["checkpoint"] == older["checkpoint"]
    by_body = bob.threads.get_state(tid, checkpoint=older["checkpoint"])
    assert by_body["values"] == older["values"]
    page = bob.threads.get_history(tid, limit=10, before=history[0]["checkpoint"])
    assert [h["checkpoint"] for h in page] == [h["checkpoint"] for h in history[1:]]
    assert bob.threads.get_history(tid, limit=1) == history[:1]
