"""LangGraph parity: deferred nodes (`add_node(..., defer=True)`) and the order a step's
parallel writes are folded in.

Every expected value here is what LangGraph 1.2.22 gives for the same program (run with
its imports on /tmp/benchvenv), except where a comment says `DIFFERENCE:` (interlock's
history has no `__start__` checkpoint, and its breakpoints leave a marker).

- A deferred node an edge triggers waits while any other node would run, then runs once;
  sends do not hold it back, and a `Send` to it runs it at once.
- A step's writes go through the reducers with the nodes by name first, then the sends in
  the order they were sent, whatever order the tasks finished in; the stored writes keep
  that order, and a thread stored in the older order reads back as it was stored.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import (
    END,
    START,
    AIMessage,
    Command,
    InMemorySaver,
    RecursionLimit,
    Send,
    StateGraph,
    add_messages,
    interrupt,
)


class S(TypedDict):
    log: Annotated[list[str], operator.add]


def mk(name: str) -> Any:
    return lambda state: {"log": [name]}


def cfg(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def docs_graph(d: Any = None, b_2: Any = None) -> StateGraph:
    """LangGraph's documented example: `d` waits for the branches of uneven length."""
    g = StateGraph(S)
    g.add_node("a", mk("a"))
    g.add_node("b", mk("b"))
    g.add_node("b_2", b_2 or mk("b_2"))
    g.add_node("c", mk("c"))
    g.add_node("d", d or mk("d"), defer=True)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    g.add_edge("b", "b_2")
    g.add_edge("b_2", "d")
    g.add_edge("c", "d")
    g.add_edge("d", END)
    return g


def intr_values(result: dict[str, Any]) -> list[Any]:
    return [i.value for i in result["__interrupt__"]]


# ---- deferred nodes --------------------------------------------------------------------------


def test_deferred_node_runs_once_after_the_longer_branch(saver: Any, run: Any) -> None:
    app = docs_graph().compile(checkpointer=saver)
    assert run.invoke(app, {"log": []}, cfg()) == {"log": ["a", "b", "c", "b_2", "d"]}
    chunks = run.stream(app, {"log": []}, cfg("s"), stream_mode="updates")
    assert [next(iter(c)) for c in chunks] == ["a", "b", "c", "b_2", "d"]
    history = run.history(app, cfg())[::-1]
    # DIFFERENCE: LangGraph's history starts with a `('__start__',)` checkpoint
    assert [(s.next, s.values["log"]) for s in history] == [
        (("a",), []),
        (("b", "c"), ["a"]),
        (("b_2",), ["a", "b", "c"]),
        (("d",), ["a", "b", "c", "b_2"]),
        ((), ["a", "b", "c", "b_2", "d"]),
    ]


def test_deferred_node_without_a_checkpointer() -> None:
    assert docs_graph().compile().invoke({"log": []}) == {"log": ["a", "b", "c", "b_2", "d"]}


def test_deferred_node_that_interrupts_and_resumes(saver: Any, run: Any) -> None:
    def d(state: S) -> dict[str, Any]:
        return {"log": ["d:" + interrupt("ok?")]}

    app = docs_graph(d=d).compile(checkpointer=saver)
    first = run.invoke(app, {"log": []}, cfg())
    assert first["log"] == ["a", "b", "c", "b_2"] and intr_values(first) == ["ok?"]
    state = run.get_state(app, cfg())
    assert state.next == ("d",)
    assert [(t.name, [i.value for i in t.interrupts]) for t in state.tasks] == [("d", ["ok?"])]
    assert run.invoke(app, Command(resume="yes"), cfg()) == {"log": ["a", "b", "c", "b_2", "d:yes"]}
    assert run.get_state(app, cfg()).next == ()


