"""`graph.get_graph()`: the compiled graph's nodes and edges, drawn as Mermaid
(`draw_mermaid()`, in LangGraph's format: paste it into Markdown that renders Mermaid)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from interlock._types import END, START
from interlock.graph._spec import GraphSpec

__all__ = ["DrawableGraph", "Edge", "drawable"]


@dataclass(frozen=True, slots=True)
class Edge:
    """One arrow: `conditional` ones (from `add_conditional_edges`) are dotted."""

    source: str
    target: str
    data: str | None = None
    """The label: the value a conditional edge's function returns to take it."""
    conditional: bool = False


@dataclass(frozen=True, slots=True)
class DrawableGraph:
    r"""The shape of a compiled graph.

    Example:
        >>> from interlock import StateGraph, START
        >>> g = StateGraph(dict).add_node("a", lambda s: {}).add_edge(START, "a").compile()
        >>> g.get_graph().draw_mermaid(with_styles=False)
        'graph TD;\n\t__start__ --> a;\n'
    """

    nodes: tuple[str, ...]
    """Node names, `__start__` first and `__end__` last when an edge reaches it."""
    edges: tuple[Edge, ...]
    deferred: frozenset[str] = frozenset()
    """Nodes added with `defer=True` (drawn with that note, as LangGraph does)."""

    def draw_mermaid(
        self, *, with_styles: bool = True, curve_style: str = "linear", **_ignored: Any
    ) -> str:
        """The graph as Mermaid flowchart text (LangGraph's layout and styles)."""
        lines: list[str] = []
        if with_styles:
            lines += ["---", "config:", "  flowchart:", f"    curve: {curve_style}", "---"]
        lines.append("graph TD;")
        if with_styles:
            for node in self.nodes:
                if node == START:
                    lines.append(f"\t{node}([<p>{node}</p>]):::first")
                elif node == END:
                    lines.append(f"\t{node}([<p>{node}</p>]):::last")
                elif node in self.deferred:
                    lines.append(f"\t{node}({node}<hr/><small><em>defer = True</em></small>)")
                else:
                    lines.append(f"\t{node}({node})")
        for edge in self.edges:
            if not edge.conditional:
                lines.append(f"\t{edge.source} --> {edge.target};")
            elif edge.data is not None:
                lines.append(f"\t{edge.source} -. &nbsp;{edge.data}&nbsp; .-> {edge.target};")
            else:
                lines.append(f"\t{edge.source} -.-> {edge.target};")
        if with_styles:
            lines += [
                "\tclassDef default fill:#f2f0ff,line-height:1.2",
                "\tclassDef first fill-opacity:0",
                "\tclassDef last fill:#bfb6fc",
            ]
        return "\n".join(lines) + "\n"


def drawable(spec: GraphSpec) -> DrawableGraph:
    """The nodes and edges of `spec`; a conditional edge without a `path_map` may go to any
    node (or END), as LangGraph draws it."""
    edges: list[Edge] = []

    def add(edge: Edge) -> None:
        if edge not in edges:
            edges.append(edge)

    for source, targets in spec.edges.items():
        for target in targets:
            add(Edge(source, target))
    for sources, target in spec.joins:
        for source in sources:
            add(Edge(source, target))
    for source, branches in spec.branches.items():
        for branch in branches:
            if branch.path_map is None:
                for target in (*spec.nodes, END):
                    if target != source:
                        add(Edge(source, target, conditional=True))
                continue
            for key, target in branch.path_map.items():
                label = None if key == target or key is True else str(key)
                add(Edge(source, target, label, conditional=True))
    reached_end = any(e.target == END for e in edges)
    nodes = (START, *spec.nodes, *((END,) if reached_end else ()))
    deferred = frozenset(n for n, node in spec.nodes.items() if node.defer)
    return DrawableGraph(nodes=nodes, edges=tuple(edges), deferred=deferred)
