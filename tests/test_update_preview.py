"""`planned_next`: the plan an `update_state` would leave, worked out without writing
anything (no checkpoint, no cancelled request), equal to the plan the update then commits.
The Agent Server's no-detour policy reads it before it lets a state change through."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock.errors import ResumeConflict
from interlock.graph._run import EXPECTED_HEAD
from interlock.graph._update_preview import planned_next
from tests.conftest import make_saver


class Payment(TypedDict, total=False):
    amount: int
    ok: str


def _graph(saver: Any, **compile: Any) -> Any:
    g = il.StateGraph(Payment)
    g.add_node("review", lambda s: {"ok": il.interrupt(f"pay {s['amount']}?")})
    g.add_node("pay", lambda s: {})
    g.add_edge(il.START, "review")
    g.add_conditional_edges("review", lambda s: "pay" if s.get("ok") == "yes" else il.END)
    return g.compile(checkpointer=saver, **compile)


def _history(app: Any, config: Any) -> list[str]:
    return [s.config["configurable"]["checkpoint_id"] for s in app.get_state_history(config)]


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_the_plan_of_an_update_without_writing_it(kind: str, tmp_path: Path) -> None:
    saver = make_saver(kind, tmp_path)
    app = _graph(saver)
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"amount": 10}, config)
    pending = app.get_state(config).interrupts
    # a pending request is not cancelled by the dry run
    head = app.get_state(config).config["configurable"]["checkpoint_id"]
    assert planned_next(app, config, {"ok": "yes"}, "review") == (("pay",), False, head)
    assert app.get_state(config).interrupts == pending
    assert saver.list_interrupts(status="pending", thread_id="t").items[0].status == "pending"
    app.invoke(il.Command(resume="no"), config)
    before = _history(app, config)
    cases = [
        ({"ok": "yes"}, None, ("pay",)),  # inferred as `review`, whose branch now leads on
        ({"amount": 3}, None, ()),  # the branch still ends
        ({"ok": "yes"}, il.END, ()),
        ({"amount": 3}, il.START, ("review",)),
    ]
    head = app.get_state(config).config["configurable"]["checkpoint_id"]
    for values, as_node, nxt in cases:
        assert planned_next(app, config, values, as_node) == (nxt, False, head)
        assert _history(app, config) == before  # nothing written
    app.update_state(config, {"ok": "yes"})
    assert app.get_state(config).next == ("pay",)  # as planned
    with pytest.raises(il.InvalidUpdate):
        planned_next(app, config, {"ok": "x"}, "nowhere")


def test_a_pause_before_a_breakpoint_stays_a_pause(tmp_path: Path) -> None:
    """Nodes that would wait at a breakpoint are reported as held."""
    g = il.StateGraph(Payment)
    g.add_node("prep", lambda s: {"ok": "prepared"})
    g.add_node("pay", lambda s: {})
    g.add_edge(il.START, "prep")
    g.add_edge("prep", "pay")
    app = g.compile(checkpointer=il.InMemorySaver(), interrupt_before=["pay"])
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"amount": 1}, config)
    assert planned_next(app, config, {"amount": 2}, None)[:2] == (("pay",), True)
    assert app.get_state(config).interrupts  # still paused, nothing cancelled


@pytest.mark.parametrize("kind", ["memory", "sqlite", "postgres"])
def test_an_update_made_on_a_head_that_moved_on_changes_nothing(kind: str, tmp_path: Path) -> None:
    """`configurable[EXPECTED_HEAD]`: the head the update was worked out on. A run that
    moved the thread on since makes the update a `ResumeConflict`, nothing written."""
    saver = make_saver(kind, tmp_path)
    app = _graph(saver)
    config = {"configurable": {"thread_id": "t"}}
    app.invoke({"amount": 10}, config)
    app.invoke(il.Command(resume="yes"), config)
    _, _, head = planned_next(app, config, {"amount": 3}, None)
    app.invoke({"amount": 20}, config)  # moves on: a new turn, paused at the review
    before = _history(app, config)
    expecting = {"configurable": {"thread_id": "t", EXPECTED_HEAD: head}}
    with pytest.raises(ResumeConflict):
        app.update_state(expecting, {"amount": 3})
    assert _history(app, config) == before
    assert app.get_state(config).interrupts  # the new turn's request still waits
    now = app.get_state(config).config["configurable"]["checkpoint_id"]
    changed = app.update_state(
        {"configurable": {"thread_id": "t", EXPECTED_HEAD: now}}, {"amount": 4}
    )
    assert app.get_state(changed).values["amount"] == 4
    saver.close()