def test_held_deferred_node_survives_a_pause_in_a_sibling(saver: Any, run: Any) -> None:
    calls: list[str] = []

    def b_2(state: S) -> dict[str, Any]:
        return {"log": ["b_2:" + interrupt("b2?")]}

    def d(state: S) -> dict[str, Any]:
        calls.append("d")
        return {"log": ["d"]}

    app = docs_graph(d=d, b_2=b_2).compile(checkpointer=saver)
    first = run.invoke(app, {"log": []}, cfg())
    assert first["log"] == ["a", "b", "c"] and intr_values(first) == ["b2?"]
    state = run.get_state(app, cfg())
    assert state.next == ("b_2",) and [t.name for t in state.tasks] == ["b_2"]
    # the held node is stored with the checkpoint (a key of its `barriers`)
    stored = saver.get_checkpoint("t")
    assert stored is not None and stored.record.barriers == {"__deferred__": ("d",)}
    again = docs_graph(d=d, b_2=b_2).compile(checkpointer=saver)  # another process
    assert run.invoke(again, Command(resume="y"), cfg()) == {"log": ["a", "b", "c", "b_2:y", "d"]}
    assert calls == ["d"]


def test_breakpoints_around_a_deferred_node(saver: Any, run: Any) -> None:
    app = docs_graph().compile(checkpointer=saver, interrupt_before=["d"])
    first = run.invoke(app, {"log": []}, cfg("before"))
    # DIFFERENCE: interlock's result carries the breakpoint's marker
    assert first["log"] == ["a", "b", "c", "b_2"] and "__interrupt__" in first
    assert run.get_state(app, cfg("before")).next == ("d",)
    assert run.invoke(app, None, cfg("before")) == {"log": ["a", "b", "c", "b_2", "d"]}

    app = docs_graph().compile(checkpointer=saver, interrupt_after=["b_2"])
    run.invoke(app, {"log": []}, cfg("after"))
    assert run.get_state(app, cfg("after")).next == ("d",)
    assert run.invoke(app, None, cfg("after")) == {"log": ["a", "b", "c", "b_2", "d"]}

    app = docs_graph().compile(checkpointer=saver, interrupt_after=["c"])
    run.invoke(app, {"log": []}, cfg("held"))
    assert run.get_state(app, cfg("held")).next == ("b_2",)  # d is held, not next
    assert run.invoke(app, None, cfg("held")) == {"log": ["a", "b", "c", "b_2", "d"]}


def test_update_state_as_a_node_releases_the_deferred_node(saver: Any, run: Any) -> None:
    app = docs_graph().compile(checkpointer=saver, interrupt_before=["b_2"])
    run.invoke(app, {"log": []}, cfg())
    assert run.get_state(app, cfg()).next == ("b_2",)
    run.update_state(app, cfg(), {"log": ["u"]}, as_node="c")
    state = run.get_state(app, cfg())
    assert (state.next, state.values) == (("d",), {"log": ["a", "b", "c", "u"]})
    assert run.invoke(app, None, cfg()) == {"log": ["a", "b", "c", "u", "d"]}


def test_the_deferred_step_counts_toward_the_recursion_limit() -> None:
    app = docs_graph().compile()
    with pytest.raises(RecursionLimit):
        app.invoke({"log": []}, {"recursion_limit": 4})
    assert app.invoke({"log": []}, {"recursion_limit": 5})["log"][-1] == "d"  # as LangGraph


def test_sends_and_joins_with_deferred_nodes(run: Any) -> None:
    def fan(state: S) -> list[Send]:
        return [Send("w", {"log": ["x"]})]

    g = StateGraph(S)  # a pending send does not hold the deferred node back
    for n in ("a", "w", "w2"):
        g.add_node(n, mk(n))
    g.add_node("d", mk("d"), defer=True)
    g.add_edge(START, "a")
    g.add_conditional_edges("a", fan, ["w"])
    g.add_edge("a", "d")
    g.add_edge("w", "w2")
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["a", "d", "w", "w2"]}

    g = StateGraph(S)  # a Send to a deferred node runs it at once
    for n in ("a", "b", "b2"):
        g.add_node(n, mk(n))
    g.add_node("d", mk("d"), defer=True)
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: [Send("d", {"log": []}), "b"], ["d", "b"])
    g.add_edge("b", "b2")
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["a", "b", "d", "b2"]}

    g = StateGraph(S)  # a join into a deferred node waits for the longer branch
    for n in ("a", "b", "b2", "b3", "c"):
        g.add_node(n, mk(n))
    g.add_node("d", mk("d"), defer=True)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    g.add_edge("b", "b2")
    g.add_edge("b2", "b3")
    g.add_edge(["b", "c"], "d")
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["a", "b", "c", "b2", "b3", "d"]}


