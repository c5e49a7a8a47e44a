"""A fork in the library (a run, or `update_state`, from a checkpoint older than the
thread's head) moves the head to a new branch; the requests that waited on the old head can
never be carried out then, so the fork cancels them — exactly once, as the Agent Server's
forks do: a request decided before the fork makes the fork fail with `ResumeConflict`, and a
decision sent after it is refused. No request is left pending in the inbox for a branch no
one will run. Every store, sync and async."""

from __future__ import annotations

import operator
import uuid
from typing import Annotated, Any, TypedDict

import pytest

import interlock as il
from interlock.errors import ResumeConflict
from interlock.graph import _compiled
from tests.conftest import Runner


class Doc(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    ok: Any


def _graph(saver: Any) -> Any:
    g = il.StateGraph(Doc)
    g.add_node("draft", lambda s: {"log": ["draft"]})
    g.add_node("review", lambda s: {"ok": il.interrupt("publish?"), "log": ["review"]})
    g.add_node("publish", lambda s: {"log": ["publish"]})
    g.add_edge(il.START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", "publish")
    return g.compile(checkpointer=saver)


def _paused(run: Runner, graph: Any, saver: Any) -> tuple[dict[str, Any], str, str]:
    """A thread paused at `review`: its config, its pending request's id, and the id of the
    checkpoint before `draft` ran (a fork point older than the head)."""
    config = {"configurable": {"thread_id": uuid.uuid4().hex}}
    run.invoke(graph, {"log": []}, config)
    (request,) = saver.list_interrupts(
        status="pending", thread_id=config["configurable"]["thread_id"]
    ).items
    older = next(s for s in run.history(graph, config) if s.next == ("draft",)).config[
        "configurable"
    ]["checkpoint_id"]
    return config, request.interrupt_id, older


def _pending(saver: Any, thread_id: str) -> list[str]:
    return [
        r.interrupt_id for r in saver.list_interrupts(status="pending", thread_id=thread_id).items
    ]


def _at(config: dict[str, Any], checkpoint_id: str) -> dict[str, Any]:
    return {"configurable": {**config["configurable"], "checkpoint_id": checkpoint_id}}


def test_a_replay_from_an_older_checkpoint_cancels_the_old_request(saver: Any, run: Runner) -> None:
    graph = _graph(saver)
    config, old, older = _paused(run, graph, saver)
    tid = config["configurable"]["thread_id"]
    run.invoke(graph, None, _at(config, older))  # replays draft, asks again
    assert saver.get_interrupt(old).status == "cancelled"
    (new,) = _pending(saver, tid)
    assert new != old
    with pytest.raises(ResumeConflict):  # the old branch's request cannot be decided now
        saver.resolve_interrupts(tid, {old: "yes"}, decided_by="ada")
    out = run.invoke(graph, il.Command(resume="yes"), config)  # the new branch's request
    assert out["log"] == ["draft", "review", "publish"] and out["ok"] == "yes"
    assert _pending(saver, tid) == []


def test_a_fork_with_new_input_cancels_the_old_request(saver: Any, run: Runner) -> None:
    graph = _graph(saver)
    config, old, older = _paused(run, graph, saver)
    tid = config["configurable"]["thread_id"]
    run.invoke(graph, {"log": ["again"]}, _at(config, older))
    assert saver.get_interrupt(old).status == "cancelled"
    assert len(_pending(saver, tid)) == 1 and _pending(saver, tid) != [old]


def test_update_state_at_an_older_checkpoint_cancels_the_old_request(
    saver: Any, run: Runner
) -> None:
    graph = _graph(saver)
    config, old, older = _paused(run, graph, saver)
    tid = config["configurable"]["thread_id"]
    run.update_state(graph, _at(config, older), {"log": ["note"]})
    assert saver.get_interrupt(old).status == "cancelled"
    assert _pending(saver, tid) == []
    entries = [e for e in saver.list_audit(thread_id=tid).items if e.interrupt_id == old]
    assert sorted(e.action for e in entries) == ["approval.cancelled", "approval.requested"]


def test_a_request_decided_as_the_fork_starts_makes_the_fork_fail_and_changes_nothing(
    saver: Any, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exactly once: an approver decides the old request after the fork read it as pending
    and before the fork cancels it. The fork then fails and changes nothing; the decision
    is carried out by the next resume."""
    graph = _graph(saver)
    config, old, older = _paused(run, graph, saver)
    tid = config["configurable"]["thread_id"]
    head = run.get_state(graph, config).config["configurable"]["checkpoint_id"]
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
        run.invoke(graph, None, _at(config, older))
    monkeypatch.undo()
    assert run.get_state(graph, config).config["configurable"]["checkpoint_id"] == head
    assert saver.get_interrupt(old).status == "resolved"
    out = run.invoke(graph, None, config)  # the recorded decision is carried out
    assert out["log"] == ["draft", "review", "publish"] and out["ok"] == "yes"


def test_a_decided_request_not_carried_out_yet_stays_decided_on_the_old_branch(
    saver: Any, run: Runner
) -> None:
    """A fork from before a decision that was recorded but not carried out (the run that
    would apply it failed, say) is how a developer goes back: the fork goes on, the
    decision stays as it was made (it is not cancelled, nor applied on the new branch, which
    asks again)."""
    graph = _graph(saver)
    config, old, older = _paused(run, graph, saver)
    tid = config["configurable"]["thread_id"]
    saver.resolve_interrupts(tid, {old: "yes"}, decided_by="ada")
    run.invoke(graph, None, _at(config, older))
    assert saver.get_interrupt(old).status == "resolved"
    (new,) = _pending(saver, tid)
    assert new != old


def test_a_run_from_the_head_itself_cancels_nothing(saver: Any, run: Runner) -> None:
    graph = _graph(saver)
    config, old, _ = _paused(run, graph, saver)
    head = run.get_state(graph, config).config["configurable"]["checkpoint_id"]
    out = run.invoke(graph, il.Command(resume="no"), _at(config, head))
    assert out["ok"] == "no" and saver.get_interrupt(old).status == "resolved"
