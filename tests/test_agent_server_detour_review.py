"""An adversarial review of "no detour past a review" (`_detour`): the routes a requester
might use to make `pay` run on an amount no approver reviewed, or to run an approved
payment twice, over the real `langgraph-sdk` (plain httpx where the SDK lacks a call).

Two bypasses were found and are fixed here: a copy of a thread that stopped after a
decision (a failed or cancelled step) continued in the copy paid a second time on one
decision; and a continue checked while another run was under way passed the breakpoint
that run paused at meanwhile (`invoke(None)` passes any). The other tests pin attempts
that held, so that they keep holding."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

import interlock as il
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.errors import InputRejected
from interlock.server import ApiKeys, create_app
from interlock.server._operations import run_config
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._log import ALL_MODES, EventWriter
from interlock.server.agent_server._plan import RunBody, carry_out, plan_run
from interlock.server.agent_server._wire import new_run_id
from interlock.server.auth import Principal
from tests._http import served
from tests.test_agent_server_detours import (
    FAIL,
    KEYS,
    PAID,
    Payment,
    _approved,
    _assert_refused,
    _graphs,
    _pay,
    _seen,
)

Served = tuple[str, SqliteSaver, Any]


@pytest.fixture
def served_app(tmp_path: Path) -> Iterator[Served]:
    saver = SqliteSaver(tmp_path / "review.db")
    PAID.clear()
    FAIL.clear()
    app = create_app(_graphs(saver), keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with served(app) as http:
            yield str(http.base_url).rstrip("/"), saver, app
    finally:
        saver.close()


def _status(call: Any) -> tuple[int, str]:
    with pytest.raises(httpx.HTTPStatusError) as refused:
        call()
    answer = refused.value.response
    return answer.status_code, answer.json()["code"]


def _failed_after_review(bob: Any, ada: Any, amount: int) -> str:
    """A thread whose review was approved and whose payment then failed: its head (written
    by the graph's own step) has `pay` left to run, nothing pending."""
    tid = bob.threads.create()["thread_id"]
    bob.runs.wait(tid, "pay", input={"amount": amount})
    FAIL.append(True)
    with pytest.raises(Exception, match="the bank is down"):
        ada.runs.wait(tid, "pay", command={"resume": "yes"})
    state = bob.threads.get_state(tid)
    assert state["next"] == ["pay"] and not state["interrupts"] and PAID == []
    return str(tid)


# ---- bypasses found (fixed) ---------------------------------------------------------------


def test_a_copy_of_a_thread_stopped_after_a_decision_is_refused(served_app: Served) -> None:
    """Bypass: review approved, pay failed; `threads.copy` then `input: null` in the copy
    (runs API, thread protocol and `/v1`'s continue alike: the copy's head is the graph's
    own step) paid a second time on one decision. Now the copy is refused (409
    `decision_not_carried_out`, no thread made); once the approved step ran, it copies,
    with nothing left to run."""
    url, _, _ = served_app
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _failed_after_review(bob, ada, 10)
        threads = len(bob.threads.search(limit=100))
        assert _status(lambda: bob.threads.copy(tid)) == (409, "decision_not_carried_out")
        assert len(bob.threads.search(limit=100)) == threads
        # the same after `prune(keep_latest)` (the decision's checkpoint is the head's parent)
        assert bob.threads.prune([tid], strategy="keep_latest") == {"pruned_count": 1}
        assert _status(lambda: bob.threads.copy(tid)) == (409, "decision_not_carried_out")
        bob.runs.wait(tid, "pay", input=None)  # the approved retry, in its own thread
        assert PAID == [10]
        copy = bob.threads.copy(tid)["thread_id"]
        assert bob.threads.get_state(copy)["next"] == []
        assert _status(lambda: bob.runs.wait(copy, "pay", input=None))[0] == 422
        go_on = httpx.post(
            f"{url}/v1/threads/{copy}/runs", headers={"x-api-key": "k-bob"}, json={"continue": True}
        )
        assert go_on.status_code == 409 and PAID == [10]


PREP_FAILS: list[bool] = []


def _flaky_prep(state: Payment) -> dict[str, Any]:
    if PREP_FAILS:
        PREP_FAILS.clear()
        raise RuntimeError("prep failed")
    return {"ok": "prepared"}


def test_a_continue_passes_no_breakpoint_that_paused_after_its_check(tmp_path: Path) -> None:
    """Bypass (a race, made deterministic in process): a requester's `input: null` on a
    thread stopped before `prep` is checked (nothing pending: a continue); another run
    goes on meanwhile and pauses at the breakpoint before pay; the requester's run then
    passed that breakpoint (`invoke(None)` passes any) and paid unreviewed. Now a continue
    passes none (`PASSABLE` empty): `InputRejected`, the breakpoint stays pending. The
    library's own `invoke(None)` still passes it."""
    saver = SqliteSaver(tmp_path / "race.db")
    PAID.clear()
    g = il.StateGraph(Payment)
    g.add_node("prep", _flaky_prep)
    g.add_node("pay", _pay)
    g.add_edge(il.START, "prep")
    g.add_edge("prep", "pay")
    graph = g.compile(checkpointer=saver, name="flaky", interrupt_before=["pay"])
    ctx = Context(
        saver=saver,
        registry={"flaky": graph},
        allow_self_approval=False,
        may_see=lambda who, tid: True,
        wake_workers=lambda: None,
        formats={},
        lists_for=lambda who: None,
    )
    bob = Principal("bob", frozenset({"requester"}))
    try:
        PREP_FAILS.append(True)
        with pytest.raises(RuntimeError, match="prep failed"):
            graph.invoke({"amount": 10}, run_config("t"))
        assert graph.get_state(run_config("t")).next == ("prep",)
        plan = plan_run(ctx, bob, "t", RunBody(assistant_id="flaky"), default_modes=ALL_MODES)
        assert plan.kind == "continue"
        [bp] = graph.invoke(None, run_config("t"))["__interrupt__"]  # the other run pauses
        with pytest.raises(InputRejected, match=bp.id):
            carry_out(ctx, plan, EventWriter(saver, "t", new_run_id()))
        assert PAID == [] and saver.get_interrupt(bp.id).status == "pending"
        graph.invoke(None, run_config("t"))
        assert PAID == [10]
    finally:
        saver.close()


# ---- attempts that held -------------------------------------------------------------------


def test_a_replay_past_a_decision_is_refused_on_every_run_route(served_app: Served) -> None:
    """The replay of the checkpoint before pay, by every route that takes a checkpoint:
    runs.wait / stream / create with `checkpoint_id`, `checkpoint`, or
    `config.configurable.checkpoint_id` (403); a subgraph namespace, `/runs/batch` and the
    thread protocol's `run.start` refuse a checkpoint outright."""
    url, saver, _ = served_app
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _approved(bob, ada, "pay", 10)
        point = next(h for h in bob.threads.get_history(tid, limit=10) if h["next"] == ["pay"])
        cid = point["checkpoint"]["checkpoint_id"]
        by_config = {"configurable": {"checkpoint_id": cid}}
        for call in (
            lambda: bob.runs.wait(tid, "pay", input=None, config=by_config),
            lambda: list(bob.runs.stream(tid, "pay", input=None, checkpoint_id=cid)),
            lambda: bob.runs.create(tid, "pay", input=None, checkpoint=point["checkpoint"]),
            lambda: bob.runs.create(
                tid, "pay", input=None, checkpoint_id=cid, multitask_strategy="enqueue"
            ),
        ):
            _assert_refused(saver, bob, tid, call)
        before = _seen(bob, tid)
        in_ns = {**point["checkpoint"], "checkpoint_ns": "pay:1"}
        assert _status(lambda: bob.runs.wait(tid, "pay", input=None, checkpoint=in_ns)) == (
            422,
            "not_supported",
        )
        batch = httpx.post(
            f"{url}/runs/batch",
            headers={"x-api-key": "k-bob"},
            json=[{"assistant_id": "pay", "thread_id": tid, "input": {}, "checkpoint_id": cid}],
        )
        assert batch.status_code == 422
        answer = httpx.post(
            f"{url}/threads/{tid}/commands",
            headers={"x-api-key": "k-bob"},
            json={
                "id": 1,
                "method": "run.start",
                "params": {"assistant_id": "pay", "input": None, "config": by_config},
            },
        ).json()
        assert answer["type"] == "error" and answer["error"] == "not_supported"
        assert _seen(bob, tid) == before and PAID == [10]


def test_a_requesters_empty_breakpoint_lists_keep_the_graphs_own(served_app: Served) -> None:
    """`interrupt_before=[]` / `interrupt_after=[]` on a run (thread or stateless) add
    nothing and lift nothing: the compiled breakpoints still pause."""
    url, _, _ = served_app
    with get_sync_client(url=url, api_key="k-bob") as bob:
        for graph in ("bp", "after"):
            for lists in ({"interrupt_before": []}, {"interrupt_after": []}):
                tid = bob.threads.create()["thread_id"]
                out = bob.runs.wait(tid, graph, input={"amount": 10}, **lists)
                assert out["__interrupt__"][0]["value"]["type"] == "breakpoint"
                out = bob.runs.wait(None, graph, input={"amount": 10}, **lists)
                assert out["__interrupt__"][0]["value"]["type"] == "breakpoint"
                chunks = list(bob.runs.stream(None, graph, input={"amount": 10}, **lists))
                assert chunks
        assert PAID == []


def test_a_thread_runs_only_its_own_graph(served_app: Served) -> None:
    """`cond`'s review said no. Its metadata patched to `graph_id: pay` (whose edge from
    review always leads to pay) does not switch its graph: the checkpoints name it."""
    url, _, _ = served_app
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _approved(bob, ada, "cond", 10, answer="no")
        bob.threads.update(tid, metadata={"graph_id": "pay", "assistant_id": "pay"})
        assert _status(lambda: bob.runs.wait(tid, "pay", input=None)) == (409, "wrong_assistant")
        assert PAID == []


def test_updates_and_commands_leave_nothing_unreviewed_to_run(served_app: Served) -> None:
    """State changes on threads with decisions: a requester's command update is refused (it
    may change what the decision settled); an admin's on a finished `cond` thread (its review
    said no) that sets `ok: yes` does not re-route it; a requester's updates at any older
    checkpoint, as any node, either are refused or leave nothing for a continue to run."""
    url, _, _ = served_app
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
        get_sync_client(url=url, api_key="k-root") as root,
    ):
        tid = _approved(bob, ada, "cond", 10, answer="no")
        command = {"update": {"ok": "yes", "amount": 999}}
        with pytest.raises(httpx.HTTPStatusError) as refused:
            bob.runs.wait(tid, "cond", command=command)
        assert refused.value.response.status_code == 403
        out = root.runs.wait(tid, "cond", command=command)
        assert out == {"amount": 999, "ok": "yes"} and bob.threads.get_state(tid)["next"] == []
        assert PAID == []
        for graph, nodes in (
            ("pay", ("review", "pay")),
            ("bp", ("prep", "pay")),
            ("after", ("prep", "pay")),
        ):
            tid = bob.threads.create()["thread_id"]
            bob.runs.wait(tid, graph, input={"amount": 10})
            if graph == "pay":
                ada.runs.wait(tid, graph, command={"resume": "yes"})
            else:
                ada.runs.wait(tid, graph, input=None)
            paid = list(PAID)
            for point in bob.threads.get_history(tid, limit=10):
                cid = point["checkpoint"]["checkpoint_id"]
                for as_node in (None, *nodes, "__start__", "__end__"):
                    try:
                        bob.threads.update_state(
                            tid, {"amount": 777}, as_node=as_node, checkpoint_id=cid
                        )
                    except httpx.HTTPStatusError as refused:
                        assert refused.response.status_code in (403, 422)
                        continue
                    state = bob.threads.get_state(tid)
                    assert state["next"] == [] or state["interrupts"], (point["next"], as_node)
                    with pytest.raises(httpx.HTTPStatusError):
                        bob.runs.wait(tid, graph, input=None)
            assert paid == PAID


