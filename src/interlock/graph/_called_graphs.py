"""The compiled graphs a node function calls: found, as LangGraph finds them, among the
names its code reads (globals, closure variables, attributes of the object a bound method
belongs to). `get_state`, `update_state` and `get_subgraphs` use them to read and edit the
state of a subgraph a node calls from inside its function, where no node is the subgraph.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Iterator
from typing import Any

__all__ = ["graphs_called_by", "is_graph", "node_graph", "subgraphs_of"]


def is_graph(obj: Any) -> bool:
    """A compiled graph of interlock's (a `StateGraph` or an entrypoint) that keeps its own
    checkpoints when run inside a node (`checkpointer=False` ones do not)."""
    return hasattr(obj, "_run_as_child") and getattr(obj, "persistent", True) is not False


def node_graph(graph: Any, name: str) -> Any:
    """The subgraph node `name` of `graph` is, or else the first graph its function calls
    (None if it calls none, or there is no such node)."""
    node = graph.spec.nodes.get(name)
    if node is None:
        return None
    if node.subgraph is not None:
        return node.subgraph
    called = graphs_called_by(node.afn or node.fn)
    if not called and node.afn is not None:
        called = graphs_called_by(node.fn)
    called = [g for g in called if getattr(g, "spec", None) is not graph.spec]
    return called[0] if called else None


def subgraphs_of(
    graph: Any, namespace: str | None, recurse: bool, _above: frozenset[int] = frozenset()
) -> Iterator[tuple[str, Any]]:
    """`get_subgraphs`: `(namespace, graph)` for each node's subgraph, deeper ones with
    `recurse`; with `namespace`, only the one at that namespace (node names joined by `|`).
    A graph a node reaches that is the graph itself or one above it (a node calling its
    own graph, say for its history) is not a subgraph."""
    above = _above | {id(graph)}
    for name in graph.spec.nodes:
        if namespace is not None and namespace != name and not namespace.startswith(name + "|"):
            continue
        sub = node_graph(graph, name)
        if sub is None or id(sub) in above:
            continue
        if namespace == name:
            yield name, sub
            return
        if namespace is None:
            yield name, sub
        if recurse:
            below = None if namespace is None else namespace[len(name) + 1 :]
            for ns, deeper in subgraphs_of(sub, below, True, above):
                yield f"{name}|{ns}", deeper


def graphs_called_by(fn: Any) -> list[Any]:
    """The graphs `fn` references, in the order its code first names them, each once."""
    seen: dict[int, Any] = {}
    for obj in _referenced(fn, depth=0):
        if is_graph(obj):
            seen.setdefault(id(obj), obj)
    return list(seen.values())


def _referenced(fn: Any, depth: int) -> Iterator[Any]:
    """Objects the code of `fn` may read: its globals and closure cells by the names it
    uses (in functions and lambdas nested in it too), a bound method's `self` attributes, a
    partial's function and arguments."""
    if depth > 3:
        return
    if isinstance(fn, functools.partial):
        yield from fn.args
        yield from fn.keywords.values()
        yield from _referenced(fn.func, depth + 1)
        return
    owner = getattr(fn, "__self__", None)
    func = getattr(fn, "__func__", fn)
    code = getattr(func, "__code__", None)
    if not isinstance(code, types.CodeType):
        call = vars(type(fn)).get("__call__")  # a callable object: its own __call__
        if isinstance(call, types.FunctionType) and not isinstance(fn, type):
            yield from _referenced(types.MethodType(call, fn), depth + 1)
        return
    cells = dict(zip(code.co_freevars, getattr(func, "__closure__", None) or (), strict=False))
    glob = getattr(func, "__globals__", {})
    modules = [m for m in (glob.get(n) for n in code.co_names) if isinstance(m, types.ModuleType)]
    for c in _codes(code):
        for name in c.co_names:
            if name in glob:
                yield glob[name]
            for module in modules:  # `module.graph.invoke(...)`
                if name in vars(module):
                    yield vars(module)[name]
            if owner is not None:
                try:
                    value = getattr(owner, name, None)
                except Exception:  # a property that fails: not a graph
                    continue
                if value is not None:
                    yield value
        for name in c.co_freevars:
            cell = cells.get(name)
            if cell is not None:
                try:
                    yield cell.cell_contents
                except ValueError:  # an empty cell
                    continue


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    """`code` and the code of the functions and lambdas defined in it."""
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)
