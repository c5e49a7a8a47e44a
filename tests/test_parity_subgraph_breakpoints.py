"""Breakpoints compiled into a subgraph (`sub = builder.compile(interrupt_before=[...])`)
pause the root run, as in LangGraph: the root's task waits, the subgraph keeps its
finished nodes, and `invoke(None, config)` goes on from the breakpoint.

As at the root, interlock's breakpoint is a request with an id (LangGraph's has none), so
`invoke` returns it in `__interrupt__` and it is continued (decided) once.
"""

from __future__ import annotations

from typing import Any, TypedDict

import pytest

from interlock import START, Command, StateGraph, entrypoint
from interlock.errors import CheckpointerRequired, InputRejected, ResumeError


class S(TypedDict, total=False):
    x: int


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


class Ran(list):
    """The names of the subgraph's nodes, in the order they ran."""


def sub_graph(ran: Ran, **compile_kw: Any) -> Any:
    def a(s: S) -> dict:
        ran.append("a")
        return {"x": s["x"] + 1}

    def b(s: S) -> dict:
        ran.append("b")
        return {"x": s["x"] * 10}

    g = StateGraph(S)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(**compile_kw)


def root_graph(sub: Any, saver: Any) -> Any:
    g = StateGraph(S)
    g.add_node("sub", sub)
    g.add_node("c", lambda s: {"x": s["x"] + 1000})
    g.add_edge(START, "sub")
    g.add_edge("sub", "c")
    return g.compile(checkpointer=saver)


@pytest.mark.parametrize(
    ("compiled", "when", "nodes"),
    [({"interrupt_before": ["b"]}, "before", ["b"]), ({"interrupt_after": ["a"]}, "after", ["a"])],
)
def test_a_subgraph_breakpoint_pauses_the_root_and_goes_on(
    run, saver, compiled: dict, when: str, nodes: list
) -> None:
    ran = Ran()
    app = root_graph(sub_graph(ran, **compiled), saver)
    paused = run.invoke(app, {"x": 1}, cfg())
    (bp,) = paused["__interrupt__"]
    assert bp.value == {"type": "breakpoint", "when": when, "nodes": nodes}
    assert paused["x"] == 1 and ran == ["a"]
    state = run.get_state(app, cfg())
    assert state.next == ("sub",)
    assert [i.id for i in state.interrupts] == [bp.id]
    inner = app.get_state(cfg(), subgraphs=True).tasks[0].state
    assert inner.next == ("b",) and inner.values == {"x": 2}

    assert run.invoke(app, None, cfg()) == {"x": 1020}
    assert ran == ["a", "b"]  # a did not run again
    assert run.get_state(app, cfg()).next == ()
    with pytest.raises(ResumeError):
        run.invoke(app, None, cfg())


def test_a_subgraph_breakpoint_is_continued_once(saver) -> None:
    ran = Ran()
    app = root_graph(sub_graph(ran, interrupt_before=["b"]), saver)
    app.invoke({"x": 1}, cfg())
    with pytest.raises(InputRejected):  # new input must wait for the breakpoint
        app.invoke({"x": 7}, cfg())
    assert app.get_state(cfg()).next == ("sub",)  # the waiting run is intact
    assert app.invoke(Command(resume="go"), cfg()) == {"x": 1020}
    assert ran == ["a", "b"]


def test_the_stream_shows_the_subgraph_breakpoint(saver) -> None:
    app = root_graph(sub_graph(Ran(), interrupt_before=["b"]), saver)
    chunks = list(app.stream({"x": 1}, cfg(), stream_mode="updates", subgraphs=True))
    inner = [c for ns, c in chunks if ns != ()]
    assert inner[0] == {"a": {"x": 2}}
    assert inner[1]["__interrupt__"][0].value["nodes"] == ["b"]
    (root_pause,) = [c for ns, c in chunks if ns == ()]
    assert root_pause["__interrupt__"] == inner[1]["__interrupt__"]


def test_a_breakpoint_in_a_graph_invoked_from_a_node(run, saver) -> None:
    ran = Ran()
    sub = sub_graph(ran, interrupt_before=["b"])
    g = StateGraph(S)
    g.add_node("n", lambda s: sub.invoke(s))
    g.add_edge(START, "n")
    app = g.compile(checkpointer=saver)
    assert run.invoke(app, {"x": 1}, cfg())["__interrupt__"][0].value["nodes"] == ["b"]
    assert run.invoke(app, None, cfg()) == {"x": 20}
    assert ran == ["a", "b"]


def test_a_stateful_subgraph_stops_at_its_breakpoint_each_turn(saver) -> None:
    ran = Ran()
    app = root_graph(sub_graph(ran, interrupt_before=["b"], checkpointer=True), saver)
    app.invoke({"x": 1}, cfg())
    assert app.invoke(None, cfg()) == {"x": 1020}
    assert "__interrupt__" in app.invoke({"x": 5}, cfg())
    assert app.invoke(None, cfg()) == {"x": 1060}
    assert ran == ["a", "b", "a", "b"]


