"""No detour past a review over the Agent Server API (the real `langgraph-sdk` over loopback,
on SQLite): a caller without the role admin cannot make a node run off the graph's own
routes once a review was decided — by a state update as the review node, by an update whose
inferred routing now leads to the action, by an update or a continue after an approved step
failed, or by replaying a checkpoint from before a decision. Each refusal is 403
`detour_forbidden`, audited as `state.refused`, and changes nothing (state, history,
requests, no node ran); a later legitimate run still works; an admin may do each of them
(audited as `state.detour` with the actor). Without authentication nothing changes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from interlock.server.agent_server import threads as threads_routes
from tests._http import served

KEYS = "k-bob=bob:requester;k-ada=ada:approver;k-root=root:admin"
PAID: list[int] = []
FAIL: list[bool] = []


class Payment(TypedDict, total=False):
    amount: int
    ok: str


def _pay(state: Payment) -> dict[str, Any]:
    if FAIL:
        FAIL.clear()
        raise RuntimeError("the bank is down")
    PAID.append(state["amount"])
    return {}


def _review(state: Payment) -> dict[str, Any]:
    return {"ok": il.interrupt(f"pay {state['amount']}?")}


def _graphs(saver: SqliteSaver) -> dict[str, Any]:
    # review (a person decides in the node) -> pay
    g = il.StateGraph(Payment)
    g.add_node("review", _review)
    g.add_node("pay", _pay)
    g.add_edge(il.START, "review")
    g.add_edge("review", "pay")
    # review -> (ok == "yes" ? pay : END)
    c = il.StateGraph(Payment)
    c.add_node("review", _review)
    c.add_node("pay", _pay)
    c.add_edge(il.START, "review")
    c.add_conditional_edges("review", lambda s: "pay" if s.get("ok") == "yes" else il.END)
    # prep -> pay, a breakpoint before pay
    b = il.StateGraph(Payment)
    b.add_node("prep", lambda s: {"ok": "prepared"})
    b.add_node("pay", _pay)
    b.add_edge(il.START, "prep")
    b.add_edge("prep", "pay")
    # prep -> pay, a breakpoint after prep
    a = il.StateGraph(Payment)
    a.add_node("prep", lambda s: {"ok": "prepared"})
    a.add_node("pay", _pay)
    a.add_edge(il.START, "prep")
    a.add_edge("prep", "pay")
    return {
        "after": a.compile(checkpointer=saver, name="after", interrupt_after=["prep"]),
        "pay": g.compile(checkpointer=saver, name="pay"),
        "cond": c.compile(checkpointer=saver, name="cond"),
        "bp": b.compile(checkpointer=saver, name="bp", interrupt_before=["pay"]),
    }


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, SqliteSaver]]:
    saver = SqliteSaver(tmp_path / "detour.db")
    PAID.clear()
    FAIL.clear()
    app = create_app(_graphs(saver), keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/"), saver
    finally:
        saver.close()


@contextlib.contextmanager
def _clients(url: str) -> Iterator[tuple[Any, Any, Any]]:
    """The requester (bob), the approver (ada) and the admin (root), over the real SDK."""
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        yield bob, ada, root


def _refused(call: Any) -> tuple[int, str]:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        call()
    return refused.value.response.status_code, refused.value.response.json()["code"]


def _seen(client: Any, tid: str) -> dict[str, Any]:
    """What a refusal must leave alone: values, next, head, history, requests, payments."""
    state = client.threads.get_state(tid)
    history = client.threads.get_history(tid, limit=100)
    return {
        "values": state["values"],
        "next": state["next"],
        "head": state["checkpoint"]["checkpoint_id"],
        "history": [h["checkpoint"]["checkpoint_id"] for h in history],
        "interrupts": state["interrupts"],
        "paid": list(PAID),
    }


def _last_audit(saver: SqliteSaver, tid: str) -> Any:
    return saver.list_audit(thread_id=tid, limit=1).items[0]


def _assert_refused(saver: SqliteSaver, client: Any, tid: str, call: Any) -> None:
    before = _seen(client, tid)
    assert _refused(call) == (403, "detour_forbidden")
    assert _seen(client, tid) == before
    entry = _last_audit(saver, tid)
    assert entry.action == "state.refused" and entry.detail["reason"] == "detour_forbidden"


def _approved(bob: Any, ada: Any, graph: str, amount: int, answer: str = "yes") -> str:
    """A thread whose review was decided and whose run finished."""
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, graph, input={"amount": amount})
    ada.runs.wait(tid, graph, command={"resume": answer})
    assert bob.threads.get_state(tid)["next"] == []
    return str(tid)


def test_an_update_as_the_review_node_then_a_continue(
    server: tuple[str, SqliteSaver],
) -> None:
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _approved(bob, ada, "pay", 10)
        assert PAID == [10]
        forged = {"amount": 999_999}
        for who in (bob, ada):  # an approver is no operator either
            _assert_refused(
                saver, bob, tid, lambda w=who: w.threads.update_state(tid, forged, as_node="review")
            )
        # a data edit that leaves nothing to run is refused too: the thread has a decision,
        # and its state may hold what that decision settled
        _assert_refused(
            saver, bob, tid, lambda: bob.threads.update_state(tid, {"amount": 11}, as_node=il.END)
        )
        assert bob.threads.get_state(tid)["next"] == [] and PAID == [10]
        # an admin's update plans pay (audited with the actor) ...
        root.threads.update_state(tid, forged, as_node="review")
        entries = saver.list_audit(thread_id=tid, limit=5).items
        detour = next(e for e in entries if e.action == "state.detour")
        assert detour.actor == "root" and detour.detail["change"] == "state.updated"
        assert bob.threads.get_state(tid)["next"] == ["pay"]
        # ... which a requester may not carry out: the head is not the graph's own step
        _assert_refused(saver, bob, tid, lambda: bob.runs.wait(tid, "pay", input=None))
        root.runs.wait(tid, "pay", input=None)
        assert PAID == [10, 999_999]
        assert _last_audit(saver, tid).action != "state.refused"
        # a later legitimate run still works
        bob.runs.wait(tid, "pay", input={"amount": 5})
        ada.runs.wait(tid, "pay", command={"resume": "yes"})
        assert PAID == [10, 999_999, 5]


def test_an_update_whose_inferred_route_now_leads_to_the_action(
    server: tuple[str, SqliteSaver],
) -> None:
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _approved(bob, ada, "cond", 10, answer="no")  # refused: the run ended
        assert PAID == []
        # no as_node: inferred as `review`, whose branch now routes to pay
        _assert_refused(saver, bob, tid, lambda: bob.threads.update_state(tid, {"ok": "yes"}))
        # an update whose route still ends is a data edit: on a thread with a decision, an
        # admin's (its state may hold what the decision settled), as a command's update is
        _assert_refused(saver, bob, tid, lambda: bob.threads.update_state(tid, {"amount": 12}))
        _assert_refused(
            saver, bob, tid, lambda: bob.runs.wait(tid, "cond", command={"update": {"amount": 1}})
        )
        root.threads.update_state(tid, {"amount": 12})
        assert bob.threads.get_state(tid)["next"] == [] and PAID == []
        out = root.runs.wait(tid, "cond", command={"update": {"amount": 13}})
        assert out == {"amount": 13, "ok": "no"} and PAID == []
        root.threads.update_state(tid, {"ok": "yes"}, as_node="review")
        assert bob.threads.get_state(tid)["next"] == ["pay"]
        root.runs.wait(tid, "cond", input=None)
        assert PAID == [13]


def test_a_replay_from_before_a_decided_action(server: tuple[str, SqliteSaver]) -> None:
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _approved(bob, ada, "pay", 10)
        history = bob.threads.get_history(tid, limit=10)
        before_pay = next(h for h in history if h["next"] == ["pay"])
        for point in (before_pay,):  # a second payment
            cid = point["checkpoint"]["checkpoint_id"]
            _assert_refused(
                saver,
                bob,
                tid,
                lambda c=cid: bob.runs.wait(tid, "pay", input=None, checkpoint_id=c),
            )
            _assert_refused(
                saver,
                bob,
                tid,
                lambda p=point: bob.runs.wait(tid, "pay", input=None, checkpoint=p["checkpoint"]),
            )
        assert PAID == [10]
        # a fork with input is a new turn (from START): allowed, and reviewed
        cid = before_pay["checkpoint"]["checkpoint_id"]
        out = bob.runs.wait(tid, "pay", input={"amount": 20}, checkpoint_id=cid)
        assert out["__interrupt__"] and PAID == [10]
        ada.runs.wait(tid, "pay", command={"resume": "yes"})
        assert PAID == [10, 20]
        # an admin may replay (a second payment is an operator's act), audited
        root.runs.wait(tid, "pay", input=None, checkpoint_id=cid)
        assert PAID == [10, 20, 10]
        assert any(e.action == "state.detour" and e.actor == "root" for e in _audit(saver, tid))


def test_a_replay_that_asks_again_is_a_requesters_regenerate(
    server: tuple[str, SqliteSaver],
) -> None:
    """Agent Chat UI's "regenerate" on a thread with decisions: a replay of the checkpoint
    whose node asked (it asks again: a new request, nothing paid), and a replay in a later
    turn (decisions of earlier turns are behind that turn's input: its nodes run from
    there as a new input's would), are a requester's; a replay past a decision of its own
    turn is not."""
    url, saver = server
    with _clients(url) as (bob, ada, _):
        tid = _approved(bob, ada, "pay", 10)
        history = bob.threads.get_history(tid, limit=10)
        before_review = next(h for h in history if h["next"] == ["review"])
        cid = before_review["checkpoint"]["checkpoint_id"]
        out = bob.runs.wait(tid, "pay", input=None, checkpoint_id=cid)
        assert out["__interrupt__"] and PAID == [10]  # asked again, not paid
        ada.runs.wait(tid, "pay", command={"resume": "yes"})
        assert PAID == [10, 10]  # paid once more, reviewed once more
        # a later turn: new input, decided, paid
        bob.runs.wait(tid, "pay", input={"amount": 7})
        ada.runs.wait(tid, "pay", command={"resume": "yes"})
        assert PAID == [10, 10, 7]
        turn = bob.threads.get_history(tid, limit=3)
        before_pay = next(h for h in turn if h["next"] == ["pay"])
        _assert_refused(  # past this turn's own decision: a second payment of 7
            saver,
            bob,
            tid,
            lambda: bob.runs.wait(
                tid, "pay", input=None, checkpoint_id=before_pay["checkpoint"]["checkpoint_id"]
            ),
        )
        latest_input = next(h for h in turn if h["next"] == ["review"])
        out = bob.runs.wait(
            tid, "pay", input=None, checkpoint_id=latest_input["checkpoint"]["checkpoint_id"]
        )
        assert out["__interrupt__"] and PAID == [10, 10, 7]


def test_a_run_between_the_check_and_the_update_makes_the_update_a_conflict(
    server: tuple[str, SqliteSaver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The update's plan is worked out on the head it reads; a run that moves the head
    before the update is written (here: a new turn that pauses for a review) makes the
    update a 409, changing nothing — applied to the new head, it would cancel that review
    unchecked (a requester's update is refused there; an admin's too, here, as it was
    checked on another head)."""
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _approved(bob, ada, "pay", 10)
        checked = threads_routes.update_leaves

        def then_a_run(*args: Any) -> Any:
            found = checked(*args)
            bob.runs.wait(tid, "pay", input={"amount": 50})  # pauses at the review
            return found

        monkeypatch.setattr(threads_routes, "update_leaves", then_a_run)
        with pytest.raises(httpx.HTTPStatusError) as refused:
            root.threads.update_state(tid, {"amount": 1})
        assert refused.value.response.status_code == 409
        monkeypatch.undo()
        (waiting,) = bob.threads.get_state(tid)["interrupts"]
        assert saver.get_interrupt(waiting["id"]).status == "pending"
        assert bob.threads.get_state(tid)["values"]["amount"] == 50
        ada.runs.wait(tid, "pay", command={"resume": "yes"})
        assert PAID == [10, 50]


def _audit(saver: SqliteSaver, tid: str) -> list[Any]:
    return list(saver.list_audit(thread_id=tid, limit=100).items)


def test_a_replay_of_the_checkpoint_a_breakpoint_after_was_passed_at(
    server: tuple[str, SqliteSaver],
) -> None:
    """The request of a breakpoint after `prep` is recorded at the checkpoint whose next
    node is pay; a replay of that checkpoint would run pay again without pausing (the
    library does: the pause after `prep` belongs to the step that ran prep)."""
    url, saver = server
    with _clients(url) as (bob, ada, _):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "after", input={"amount": 10})
        paused_at = bob.threads.get_state(tid)["checkpoint"]["checkpoint_id"]
        ada.runs.wait(tid, "after", input=None)
        assert PAID == [10]
        _assert_refused(
            saver,
            bob,
            tid,
            lambda: bob.runs.wait(tid, "after", input=None, checkpoint_id=paused_at),
        )
        assert PAID == [10]


