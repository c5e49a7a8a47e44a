"""Inspection and editing: get_state, history, update_state, replay and fork."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import START, Command, InvalidUpdate, ResumeError, StateGraph, interrupt


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    draft: str


def cfg(thread: str = "t") -> dict:
    return {"configurable": {"thread_id": thread}}


def three_steps(saver: Any, **kw: Any):
    g = StateGraph(S)
    for name in ("a", "b", "c"):
        g.add_node(name, (lambda n: lambda s: {"log": [n]})(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g.compile(checkpointer=saver, **kw)


def test_history_newest_first_with_paging(run, saver) -> None:
    graph = three_steps(saver)
    run.invoke(graph, {"log": []}, cfg())
    history = run.history(graph, cfg())
    assert [h.values.get("log") for h in history] == [
        ["a", "b", "c"],
        ["a", "b"],
        ["a"],
        [],
    ]
    assert [h.next for h in history] == [(), ("c",), ("b",), ("a",)]
    assert [h.metadata["source"] for h in history] == ["loop", "loop", "loop", "input"]
    assert history[0].parent_config == history[1].config
    page = run.history(graph, cfg(), limit=2)
    assert [p.config for p in page] == [h.config for h in history[:2]]
    rest = run.history(graph, cfg(), before=page[-1].config)
    assert [p.config for p in rest] == [h.config for h in history[2:]]
    assert run.get_state(graph, history[2].config).values == {"log": ["a"]}


def test_get_state_of_unknown_thread_is_empty(run, saver) -> None:
    state = run.get_state(three_steps(saver), cfg("nobody"))
    assert state.values == {} and state.next == () and state.tasks == ()


def test_update_state_as_node_routes_from_that_node(run, saver) -> None:
    graph = three_steps(saver, interrupt_before=["b"])
    run.invoke(graph, {"log": []}, cfg())
    new_config = run.update_state(graph, cfg(), {"log": ["edited"]}, as_node="a")
    state = run.get_state(graph, cfg())
    assert state.config == new_config
    assert state.values["log"] == ["a", "edited"]
    assert state.next == ("b",)
    assert state.metadata["source"] == "update"
    # still paused before b: the edit keeps the pause, resuming continues
    assert len(state.interrupts) == 1
    assert run.invoke(graph, None, cfg())["log"] == ["a", "edited", "b", "c"]


def test_update_state_without_as_node_keeps_the_plan(run, saver) -> None:
    graph = three_steps(saver, interrupt_before=["c"])
    run.invoke(graph, {"log": []}, cfg())
    run.update_state(graph, cfg(), {"draft": "v2"})
    state = run.get_state(graph, cfg())
    assert state.next == ("c",) and state.values["draft"] == "v2"
    assert run.invoke(graph, None, cfg())["log"] == ["a", "b", "c"]


def test_update_state_cancels_a_pending_question_and_the_node_asks_again(run, saver) -> None:
    g = StateGraph(S)
    g.add_node("ask", lambda s: {"draft": interrupt({"draft": s.get("draft")})})
    g.add_edge(START, "ask")
    graph = g.compile(checkpointer=saver)
    first = run.invoke(graph, {"draft": "v1"}, cfg())
    old_id = first["__interrupt__"][0].id
    run.update_state(graph, cfg(), {"draft": "v2"})
    assert run.get_state(graph, cfg()).interrupts == ()
    again = run.invoke(graph, None, cfg())
    assert again["__interrupt__"][0].value == {"draft": "v2"}
    assert again["__interrupt__"][0].id != old_id
    with pytest.raises(ResumeError):
        run.invoke(graph, Command(resume={old_id: "x"}), cfg())
    assert run.invoke(graph, Command(resume="final"), cfg())["draft"] == "final"


def test_update_state_rejects_unknown_node(run, saver) -> None:
    graph = three_steps(saver)
    run.invoke(graph, {"log": []}, cfg())
    with pytest.raises(InvalidUpdate, match="no such node"):
        run.update_state(graph, cfg(), {"log": ["x"]}, as_node="zzz")


def test_replay_and_fork_from_an_older_checkpoint(run, saver) -> None:
    graph = three_steps(saver)
    run.invoke(graph, {"log": []}, cfg())
    history = run.history(graph, cfg())
    after_a = history[2]  # next == ("b",)
    assert after_a.next == ("b",)
    replay = run.invoke(graph, None, after_a.config)
    assert replay["log"] == ["a", "b", "c"]
    # the replay branched off after_a; the thread's head moved to the new branch
    head = run.get_state(graph, cfg())
    assert head.values["log"] == ["a", "b", "c"]
    assert head.config != history[0].config
    # a fork checkpoint (LangGraph's "fork": a copy of after_a, the new head) and two steps
    assert len(run.history(graph, cfg())) == len(history) + 3
    assert run.history(graph, cfg())[2].metadata["source"] == "fork"
    # fork: edit an old checkpoint, then continue from the edit
    fork_config = run.update_state(graph, after_a.config, {"log": ["forked"]})
    forked = run.invoke(graph, None, fork_config)
    assert forked["log"] == ["a", "forked", "b", "c"]


def test_state_values_returned_to_callers_are_copies(run, saver) -> None:
    graph = three_steps(saver)
    result = run.invoke(graph, {"log": []}, cfg())
    result["log"].append("mutated by caller")
    assert run.get_state(graph, cfg()).values["log"] == ["a", "b", "c"]


def test_without_the_state_cache_reads_are_the_same(run, saver) -> None:
    graph = three_steps(saver)
    graph.state_cache_size = 0
    run.invoke(graph, {"log": []}, cfg())
    assert run.get_state(graph, cfg()).values == {"log": ["a", "b", "c"]}
    assert run.invoke(graph, {"log": ["x"]}, cfg())["log"] == ["a", "b", "c", "x", "a", "b", "c"]