def test_several_deferred_nodes_run_together_then_their_successor(run: Any) -> None:
    g = StateGraph(S)
    g.add_node("a", mk("a"))
    g.add_node("b", mk("b"))
    for n in ("z", "d", "e"):
        g.add_node(n, mk(n), defer=True)
    g.add_edge(START, "a")
    g.add_edge("a", "z")
    g.add_edge("a", "b")
    g.add_edge("b", "d")
    g.add_edge("d", "e")
    g.add_edge("z", "e")
    chunks = run.stream(g.compile(), {"log": []}, stream_mode="updates")
    assert [next(iter(c)) for c in chunks] == ["a", "b", "d", "z", "e"]

    g = StateGraph(S)  # from START: the other node first
    g.add_node("d", mk("d"), defer=True)
    g.add_node("a", mk("a"))
    g.add_edge(START, "d")
    g.add_edge(START, "a")
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["a", "d"]}


# ---- the order of a step's writes ------------------------------------------------------------


def test_parallel_writes_fold_in_name_order_then_sends(run: Any) -> None:
    g = StateGraph(S)
    g.add_node("z", mk("z"))
    g.add_node("a", mk("a"))
    g.add_edge(START, "a")
    g.add_edge(START, "z")
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["a", "z"]}

    for goto, edge in (("z", "a"), ("a", "z")):
        g = StateGraph(S)
        g.add_node("c", lambda s, goto=goto: Command(goto=goto, update={"log": ["c"]}))
        g.add_node("a", mk("a"))
        g.add_node("z", mk("z"))
        g.add_edge(START, "c")
        g.add_edge("c", edge)
        assert run.invoke(g.compile(), {"log": []}) == {"log": ["c", "a", "z"]}

    def fan(state: S) -> list[Any]:
        return [Send("w", {"log": ["s1"]}), "a", Send("w", {"log": ["s2"]})]

    g = StateGraph(S)
    g.add_node("w", lambda s: {"log": ["w" + s["log"][0]]})
    g.add_node("a", mk("a"))
    g.add_node("st", mk("st"))
    g.add_edge(START, "st")
    g.add_conditional_edges("st", fan)
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["st", "a", "ws1", "ws2"]}

    g = StateGraph(S)
    for n in ("st", "a", "b"):
        g.add_node(n, mk(n))
    g.add_edge(START, "st")
    g.add_conditional_edges("st", lambda s: ["b", "a"])
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["st", "a", "b"]}
    chunks = run.stream(g.compile(), {"log": []}, stream_mode="updates")
    assert [next(iter(c)) for c in chunks] == ["st", "a", "b"]


def test_parallel_messages_fold_in_name_order(run: Any) -> None:
    class M(TypedDict):
        messages: Annotated[list, add_messages]

    g = StateGraph(M)
    g.add_node("x", lambda s: {"messages": [AIMessage("x", id="x")]})
    g.add_node("y", lambda s: {"messages": [AIMessage("y", id="y")]})
    g.add_edge(START, "y")
    g.add_edge(START, "x")
    assert [m.id for m in run.invoke(g.compile(), {"messages": []})["messages"]] == ["x", "y"]


def test_a_resumed_step_folds_kept_and_new_writes_by_name(saver: Any, run: Any) -> None:
    calls: list[str] = []

    def sib(state: S) -> dict[str, Any]:
        calls.append("sib")
        return {"log": ["sib"]}

    def asker(state: S) -> dict[str, Any]:
        calls.append("asker")
        return {"log": ["ask:" + interrupt("q")]}

    g = StateGraph(S)
    g.add_node("sib", sib)
    g.add_node("asker", asker)
    g.add_edge(START, "sib")
    g.add_edge(START, "asker")
    app = g.compile(checkpointer=saver)
    assert intr_values(run.invoke(app, {"log": []}, cfg())) == ["q"]
    assert run.invoke(app, Command(resume="A"), cfg()) == {"log": ["ask:A", "sib"]}
    assert calls == ["asker", "sib", "asker"]  # the finished sibling is not run again


