"""A graph a node calls from inside its function is a subgraph as LangGraph finds one (among
the names the function reads): `get_subgraphs` lists it, `get_state(subgraphs=True)` shows
its state, and `update_state` with its config edits it through its own schema. Values
asserted here are LangGraph 1.2's for the same graphs; interlock also finds a graph held by a
bound method's object or a `functools.partial` (LangGraph lists neither)."""

from __future__ import annotations

import asyncio
import functools
import operator
from typing import Annotated, Any, TypedDict

import pytest

from interlock import START, Command, GraphError, StateGraph, interrupt
from tests.conftest import Runner


class Sub(TypedDict, total=False):
    items: Annotated[list, operator.add]
    note: str
    answer: str


def ask(state: Sub) -> dict[str, Any]:
    return {"answer": interrupt("ok?"), "items": ["asked"]}


SUB = StateGraph(Sub).add_node("ask", ask).add_edge(START, "ask").compile()


class Parent(TypedDict, total=False):
    items: list  # no reducer here: the parent's schema would replace, the child's appends
    answer: str


def call(state: Parent) -> dict[str, Any]:
    out = SUB.invoke({"items": ["from parent"]})
    return {"answer": out["answer"], "items": out["items"]}


class Holder:
    def __init__(self) -> None:
        self.graph = SUB

    def run(self, state: Parent) -> dict[str, Any]:
        return {"answer": self.graph.invoke({"items": ["held"]})["answer"]}


def with_graph(graph: Any, state: Parent) -> dict[str, Any]:
    return {"answer": graph.invoke({"items": ["partial"]})["answer"]}


def plain(state: Parent) -> dict[str, Any]:
    return {}


def parent(saver: Any = None, first: str = "call") -> Any:
    local = SUB

    async def acall(state: Parent) -> dict[str, Any]:
        out = await local.ainvoke({"items": ["from parent"]})
        return {"answer": out["answer"], "items": out["items"]}

    graph = StateGraph(Parent)
    graph.add_node("call", call)
    graph.add_node("acall", acall)
    graph.add_node("held", Holder().run)
    graph.add_node("part", functools.partial(with_graph, SUB))
    graph.add_node("plain", plain)
    graph.add_node("child", SUB)
    graph.add_edge(START, first)
    return graph.compile(checkpointer=saver)


def test_get_subgraphs_lists_graphs_called_from_functions() -> None:
    app = parent()
    found = dict(app.get_subgraphs())
    assert list(found) == ["call", "acall", "held", "part", "child"]
    assert all(g is SUB for g in found.values())
    assert [n for n, _ in app.get_subgraphs(namespace="call")] == ["call"]
    assert list(app.get_subgraphs(namespace="plain")) == []

    async def collect() -> list[str]:
        return [n async for n, _ in app.aget_subgraphs()]

    assert asyncio.run(collect()) == list(found)


def test_get_subgraphs_recurses_through_a_called_graph() -> None:
    def outer_call(state: Parent) -> dict[str, Any]:
        return parent().invoke(state)

    inner = parent()

    def uses_inner(state: Parent) -> dict[str, Any]:
        return inner.invoke(state)

    top = StateGraph(Parent).add_node("outer", uses_inner).add_edge(START, "outer").compile()
    names = [n for n, _ in top.get_subgraphs(recurse=True)]
    assert names[:2] == ["outer", "outer|call"]
    assert "outer|child" in names
    assert [n for n, _ in top.get_subgraphs(namespace="outer|held", recurse=True)] == ["outer|held"]


def _state(run: Any, app: Any, config: Any) -> Any:
    if run.mode == "sync":
        return app.get_state(config, subgraphs=True)
    return asyncio.run(app.aget_state(config, subgraphs=True))


@pytest.mark.parametrize(
    ("mode", "first"), [("sync", "call"), ("async", "call"), ("async", "acall")]
)
def test_state_and_edit_of_a_subgraph_called_in_a_node(saver: Any, mode: str, first: str) -> None:
    run = Runner(mode)  # an async node runs under the async API only
    app = parent(saver, first)
    config = {"configurable": {"thread_id": "t"}}
    paused = run.invoke(app, {"items": ["x"]}, config)
    assert [i.value for i in paused["__interrupt__"]] == ["ok?"]

    state = _state(run, app, config)
    child = state.tasks[0].state
    assert child.values == {"items": ["from parent"]}
    assert child.next == ("ask",)
    assert child.config["configurable"]["checkpoint_ns"].startswith(f"{first}:")

    # the child's schema: its reducer appends and its own key is kept
    run.update_state(app, child.config, {"items": ["edited"], "note": "n"})
    after = _state(run, app, config)
    assert after.values == {"items": ["x"]}
    assert after.tasks[0].state.values == {"items": ["from parent", "edited"], "note": "n"}
    assert after.tasks[0].state.next == ("ask",)

    # interlock's rule: the edit cancelled the question; going on asks it again
    again = run.invoke(app, None, config)
    assert [i.value for i in again["__interrupt__"]] == ["ok?"]
    done = run.invoke(app, Command(resume="yes"), config)
    assert done == {"items": ["from parent", "edited", "asked"], "answer": "yes"}


def test_a_namespace_of_a_node_that_calls_no_graph_is_refused(saver: Any) -> None:
    app = parent(saver, "plain")
    config = {"configurable": {"thread_id": "p", "checkpoint_ns": "plain:0"}}
    with pytest.raises(GraphError, match="a graph a node's function calls"):
        app.get_state(config)


def test_a_node_naming_its_own_graph_is_not_its_subgraph() -> None:
    """A node that reads its own thread through the compiled graph (`APP`, a global it
    names) does not make that graph its own subgraph: LangGraph 1.2 lists none."""
    app = StateGraph(Parent).add_node("self", _reads_own_history).add_edge(START, "self")
    global APP
    APP = app.compile()
    assert list(APP.get_subgraphs()) == []
    assert list(APP.get_subgraphs(recurse=True)) == []
    assert "self" in APP.get_graph(xray=True).draw_mermaid()

    def calls_app(state: Parent) -> dict[str, Any]:
        return APP.invoke(state)

    outer = StateGraph(Parent).add_node("outer", calls_app).add_edge(START, "outer").compile()
    assert [n for n, _ in outer.get_subgraphs(recurse=True)] == ["outer"]
    assert "outer\\3aself" in outer.get_graph(xray=True).draw_mermaid()


APP: Any = None


def _reads_own_history(state: Parent) -> dict[str, Any]:
    return {"items": [str(APP)]}
