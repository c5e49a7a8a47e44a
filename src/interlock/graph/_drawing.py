"""`graph.get_graph()`: the compiled graph's nodes and edges, as LangGraph 1.2 draws them.

LangGraph finds its edges by dry-running its step loop; interlock reads the same edges from
the compiled spec: static edges, fan-in joins, conditional edges (their `path_map`, or the
`Literal[...]` their function returns) and the routes a node declares for its `Command`
(`-> Command[Literal[...]]` or `add_node(destinations=...)`), counted only from nodes that
can run. A node with no way on gets an edge to `__end__`. `draw_mermaid()` (in
`interlock.graph._mermaid`) turns the result into LangGraph's Mermaid text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlock._types import END, START
from interlock.graph._called_graphs import graphs_called_by
from interlock.graph._mermaid import draw_mermaid
from interlock.graph._spec import GraphSpec, literal_return

__all__ = ["DrawableGraph", "Edge", "Node", "drawable"]

_DRY_RUN_STEPS = 250
"""As many steps as LangGraph's dry run takes before it stops following a cycle."""


@dataclass(frozen=True, slots=True)
class Node:
    """One box: `id` is unique in the drawing (`sub:a` inside subgraph `sub` under xray),
    `name` is what the box says."""

    id: str
    name: str
    data: Any = None
    """The node's function or compiled subgraph (None for `__start__` / `__end__`)."""
    metadata: Mapping[str, Any] | None = None
    """`add_node(metadata=...)` plus `__interrupt` (`before`, `after`) for breakpoints."""


@dataclass(frozen=True, slots=True)
class Edge:
    """One arrow: `conditional` ones (a conditional edge or a `Command` route) are dotted."""

    source: str
    target: str
    data: str | None = None
    """The label: the `path_map` key (or `destinations` label) that takes this edge."""
    conditional: bool = False


@dataclass(frozen=True, slots=True)
class DrawableGraph:
    r"""The shape of a compiled graph (LangGraph's `Graph`).

    Example:
        >>> from interlock import StateGraph, START
        >>> g = StateGraph(dict).add_node("a", lambda s: {}).add_edge(START, "a").compile()
        >>> g.get_graph().draw_mermaid(with_styles=False)
        'graph TD;\n\t__start__ --> a;\n\ta --> __end__;\n'
        >>> list(g.get_graph().nodes)
        ['__start__', 'a', '__end__']
    """

    nodes: Mapping[str, Node] = field(default_factory=dict)
    """Nodes by id: `__start__`, the graph's nodes, then `__end__` when an edge reaches it."""
    edges: tuple[Edge, ...] = ()

    def first_node(self) -> Node | None:
        """The one node no edge points to, if there is exactly one."""
        targets = {e.target for e in self.edges}
        found = [n for n in self.nodes.values() if n.id not in targets]
        return found[0] if len(found) == 1 else None

    def last_node(self) -> Node | None:
        """The one node no edge leaves, if there is exactly one."""
        sources = {e.source for e in self.edges}
        found = [n for n in self.nodes.values() if n.id not in sources]
        return found[0] if len(found) == 1 else None

    def to_json(self, *, with_schemas: bool = False) -> dict[str, list[dict[str, Any]]]:
        """The drawing as LangGraph's `Graph.to_json()` gives it (what the Agent Server's
        graph route returns): nodes with `type`, `data` (`id` is the path of the node's
        function or graph; `name` is the node's id, `sub:inner` under xray, as LangGraph
        names it) and `metadata`; edges with `data` (the label)
        and `conditional` where they have them. `__end__` is only its id, as in LangGraph.

        Example:
            >>> from interlock import StateGraph, START
            >>> g = StateGraph(dict).add_node("a", lambda s: {}).add_edge(START, "a").compile()
            >>> g.get_graph().to_json()["edges"]
            [{'source': '__start__', 'target': 'a'}, {'source': 'a', 'target': '__end__'}]
        """
        nodes: list[dict[str, Any]] = []
        for node in self.nodes.values():
            if node.id == END:
                nodes.append({"id": node.id})
                continue
            item: dict[str, Any] = {
                "id": node.id,
                "type": "runnable",
                "data": {"id": _path_of(node.data), "name": node.id},
            }
            if node.metadata:
                item["metadata"] = dict(node.metadata)
            nodes.append(item)
        edges: list[dict[str, Any]] = []
        for edge in self.edges:
            out: dict[str, Any] = {"source": edge.source, "target": edge.target}
            if edge.data is not None:
                out["data"] = edge.data
            if edge.conditional:
                out["conditional"] = True
            edges.append(out)
        return {"nodes": nodes, "edges": edges}

    def draw_mermaid(
        self,
        *,
        with_styles: bool = True,
        curve_style: Any = "linear",
        node_colors: Any = None,
        wrap_label_n_words: int = 9,
        **_ignored: Any,
    ) -> str:
        """The graph as Mermaid flowchart text, as LangGraph writes it (paste it into
        Markdown that renders Mermaid). `curve_style` is a Mermaid curve name (or
        LangGraph's `CurveStyle`); `node_colors` has `default`, `first`, `last` styles."""
        first, last = self.first_node(), self.last_node()
        return draw_mermaid(
            self.nodes,
            self.edges,
            first=first.id if first else None,
            last=last.id if last else None,
            with_styles=with_styles,
            curve_style=str(getattr(curve_style, "value", curve_style)),
            node_colors=node_colors,
            wrap_label_n_words=wrap_label_n_words,
        )