def test_a_replay_in_a_copy_of_a_decided_thread(server: tuple[str, SqliteSaver]) -> None:
    """A copy keeps the checkpoints, not the decisions: a replay there is refused too."""
    url, saver = server
    with _clients(url) as (bob, ada, _):
        tid = _approved(bob, ada, "pay", 10)
        copy = bob.threads.copy(tid)["thread_id"]
        history = bob.threads.get_history(copy, limit=10)
        cid = next(h for h in history if h["next"] == ["pay"])["checkpoint"]["checkpoint_id"]
        _assert_refused(
            saver, bob, copy, lambda: bob.runs.wait(copy, "pay", input=None, checkpoint_id=cid)
        )
        assert PAID == [10]


def test_the_thread_protocol_continues_only_the_graphs_own_step(
    server: tuple[str, SqliteSaver],
) -> None:
    """`run.start` with `input: null` takes the same plan: refused (`permission_denied`)
    after an admin's update planned pay, before anything is queued."""
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _approved(bob, ada, "pay", 10)
        root.threads.update_state(tid, {"amount": 1}, as_node="review")
        before = _seen(bob, tid)
        answer = httpx.post(
            f"{url}/threads/{tid}/commands",
            headers={"x-api-key": "k-bob"},
            json={"id": 1, "method": "run.start", "params": {"assistant_id": "pay", "input": None}},
        ).json()
        assert answer["type"] == "error" and answer["error"] == "permission_denied"
        assert "detour" in answer["message"] or "admin" in answer["message"]
        assert _seen(bob, tid) == before and not bob.runs.list(tid, status="pending")
        assert _last_audit(saver, tid).detail["reason"] == "detour_forbidden"


