"""A fork in the library — `invoke`/`stream` or `update_state` with an older
`checkpoint_id` — cancels the requests that waited on the thread's old head, exactly once
and audited, so the inbox does not list requests nobody can carry out any more.

LangGraph has no request index: it leaves the old head's interrupt on the abandoned
branch. interlock cancels it (status `cancelled`, audit `approval.cancelled`); a decision
sent to it afterwards is refused with `ResumeConflict`, and the fork's own pause is a new
request, decided once.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import START, Command, ResumeConflict, StateGraph, interrupt
from tests.conftest import Runner


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def _graph(saver: Any) -> Any:
    g = StateGraph(State)
    g.add_node("draft", lambda s: {"log": [f"draft:{len(s['log'])}"]})
    g.add_node("review", lambda s: {"log": [f"ok:{interrupt('send it?')}"]})
    g.add_edge(START, "draft")
    g.add_edge("draft", "review")
    return g.compile(checkpointer=saver)


CONFIG = {"configurable": {"thread_id": "t", "user_id": "ada"}}


def _at(snapshot: Any) -> dict[str, Any]:
    return {"configurable": {**snapshot.config["configurable"], "user_id": "ada"}}


def _waiting(run: Runner, saver: Any) -> tuple[Any, Any, list[Any]]:
    """A thread paused on its review; its history (newest first)."""
    app = _graph(saver)
    [request] = run.invoke(app, {"log": ["hi"]}, CONFIG)["__interrupt__"]
    assert _pending(saver) == [request.id]
    return app, request, run.history(app, CONFIG)


def _pending(saver: Any) -> list[str]:
    return [r.interrupt_id for r in saver.list_interrupts(status="pending").items]


def _cancelled(saver: Any) -> list[tuple[str | None, str | None]]:
    entries = saver.list_audit(thread_id="t").items
    return [(e.interrupt_id, e.actor) for e in entries if e.action == "approval.cancelled"]


def _refused_then_new_one_once(run: Runner, app: Any, saver: Any, old: Any, new: Any) -> None:
    """The old request is cancelled (once, audited); deciding it is refused; the fork's
    new request is the one pending, and it is decided exactly once."""
    assert saver.get_interrupt(old.id).status == "cancelled"
    assert _cancelled(saver) == [(old.id, "ada")]
    with pytest.raises(ResumeConflict, match="cancelled"):
        run.invoke(app, Command(resume={old.id: "late"}), CONFIG)
    with pytest.raises(ResumeConflict, match="cancelled"):
        saver.resolve_interrupts("t", {old.id: "late"})
    assert new.id != old.id
    assert _pending(saver) == [new.id]
    done = run.invoke(app, Command(resume={new.id: "yes"}), CONFIG)
    assert done["log"][-1] == "ok:yes"
    with pytest.raises(ResumeConflict, match="resolved"):
        run.invoke(app, Command(resume={new.id: "again"}), CONFIG)
    assert _pending(saver) == [] and _cancelled(saver) == [(old.id, "ada")]


def test_a_replay_from_an_older_checkpoint(saver: Any, run: Runner) -> None:
    app, old, history = _waiting(run, saver)
    before_draft = history[-1]
    assert before_draft.next == ("draft",)
    out = run.invoke(app, None, _at(before_draft))
    [new] = out["__interrupt__"]
    assert out["log"] == ["hi", "draft:1"]
    assert run.get_state(app, CONFIG).interrupts == (new,)
    _refused_then_new_one_once(run, app, saver, old, new)


def test_new_input_at_an_older_checkpoint(saver: Any, run: Runner) -> None:
    app, old, history = _waiting(run, saver)
    chunks = run.stream(app, {"log": ["edited"]}, _at(history[-1]), stream_mode="updates")
    [new] = chunks[-1]["__interrupt__"]
    assert run.get_state(app, CONFIG).values["log"] == ["hi", "edited", "draft:2"]
    _refused_then_new_one_once(run, app, saver, old, new)


def test_a_command_at_an_older_checkpoint(saver: Any, run: Runner) -> None:
    app, old, history = _waiting(run, saver)
    out = run.invoke(app, Command(update={"log": ["cmd"]}), _at(history[-1]))
    [new] = out["__interrupt__"]
    # LangGraph 1.2.22: {'log': ['hi', 'cmd', 'draft:2']}, from a checkpoint with source
    # "fork" carrying the update (the older checkpoint's plan runs, not START's)
    assert out["log"] == ["hi", "cmd", "draft:2"]
    assert run.history(app, CONFIG)[1].metadata["source"] == "fork"
    _refused_then_new_one_once(run, app, saver, old, new)


def test_update_state_at_an_older_checkpoint(saver: Any, run: Runner) -> None:
    app, old, history = _waiting(run, saver)
    made = run.update_state(app, _at(history[-1]), {"log": ["fixed"]})
    state = run.get_state(app, CONFIG)
    assert state.config["configurable"]["checkpoint_id"] == made["configurable"]["checkpoint_id"]
    assert state.parent_config == history[-1].config
    assert state.interrupts == ()
    assert saver.get_interrupt(old.id).status == "cancelled"
    assert _pending(saver) == []  # the inbox lists nothing: the update left it behind
    [new] = run.invoke(app, None, CONFIG)["__interrupt__"]
    _refused_then_new_one_once(run, app, saver, old, new)


def test_a_fork_cancels_a_paused_subgraphs_request(saver: Any, run: Runner) -> None:
    inner = StateGraph(State)
    inner.add_node("ask", lambda s: {"log": [f"inner:{interrupt('inner?')}"]})
    inner.add_edge(START, "ask")
    outer = StateGraph(State)
    outer.add_node("prep", lambda s: {"log": ["prep"]})
    outer.add_node("sub", inner.compile())
    outer.add_edge(START, "prep")
    outer.add_edge("prep", "sub")
    app = outer.compile(checkpointer=saver)
    [old] = run.invoke(app, {"log": []}, CONFIG)["__interrupt__"]
    assert saver.get_interrupt(old.id).checkpoint_ns  # asked inside the subgraph
    first = run.history(app, CONFIG)[-1]
    [new] = run.invoke(app, None, _at(first))["__interrupt__"]
    assert saver.get_interrupt(old.id).status == "cancelled"
    assert _pending(saver) == [new.id]
    with pytest.raises(ResumeConflict, match="cancelled"):
        run.invoke(app, Command(resume={old.id: "late"}), CONFIG)
    assert run.invoke(app, Command(resume="yes"), CONFIG)["log"][-1] == "inner:yes"


def test_a_fork_with_nothing_waiting_cancels_nothing(saver: Any, run: Runner) -> None:
    app, old, history = _waiting(run, saver)
    run.invoke(app, Command(resume="yes"), CONFIG)
    [new] = run.invoke(app, None, _at(history[-1]))["__interrupt__"]
    # a second fork: the first one's request waits on the head now, and goes
    [newer] = run.invoke(app, None, _at(history[-1]))["__interrupt__"]
    assert saver.get_interrupt(old.id).status == "resolved"
    assert _cancelled(saver) == [(new.id, "ada")]
    assert _pending(saver) == [newer.id]


def test_the_head_itself_is_no_fork(saver: Any, run: Runner) -> None:
    app, old, history = _waiting(run, saver)
    assert run.invoke(app, Command(resume="yes"), _at(history[0]))["log"][-1] == "ok:yes"
    assert saver.get_interrupt(old.id).status == "resolved"
    assert _cancelled(saver) == []
