"""LangGraph's `values` stream around a pause, and `stream()` of a graph inside a node.

The shapes asserted here are LangGraph 1.2's, read from its runs of the same graphs:

- a node's `interrupt()` sends, after the `updates` chunk `{"__interrupt__": ...}`, a
  `values` chunk of the state the step started from with `__interrupt__`;
- a resumed (or continued) run's first `values` chunk is the state it goes on from;
- `sub.stream(...)` / `sub.astream(...)` called in a node runs `sub` as a subgraph, as
  `sub.invoke(...)` there does: an `interrupt()` inside it pauses the root run (the node's
  loop gets the pause's chunks, then the pause ends the node), and the resume goes on in
  the subgraph where it stopped. The node iterates over the chunks it asked for; the root's
  stream gets the subgraph's chunks as it would from `invoke` (all of them with
  `subgraphs=True`, else only `custom` and `messages`: interlock's rule for subgraphs,
  where LangGraph 1.2 sends a subgraph's `custom` only with `subgraphs=True`).
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import START, Command, Interrupt, StateGraph, get_stream_writer, interrupt


class S(TypedDict, total=False):
    x: int
    seen: Annotated[list[str], operator.add]


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


def _pause_of(chunk: Any) -> tuple[Interrupt, ...]:
    pause = chunk["__interrupt__"]
    assert all(isinstance(i, Interrupt) for i in pause)
    return tuple(pause)


# ---- the values stream around a pause ------------------------------------------------------


def asking(saver: Any, **compile_kw: Any) -> Any:
    g = StateGraph(S)
    g.add_node("a", lambda s: {"x": s["x"] + 1})
    g.add_node("b", lambda s: {"x": s["x"] * 10, "seen": [interrupt("ok?")]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=saver, **compile_kw)


def test_a_pause_sends_the_state_it_stopped_at_with_its_request(run, saver) -> None:
    graph = asking(saver)
    chunks = run.stream(graph, {"x": 1}, cfg(), stream_mode="values")
    assert chunks[:2] == [{"x": 1, "seen": []}, {"x": 2, "seen": []}]
    assert len(chunks) == 3
    last = chunks[2]
    (asked,) = _pause_of(last)
    assert asked.value == "ok?"
    assert {k: v for k, v in last.items() if k != "__interrupt__"} == {"x": 2, "seen": []}
    assert asked.id == run.get_state(graph, cfg()).interrupts[0].id


def test_a_resume_sends_the_state_it_goes_on_from_first(run, saver) -> None:
    graph = asking(saver)
    run.stream(graph, {"x": 1}, cfg(), stream_mode="values")
    chunks = run.stream(graph, Command(resume="yes"), cfg(), stream_mode="values")
    assert chunks == [{"x": 2, "seen": []}, {"x": 20, "seen": ["yes"]}]


def test_a_resume_with_an_update_sends_the_updated_state_first(run, saver) -> None:
    graph = asking(saver)
    run.invoke(graph, {"x": 1}, cfg())
    resume = Command(resume="yes", update={"x": 5, "seen": ["edited"]})
    chunks = run.stream(graph, resume, cfg(), stream_mode="values")
    assert chunks == [
        {"x": 5, "seen": ["edited"]},
        {"x": 50, "seen": ["edited", "yes"]},
    ]


def test_continuing_after_a_breakpoint_sends_the_state_first(run, saver) -> None:
    graph = asking(saver, interrupt_before=["a"])
    first = run.stream(graph, {"x": 1}, cfg(), stream_mode="values")
    assert first == [{"x": 1, "seen": []}]  # a breakpoint sends no values with a request
    chunks = run.stream(graph, None, cfg(), stream_mode="values")
    assert chunks[:2] == [{"x": 1, "seen": []}, {"x": 2, "seen": []}]
    assert _pause_of(chunks[2])[0].value == "ok?"


def test_updates_alone_are_unchanged(run, saver) -> None:
    graph = asking(saver)
    chunks = run.stream(graph, {"x": 1}, cfg(), stream_mode="updates")
    assert chunks[0] == {"a": {"x": 2}}
    assert _pause_of(chunks[1])[0].value == "ok?" and len(chunks) == 2
    assert run.stream(graph, Command(resume="y"), cfg(), stream_mode="updates") == [
        {"b": {"x": 20, "seen": ["y"]}}
    ]


# ---- stream() of a graph inside a node ----------------------------------------------------


class Calls:
    """How often each inner node ran (a finished node must not run again on resume)."""

    def __init__(self) -> None:
        self.a = 0
        self.b = 0


def inner_graph(calls: Calls) -> Any:
    def a(s: S) -> dict:
        calls.a += 1
        get_stream_writer()({"custom": s["x"]})
        return {"x": s["x"] + 1}

    def b(s: S) -> dict:
        calls.b += 1
        return {"x": s["x"] * 10, "seen": [interrupt({"q": s["x"]})]}

    g = StateGraph(S)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile()


def outer_graph(saver: Any, inner: Any, got: list, mode: Any, sub: bool, asynchronous: bool):
    """A root whose node iterates `inner.stream(...)` (or `astream`) and keeps what it got."""

    def node(s: S) -> dict:
        here = list(inner.stream({"x": s["x"]}, stream_mode=mode, subgraphs=sub))
        got.append(here)
        return {"x": len(here), "seen": ["node"]}

    async def anode(s: S) -> dict:
        here = [c async for c in inner.astream({"x": s["x"]}, stream_mode=mode, subgraphs=sub)]
        got.append(here)
        return {"x": len(here), "seen": ["node"]}

    g = StateGraph(S)
    g.add_node("node", anode if asynchronous else node)
    g.add_edge(START, "node")
    return g.compile(checkpointer=saver)


def test_a_pause_inside_a_streamed_subgraph_pauses_the_root(run, saver) -> None:
    calls, got = Calls(), []
    outer = outer_graph(saver, inner_graph(calls), got, "updates", False, run.mode == "async")
    chunks = run.stream(outer, {"x": 1}, cfg(), stream_mode=["updates", "custom"], subgraphs=True)
    (root_pause,) = [c for c in chunks if c[0] == () and c[1] == "updates"]
    (asked,) = _pause_of(root_pause[2])
    assert asked.value == {"q": 2}
    ns = next(c[0] for c in chunks if c[0] != ())
    assert len(ns) == 1 and ns[0].startswith("node:")
    assert [(c[1], c[2]) for c in chunks if c[0] == ns][:2] == [
        ("custom", {"custom": 1}),
        ("updates", {"a": {"x": 2}}),
    ]
    assert got == []  # the node did not finish
    state = run.get_state(outer, cfg())
    assert state.next == ("node",)
    assert [i.id for i in state.interrupts] == [asked.id]

    done = run.stream(outer, Command(resume="yes"), cfg(), stream_mode="updates")
    assert (calls.a, calls.b) == (1, 2)  # a ran once; b again with its answer
    assert got == [[{"b": {"x": 20, "seen": ["yes"]}}]]
    assert done == [{"node": {"x": 1, "seen": ["node"]}}]
    assert run.get_state(outer, cfg()).values == {"x": 1, "seen": ["node"]}


def test_the_node_gets_its_own_modes_and_the_pause(run, saver) -> None:
    calls, got = Calls(), []
    modes = ["updates", "values", "custom"]
    outer = outer_graph(saver, inner_graph(calls), got, modes, True, run.mode == "async")
    run.invoke(outer, {"x": 1}, cfg())
    run.invoke(outer, Command(resume="yes"), cfg())
    (resumed,) = got
    ns = resumed[0][0]
    assert all(c[0] == ns for c in resumed) and ns[0].startswith("node:")
    assert [(m, c) for _, m, c in resumed] == [
        ("values", {"x": 2, "seen": []}),
        ("updates", {"b": {"x": 20, "seen": ["yes"]}}),
        ("values", {"x": 20, "seen": ["yes"]}),
    ]


def test_the_node_sees_the_pause_before_it_ends(saver) -> None:
    """The loop gets the pause's `updates` and `values` chunks; the next step out of the
    loop raises the pause (the node's code after the loop does not run)."""
    seen: list = []
    after: list = []
    inner = inner_graph(Calls())

    def node(s: S) -> dict:
        for chunk in inner.stream({"x": s["x"]}, stream_mode=["updates", "values"]):
            seen.append(chunk)
        after.append(True)
        return {}

    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    outer = g.compile(checkpointer=saver)
    result = outer.invoke({"x": 1}, cfg())
    assert [i.value for i in result["__interrupt__"]] == [{"q": 2}]
    assert after == []
    assert [m for m, _ in seen] == ["values", "updates", "values", "updates", "values"]
    assert seen[3][1]["__interrupt__"] == seen[4][1]["__interrupt__"]
    assert {k: v for k, v in seen[4][1].items() if k != "__interrupt__"} == {"x": 2, "seen": []}


def test_without_subgraphs_the_root_gets_only_what_nodes_write(saver) -> None:
    """interlock's rule for any subgraph (as for one run by `invoke`), not LangGraph's."""
    inner = inner_graph(Calls())
    got: list = []
    outer = outer_graph(saver, inner, got, "updates", False, False)
    chunks = list(outer.stream({"x": 1}, cfg(), stream_mode=["updates", "custom"]))
    assert ("custom", {"custom": 1}) in chunks
    assert all(m != "updates" or "__interrupt__" in c for m, c in chunks)


def test_a_finished_streamed_subgraph_is_not_run_again(saver) -> None:
    """A node that streams a subgraph and then pauses itself: on resume the node runs
    again, and the subgraph it finished for this task is not run again (its loop gets no
    chunks), as `invoke` gives back the finished subgraph's output."""
    calls = Calls()
    runs: list[int] = []

    def a_counted(s: S) -> dict:
        calls.a += 1
        return {"x": s["x"] + 1}

    inner = StateGraph(S)
    inner.add_node("a", a_counted)
    inner.add_edge(START, "a")
    compiled = inner.compile()

    def node(s: S) -> dict:
        runs.append(len(list(compiled.stream({"x": s["x"]}))))
        return {"seen": [interrupt("after the subgraph")]}

    outer = StateGraph(S)
    outer.add_node("node", node)
    outer.add_edge(START, "node")
    app = outer.compile(checkpointer=saver)
    app.invoke({"x": 1}, cfg())
    app.invoke(Command(resume="go"), cfg())
    assert calls.a == 1
    assert runs == [1, 0]
    assert app.get_state(cfg()).values["seen"] == ["go"]


@pytest.mark.parametrize("mode", ["updates", ["updates"]])
def test_chunk_shapes_follow_the_call(saver, mode: Any) -> None:
    inner = inner_graph(Calls())
    got: list = []
    outer = outer_graph(saver, inner, got, mode, False, False)
    outer.invoke({"x": 1}, cfg())
    outer.invoke(Command(resume="yes"), cfg())
    expected = {"b": {"x": 20, "seen": ["yes"]}}
    assert got == [[expected if isinstance(mode, str) else ("updates", expected)]]


def test_streamed_subgraphs_in_a_task_and_an_entrypoint(saver) -> None:
    """The functional API: a task and the entrypoint's body each stream a subgraph that
    pauses; each pause is answered in turn and each subgraph goes on where it stopped
    (LangGraph 1.2 gives the same three results)."""
    from interlock import entrypoint, task

    inner = inner_graph(Calls())

    @task
    def in_task(x: int) -> list:
        return list(inner.stream({"x": x}))

    @entrypoint(checkpointer=saver)
    def flow(x: int) -> dict:
        first = in_task(x).result()
        second = list(inner.stream({"x": 100}))
        return {"first": first, "second": second}

    assert [i.value for i in flow.invoke(1, cfg())["__interrupt__"]] == [{"q": 2}]
    paused = flow.invoke(Command(resume="yes"), cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"q": 101}]
    assert flow.invoke(Command(resume="again"), cfg()) == {
        "first": [{"b": {"x": 20, "seen": ["yes"]}}],
        "second": [{"b": {"x": 1010, "seen": ["again"]}}],
    }