def test_parallel_interrupts_are_listed_in_name_order(saver: Any, run: Any) -> None:
    def ask(name: str) -> Any:
        return lambda s: {"log": [name + interrupt(name)]}

    g = StateGraph(S)
    g.add_node("z", ask("z"))
    g.add_node("a", ask("a"))
    g.add_node("st", mk("st"))
    g.add_edge(START, "st")
    g.add_conditional_edges("st", lambda s: ["z", "a"])
    app = g.compile(checkpointer=saver)
    first = run.invoke(app, {"log": []}, cfg())
    assert intr_values(first) == ["a", "z"]
    state = run.get_state(app, cfg())
    assert state.next == ("z", "a") and [t.name for t in state.tasks] == ["z", "a"]
    ids = {i.value: i.id for i in first["__interrupt__"]}
    resumed = run.invoke(app, Command(resume={ids["z"]: "1", ids["a"]: "2"}), cfg())
    assert resumed == {"log": ["st", "a2", "z1"]}


def fan_out_graph() -> StateGraph:
    g = StateGraph(S)
    for n in ("st", "a", "b", "after"):
        g.add_node(n, mk(n))
    g.add_edge(START, "st")
    g.add_conditional_edges("st", lambda s: ["b", "a"])
    g.add_edge(["a", "b"], "after")
    return g


def test_the_write_order_survives_a_store_round_trip(saver: Any, run: Any) -> None:
    app = fan_out_graph().compile(checkpointer=saver)
    assert run.invoke(app, {"log": []}, cfg()) == {"log": ["st", "a", "b", "after"]}
    head = saver.get_checkpoint("t")
    assert head is not None
    parent = saver.get_checkpoint("t", checkpoint_id=head.record.parent_id)
    assert parent is not None
    assert [w.node for w in parent.record.writes] == ["a", "b"]  # stored in fold order
    again = fan_out_graph().compile(checkpointer=saver)
    assert run.get_state(again, cfg()).values == {"log": ["st", "a", "b", "after"]}
    assert [s.values["log"] for s in run.history(again, cfg())][:2] == [
        ["st", "a", "b", "after"],
        ["st", "a", "b"],
    ]


def test_a_thread_stored_in_the_older_order_reads_back_as_stored(
    saver: Any, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before this change a step's writes were folded and stored in planning order (`next`,
    then the sends). `fold` replays the stored order, so such a thread keeps its values."""
    with monkeypatch.context() as m:  # the older engine: no sorting at all
        m.setattr("interlock.graph._run.run_order", lambda task: 0)
        m.setattr("interlock.graph._engine.fold_order", lambda task: 0)
        old = fan_out_graph().compile(checkpointer=saver, interrupt_before=["after"])
        run.invoke(old, {"log": []}, cfg())
    app = fan_out_graph().compile(checkpointer=saver, interrupt_before=["after"])
    assert run.get_state(app, cfg()).values == {"log": ["st", "b", "a"]}
    assert run.invoke(app, None, cfg()) == {"log": ["st", "b", "a", "after"]}
    assert [s.values["log"] for s in run.history(app, cfg())][:2] == [
        ["st", "b", "a", "after"],
        ["st", "b", "a"],
    ]


def test_write_order_with_the_in_memory_saver_default() -> None:
    app = fan_out_graph().compile(checkpointer=InMemorySaver())
    assert app.invoke({"log": []}, cfg())["log"] == ["st", "a", "b", "after"]


def test_a_deferred_node_is_drawn_with_its_note() -> None:
    mermaid = docs_graph().compile().get_graph().draw_mermaid()
    assert "\td(d<hr/><small><em>defer = True</em></small>)\n" in mermaid
    assert "\tc(c)\n" in mermaid
