"""`get_graph().to_json()` as LangGraph 1.2 gives it, and the Agent Server's graph route
(`client.assistants.get_graph`, real langgraph-sdk over loopback) returning it. The expected
JSON is LangGraph 1.2's for the same graphs, except `data.id`: LangGraph names its runnable
class there, interlock the node function's path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypedDict

import httpx
import pytest
from langgraph_sdk import get_sync_client

from interlock import END, START, StateGraph
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.server import ApiKeys, create_app
from tests._http import served


class S(TypedDict, total=False):
    x: int


def a(state: S) -> dict[str, Any]:
    return {}


def route(state: S) -> Literal["b", "__end__"]:
    return "b"


def build(saver: Any = None) -> Any:
    sub = StateGraph(S).add_node("inner", a).add_edge(START, "inner").compile()
    g = StateGraph(S).add_node("a", a, metadata={"k": 1}).add_node("b", a).add_node("sub", sub)
    g.add_edge(START, "a").add_conditional_edges("a", route, {"b": "b", "__end__": END})
    g.add_edge("b", "sub")
    return g.compile(checkpointer=saver, interrupt_before=["b"])


def _runnable(node_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "runnable", "data": {"name": node_id}, **extra}


LANGGRAPH_EDGES = [
    {"source": "__start__", "target": "a"},
    {"source": "a", "target": "__end__", "conditional": True},
    {"source": "a", "target": "b", "conditional": True},
    {"source": "b", "target": "sub"},
    {"source": "sub", "target": "__end__"},
]
LANGGRAPH = {
    "nodes": [
        _runnable("__start__"),
        _runnable("a", metadata={"k": 1}),
        _runnable("b", metadata={"__interrupt": "before"}),
        _runnable("sub"),
        {"id": "__end__"},
    ],
    "edges": LANGGRAPH_EDGES,
}
LANGGRAPH_XRAY = {
    "nodes": [
        _runnable("__start__"),
        _runnable("a", metadata={"k": 1}),
        _runnable("b", metadata={"__interrupt": "before"}),
        {"id": "__end__"},
        _runnable("sub:inner"),
    ],
    "edges": [
        *LANGGRAPH_EDGES[:3],
        {"source": "b", "target": "sub:inner"},
        {"source": "sub:inner", "target": "__end__"},
    ],
}


def _without_ids(drawing: dict[str, Any]) -> dict[str, Any]:
    nodes = []
    for node in drawing["nodes"]:
        node = dict(node)
        if "data" in node:
            node["data"] = {k: v for k, v in node["data"].items() if k != "id"}
        nodes.append(node)
    return {"nodes": nodes, "edges": drawing["edges"]}


def test_to_json_is_langgraphs() -> None:
    app = build()
    assert _without_ids(app.get_graph().to_json()) == LANGGRAPH
    assert _without_ids(app.get_graph(xray=True).to_json()) == LANGGRAPH_XRAY
    ids = {n["id"]: n["data"]["id"] for n in app.get_graph().to_json()["nodes"] if "data" in n}
    assert ids["a"] == [*__name__.split("."), "a"]
    assert ids["sub"][-1] == "CompiledStateGraph"


@pytest.fixture
def url(tmp_path: Path) -> Any:
    saver = SqliteSaver(tmp_path / "g.db")
    app = create_app({"drawn": build(saver)}, keys=ApiKeys.parse("k-bob=bob:requester"))
    with served(app) as http:
        yield str(http.base_url).rstrip("/")
    saver.close()


def test_the_graph_route_returns_it(url: str) -> None:
    with get_sync_client(url=url, api_key="k-bob") as bob:
        assert _without_ids(bob.assistants.get_graph("drawn")) == LANGGRAPH
        assert _without_ids(bob.assistants.get_graph("drawn", xray=True)) == LANGGRAPH_XRAY
        assert _without_ids(bob.assistants.get_graph("drawn", xray=1)) == LANGGRAPH_XRAY
    bad = httpx.get(f"{url}/assistants/drawn/graph?xray=deep", headers={"x-api-key": "k-bob"})
    assert bad.status_code == 422 and "detail" in bad.json()
    anonymous = httpx.get(f"{url}/assistants/drawn/graph")
    assert anonymous.status_code == 401


SUB2 = StateGraph(S).add_node("i1", a).add_node("i2", a).add_edge(START, "i1")
SUB2 = SUB2.add_edge("i1", "i2").compile()


def call(state: S) -> Any:
    return SUB2.invoke(state)


def test_xray_draws_a_graph_a_node_function_calls() -> None:
    app = StateGraph(S).add_node("call", call).add_edge(START, "call").compile()
    drawing = app.get_graph(xray=True)
    # LangGraph 1.2's text and JSON for the same graph
    assert drawing.draw_mermaid(with_styles=False) == (
        "graph TD;\n\t__start__ --> call\\3ai1;\n\tcall\\3ai2 --> __end__;\n"
        "\tsubgraph call\n\tcall\\3ai1 --> call\\3ai2;\n\tend\n"
    )
    as_json = drawing.to_json()
    assert [n["id"] for n in as_json["nodes"]] == ["__start__", "__end__", "call:i1", "call:i2"]
    assert as_json["edges"] == [
        {"source": "__start__", "target": "call:i1"},
        {"source": "call:i2", "target": "__end__"},
        {"source": "call:i1", "target": "call:i2"},
    ]
    assert [n["id"] for n in app.get_graph().to_json()["nodes"]] == [
        "__start__",
        "call",
        "__end__",
    ]