def test_an_entrypoint_pauses_at_its_subgraphs_breakpoint(saver) -> None:
    ran = Ran()
    sub = sub_graph(ran, interrupt_before=["b"])

    @entrypoint(checkpointer=saver)
    def flow(x: int) -> dict:
        return sub.invoke({"x": x})

    assert flow.invoke(1, cfg())["__interrupt__"][0].value["nodes"] == ["b"]
    assert flow.invoke(None, cfg()) == {"x": 20}
    assert ran == ["a", "b"]


@pytest.mark.parametrize("where", ["root", "subgraph"])
def test_a_subgraph_breakpoint_without_a_store_is_refused(where: str) -> None:
    """LangGraph stops there and returns a state it can never go on from; interlock says
    why it cannot pause, as it does for the root's breakpoints."""
    from interlock import InMemorySaver

    if where == "root":
        app = root_graph(sub_graph(Ran(), interrupt_before=["b"]), None)
        config = None
    else:
        sub = sub_graph(Ran(), interrupt_before=["b"], checkpointer=False)
        app = root_graph(sub, InMemorySaver())
        config = cfg()
    with pytest.raises(CheckpointerRequired, match="interrupt_before"):
        app.invoke({"x": 1}, config)


def test_langgraph_sdk_continues_a_subgraph_breakpoint(tmp_path) -> None:
    """Over the Agent Server API (the real langgraph-sdk on loopback): the run ends
    interrupted on the subgraph's breakpoint, the thread's state names the waiting node,
    and a run with `input: null` goes on from it — by an approver, as a root's breakpoint
    is (continuing decides it)."""
    import httpx
    from langgraph_sdk import get_sync_client

    from interlock.checkpoint.sqlite import SqliteSaver
    from interlock.server import ApiKeys, create_app
    from tests._http import served

    ran = Ran()
    saver = SqliteSaver(tmp_path / "bp.db")
    graph = root_graph(sub_graph(ran, interrupt_before=["b"]), saver)
    keys = ApiKeys.parse("k-bob=bob:requester;k-ada=ada:approver")
    app = create_app({"nested": graph}, keys=keys, workers=1)
    try:
        with served(app) as http:
            url = str(http.base_url).rstrip("/")
            bob = get_sync_client(url=url, api_key="k-bob")
            ada = get_sync_client(url=url, api_key="k-ada")
            try:
                tid = bob.threads.create()["thread_id"]
                stopped = bob.runs.wait(tid, "nested", input={"x": 1})
                (pause,) = stopped["__interrupt__"]
                assert pause["value"] == {"type": "breakpoint", "when": "before", "nodes": ["b"]}
                assert bob.threads.get_state(tid)["next"] == ["sub"]
                assert ran == ["a"]
                with pytest.raises(httpx.HTTPStatusError) as refused:
                    bob.runs.wait(tid, "nested", input=None)  # continuing decides it
                assert refused.value.response.status_code == 403
                assert ran == ["a"]
                assert ada.runs.wait(tid, "nested", input=None) == {"x": 1020}
                assert ran == ["a", "b"]
            finally:
                bob.close()
                ada.close()
    finally:
        saver.close()


def test_a_subgraph_breakpoint_sends_no_values_with_a_request(saver) -> None:
    """As LangGraph: a breakpoint's pause is an `updates` chunk only."""
    app = root_graph(sub_graph(Ran(), interrupt_before=["b"]), saver)
    chunks = list(app.stream({"x": 1}, cfg(), stream_mode=["values", "updates"]))
    assert [m for m, c in chunks if m == "values"] == ["values"]  # the input's only
    assert any(m == "updates" and "__interrupt__" in c for m, c in chunks)


def test_the_subgraph_s_state_is_edited_at_its_breakpoint(run, saver) -> None:
    """`update_state` with the subgraph's config (from `get_state(subgraphs=True)`) edits
    the subgraph's state; going on runs its next node on the edited state (LangGraph 1.2
    gives 1050 too), and no request is left pending."""
    ran = Ran()
    app = root_graph(sub_graph(ran, interrupt_before=["b"]), saver)
    run.invoke(app, {"x": 1}, cfg())
    inner = app.get_state(cfg(), subgraphs=True).tasks[0].state
    run.update_state(app, inner.config, {"x": 5})
    edited = app.get_state(cfg(), subgraphs=True).tasks[0].state
    assert edited.values == {"x": 5} and edited.next == ("b",)
    assert run.invoke(app, None, cfg()) == {"x": 1050}
    assert ran == ["a", "b"]
    assert not saver.list_interrupts(status="pending").items