def test_new_input_or_a_cron_on_a_stopped_thread_is_reviewed_again(served_app: Served) -> None:
    """New input on a thread stopped before `pay` (review approved, pay failed) drops the
    old plan: the turn runs from the start and asks again. A cron's run (a cron sends
    input, never `input: null` or a command) does the same."""
    url, _, app = served_app
    with (
        get_sync_client(url=url, api_key="k-bob") as bob,
        get_sync_client(url=url, api_key="k-ada") as ada,
    ):
        tid = _failed_after_review(bob, ada, 10)
        out = bob.runs.wait(tid, "pay", input={"amount": 999_999})
        assert out["__interrupt__"][0]["value"] == "pay 999999?" and PAID == []
        tid = _failed_after_review(bob, ada, 20)
        cron = bob.crons.create_for_thread(tid, "pay", schedule="0 0 1 1 *")
        [fire] = app.state.crons.tick(datetime.fromisoformat(cron["next_run_date"]))
        assert fire.outcome == "queued"
        ended = bob.runs.join(tid, fire.run_id)
        assert ended["__interrupt__"] and PAID == []


def test_a_requester_decides_nothing_by_any_route(served_app: Served) -> None:
    """A pending review and a pending breakpoint stay pending whatever a requester sends:
    `command.resume`, `input: null` at a breakpoint, the thread protocol's
    `input.respond`, `/v1/approvals/{id}/decision` (403 / `permission_denied`)."""
    url, _, _ = served_app
    with get_sync_client(url=url, api_key="k-bob") as bob:
        review = bob.threads.create()["thread_id"]
        [asked] = bob.runs.wait(review, "pay", input={"amount": 10})["__interrupt__"]
        bp = bob.threads.create()["thread_id"]
        [held] = bob.runs.wait(bp, "bp", input={"amount": 10})["__interrupt__"]
        assert _status(lambda: bob.runs.wait(review, "pay", command={"resume": "yes"}))[0] == 403
        assert _status(lambda: bob.runs.wait(bp, "bp", input=None))[0] == 403
        for tid, request in ((review, asked), (bp, held)):
            answer = httpx.post(
                f"{url}/threads/{tid}/commands",
                headers={"x-api-key": "k-bob"},
                json={
                    "id": 1,
                    "method": "input.respond",
                    "params": {"interrupt_id": request["id"], "response": "yes"},
                },
            ).json()
            assert answer["type"] == "error" and answer["error"] == "permission_denied"
            decided = httpx.post(
                f"{url}/v1/approvals/{request['id']}/decision",
                headers={"x-api-key": "k-bob"},
                json={"value": "yes"},
            )
            assert decided.status_code == 403
            assert [i["id"] for i in bob.threads.get_state(tid)["interrupts"]] == [request["id"]]
        assert PAID == []