def _path_of(data: Any) -> list[str]:
    """Where a node's function or graph is defined, as a path (LangGraph gives its runnable
    class's): `["myapp", "agent", "call_model"]`; `__start__` is interlock's START."""
    if data is None:
        return ["interlock", "graph", "START"]
    target = data if hasattr(data, "__qualname__") else type(data)
    module = getattr(target, "__module__", None) or "builtins"
    return [*module.split("."), *str(target.__qualname__).split(".")]


# ---- building it from a spec ---------------------------------------------------------------

_Route = tuple[str, bool, str | None]
"""(target, conditional, label) of one way out of a node."""


def drawable(spec: GraphSpec, xray: bool | int = False) -> DrawableGraph:
    """The nodes and edges of `spec`; with `xray`, subgraph nodes are replaced by their own
    nodes (ids prefixed `name:`), `xray=n` going n levels deep."""
    routes = _routes(spec)
    edges = _sorted_edges(_reachable_edges(spec, routes))
    edges += _end_edges(edges)
    nodes: dict[str, Node] = {START: Node(START, START)}
    for name, node in spec.nodes.items():
        nodes[name] = Node(name, name, node.subgraph or node.fn, _node_metadata(spec, name))
    if any(e.target == END for e in edges):
        nodes[END] = Node(END, END)
    graph = DrawableGraph(nodes=nodes, edges=tuple(edges))
    if xray and id(spec) not in _DRAWING.specs:
        deeper = xray if isinstance(xray, bool) or xray <= 0 else xray - 1
        _DRAWING.specs.add(id(spec))  # a graph reached again inside itself is not expanded
        try:
            for name, node in spec.nodes.items():
                sub = node.subgraph or next(iter(graphs_called_by(node.afn or node.fn)), None)
                get_graph = getattr(sub, "get_graph", None)
                if get_graph is not None and id(getattr(sub, "spec", None)) not in _DRAWING.specs:
                    graph = _expand(graph, name, get_graph(xray=deeper))
        finally:
            _DRAWING.specs.discard(id(spec))
    return graph


class _Drawing(threading.local):
    specs: set[int]

    def __init__(self) -> None:
        self.specs = set()


_DRAWING = _Drawing()
"""The specs being expanded by `xray` on this thread (a graph that calls itself)."""


def _node_metadata(spec: GraphSpec, name: str) -> dict[str, Any] | None:
    """The node's own metadata plus LangGraph's notes: `defer` for a deferred node,
    `__interrupt` for breakpoints (a `"*"` breakpoint is not noted, as in LangGraph)."""
    metadata = dict(spec.nodes[name].metadata or {})
    if spec.nodes[name].defer:
        metadata["defer"] = True
    points = [
        when
        for when, names in (("before", spec.interrupt_before), ("after", spec.interrupt_after))
        if name in names
    ]
    if points:
        metadata["__interrupt"] = ",".join(points)
    return metadata or None


def _routes(spec: GraphSpec) -> dict[str, list[_Route]]:
    """Every node's (and START's) ways out, fan-in joins excluded. A plain edge to END is
    left out, as LangGraph leaves it out: a node with no other way on gets its edge to
    `__end__` back as an implicit one (and one with other ways on has none drawn)."""
    routes: dict[str, list[_Route]] = {}
    for source, targets in spec.edges.items():
        routes.setdefault(source, []).extend((t, False, None) for t in targets if t != END)
    for source, branches in spec.branches.items():
        for branch in branches:
            path_map = branch.path_map
            if path_map is None:
                path_map = {name: name for name in literal_return(branch.path)}
            routes.setdefault(source, []).extend(
                (str(t), True, str(k)) for k, t in path_map.items()
            )
    for name, node in spec.nodes.items():
        routes.setdefault(name, []).extend((t, True, label) for t, label in node.destinations)
    return routes


def _reachable_edges(spec: GraphSpec, routes: Mapping[str, list[_Route]]) -> set[Edge]:
    """The edges out of the nodes that can run, starting from START (a join's target runs
    once all its sources can). Routes to unknown nodes are left out."""
    reached = _reachable(spec, routes)
    edges: set[Edge] = set()
    for source in reached:
        for target, conditional, label in routes.get(source, ()):
            if target in reached or target == END:
                data = None if label == target else label
                edges.add(Edge(source, target, data, conditional))
        for sources, target in spec.joins:
            if source in sources and target in reached:
                edges.add(Edge(source, target))
    return edges