def test_the_node_gets_a_running_tasks_chunks_as_they_come(saver) -> None:
    """A `custom` chunk reaches the node's loop while the subgraph's task that wrote it
    still runs: the task waits until the loop has seen it."""
    import threading

    seen_it = threading.Event()
    waited: list[bool] = []

    def talk(s: S) -> dict:
        get_stream_writer()("hello")
        waited.append(seen_it.wait(timeout=30))
        return {"x": 1}

    inner = StateGraph(S)
    inner.add_node("talk", talk)
    inner.add_edge(START, "talk")
    sub = inner.compile()

    def node(s: S) -> dict:
        for mode, chunk in sub.stream({"x": 0}, stream_mode=["custom", "updates"]):
            if (mode, chunk) == ("custom", "hello"):
                seen_it.set()
        return {"seen": ["done"]}

    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    assert g.compile(checkpointer=saver).invoke({"x": 0}, cfg())["seen"] == ["done"]
    assert waited == [True]


def test_a_node_that_stops_reading_at_the_pause_still_pauses(saver) -> None:
    """LangGraph lets the node finish and leaves the subgraph's request unanswerable;
    interlock keeps the pause (as `invoke` would): the request is answered once and the
    node runs again with the subgraph going on."""
    inner = inner_graph(Calls())
    after: list[str] = []

    def node(s: S) -> dict:
        for chunk in inner.stream({"x": s["x"]}, stream_mode="updates"):
            if "__interrupt__" in chunk:
                after.append("stopped reading")
                break
        else:
            after.append("read to the end")
        return {"seen": ["node"]}

    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    app = g.compile(checkpointer=saver)
    paused = app.invoke({"x": 1}, cfg())
    (asked,) = paused["__interrupt__"]
    assert asked.value == {"q": 2}
    assert app.get_state(cfg()).next == ("node",)
    assert [r.interrupt_id for r in saver.list_interrupts(status="pending").items] == [asked.id]
    done = app.invoke(Command(resume="yes"), cfg())
    assert done["seen"] == ["node"] and "__interrupt__" not in done
    assert after == ["stopped reading", "read to the end"]
    assert not saver.list_interrupts(status="pending").items