# ---- open: a data edit forging state a later turn's routes trust -------------------------


class Limited(TypedDict, total=False):
    amount: int
    limit: int


def _ask_limit(state: Limited) -> dict[str, Any]:
    """An approver raises the standing limit to the amount they approved."""
    answer = il.interrupt(f"allow payments up to {state['amount']}?")
    return {"limit": state["amount"] if answer == "yes" else state.get("limit", 0)}


def _pay_limited(state: Limited) -> dict[str, Any]:
    PAID.append(state["amount"])
    return {}


def test_a_data_edit_cannot_forge_a_reviewed_limit(tmp_path: Path) -> None:
    """A data edit on a finished thread leaves nothing to run, but may change state that a
    later turn's own routes trust (here the limit an approver's answer set): on a thread
    with a decision, it is an admin's (rule 4); the next input is reviewed."""
    saver = SqliteSaver(tmp_path / "limit.db")
    PAID.clear()
    g = il.StateGraph(Limited)
    g.add_node("ask", _ask_limit)
    g.add_node("pay", _pay_limited)
    g.add_conditional_edges(
        il.START, lambda s: "pay" if s["amount"] <= s.get("limit", 0) else "ask"
    )
    g.add_edge("ask", "pay")
    graphs = {"limit": g.compile(checkpointer=saver, name="limit")}
    app = create_app(graphs, keys=ApiKeys.parse(KEYS), workers=1)
    try:
        with (
            served(app) as http,
            get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-bob") as bob,
            get_sync_client(url=str(http.base_url).rstrip("/"), api_key="k-ada") as ada,
        ):
            tid = bob.threads.create()["thread_id"]
            bob.runs.wait(tid, "limit", input={"amount": 10})
            ada.runs.wait(tid, "limit", command={"resume": "yes"})
            assert PAID == [10]
            bob.runs.wait(tid, "limit", input={"amount": 5})  # under the reviewed limit
            assert PAID == [10, 5]
            with pytest.raises(httpx.HTTPStatusError) as refused:
                bob.threads.update_state(tid, {"limit": 999_999}, as_node="__end__")
            assert refused.value.response.json()["code"] == "detour_forbidden"
            assert bob.threads.get_state(tid)["values"]["limit"] == 10
            out = bob.runs.wait(tid, "limit", input={"amount": 999_999})
            assert out.get("__interrupt__") and PAID == [10, 5]
    finally:
        saver.close()
