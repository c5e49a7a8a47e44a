"""`get_graph()` and `draw_mermaid()` give what LangGraph 1.2 gives for the same graph.

Every expected value below (node ids, edges, Mermaid text) was produced by running these
same builders on LangGraph 1.2.22 / langchain-core (imports switched to `langgraph.graph`,
`langgraph.types`, `langgraph.checkpoint.memory`) and pasted here unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal, TypedDict, get_type_hints

import pytest

from interlock import END, START, Command, InMemorySaver, Send, StateGraph


class S(TypedDict, total=False):
    n: int


def f(state: S) -> dict[str, Any]:
    return {}


def graph_of(*names: str) -> StateGraph:
    g = StateGraph(S)
    for name in names:
        g.add_node(name, f)
    return g


def linear() -> Any:
    g = graph_of("a", "b")
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", END)
    return g.compile()


def implicit_end() -> Any:
    g = graph_of("a")
    g.add_edge(START, "a")
    return g.compile()


def path_map_dict() -> Any:
    g = graph_of("agent", "tools")
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", lambda s: "end", {"continue": "tools", "end": END})
    g.add_edge("tools", "agent")
    return g.compile()


def route(state: S) -> Literal["tools", "__end__"]:
    return "__end__"


def literal_route() -> Any:
    g = graph_of("agent", "tools")
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", route)
    g.add_edge("tools", "agent")
    return g.compile()


def path_map_list_no_end() -> Any:
    g = graph_of("a", "b", "c")
    g.add_edge(START, "a")
    g.add_conditional_edges("a", lambda s: "b", ["b", "c"])
    return g.compile()


def unannotated_route() -> Any:
    g = graph_of("agent", "tools")
    g.add_edge(START, "agent")
    g.add_conditional_edges("agent", lambda s: "tools")
    g.add_edge("tools", "agent")
    return g.compile()


def go(state: S) -> Command[Literal["b", "c", "__end__"]]:
    return Command(goto="c")


def command_routes() -> Any:
    g = graph_of("b", "c")
    g.add_node("a", go)
    g.add_edge(START, "a")
    g.add_edge("c", END)
    return g.compile()


def fan_out(state: S) -> list[Any]:
    return [Send("w", {"n": i}) for i in range(2)]


def send_fan_out() -> Any:
    g = graph_of("w", "j")
    g.add_conditional_edges(START, fan_out, ["w"])
    g.add_edge("w", "j")
    g.add_edge("j", END)
    return g.compile()


def fan_in() -> Any:
    g = graph_of("A", "B", "C")
    g.add_edge(START, "A")
    g.add_edge(START, "B")
    g.add_edge(["A", "B"], "C")
    g.add_conditional_edges("C", lambda s: END, ["A", END])
    return g.compile()


def breakpoints() -> Any:
    g = graph_of("a", "b")
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(
        checkpointer=InMemorySaver(), interrupt_before=["a"], interrupt_after=["a", "b"]
    )


def sequence() -> Any:
    g = StateGraph(S)
    g.add_sequence([("x", f), ("y", f), ("z", f)])
    g.add_edge(START, "x")
    return g.compile()


def cycle() -> Any:
    g = graph_of("a", "b", "c")
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", "a")
    return g.compile()


def odd_names_and_metadata() -> Any:
    g = StateGraph(S)
    g.add_node("my node", f, metadata={"team": "ops", "tags": ["x", "y"]})
    g.add_node("_private_", f)
    g.add_edge(START, "my node")
    g.add_edge("my node", "_private_")
    return g.compile()


def subgraph_parent() -> Any:
    inner = graph_of("i1", "i2")
    inner.add_edge(START, "i1")
    inner.add_conditional_edges("i1", lambda s: END, ["i2", END])
    mid = graph_of("m1")
    mid.add_node("inner", inner.compile())
    mid.add_edge(START, "m1")
    mid.add_edge("m1", "inner")
    mid.add_edge("inner", END)
    g = graph_of("pre", "post")
    g.add_node("mid", mid.compile())
    g.add_edge(START, "pre")
    g.add_edge("pre", "mid")
    g.add_edge("mid", "post")
    return g.compile()


CASES = {
    "linear": (linear, False),
    "implicit_end": (implicit_end, False),
    "path_map_dict": (path_map_dict, False),
    "literal_route": (literal_route, False),
    "path_map_list_no_end": (path_map_list_no_end, False),
    "unannotated_route": (unannotated_route, False),
    "command_routes": (command_routes, False),
    "send_fan_out": (send_fan_out, False),
    "fan_in": (fan_in, False),
    "breakpoints": (breakpoints, False),
    "sequence": (sequence, False),
    "cycle": (cycle, False),
    "odd_names_and_metadata": (odd_names_and_metadata, False),
    "subgraph": (subgraph_parent, False),
    "subgraph_xray": (subgraph_parent, True),
    "subgraph_xray_1": (subgraph_parent, 1),
}


STYLED = {
    "literal_route",
    "breakpoints",
    "odd_names_and_metadata",
    "subgraph_xray",
    "unannotated_route",
}

# name: (node ids, edges as (source, target, data, conditional), Mermaid text)
EXPECTED: dict[str, tuple[list[str], list[tuple[str, str, str | None, bool]], str]] = {
    "breakpoints": (
        ["__start__", "a", "b", "__end__"],
        [("__start__", "a", None, False), ("a", "b", None, False), ("b", "__end__", None, False)],
        "---\n"
        "config:\n"
        "  flowchart:\n"
        "    curve: linear\n"
        "---\n"
        "graph TD;\n"
        "\t__start__([<p>__start__</p>]):::first\n"
        "\ta(a<hr/><small><em>__interrupt = before,after</em></small>)\n"
        "\tb(b<hr/><small><em>__interrupt = after</em></small>)\n"
        "\t__end__([<p>__end__</p>]):::last\n"
        "\t__start__ --> a;\n"
        "\ta --> b;\n"
        "\tb --> __end__;\n"
        "\tclassDef default fill:#f2f0ff,line-height:1.2\n"
        "\tclassDef first fill-opacity:0\n"
        "\tclassDef last fill:#bfb6fc\n",
    ),
    "command_routes": (
        ["__start__", "b", "c", "a", "__end__"],
        [
            ("__start__", "a", None, False),
            ("a", "__end__", None, True),
            ("a", "b", None, True),
            ("a", "c", None, True),
            ("b", "__end__", None, False),
            ("c", "__end__", None, False),
        ],
        "graph TD;\n"
        "\t__start__ --> a;\n"
        "\ta -.-> __end__;\n"
        "\ta -.-> b;\n"
        "\ta -.-> c;\n"
        "\tb --> __end__;\n"
        "\tc --> __end__;\n",
    ),
    "cycle": (
        ["__start__", "a", "b", "c", "__end__"],
        [
            ("__start__", "a", None, False),
            ("a", "b", None, False),
            ("b", "c", None, False),
            ("c", "a", None, False),
            ("a", "__end__", None, True),
        ],
        "graph TD;\n\t__start__ --> a;\n\ta --> b;\n\tb --> c;\n\tc --> a;\n\ta -.-> __end__;\n",
    ),
    "fan_in": (
        ["__start__", "A", "B", "C", "__end__"],
        [
            ("A", "C", None, False),
            ("B", "C", None, False),
            ("C", "A", None, True),
            ("C", "__end__", None, True),
            ("__start__", "A", None, False),
            ("__start__", "B", None, False),
        ],
        "graph TD;\n"
        "\tA --> C;\n"
        "\tB --> C;\n"
        "\tC -.-> A;\n"
        "\tC -.-> __end__;\n"
        "\t__start__ --> A;\n"
        "\t__start__ --> B;\n",
    ),
    "implicit_end": (
        ["__start__", "a", "__end__"],
        [("__start__", "a", None, False), ("a", "__end__", None, False)],
        "graph TD;\n\t__start__ --> a;\n\ta --> __end__;\n",
    ),
    "linear": (
        ["__start__", "a", "b", "__end__"],
        [("__start__", "a", None, False), ("a", "b", None, False), ("b", "__end__", None, False)],
        "graph TD;\n\t__start__ --> a;\n\ta --> b;\n\tb --> __end__;\n",
    ),
    "literal_route": (
        ["__start__", "agent", "tools", "__end__"],
        [
            ("__start__", "agent", None, False),
            ("agent", "__end__", None, True),
            ("agent", "tools", None, True),
            ("tools", "agent", None, False),
        ],
        "---\n"
        "config:\n"
        "  flowchart:\n"
        "    curve: linear\n"
        "---\n"
        "graph TD;\n"
        "\t__start__([<p>__start__</p>]):::first\n"
        "\tagent(agent)\n"
        "\ttools(tools)\n"
        "\t__end__([<p>__end__</p>]):::last\n"
        "\t__start__ --> agent;\n"
        "\tagent -.-> __end__;\n"
        "\tagent -.-> tools;\n"
        "\ttools --> agent;\n"
        "\tclassDef default fill:#f2f0ff,line-height:1.2\n"
        "\tclassDef first fill-opacity:0\n"
        "\tclassDef last fill:#bfb6fc\n",
    ),
    "odd_names_and_metadata": (
        ["__start__", "my node", "_private_", "__end__"],
        [
            ("__start__", "my node", None, False),
            ("my node", "_private_", None, False),
            ("_private_", "__end__", None, False),
        ],
        "---\n"
        "config:\n"
        "  flowchart:\n"
        "    curve: linear\n"
        "---\n"
        "graph TD;\n"
        "\t__start__([<p>__start__</p>]):::first\n"
        "\tmy\\20node(my node<hr/><small><em>team = ops\n"
        "tags = x, y</em></small>)\n"
        "\t_private_(<p>_private_</p>)\n"
        "\t__end__([<p>__end__</p>]):::last\n"
        "\t__start__ --> my\\20node;\n"
        "\tmy\\20node --> _private_;\n"
        "\t_private_ --> __end__;\n"
        "\tclassDef default fill:#f2f0ff,line-height:1.2\n"
        "\tclassDef first fill-opacity:0\n"
        "\tclassDef last fill:#bfb6fc\n",
    ),
    "path_map_dict": (
        ["__start__", "agent", "tools", "__end__"],
        [
            ("__start__", "agent", None, False),
            ("agent", "__end__", "end", True),
            ("agent", "tools", "continue", True),
            ("tools", "agent", None, False),
        ],
        "graph TD;\n"
        "\t__start__ --> agent;\n"
        "\tagent -. &nbsp;end&nbsp; .-> __end__;\n"
        "\tagent -. &nbsp;continue&nbsp; .-> tools;\n"
        "\ttools --> agent;\n",
    ),
    "path_map_list_no_end": (
        ["__start__", "a", "b", "c", "__end__"],
        [
            ("__start__", "a", None, False),
            ("a", "b", None, True),
            ("a", "c", None, True),
            ("b", "__end__", None, False),
            ("c", "__end__", None, False),
        ],
        "graph TD;\n"
        "\t__start__ --> a;\n"
        "\ta -.-> b;\n"
        "\ta -.-> c;\n"
        "\tb --> __end__;\n"
        "\tc --> __end__;\n",
    ),
    "send_fan_out": (
        ["__start__", "w", "j", "__end__"],
        [("__start__", "w", None, True), ("w", "j", None, False), ("j", "__end__", None, False)],
        "graph TD;\n\t__start__ -.-> w;\n\tw --> j;\n\tj --> __end__;\n",
    ),
    "sequence": (
        ["__start__", "x", "y", "z", "__end__"],
        [
            ("__start__", "x", None, False),
            ("x", "y", None, False),
            ("y", "z", None, False),
            ("z", "__end__", None, False),
        ],
        "graph TD;\n\t__start__ --> x;\n\tx --> y;\n\ty --> z;\n\tz --> __end__;\n",
    ),
    "subgraph": (
        ["__start__", "pre", "post", "mid", "__end__"],
        [
            ("__start__", "pre", None, False),
            ("mid", "post", None, False),
            ("pre", "mid", None, False),
            ("post", "__end__", None, False),
        ],
        "graph TD;\n\t__start__ --> pre;\n\tmid --> post;\n\tpre --> mid;\n\tpost --> __end__;\n",
    ),
    "subgraph_xray": (
        [
            "__start__",
            "pre",
            "post",
            "__end__",
            "mid:m1",
            "mid:inner:i1",
            "mid:inner:i2",
            "mid:inner:__end__",
        ],
        [
            ("__start__", "pre", None, False),
            ("mid:inner:__end__", "post", None, False),
            ("pre", "mid:m1", None, False),
            ("post", "__end__", None, False),
            ("mid:m1", "mid:inner:i1", None, False),
            ("mid:inner:i1", "mid:inner:__end__", None, True),
            ("mid:inner:i1", "mid:inner:i2", None, True),
            ("mid:inner:i2", "mid:inner:__end__", None, False),
        ],
        "---\n"
        "config:\n"
        "  flowchart:\n"
        "    curve: linear\n"
        "---\n"
        "graph TD;\n"
        "\t__start__([<p>__start__</p>]):::first\n"
        "\tpre(pre)\n"
        "\tpost(post)\n"
        "\t__end__([<p>__end__</p>]):::last\n"
        "\t__start__ --> pre;\n"
        "\tmid\\3ainner\\3a__end__ --> post;\n"
        "\tpre --> mid\\3am1;\n"
        "\tpost --> __end__;\n"
        "\tsubgraph mid\n"
        "\tmid\\3am1(m1)\n"
        "\tmid\\3am1 --> mid\\3ainner\\3ai1;\n"
        "\tsubgraph inner\n"
        "\tmid\\3ainner\\3ai1(i1)\n"
        "\tmid\\3ainner\\3ai2(i2)\n"
        "\tmid\\3ainner\\3a__end__(<p>__end__</p>)\n"
        "\tmid\\3ainner\\3ai1 -.-> mid\\3ainner\\3a__end__;\n"
        "\tmid\\3ainner\\3ai1 -.-> mid\\3ainner\\3ai2;\n"
        "\tmid\\3ainner\\3ai2 --> mid\\3ainner\\3a__end__;\n"
        "\tend\n"
        "\tend\n"
        "\tclassDef default fill:#f2f0ff,line-height:1.2\n"
        "\tclassDef first fill-opacity:0\n"
        "\tclassDef last fill:#bfb6fc\n",
    ),
    "subgraph_xray_1": (
        ["__start__", "pre", "post", "__end__", "mid:m1", "mid:inner"],
        [
            ("__start__", "pre", None, False),
            ("mid:inner", "post", None, False),
            ("pre", "mid:m1", None, False),
            ("post", "__end__", None, False),
            ("mid:m1", "mid:inner", None, False),
        ],
        "graph TD;\n"
        "\t__start__ --> pre;\n"
        "\tmid\\3ainner --> post;\n"
        "\tpre --> mid\\3am1;\n"
        "\tpost --> __end__;\n"
        "\tsubgraph mid\n"
        "\tmid\\3am1 --> mid\\3ainner;\n"
        "\tend\n",
    ),
    "unannotated_route": (
        ["__start__", "agent", "tools", "__end__"],
        [("__start__", "agent", None, False), ("agent", "__end__", None, False)],
        "---\n"
        "config:\n"
        "  flowchart:\n"
        "    curve: linear\n"
        "---\n"
        "graph TD;\n"
        "\t__start__(<p>__start__</p>)\n"
        "\tagent(agent)\n"
        "\ttools(tools)\n"
        "\t__end__(<p>__end__</p>)\n"
        "\t__start__ --> agent;\n"
        "\tagent --> __end__;\n"
        "\tclassDef default fill:#f2f0ff,line-height:1.2\n"
        "\tclassDef first fill-opacity:0\n"
        "\tclassDef last fill:#bfb6fc\n",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_drawing_matches_langgraph(name: str) -> None:
    build, xray = CASES[name]
    graph = build().get_graph(xray=xray)
    nodes, edges, mermaid = EXPECTED[name]
    assert list(graph.nodes) == nodes
    assert [(e.source, e.target, e.data, e.conditional) for e in graph.edges] == edges
    assert graph.draw_mermaid(with_styles=name in STYLED) == mermaid


def test_nodes_are_keyed_by_id_with_their_names() -> None:
    graph = subgraph_parent().get_graph(xray=True)
    node = graph.nodes["mid:inner:i1"]
    assert (node.id, node.name) == ("mid:inner:i1", "i1")
    assert graph.first_node() is graph.nodes[START]
    assert graph.last_node() is graph.nodes[END]


def test_command_is_generic_at_runtime() -> None:
    hints = get_type_hints(go)
    assert hints["return"] == Command[Literal["b", "c", "__end__"]]
    assert Command(goto="b") == Command[Literal["b"]](goto="b")


def test_destinations_label_command_routes() -> None:
    g = StateGraph(S)
    g.add_node("a", f, destinations={"b": "go", END: "stop"})
    g.add_node("b", f)
    g.add_edge(START, "a")
    # LangGraph 1.2 draws: a -. stop .-> __end__, a -. go .-> b, b --> __end__
    assert g.compile().get_graph().draw_mermaid(with_styles=False) == (
        "graph TD;\n\t__start__ --> a;\n\ta -. &nbsp;stop&nbsp; .-> __end__;\n"
        "\ta -. &nbsp;go&nbsp; .-> b;\n\tb --> __end__;\n"
    )


def test_aget_graph_is_get_graph() -> None:
    app = linear()
    graph = asyncio.run(app.aget_graph(xray=True))
    assert graph.draw_mermaid() == app.get_graph().draw_mermaid()