def test_a_finished_subgraph_streamed_again_sends_its_state(saver) -> None:
    calls = Calls()
    inner = StateGraph(S)

    def draft(s: S) -> dict:
        calls.a += 1
        return {"seen": ["draft"]}

    inner.add_node("draft", draft)
    inner.add_edge(START, "draft")
    sub = inner.compile()

    def node(s: S) -> dict:
        final = list(sub.stream({"x": 0}, stream_mode="values"))[-1]
        return {"seen": [f"{interrupt('publish?')} {final['seen']}"]}

    g = StateGraph(S)
    g.add_node("node", node)
    g.add_edge(START, "node")
    app = g.compile(checkpointer=saver)
    app.invoke({"x": 1}, cfg())
    assert app.invoke(Command(resume="published"), cfg())["seen"] == ["published ['draft']"]
    assert calls.a == 1


def test_custom_chunks_the_node_reads_do_not_also_reach_the_root(saver) -> None:
    inner = inner_graph(Calls())
    got: list = []
    outer = outer_graph(saver, inner, got, ["custom", "updates"], False, False)
    chunks = list(outer.stream({"x": 1}, cfg(), stream_mode=["custom", "updates"], subgraphs=True))
    assert not [c for c in chunks if c[1] == "custom"]
    assert any(c[1] == "updates" and c[0] != () for c in chunks)