def test_v1_continue_is_bound_by_the_same_rule(server: tuple[str, SqliteSaver]) -> None:
    """`POST /v1/threads/{id}/runs {"continue": true}` after an admin's update planned pay:
    refused to a requester, as `input: null` is over the Agent Server API."""
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = _approved(bob, ada, "pay", 10)
        root.threads.update_state(tid, {"amount": 1}, as_node="review")
        before = _seen(bob, tid)

        def go_on(key: str) -> httpx.Response:
            return httpx.post(
                f"{url}/v1/threads/{tid}/runs", headers={"x-api-key": key}, json={"continue": True}
            )

        refused = go_on("k-bob")
        assert (refused.status_code, refused.json()["error"]) == (403, "detour_forbidden")
        assert _seen(bob, tid) == before
        assert _last_audit(saver, tid).detail["reason"] == "detour_forbidden"
        assert go_on("k-root").status_code == 200 and PAID == [10, 1]


def test_a_passed_breakpoint_is_bound_to_its_state(server: tuple[str, SqliteSaver]) -> None:
    """An approver passes the breakpoint before pay; pay fails. The requester may retry
    the step as it was approved, but not change the state it runs on first."""
    url, saver = server
    with _clients(url) as (bob, ada, _):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "bp", input={"amount": 10})
        assert bob.threads.get_state(tid)["next"] == ["pay"]
        FAIL.append(True)
        with pytest.raises(Exception, match="the bank is down"):  # pay fails, approved
            ada.runs.wait(tid, "bp", input=None)
        state = bob.threads.get_state(tid)
        assert state["next"] == ["pay"] and not state["interrupts"] and PAID == []
        forged = {"amount": 999_999}
        _assert_refused(saver, bob, tid, lambda: bob.threads.update_state(tid, forged))
        _assert_refused(
            saver, bob, tid, lambda: bob.threads.update_state(tid, forged, as_node="prep")
        )
        _assert_refused(
            saver, bob, tid, lambda: bob.runs.wait(tid, "bp", command={"update": forged})
        )
        _assert_refused(saver, bob, tid, lambda: bob.runs.wait(tid, "bp", command={"goto": "pay"}))
        # the approved step, retried on the state that was approved: allowed
        bob.runs.wait(tid, "bp", input=None)
        assert PAID == [10]


