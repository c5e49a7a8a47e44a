"""Adversarial review of library forks cancelling the old head's requests
(`interlock.graph._abandon`) and of `update_state`'s `configurable.expected_head`.

Each probe states what a user may expect. A probe that held stays as a test; one that
exposes a defect is marked `xfail(strict=True)` with the defect in its reason. Every store,
sync and async, unless a probe says otherwise."""

from __future__ import annotations

import operator
import threading
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, TypedDict

import pytest

import interlock as il
from interlock.errors import ResumeConflict, ResumeError
from tests.conftest import Runner


class Doc(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    ok: Any
    a: Any
    b: Any


def _linear(saver: Any, **compile_kw: Any) -> Any:
    """draft -> review (asks) -> publish."""
    g = il.StateGraph(Doc)
    g.add_node("draft", lambda s: {"log": ["draft"]})
    g.add_node("review", lambda s: {"ok": il.interrupt("publish?"), "log": ["review"]})
    g.add_node("publish", lambda s: {"log": ["publish"]})
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", "publish")
    return g.compile(checkpointer=saver, **compile_kw)


def _tid() -> dict[str, Any]:
    return {"configurable": {"thread_id": uuid.uuid4().hex}}


def _at(config: dict[str, Any], checkpoint_id: str) -> dict[str, Any]:
    return {"configurable": {**config["configurable"], "checkpoint_id": checkpoint_id}}


def _head(run: Runner, graph: Any, config: dict[str, Any]) -> str:
    return str(run.get_state(graph, config).config["configurable"]["checkpoint_id"])


def _before(run: Runner, graph: Any, config: dict[str, Any], node: str) -> str:
    """The newest checkpoint whose next step is `node`."""
    snap = next(s for s in run.history(graph, config) if s.next == (node,))
    return str(snap.config["configurable"]["checkpoint_id"])


def _pending(saver: Any, config: dict[str, Any]) -> list[str]:
    tid = config["configurable"]["thread_id"]
    return [r.interrupt_id for r in saver.list_interrupts(status="pending", thread_id=tid).items]


def _actions(saver: Any, interrupt_id: str) -> list[str]:
    return sorted(e.action for e in saver.list_audit(interrupt_id=interrupt_id).items)


# -- bad input to a fork must leave the waiting run intact -----------------------------------


def test_a_fork_with_input_that_cannot_be_stored_leaves_the_old_request_pending(
    saver: Any, run: Runner
) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    head = _head(run, graph, config)
    with pytest.raises(il.SerializationError):
        run.invoke(graph, {"ok": object()}, _at(config, _before(run, graph, config, "draft")))
    assert _head(run, graph, config) == head  # the fork did not happen ...
    assert _pending(saver, config) == [old]  # ... so the request still waits
    out = run.invoke(graph, il.Command(resume="yes"), config)
    assert out["ok"] == "yes"


def test_update_state_at_an_older_checkpoint_with_a_value_that_cannot_be_stored_changes_nothing(
    saver: Any, run: Runner
) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    head = _head(run, graph, config)
    with pytest.raises(il.SerializationError):
        run.update_state(graph, _at(config, _before(run, graph, config, "draft")), {"ok": object()})
    assert _head(run, graph, config) == head
    assert _pending(saver, config) == [old]
    assert "approval.cancelled" not in _actions(saver, old)


def test_update_state_at_the_head_with_a_value_that_cannot_be_stored_changes_nothing(
    saver: Any, run: Runner
) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    with pytest.raises(il.SerializationError):
        run.update_state(graph, config, {"ok": object()})
    assert _pending(saver, config) == [old]


# -- audit, forks of forks, Command(resume) at an older checkpoint ---------------------------


def test_a_fork_of_a_fork_cancels_each_request_once(saver: Any, run: Runner) -> None:
    """Replay from the first checkpoint (r1 cancelled), then from the old branch's paused
    checkpoint (r2 cancelled): each request is audited as asked and cancelled once."""
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (r1,) = _pending(saver, config)
    first_head = _head(run, graph, config)
    run.invoke(graph, None, _at(config, _before(run, graph, config, "draft")))
    (r2,) = _pending(saver, config)
    run.invoke(graph, None, _at(config, first_head))  # back to the old branch's pause
    (r3,) = _pending(saver, config)
    assert len({r1, r2, r3}) == 3
    for rid in (r1, r2):
        assert saver.get_interrupt(rid).status == "cancelled"
        assert _actions(saver, rid) == ["approval.cancelled", "approval.requested"]
    out = run.invoke(graph, il.Command(resume="yes"), config)
    assert out["log"] == ["draft", "review", "publish"] and out["ok"] == "yes"


def test_a_resume_at_an_older_paused_checkpoint_is_refused_and_leaves_the_head_waiting(
    saver: Any, run: Runner
) -> None:
    """LangGraph 1.2.22 resumes the old branch's interrupt here (a fork that applies the
    answer); interlock refuses (its old request was cancelled by the first fork). Whatever
    the answer, the head's request must stay pending and the head unchanged."""
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (r1,) = _pending(saver, config)
    first_head = _head(run, graph, config)
    run.invoke(graph, None, _at(config, _before(run, graph, config, "draft")))
    (r2,) = _pending(saver, config)
    head = _head(run, graph, config)
    for resume in ("yes", {r1: "yes"}, {r2: "yes"}):
        with pytest.raises(ResumeError):  # ResumeConflict (r1 cancelled) is one too
            run.invoke(graph, il.Command(resume=resume), _at(config, first_head))
        assert _head(run, graph, config) == head
        assert _pending(saver, config) == [r2]
    assert saver.get_interrupt(r1).status == "cancelled"


def test_a_cancelled_request_cannot_be_answered_through_the_graph(saver: Any, run: Runner) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (r1,) = _pending(saver, config)
    run.invoke(graph, None, _at(config, _before(run, graph, config, "draft")))
    (r2,) = _pending(saver, config)
    with pytest.raises(ResumeConflict):
        run.invoke(graph, il.Command(resume={r1: "yes"}), config)
    assert _pending(saver, config) == [r2]
    assert saver.get_interrupt(r1).resume is None


# -- several requests: parallel nodes, one decided and one not --------------------------------


def _parallel(saver: Any) -> Any:
    g = il.StateGraph(Doc)
    g.add_node("prep", lambda s: {"log": ["prep"]})
    g.add_node("a", lambda s: {"a": il.interrupt("a?")})
    g.add_node("b", lambda s: {"b": il.interrupt("b?")})
    g.add_edge(il.START, "prep")
    g.add_edge("prep", "a")
    g.add_edge("prep", "b")
    return g.compile(checkpointer=saver)


def _by_value(saver: Any, config: dict[str, Any]) -> dict[str, str]:
    tid = config["configurable"]["thread_id"]
    items = saver.list_interrupts(status="pending", thread_id=tid).items
    return {r.value: r.interrupt_id for r in items}


def test_parallel_requests_one_answered_one_recorded_one_pending(saver: Any, run: Runner) -> None:
    """a's request answered and carried out (its task finished in the paused step), b's
    pending: the fork cancels b's only, a's stays resolved; each audited once."""
    graph = _parallel(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    asked = _by_value(saver, config)
    run.invoke(graph, il.Command(resume={asked["a?"]: 1}), config)
    assert list(_by_value(saver, config)) == ["b?"]
    run.invoke(graph, None, _at(config, _before(run, graph, config, "prep")))
    assert saver.get_interrupt(asked["a?"]).status == "resolved"
    assert saver.get_interrupt(asked["b?"]).status == "cancelled"
    assert _actions(saver, asked["b?"]) == ["approval.cancelled", "approval.requested"]
    assert "approval.cancelled" not in _actions(saver, asked["a?"])
    again = _by_value(saver, config)
    assert sorted(again) == ["a?", "b?"] and not set(again.values()) & set(asked.values())
    out = run.invoke(graph, il.Command(resume={again["a?"]: 2, again["b?"]: 3}), config)
    assert (out["a"], out["b"]) == (2, 3)


def test_parallel_requests_one_recorded_not_carried_out(saver: Any, run: Runner) -> None:
    """a's decision recorded in the store (not carried out), b's pending: the fork goes on,
    b's is cancelled, a's stays as it was made (not applied on the new branch)."""
    graph = _parallel(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    asked = _by_value(saver, config)
    tid = config["configurable"]["thread_id"]
    saver.resolve_interrupts(tid, {asked["a?"]: 1}, decided_by="ada")
    out = run.invoke(graph, None, _at(config, _before(run, graph, config, "prep")))
    assert len(out["__interrupt__"]) == 2
    assert saver.get_interrupt(asked["a?"]).status == "resolved"
    assert saver.get_interrupt(asked["b?"]).status == "cancelled"
    assert "a" not in out


# -- quorum, deadlines ------------------------------------------------------------------------


def _quorum(saver: Any) -> Any:
    def pay(s: Doc) -> Doc:
        return {"ok": il.interrupt({"pay": 1}, approvers=["ada", "bob"], quorum=2)}

    g = il.StateGraph(Doc)
    g.add_node("prep", lambda s: {"log": ["prep"]})
    g.add_node("pay", pay)
    g.add_edge(il.START, "prep")
    g.add_edge("prep", "pay")
    return g.compile(checkpointer=saver)


def _as(config: dict[str, Any], user: str, checkpoint_id: str | None = None) -> dict[str, Any]:
    conf = {**config["configurable"], "user_id": user}
    if checkpoint_id is not None:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def test_a_fork_cancels_a_quorum_request_with_one_vote_and_refuses_the_second(
    saver: Any, run: Runner
) -> None:
    graph = _quorum(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, _as(config, "req"))
    (old,) = _pending(saver, config)
    run.invoke(graph, il.Command(resume="approve"), _as(config, "ada"))
    assert _pending(saver, config) == [old]  # one vote of two
    run.invoke(graph, None, _as(config, "req", _before(run, graph, config, "prep")))
    (new,) = _pending(saver, config)
    assert saver.get_interrupt(old).status == "cancelled"
    with pytest.raises(ResumeConflict):  # bob's vote on the cancelled request
        run.invoke(graph, il.Command(resume={old: "approve"}), _as(config, "bob"))
    assert [v.voter for v in saver.list_votes(old)] == ["ada"]
    assert saver.get_interrupt(new).status == "pending"
    assert list(saver.list_votes(new)) == []  # ada's vote does not carry over


def _deadline(saver: Any) -> Any:
    past = datetime(2020, 1, 1, tzinfo=UTC)

    def review(s: Doc) -> Doc:
        return {"ok": il.interrupt("publish?", deadline=past, on_expiry="expired")}

    g = il.StateGraph(Doc)
    g.add_node("draft", lambda s: {"log": ["draft"]})
    g.add_node("review", review)
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    return g.compile(checkpointer=saver)


def test_an_overdue_request_cancelled_by_a_fork_is_not_expired_later(
    saver: Any, run: Runner
) -> None:
    """The head's request is past its deadline, not swept yet; the fork cancels it; a sweep
    then expires only the new branch's (overdue too), never the cancelled one."""
    graph = _deadline(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    run.invoke(graph, None, _at(config, _before(run, graph, config, "draft")))
    (new,) = _pending(saver, config)
    expired = graph.expire_due(now=datetime.now(UTC))
    assert expired == [new]
    assert saver.get_interrupt(old).status == "cancelled"
    assert _actions(saver, old) == ["approval.cancelled", "approval.requested"]
    assert run.get_state(graph, config).values["ok"] == "expired"


# -- subgraphs --------------------------------------------------------------------------------


def _with_subgraph(saver: Any) -> Any:
    s = il.StateGraph(Doc)
    s.add_node("sdraft", lambda st: {"log": ["sdraft"]})
    s.add_node("sreview", lambda st: {"ok": il.interrupt("sub?"), "log": ["sreview"]})
    s.add_edge(il.START, "sdraft")
    s.add_edge("sdraft", "sreview")
    p = il.StateGraph(Doc)
    p.add_node("prep", lambda st: {"log": ["prep"]})
    p.add_node("sub", s.compile())
    p.add_edge(il.START, "prep")
    p.add_edge("prep", "sub")
    return p.compile(checkpointer=saver)


def test_a_root_fork_cancels_a_request_pending_in_a_subgraph(saver: Any, run: Runner) -> None:
    graph = _with_subgraph(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    run.invoke(graph, None, _at(config, _before(run, graph, config, "prep")))
    (new,) = _pending(saver, config)
    assert new != old and saver.get_interrupt(old).status == "cancelled"
    assert _actions(saver, old) == ["approval.cancelled", "approval.requested"]
    out = run.invoke(graph, il.Command(resume="yes"), config)
    assert out["ok"] == "yes" and saver.get_interrupt(new).status == "resolved"


def _child_config(graph: Any, config: dict[str, Any]) -> dict[str, Any]:
    (task,) = graph.get_state(config, subgraphs=True).tasks
    return dict(task.state.config)


def test_update_state_at_the_subgraph_head_cancels_its_request(saver: Any, run: Runner) -> None:
    """The contrast for the next probe: at the child's head, the child's request is
    cancelled (it will be asked again)."""
    graph = _with_subgraph(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    run.update_state(graph, _child_config(graph, config), {"log": ["edit"]})
    assert saver.get_interrupt(old).status == "cancelled"


def test_update_state_at_an_older_subgraph_checkpoint_does_not_leave_a_request_to_be_lost(
    saver: Any, run: Runner
) -> None:
    graph = _with_subgraph(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    child = _child_config(graph, config)
    older = next(s for s in run.history(graph, child) if s.next == ("sdraft",))
    run.update_state(graph, older.config, {"log": ["edit"]})
    if saver.get_interrupt(old).status == "pending":  # still offered: an answer must count
        out = run.invoke(graph, il.Command(resume="yes"), config)
        assert out.get("ok") == "yes", "the recorded answer was dropped"
    else:
        assert saver.get_interrupt(old).status == "cancelled"


# -- breakpoints, exit durability, a failing first step ---------------------------------------


def test_a_fork_cancels_a_breakpoint_pause_at_the_head(saver: Any, run: Runner) -> None:
    graph = _linear(saver, interrupt_before=["publish"])
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    run.invoke(graph, il.Command(resume="yes"), config)  # now paused before publish
    (bp,) = _pending(saver, config)
    run.invoke(graph, None, _at(config, _before(run, graph, config, "draft")))
    assert saver.get_interrupt(bp).status == "cancelled"
    assert _actions(saver, bp) == ["approval.cancelled", "approval.requested"]
    (asked,) = _pending(saver, config)
    assert asked != bp
    run.invoke(graph, il.Command(resume="no"), config)
    (bp2,) = _pending(saver, config)
    assert bp2 not in (bp, asked)
    out = run.invoke(graph, None, config)
    assert out["ok"] == "no" and out["log"][-1] == "publish"


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_fork_under_each_durability_cancels_once(
    saver: Any, run: Runner, durability: str
) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    run.invoke(
        graph,
        {"log": ["x"]},
        _at(config, _before(run, graph, config, "draft")),
        durability=durability,
    )
    assert _actions(saver, old) == ["approval.cancelled", "approval.requested"]
    (new,) = _pending(saver, config)
    out = run.invoke(graph, il.Command(resume="ok"), config, durability=durability)
    assert out["ok"] == "ok" and saver.get_interrupt(new).status == "resolved"


@pytest.mark.parametrize("durability", ["sync", "async", "exit"])
def test_a_replay_whose_first_step_fails_cancels_only_if_the_head_moved(
    saver: Any, run: Runner, durability: str
) -> None:
    """The invariant a user needs: the old request is still pending exactly when the old
    head is still the head. (As LangGraph 1.2.22, under either durability, the replay's
    fork copy is committed before its first step, and stays the head when the step fails.)"""
    fail = {"on": False}

    def draft(s: Doc) -> Doc:
        if fail["on"]:
            raise RuntimeError("draft failed")
        return {"log": ["draft"]}

    g = il.StateGraph(Doc)
    g.add_node("draft", draft)
    g.add_node("review", lambda s: {"ok": il.interrupt("publish?")})
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    graph = g.compile(checkpointer=saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    head = _head(run, graph, config)
    fail["on"] = True
    with pytest.raises(RuntimeError):
        run.invoke(
            graph, None, _at(config, _before(run, graph, config, "draft")), durability=durability
        )
    moved = _head(run, graph, config) != head
    assert (saver.get_interrupt(old).status == "pending") == (not moved)
    fail["on"] = False
    out = run.invoke(graph, None, config)  # the thread goes on from its head
    assert "__interrupt__" in out and _pending(saver, config) != [old]


# -- what the service shows of the cancelled request -------------------------------------------


def test_the_v1_api_and_the_inbox_show_the_old_request_cancelled(saver: Any) -> None:
    from interlock.server import ApiKeys, create_app
    from tests._http import served

    graph = _linear(saver, name="doc")
    config = _tid()
    graph.invoke({"log": []}, config)
    (old,) = _pending(saver, config)
    graph.invoke(None, _at(config, _before(Runner("sync"), graph, config, "draft")))
    (new,) = _pending(saver, config)
    key = {"X-API-Key": "k-ada"}
    with served(create_app({"doc": graph}, keys=ApiKeys.parse("k-ada=ada:approver"))) as http:
        listed = http.get("/v1/approvals", headers=key).json()["approvals"]
        assert [
            a["id"] for a in listed if a["thread_id"] == config["configurable"]["thread_id"]
        ] == [new]
        one = http.get(f"/v1/approvals/{old}", headers=key)
        assert one.status_code == 200 and one.json()["status"] == "cancelled"
        cancelled = http.get("/v1/approvals?status=cancelled", headers=key).json()["approvals"]
        assert old in [a["id"] for a in cancelled]
        refused = http.post(f"/v1/approvals/{old}/decision", json={"value": "yes"}, headers=key)
        assert refused.status_code == 409 and refused.json()["error"]
        assert saver.get_interrupt(new).status == "pending"
        decided = http.post(f"/v1/approvals/{new}/decision", json={"value": "yes"}, headers=key)
        assert decided.status_code == 200
    assert graph.get_state(config).values["log"] == ["draft", "review", "publish"]


# -- races between real threads (ordered by events the nodes wait on, no sleeps) ----------------


class _Gate:
    """A node that, when armed, says it entered and waits until let go."""

    def __init__(self) -> None:
        self.armed = False
        self.entered = threading.Event()
        self.go = threading.Event()

    def __call__(self, name: str) -> Doc:
        if self.armed:
            self.entered.set()
            assert self.go.wait(30), "the test never let the node go"
        return {"log": [name]}


def _gated(saver: Any, gate: _Gate) -> Any:
    g = il.StateGraph(Doc)
    g.add_node("draft", lambda s: gate("draft"))
    g.add_node("review", lambda s: {"ok": il.interrupt("publish?")})
    g.add_node("publish", lambda s: gate("publish"))
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", "publish")
    return g.compile(checkpointer=saver)


def _in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["out"] = fn()
        except BaseException as exc:  # handed to the test's thread
            box["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    return t, box


def test_a_decision_sent_while_a_fork_runs_is_refused_and_never_applied(
    saver: Any, run: Runner
) -> None:
    """Thread A forks (its replay is inside `draft`, the old request already cancelled);
    thread B decides the old request directly in the store and through the graph: both
    refused, nothing recorded; A's branch then asks anew."""
    gate = _Gate()
    graph = _gated(saver, gate)
    config = _tid()
    tid = config["configurable"]["thread_id"]
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    older = _at(config, _before(run, graph, config, "draft"))
    gate.armed = True
    fork, box = _in_thread(lambda: run.invoke(graph, None, older))
    try:
        assert gate.entered.wait(30)
        with pytest.raises(ResumeConflict):
            saver.resolve_interrupts(tid, {old: "yes"}, decided_by="bob")
        with pytest.raises(ResumeConflict):  # busy, or cancelled: never applied
            graph.invoke(il.Command(resume={old: "yes"}), config)
    finally:
        gate.go.set()
        fork.join(30)
    assert "error" not in box, box.get("error")
    gate.armed = False
    assert saver.get_interrupt(old).status == "cancelled"
    assert saver.get_interrupt(old).resume is None
    with pytest.raises(ResumeConflict):
        run.invoke(graph, il.Command(resume={old: "yes"}), config)
    (new,) = _pending(saver, config)
    out = run.invoke(graph, il.Command(resume={new: "yes"}), config)
    assert out["log"] == ["draft", "publish"] and out["ok"] == "yes"


def test_a_fork_sent_while_a_decision_is_carried_out_is_refused_and_cancels_nothing(
    saver: Any, run: Runner
) -> None:
    """Thread B resumes (its decision recorded, `publish` running); a fork in thread A is
    refused while B holds the thread (nothing cancelled, nothing committed); once B has
    finished, the fork goes on with nothing left to cancel."""
    gate = _Gate()
    graph = _gated(saver, gate)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    older = _at(config, _before(run, graph, config, "draft"))
    gate.armed = True
    decision, box = _in_thread(lambda: run.invoke(graph, il.Command(resume="yes"), config))
    try:
        assert gate.entered.wait(30)
        before = [s.config["configurable"]["checkpoint_id"] for s in run.history(graph, config)]
        with pytest.raises(il.ThreadBusy):
            run.invoke(graph, None, older)
        with pytest.raises(il.ThreadBusy):
            run.update_state(graph, older, {"log": ["edit"]})
        after = [s.config["configurable"]["checkpoint_id"] for s in run.history(graph, config)]
        assert after == before
        assert saver.get_interrupt(old).status == "resolved"
    finally:
        gate.go.set()
        decision.join(30)
    assert "error" not in box, box.get("error")
    assert box["out"]["log"] == ["draft", "publish"]
    gate.armed = False
    run.invoke(graph, None, older)
    assert saver.get_interrupt(old).status == "resolved"
    assert "approval.cancelled" not in _actions(saver, old)


# -- update_state(configurable.expected_head) -------------------------------------------------


def _expecting(config: dict[str, Any], head: str | None, at: str | None = None) -> dict[str, Any]:
    conf = {**config["configurable"], "expected_head": head}
    if at is not None:
        conf["checkpoint_id"] = at
    return {"configurable": conf}


def test_expected_head_that_moved_changes_nothing(saver: Any, run: Runner) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    stale = _before(run, graph, config, "draft")
    head = _head(run, graph, config)
    history = len(run.history(graph, config))
    with pytest.raises(ResumeConflict):
        run.update_state(graph, _expecting(config, stale), {"log": ["edit"]})
    with pytest.raises(ResumeConflict):  # a fork whose caller read another head
        run.update_state(graph, _expecting(config, stale, at=stale), {"log": ["edit"]})
    assert _head(run, graph, config) == head and len(run.history(graph, config)) == history
    assert _pending(saver, config) == [old]
    assert _actions(saver, old) == ["approval.requested"]
    out = run.invoke(graph, il.Command(resume="yes"), config)  # the run is intact
    assert out["ok"] == "yes"


def test_expected_head_that_holds_lets_the_update_and_the_fork_through(
    saver: Any, run: Runner
) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    head = _head(run, graph, config)
    older = _before(run, graph, config, "draft")
    new = run.update_state(graph, _expecting(config, head, at=older), {"log": ["edit"]})
    assert saver.get_interrupt(old).status == "cancelled"
    assert "expected_head" not in new["configurable"]  # the returned config chains
    run.update_state(graph, new, {"log": ["again"]})
    assert run.get_state(graph, config).values["log"] == ["edit", "again"]


def test_expected_head_on_a_thread_without_checkpoints_is_a_conflict(
    saver: Any, run: Runner
) -> None:
    graph = _linear(saver)
    config = _tid()
    with pytest.raises(ResumeConflict):
        run.update_state(graph, _expecting(config, "01" + "0" * 30), {"log": ["x"]})
    assert run.history(graph, config) == []


def test_a_command_update_at_an_older_checkpoint_cancels_once(saver: Any, run: Runner) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    older = _at(config, _before(run, graph, config, "draft"))
    head = _head(run, graph, config)
    with pytest.raises(il.SerializationError):  # checked before anything is cancelled
        run.invoke(graph, il.Command(update={"ok": object()}), older)
    assert _pending(saver, config) == [old] and _head(run, graph, config) == head
    out = run.invoke(graph, il.Command(update={"log": ["edited"]}), older)
    assert out["log"] == ["edited", "draft"]
    assert _actions(saver, old) == ["approval.cancelled", "approval.requested"]
    (new,) = _pending(saver, config)
    assert new != old


def test_the_inbox_page_of_a_request_cancelled_by_a_fork_shows_no_null_answer(
    saver: Any,
) -> None:
    from interlock.server import ApiKeys, create_app
    from tests._http import served

    graph = _linear(saver, name="doc")
    config = _tid()
    graph.invoke({"log": []}, config)
    (old,) = _pending(saver, config)
    graph.invoke(None, _at(config, _before(Runner("sync"), graph, config, "draft")))
    with served(create_app({"doc": graph}, keys=ApiKeys.parse("k-ada=ada:approver"))) as http:
        assert http.post("/inbox/login", data={"key": "k-ada"}).status_code == 303
        page = http.get(f"/inbox/{old}").text
    assert "Cancelled" in page and "went on without it" in page
    assert "<pre>null</pre>" not in page
    assert "Decided" not in page


def _risky(saver: Any) -> Any:
    """review asks (only bob may decide) when the input is risky."""

    class Risk(TypedDict, total=False):
        log: Annotated[list[str], operator.add]
        risky: bool
        ok: Any

    def review(s: Risk) -> Risk:
        if s.get("risky"):
            return {"ok": il.interrupt("publish?", approvers=["bob"]), "log": ["review"]}
        return {"log": ["review"]}

    g = il.StateGraph(Risk)
    g.add_node("draft", lambda s: {"log": ["draft"]})
    g.add_node("review", review)
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    return g.compile(checkpointer=saver, name="doc")


def test_a_state_update_at_the_explicit_head_does_not_cancel_a_request_asked_meanwhile(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.server import ApiKeys, create_app
    from interlock.server.agent_server import threads as threads_module
    from tests._http import served

    graph = _risky(saver)
    config = {"configurable": {"thread_id": uuid.uuid4().hex, "user_id": "req"}}
    graph.invoke({"risky": False}, config)  # a finished turn: nothing waits
    head = graph.get_state(config).config["configurable"]["checkpoint_id"]
    real = threads_module.update_leaves

    def moved_meanwhile(*args: Any, **kwargs: Any) -> Any:
        planned = real(*args, **kwargs)
        graph.invoke({"risky": True}, config)  # another caller's turn pauses for bob
        return planned

    monkeypatch.setattr(threads_module, "update_leaves", moved_meanwhile)
    keys = ApiKeys.parse("k-req=req:requester;k-bob=bob:approver")
    tid = config["configurable"]["thread_id"]
    with served(create_app({"doc": graph}, keys=keys, shared_threads=True)) as http:
        answer = http.post(
            f"/threads/{tid}/state",
            json={"values": {"log": ["note"]}, "checkpoint_id": head},
            headers={"X-API-Key": "k-req"},
        )
    (asked,) = saver.list_interrupts(status=None, thread_id=tid).items
    assert asked.status == "pending", f"{asked.status} by {asked.decided_by}"
    assert answer.status_code == 409


# -- a fork and two decisions racing in real processes (SQLite file, PostgreSQL) -------------


def _fork_race(spec: str, effects: Any, rounds: int) -> None:
    import multiprocessing as mp

    from tests._fork_race import build_graph, worker
    from tests._race import open_saver

    saver = open_saver(spec)
    graph = build_graph(saver, str(effects))
    plan = []
    for i in range(rounds):
        config = {"configurable": {"thread_id": f"race-{i}"}}
        graph.invoke({"log": []}, config)
        (request,) = _pending(saver, config)
        older = _before(Runner("sync"), graph, config, "draft")
        plan.append({"thread": f"race-{i}", "request": request, "older": older})
    roles = ["fork", "graph", "store"]
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(roles))
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(role, spec, str(effects), plan, barrier, out))
        for role in roles
    ]
    for p in procs:
        p.start()
    got = [out.get(timeout=120) for _ in range(len(roles) * rounds)]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert not [g for g in got if g[2].startswith("error")], got
    effects_seen = effects.read_text().splitlines() if effects.exists() else []
    for i, r in enumerate(plan):
        said = {role: o for j, role, o in got if j == i}
        old = saver.get_interrupt(r["request"])
        acts = _actions(saver, r["request"])
        terminal = [a for a in acts if a != "approval.requested"]
        assert len(terminal) == 1, (said, acts)  # decided or cancelled, once
        published = [e for e in effects_seen if e.startswith(f"{r['thread']}|")]
        assert len(published) <= 1, published
        if old.status == "cancelled":
            assert said["fork"] == "ok" and "ok" not in (said["graph"], said["store"]), said
            assert published == []  # the old branch never went on
        else:
            assert old.status == "resolved", (said, old.status)
            winners = [w for w in ("graph", "store") if said[w] == "ok"]
            assert winners == [old.decided_by], (said, old.decided_by)
            if published:  # carried out: by the graph decider, with its answer
                assert published == [f"{r['thread']}|graph"] and old.decided_by == "graph"
    saver.close()


@pytest.mark.slow
def test_a_fork_and_two_decisions_racing_on_one_sqlite_file(tmp_path: Any) -> None:
    _fork_race(f"sqlite:{tmp_path / 'race.db'}", tmp_path / "effects.log", rounds=8)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_fork_and_two_decisions_racing_on_postgres(tmp_path: Any) -> None:
    from tests.pg import postgres_spec

    _fork_race(postgres_spec(), tmp_path / "effects.log", rounds=8)


# -- a fork's stream closed early, an update at the head named explicitly --------------------


@pytest.mark.parametrize("durability", ["sync", "exit"])
def test_a_fork_stream_closed_after_its_first_chunk_keeps_request_and_head_together(
    saver: Any, durability: str
) -> None:
    """Under exit durability nothing is written (the request stays pending, the head stays);
    otherwise the input checkpoint is the new head (the request is cancelled). Never one
    without the other."""
    graph = _linear(saver)
    config = _tid()
    graph.invoke({"log": []}, config)
    (old,) = _pending(saver, config)
    head = _head(Runner("sync"), graph, config)
    older = _at(config, _before(Runner("sync"), graph, config, "draft"))
    chunks = graph.stream({"log": ["x"]}, older, durability=durability, stream_mode="values")
    assert next(chunks) == {"log": ["x"]}
    chunks.close()
    moved = _head(Runner("sync"), graph, config) != head
    assert moved == (durability == "sync")
    assert (saver.get_interrupt(old).status == "pending") == (not moved)


def test_update_state_at_the_head_named_by_id_is_no_fork_and_cancels_once(
    saver: Any, run: Runner
) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    run.update_state(graph, _at(config, _head(run, graph, config)), {"log": ["note"]})
    assert _actions(saver, old) == ["approval.cancelled", "approval.requested"]
    assert run.get_state(graph, config).values["log"] == ["draft", "note"]
    sources = [s.metadata["source"] for s in run.history(graph, config)]
    assert "fork" not in sources


@pytest.mark.postgres
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_fork_whose_commit_postgres_refuses_leaves_the_old_request_pending(
    tmp_path: Any, mode: str
) -> None:
    from tests.conftest import make_saver

    saver = make_saver("postgres", tmp_path)
    run = Runner(mode)
    try:
        graph = _linear(saver)
        config = _tid()
        run.invoke(graph, {"log": []}, config)
        (old,) = _pending(saver, config)
        head = _head(run, graph, config)
        with pytest.raises(il.SerializationError):
            run.invoke(
                graph, {"log": ["a\x00b"]}, _at(config, _before(run, graph, config, "draft"))
            )
        assert _head(run, graph, config) == head
        assert _pending(saver, config) == [old]
        # given back: the cancel and the reopening are both on the record, with the reason
        assert _actions(saver, old) == [
            "approval.cancelled",
            "approval.reopened",
            "approval.requested",
        ]
        reopened = saver.get_interrupt(old).metadata["reopened"]
        assert "did not happen" in reopened["reason"]
        assert "SerializationError" in reopened["reason"]
        out = run.invoke(graph, il.Command(resume="yes"), config)  # and it is carried out
        assert out["ok"] == "yes"
    finally:
        saver.close()


def test_update_state_fork_with_a_request_decided_as_it_starts_changes_nothing(
    saver: Any, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.graph import _compiled

    graph = _linear(saver)
    config = _tid()
    tid = config["configurable"]["thread_id"]
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    head = _head(run, graph, config)
    older = _at(config, _before(run, graph, config, "draft"))
    read, aread = _compiled.pending_ids, _compiled.apending_ids

    def decided_meanwhile(store: Any, thread_id: str, ns: str = "") -> tuple[str, ...]:
        ids = read(store, thread_id, ns)
        saver.resolve_interrupts(tid, {old: "yes"}, decided_by="ada")
        return ids

    async def adecided_meanwhile(store: Any, thread_id: str, ns: str = "") -> tuple[str, ...]:
        ids = await aread(store, thread_id, ns)
        await saver.aresolve_interrupts(tid, {old: "yes"}, decided_by="ada")
        return ids

    monkeypatch.setattr(_compiled, "pending_ids", decided_meanwhile)
    monkeypatch.setattr(_compiled, "apending_ids", adecided_meanwhile)
    with pytest.raises(ResumeConflict):
        run.update_state(graph, older, {"log": ["edit"]})
    monkeypatch.undo()
    assert _head(run, graph, config) == head
    assert saver.get_interrupt(old).status == "resolved"
    assert _actions(saver, old).count("approval.cancelled") == 0
    out = run.invoke(graph, None, config)  # the recorded decision is carried out
    assert out["ok"] == "yes" and out["log"] == ["draft", "review", "publish"]


def test_a_per_call_breakpoint_at_the_fork_point_pauses_the_new_branch(
    saver: Any, run: Runner
) -> None:
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    out = run.invoke(
        graph, None, _at(config, _before(run, graph, config, "draft")), interrupt_before=["draft"]
    )
    assert "__interrupt__" in out
    assert saver.get_interrupt(old).status == "cancelled"
    assert run.get_state(graph, config).next == ("draft",)
    out = run.invoke(graph, None, config)
    (asked,) = _pending(saver, config)
    assert asked != old and out["log"] == ["draft"]


def test_a_fork_of_a_fork_back_to_a_paused_subgraph(saver: Any, run: Runner) -> None:
    """Back to the old branch's pause inside a subgraph (its request cancelled by the first
    fork): the subgraph asks again under a new id, the second branch's request is
    cancelled, and the answer reaches the subgraph."""
    graph = _with_subgraph(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (r1,) = _pending(saver, config)
    first_head = _head(run, graph, config)
    run.invoke(graph, None, _at(config, _before(run, graph, config, "prep")))
    (r2,) = _pending(saver, config)
    out = run.invoke(graph, None, _at(config, first_head))
    (r3,) = _pending(saver, config)
    assert len({r1, r2, r3}) == 3 and out["__interrupt__"][0].id == r3
    assert [saver.get_interrupt(r).status for r in (r1, r2)] == ["cancelled", "cancelled"]
    out = run.invoke(graph, il.Command(resume="yes"), config)
    assert out["ok"] == "yes" and _pending(saver, config) == []


def test_a_resume_at_an_older_paused_checkpoint_says_why_it_is_refused(saver: Any) -> None:
    graph = _linear(saver)
    config = _tid()
    graph.invoke({"log": []}, config)
    first_head = _head(Runner("sync"), graph, config)
    graph.invoke(None, _at(config, _before(Runner("sync"), graph, config, "draft")))
    with pytest.raises(ResumeError) as refused:
        graph.invoke(il.Command(resume="yes"), _at(config, first_head))
    assert "no pending interrupt" not in str(refused.value)
    assert first_head in str(refused.value)


def test_an_agent_server_fork_does_not_cancel_a_request_asked_after_its_check(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.server import ApiKeys, create_app
    from interlock.server.agent_server import _plan
    from tests._http import served

    graph = _risky(saver)
    config = {"configurable": {"thread_id": uuid.uuid4().hex, "user_id": "req"}}
    graph.invoke({"risky": False}, config)
    older = _before(Runner("sync"), graph, config, "draft")
    real = _plan.check_fork

    def moved_meanwhile(*args: Any, **kwargs: Any) -> Any:
        checked = real(*args, **kwargs)
        graph.invoke({"risky": True}, config)  # another caller's turn pauses for bob
        return checked

    monkeypatch.setattr(_plan, "check_fork", moved_meanwhile)
    keys = ApiKeys.parse("k-req=req:requester;k-bob=bob:approver")
    tid = config["configurable"]["thread_id"]
    with served(create_app({"doc": graph}, keys=keys, shared_threads=True)) as http:
        answer = http.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "doc", "input": {"log": ["again"]}, "checkpoint_id": older},
            headers={"X-API-Key": "k-req"},
        )
    (asked,) = saver.list_interrupts(status=None, thread_id=tid).items
    assert asked.status == "pending", f"{asked.status} by {asked.decided_by}"
    assert answer.status_code == 409


def test_a_fork_whose_write_the_store_refuses_gives_the_old_request_back(
    saver: Any, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails after its cancels (here: another run moved the head first, as the
    store reports it) gives the requests back: pending, resumable, the cancel and the
    reopening both audited."""
    graph = _linear(saver)
    config = _tid()
    run.invoke(graph, {"log": []}, config)
    (old,) = _pending(saver, config)
    head = _head(run, graph, config)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise il.ResumeConflict("another run committed first")

    async def arefuse(*args: Any, **kwargs: Any) -> None:
        refuse()

    monkeypatch.setattr(saver, "put_checkpoint", refuse)
    monkeypatch.setattr(saver, "aput_checkpoint", arefuse)
    with pytest.raises(il.ResumeConflict):
        run.invoke(graph, {"log": []}, _at(config, _before(run, graph, config, "draft")))
    monkeypatch.undo()
    assert _head(run, graph, config) == head
    assert _pending(saver, config) == [old]
    assert _actions(saver, old) == ["approval.cancelled", "approval.reopened", "approval.requested"]
    assert "ResumeConflict" in saver.get_interrupt(old).metadata["reopened"]["reason"]
    assert run.invoke(graph, il.Command(resume="yes"), config)["ok"] == "yes"
