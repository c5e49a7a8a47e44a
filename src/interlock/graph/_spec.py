"""The compiled shape of a graph: nodes, edges, branches, breakpoints. Built by `StateGraph`."""

from __future__ import annotations

import inspect
import types
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from interlock._types import END, Command, Send
from interlock.errors import InvalidUpdate
from interlock.graph._state import StateSchema

__all__ = ["Branch", "GraphSpec", "NodeSpec", "declared_destinations", "literal_return"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NodeSpec:
    """A node: its function and how to call it."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    wants_config: bool
    wants_writer: bool
    wants_runtime: bool = False
    """The function takes a `runtime` parameter (LangGraph 1.x `Runtime`)."""
    wants_store: bool = False
    """The function takes a `store` parameter (`compile(store=...)`, or None)."""
    retry: tuple[Any, ...] = ()
    """`RetryPolicy` values; the first whose `retry_on` matches a failure applies."""
    subgraph: Any = None
    """A compiled graph used as this node (runs embedded in the parent task)."""
    input_schema: StateSchema | None = None
    afn: Callable[..., Any] | None = None
    """The async body of a node object that has both (a sync `__call__` and an async
    `acall`, e.g. `ToolNode`): the async driver awaits it, the sync driver calls `fn`."""
    defer: bool = False
    """`add_node(..., defer=True)`: an edge to it holds it back until no other node would
    run (see `_Run.triggers`)."""
    metadata: Mapping[str, Any] | None = None
    """`add_node(metadata=...)`: shown in the drawing under the node's name."""
    destinations: tuple[tuple[str, str | None], ...] = ()
    """Where a `Command` it returns may go, with an edge label: from `add_node(destinations=)`
    or a `-> Command[Literal["b", "c"]]` return annotation. Used for drawing only."""
    cache_policy: Any = None
    """`add_node(cache_policy=CachePolicy(...))`: its results are cached in a graph compiled
    with `cache=` (`_node_cache`)."""

    @classmethod
    def create(
        cls,
        name: str,
        fn: Any,
        input_schema: StateSchema | None = None,
        retry: tuple[Any, ...] = (),
        *,
        defer: bool = False,
    ) -> NodeSpec:
        """Inspect `fn` (a function, a callable object, or a compiled graph)."""
        if hasattr(fn, "_run_as_child"):
            return cls(
                name=name,
                fn=fn,
                is_async=False,
                wants_config=False,
                wants_writer=False,
                subgraph=fn,
                input_schema=input_schema,
                retry=retry,
                defer=defer,
            )
        target = fn
        if not (inspect.isfunction(fn) or inspect.ismethod(fn)) and callable(fn):
            target = getattr(fn, "__call__", fn)  # noqa: B004
        is_async = inspect.iscoroutinefunction(target)
        afn = getattr(fn, "acall", None)
        if is_async or not inspect.iscoroutinefunction(afn):
            afn = None
        try:
            params = inspect.signature(target).parameters
        except (TypeError, ValueError):
            params = {}  # type: ignore[assignment]
        return cls(
            name=name,
            fn=fn,
            is_async=is_async,
            wants_config="config" in params,
            wants_writer="writer" in params,
            wants_runtime="runtime" in params,
            wants_store="store" in params,
            retry=retry,
            input_schema=input_schema,
            afn=afn,
            defer=defer,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Branch:
    """A conditional edge: `path(state)` names the next node(s), maybe through `path_map`."""

    path: Callable[..., Any]
    path_map: Mapping[Hashable, str] | None
    wants_config: bool = False

    def resolve(self, state: Any, config: Mapping[str, Any]) -> list[str | Send]:
        """Run the path function and map its result to targets."""
        result = self.path(state, config) if self.wants_config else self.path(state)
        items = result if isinstance(result, (list, tuple)) else [result]
        out: list[str | Send] = []
        for item in items:
            if isinstance(item, Send):
                out.append(item)
            elif self.path_map is not None:
                try:
                    out.append(self.path_map[item])
                except (KeyError, TypeError):
                    raise InvalidUpdate(
                        f"conditional edge returned {item!r}, which is not in its path_map "
                        f"{list(self.path_map)}"
                    ) from None
            elif isinstance(item, str):
                out.append(item)
            elif item is None:
                out.append(END)
            else:
                raise InvalidUpdate(
                    f"conditional edge returned {item!r}; return a node name, END, a Send or "
                    "a list of them"
                )
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphSpec:
    """Everything the engine needs to plan steps. Immutable once compiled."""

    name: str
    schema: StateSchema
    nodes: Mapping[str, NodeSpec]
    edges: Mapping[str, tuple[str, ...]]
    """Static edges: source → targets (START included)."""
    joins: tuple[tuple[tuple[str, ...], str], ...] = ()
    """Fan-in edges: (sources, target); the target runs once all sources finished."""
    branches: Mapping[str, tuple[Branch, ...]] = field(default_factory=dict)
    interrupt_before: frozenset[str] = frozenset()
    interrupt_after: frozenset[str] = frozenset()
    output_keys: tuple[str, ...] | None = None
    """Keys returned by invoke (None = all)."""
    input_keys: frozenset[str] | None = None
    """Keys new input may write (None = all): the input schema's, as LangGraph's START
    writes only those (a private key or a key of the output schema is left out)."""
    version: str | None = None
    """The graph version its checkpoints and requests record (`interlock.graph._manifest`)."""

    def hits(self, points: frozenset[str], names: Sequence[str]) -> list[str]:
        """The names in `names` that a breakpoint set selects."""
        if not points:
            return []
        if "*" in points:
            return list(names)
        return [n for n in names if n in points]


def _return_hint(fn: Any) -> Any:
    """`fn`'s resolved return annotation (of `__call__` for callable objects), or None."""
    target = fn
    if not (inspect.isfunction(fn) or inspect.ismethod(fn)) and callable(fn):
        target = getattr(fn, "__call__", fn)  # noqa: B004
    try:
        return get_type_hints(target).get("return")
    except Exception:  # unresolvable names, odd callables: nothing declared
        return None


def literal_return(fn: Any) -> tuple[Any, ...]:
    """The names in `fn`'s `-> Literal[...]` return annotation (a conditional edge's
    possible targets when it has no `path_map`, as LangGraph reads them).

    Example:
        >>> def route(state) -> Literal["a", "b"]: ...
        >>> literal_return(route)
        ('a', 'b')
    """
    hint = _return_hint(fn)
    return get_args(hint) if get_origin(hint) is Literal else ()


def declared_destinations(fn: Any, destinations: Any = None) -> tuple[tuple[str, str | None], ...]:
    """Where a node's `Command` may go: `destinations` (names, or `{name: label}`) or the
    names in a `-> Command[Literal[...]]` return annotation (also inside a Union).

    Example:
        >>> def a(state) -> Command[Literal["b", "c"]]: ...
        >>> declared_destinations(a)
        (('b', None), ('c', None))
    """
    if destinations is not None:
        if isinstance(destinations, Mapping):
            return tuple((str(k), str(v)) for k, v in destinations.items())
        return tuple((str(name), None) for name in destinations)
    hint = _return_hint(fn)
    options = get_args(hint) if get_origin(hint) in (Union, types.UnionType) else (hint,)
    for option in options:
        args = get_args(option) if get_origin(option) is Command else ()
        if args and get_origin(args[0]) is Literal:
            return tuple((str(name), None) for name in get_args(args[0]))
    return ()