def test_a_node_that_stops_at_the_first_pause_chunk_keeps_every_request(saver) -> None:
    """A streamed subgraph whose two parallel nodes ask sends one `__interrupt__` chunk per
    task (as LangGraph does); a node that stops reading at the first still pauses with both
    requests, and both answers reach the subgraph."""

    def asks(name: str) -> Any:
        def node(state: S) -> dict:
            return {"seen": [f"{name}={interrupt(name)}"]}

        return node

    sub = StateGraph(S).add_node("a", asks("a")).add_node("b", asks("b"))
    sub = sub.add_edge(START, "a").add_edge(START, "b").compile()
    pauses: list[int] = []

    def outer(state: S) -> dict:
        for chunk in sub.stream({"seen": []}):
            if "__interrupt__" in chunk:
                pauses.append(len(chunk["__interrupt__"]))
                break
        return {"seen": ["outer"]}

    graph = StateGraph(S).add_node("outer", outer).add_edge(START, "outer")
    app = graph.compile(checkpointer=saver)
    paused = app.invoke({"seen": []}, cfg())
    assert pauses == [1]  # the first task's chunk only
    asked = {i.value: i.id for i in paused["__interrupt__"]}
    assert sorted(asked) == ["a", "b"]
    assert app.get_state(cfg()).next == ("outer",)
    done = app.invoke(Command(resume={asked["a"]: "A", asked["b"]: "B"}), cfg())
    assert done == {"seen": ["outer"]} and app.get_state(cfg()).next == ()
