"""Mermaid flowchart text for a `DrawableGraph`, in LangGraph 1.2's (langchain-core's) format,
so the same graph gives the same text on both: the front matter, one line per node (the
first and last node rounded and classed), the edges in the graph's order, subgraph blocks
for `xray` drawings (ids `sub:a`), then the class styles."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

__all__ = ["draw_mermaid", "safe_id"]


class Node(Protocol):
    """What is drawn of a node (`interlock.graph._drawing.Node`)."""

    @property
    def name(self) -> str: ...
    @property
    def metadata(self) -> Mapping[str, Any] | None: ...


class Edge(Protocol):
    """What is drawn of an edge (`interlock.graph._drawing.Edge`)."""

    @property
    def source(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def data(self) -> str | None: ...
    @property
    def conditional(self) -> bool: ...


_STYLES = {
    "default": "fill:#f2f0ff,line-height:1.2",
    "first": "fill-opacity:0",
    "last": "fill:#bfb6fc",
}
_MARKDOWN = tuple("*_`")
"""A name starting and ending with one of these is wrapped in `<p>` (else it renders as
Markdown emphasis)."""
_SAFE = set(string.ascii_letters + string.digits + "_-")
_ESCAPES = {
    "[": "#91;",
    "]": "#93;",
    "(": "#40;",
    ")": "#41;",
    "{": "#123;",
    "}": "#125;",
    '"': "#quot;",
    "<": "#60;",
    ">": "#62;",
    "|": "#124;",
}


def draw_mermaid(
    nodes: Mapping[str, Node],
    edges: Sequence[Edge],
    *,
    first: str | None = None,
    last: str | None = None,
    with_styles: bool = True,
    curve_style: str = "linear",
    node_colors: Any = None,
    wrap_label_n_words: int = 9,
) -> str:
    """The text of `DrawableGraph.draw_mermaid(...)`: `nodes` by id, `edges` in order,
    `first` and `last` the ids of the nodes drawn rounded."""
    classes = {}
    if first is not None:
        classes[first] = "first"
    if last is not None:
        classes[last] = "last"
    writer = _Writer(nodes, edges, classes, with_styles, wrap_label_n_words)
    head = f"---\nconfig:\n  flowchart:\n    curve: {curve_style}\n---\n" if with_styles else ""
    return head + "graph TD;\n" + writer.body() + (_styles(node_colors) if with_styles else "")


def _styles(node_colors: Any) -> str:
    styles = {k: getattr(node_colors, k, v) if node_colors else v for k, v in _STYLES.items()}
    return "".join(f"\tclassDef {name} {style}\n" for name, style in styles.items())


def safe_id(node_id: str) -> str:
    """A Mermaid-safe id: letters, digits, `_` and `-` kept, others as `\\` + hex code."""
    return "".join(c if c in _SAFE else "\\" + format(ord(c), "x") for c in node_id)


def _escape(text: str) -> str:
    text = text.replace("#", "#35;")
    for char, entity in _ESCAPES.items():
        text = text.replace(char, entity)
    return text


def _metadata_value(value: Any) -> str | None:
    scalars = (str, int, float, bool)
    if isinstance(value, scalars):
        return str(value)
    if isinstance(value, (list, tuple, set)) and all(isinstance(v, scalars) for v in value):
        items = [str(v) for v in value]
        return ", ".join(sorted(items) if isinstance(value, set) else items)
    return None


def _label(node: Node) -> str:
    """The box text: the name, and its metadata as `key = value` lines under a rule."""
    name = node.name.split(":")[-1]
    label = f"<p>{name}</p>" if name.startswith(_MARKDOWN) and name.endswith(_MARKDOWN) else name
    lines = [
        _escape(f"{key} = {text}")
        for key, value in (node.metadata or {}).items()
        if (text := _metadata_value(value)) is not None
    ]
    if lines:
        label += "<hr/><small><em>" + "\n".join(lines) + "</em></small>"
    return label


def _edge_line(edge: Edge, wrap: int) -> str:
    if edge.data is None:
        arrow = " -.-> " if edge.conditional else " --> "
    else:
        words = str(edge.data).split()
        text = str(edge.data)
        if len(words) > wrap:
            text = "&nbsp<br>&nbsp".join(
                " ".join(words[i : i + wrap]) for i in range(0, len(words), wrap)
            )
        arrow = (
            f" -. &nbsp;{text}&nbsp; .-> " if edge.conditional else f" -- &nbsp;{text}&nbsp; --> "
        )
    return f"\t{safe_id(edge.source)}{arrow}{safe_id(edge.target)};\n"


def _common_prefix(edge: Edge) -> str:
    """The subgraph an edge is drawn in: the id parts its two ends share, position by
    position (langchain-core's grouping, kept as is so the text matches)."""
    pairs = zip(edge.source.split(":"), edge.target.split(":"), strict=False)
    return ":".join(s for s, t in pairs if s == t)


class _Writer:
    """Writes the node and edge lines, grouping `a:b` ids into `subgraph a ... end`."""

    def __init__(
        self,
        nodes: Mapping[str, Node],
        edges: Sequence[Edge],
        classes: Mapping[str, str],
        styles: bool,
        wrap: int,
    ) -> None:
        self.classes, self.styles, self.wrap = classes, styles, wrap
        self.top: dict[str, Node] = {}
        self.inside: dict[str, dict[str, Node]] = {}
        for key, node in nodes.items():
            if ":" in key:
                self.inside.setdefault(key.rsplit(":", 1)[0], {})[key] = node
            else:
                self.top[key] = node
        self.groups: dict[str, list[Edge]] = {}
        for edge in edges:
            self.groups.setdefault(_common_prefix(edge), []).append(edge)
        self.seen: set[str] = set()
        self.out: list[str] = []

    def body(self) -> str:
        """Top-level nodes, top-level edges, then each subgraph block."""
        if self.styles:
            self.out += [self._node(k, n) for k, n in self.top.items()]
        self._block(self.groups.get("", []), "")
        for prefix, edges in self.groups.items():
            if prefix and ":" not in prefix:
                self._block(edges, prefix)
                self.seen.add(prefix)
        if self.styles:
            for prefix, nodes in self.inside.items():
                if ":" not in prefix and prefix not in self.seen:
                    self.out.append(f"\tsubgraph {prefix}\n")
                    self.out += [self._node(k, n) for k, n in nodes.items()]
                    self.out.append("\tend\n")
                    self.seen.add(prefix)
        return "".join(self.out)

    def _node(self, key: str, node: Node) -> str:
        template = {"first": "{0}([{1}]):::first", "last": "{0}([{1}]):::last"}.get(
            self.classes.get(key, ""), "{0}({1})"
        )
        return "\t" + template.format(safe_id(key), _label(node)) + "\n"

    def _block(self, edges: Sequence[Edge], prefix: str) -> None:
        """The edges of group `prefix` (inside `subgraph ... end` unless top level), then
        the groups one level below it."""
        boxed = bool(prefix) and not (len(edges) == 1 and edges[0].source == edges[0].target)
        if boxed:
            name = prefix.rsplit(":", 1)[-1]
            if name in self.seen:
                raise ValueError(
                    f"two subgraphs are named {name!r}: give subgraph nodes unique names"
                )
            self.seen.add(name)
            self.out.append(f"\tsubgraph {name}\n")
            if self.styles:
                self.out += [self._node(k, n) for k, n in self.inside.get(prefix, {}).items()]
        self.out += [_edge_line(edge, self.wrap) for edge in edges]
        for nested, nested_edges in self.groups.items():
            rest = nested[len(prefix) + 1 :]
            if nested.startswith(prefix + ":") and nested != prefix and ":" not in rest:
                self._block(nested_edges, nested)
        if boxed:
            self.out.append("\tend\n")