def _reachable(spec: GraphSpec, routes: Mapping[str, list[_Route]]) -> set[str]:
    """START and the nodes that can run after it."""
    reached, todo = {START}, [START]
    while todo:
        source = todo.pop()
        found = [t for t, _, _ in routes.get(source, ()) if t in spec.nodes]
        found += [t for sources, t in spec.joins if set(sources) <= reached and t in spec.nodes]
        for target in found:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    return reached


def _sorted_edges(edges: Iterable[Edge]) -> list[Edge]:
    """LangGraph's order (by source, target, dotted, label), one edge per pair of nodes."""
    out: list[Edge] = []
    seen: set[tuple[str, str]] = set()
    key = lambda e: (e.source, e.target, e.conditional, e.data is not None, e.data or "")  # noqa: E731
    for edge in sorted(edges, key=key):
        if (edge.source, edge.target) not in seen:
            seen.add((edge.source, edge.target))
            out.append(edge)
    return out


def _end_edges(edges: list[Edge]) -> list[Edge]:
    """The implicit edges to `__end__`: from every node that is reached but leads nowhere;
    when every node leads somewhere (a cycle), LangGraph's dry run ends on one node after
    its step limit and draws a dotted edge from it."""
    sources = {e.source for e in edges}
    termini = sorted({e.target for e in edges if e.target != END} - sources)
    if termini:
        return [Edge(source, END) for source in termini]
    if any(e.target == END for e in edges) or not edges:
        return []
    last = _last_dry_run_step(edges)
    return [Edge(last[0], END, conditional=True)] if len(last) == 1 else []


def _last_dry_run_step(edges: list[Edge]) -> list[str]:
    """The nodes running in the last step of a dry run over `edges`: plain edges fire every
    time their source runs, dotted ones only the first time (as in LangGraph's dry run)."""
    ran: set[str] = set()
    step = [START]
    for _ in range(_DRY_RUN_STEPS):
        following = sorted(
            {
                e.target
                for e in edges
                if e.source in step and e.target != END and not (e.conditional and e.source in ran)
            }
        )
        ran.update(step)
        if not following:
            break
        step = following
    return step


# ---- xray: subgraphs drawn inside their node ------------------------------------------------


def _expand(graph: DrawableGraph, name: str, sub: DrawableGraph) -> DrawableGraph:
    """`graph` with node `name` replaced by `sub`'s nodes (ids prefixed `name:`): edges into
    `name` go to the subgraph's first node, edges out of it leave from its last."""
    sub = _trim_last(_trim_first(sub))
    first, last = sub.first_node(), sub.last_node()
    if not sub.nodes or name not in graph.nodes or first is None or last is None:
        return graph
    nodes = {k: v for k, v in graph.nodes.items() if k != name}
    for node in sub.nodes.values():
        nodes[f"{name}:{node.id}"] = Node(f"{name}:{node.id}", node.name, node.data, node.metadata)
    entry, exit_ = f"{name}:{first.id}", f"{name}:{last.id}"
    edges = [
        Edge(
            exit_ if e.source == name else e.source,
            entry if e.target == name else e.target,
            e.data,
            e.conditional,
        )
        for e in graph.edges
    ]
    edges += [
        Edge(f"{name}:{e.source}", f"{name}:{e.target}", e.data, e.conditional) for e in sub.edges
    ]
    return DrawableGraph(nodes=nodes, edges=tuple(edges))


def _without(graph: DrawableGraph, node_id: str) -> DrawableGraph:
    return DrawableGraph(
        nodes={k: v for k, v in graph.nodes.items() if k != node_id},
        edges=tuple(e for e in graph.edges if node_id not in (e.source, e.target)),
    )


def _trim_first(graph: DrawableGraph) -> DrawableGraph:
    """Drop the first node (`__start__`) when it has one edge out and another node would
    then be first."""
    first = graph.first_node()
    if first is None or sum(e.source == first.id for e in set(graph.edges)) != 1:
        return graph
    targets = {e.target for e in graph.edges if e.source != first.id}
    rest = [n for n in graph.nodes if n != first.id and n not in targets]
    return _without(graph, first.id) if len(rest) == 1 else graph


def _trim_last(graph: DrawableGraph) -> DrawableGraph:
    """Drop the last node (`__end__`) when it has one edge in and another node would then
    be last."""
    last = graph.last_node()
    if last is None or sum(e.target == last.id for e in set(graph.edges)) != 1:
        return graph
    sources = {e.source for e in graph.edges if e.target != last.id}
    rest = [n for n in graph.nodes if n != last.id and n not in sources]
    return _without(graph, last.id) if len(rest) == 1 else graph