def test_an_admin_may_change_a_failed_step_and_continue(
    server: tuple[str, SqliteSaver],
) -> None:
    url, saver = server
    with _clients(url) as (bob, ada, root):
        tid = bob.threads.create()["thread_id"]
        bob.runs.wait(tid, "bp", input={"amount": 10})
        FAIL.append(True)
        with pytest.raises(Exception, match="the bank is down"):
            ada.runs.wait(tid, "bp", input=None)
        out = root.runs.wait(tid, "bp", command={"update": {"amount": 7}})
        assert out == {"amount": 7, "ok": "prepared"} and PAID == [7]
        detour = next(e for e in _audit(saver, tid) if e.action == "state.detour")
        assert detour.actor == "root" and detour.detail["change"] == "state.command"


def test_without_authentication_nothing_changes(tmp_path: Path) -> None:
    """Development (no keys, every caller `ANONYMOUS`): a goto runs as before."""
    saver = SqliteSaver(tmp_path / "open.db")
    PAID.clear()
    FAIL.clear()
    app = create_app(_graphs(saver), workers=1)
    try:
        with served(app) as http, get_sync_client(url=str(http.base_url).rstrip("/")) as dev:
            tid = dev.threads.create()["thread_id"]
            dev.runs.wait(tid, "pay", input={"amount": 10})
            dev.runs.wait(tid, "pay", command={"resume": "yes"})
            dev.runs.wait(tid, "pay", command={"update": {"amount": 3}, "goto": "pay"})
            assert PAID == [10, 3]
            assert not any(e.action == "state.detour" for e in _audit(saver, tid))
    finally:
        saver.close()
