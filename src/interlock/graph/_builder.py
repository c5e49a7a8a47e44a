"""`StateGraph`: declare nodes and edges, then `compile()` into a runnable graph."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from interlock._types import END, START
from interlock.errors import InvalidGraph
from interlock.graph._root_state import check_schemas, node_reads
from interlock.graph._spec import Branch, GraphSpec, NodeSpec, declared_destinations
from interlock.graph._state import StateSchema, node_schema

if TYPE_CHECKING:
    from interlock.checkpoint.base import BaseSaver
    from interlock.graph._compiled import CompiledStateGraph

__all__ = ["StateGraph"]


def _node_name(fn: Any) -> str:
    name = getattr(fn, "name", None) or getattr(fn, "__name__", None)
    if not isinstance(name, str):
        raise InvalidGraph(f"cannot infer a node name from {fn!r}; pass add_node(name, fn)")
    return name


class StateGraph:
    """A graph of nodes that read and update a shared state.

    The state schema is a TypedDict, a dataclass or a pydantic model (keys), or a type
    without keys (`Annotated[list, operator.add]`, `int`): then the state is that one
    value, nodes receive it and return an update of it (see the parity page, "Root state
    schemas").

    Example:
        >>> from typing import Annotated, TypedDict
        >>> import operator
        >>> class State(TypedDict):
        ...     log: Annotated[list[str], operator.add]
        >>> g = StateGraph(State)
        >>> _ = g.add_node("a", lambda s: {"log": ["a"]})
        >>> _ = g.add_edge(START, "a")
        >>> g.compile().invoke({"log": []})
        {'log': ['a']}
    """

    def __init__(
        self,
        state_schema: Any = None,
        context_schema: Any = None,
        *,
        input_schema: Any = None,
        output_schema: Any = None,
        **legacy: Any,
    ) -> None:
        input_schema = input_schema or legacy.pop("input", None)
        output_schema = output_schema or legacy.pop("output", None)
        if legacy:
            raise TypeError(f"unexpected arguments: {sorted(legacy)}")
        check_schemas(state_schema, input_schema, output_schema)
        self.schema = StateSchema(state_schema if state_schema is not None else dict)
        self.state_schema = self.schema.type
        self.input_schema = input_schema if input_schema is not None else self.state_schema
        self.output_schema = output_schema if output_schema is not None else self.state_schema
        self.context_schema = context_schema
        # what invoke returns and input writes: the keys of the output and the input schema
        # (the state's by default), as LangGraph's output and input channels are
        own = tuple(self.schema.channels) if not self.schema.open else None
        self._output_keys: tuple[str, ...] | None = own
        self._input_keys: frozenset[str] | None = frozenset(own) if own is not None else None
        if input_schema is not None and self.schema.kind != "root":
            inp = StateSchema(input_schema)
            self.schema.merge(inp)
            self._input_keys = frozenset(inp.channels) if not inp.open else None
        if output_schema is not None and self.schema.kind != "root":
            out = StateSchema(output_schema)
            self.schema.merge(out)
            self._output_keys = tuple(out.channels)
        self.nodes: dict[str, NodeSpec] = {}
        self.edges: list[tuple[str, str]] = []
        self.joins: list[tuple[tuple[str, ...], str]] = []
        self.branches: dict[str, list[Branch]] = {}
        self._compiled = False
        self._migrations: dict[str, Any] = {}

    # ---- nodes ---------------------------------------------------------------------------

    def add_node(
        self,
        node: str | Callable[..., Any],
        action: Callable[..., Any] | None = None,
        *,
        input_schema: Any = None,
        metadata: Mapping[str, Any] | None = None,
        destinations: Any = None,
        retry_policy: Any = None,
        cache_policy: Any = None,
        defer: bool = False,
        **_ignored: Any,
    ) -> StateGraph:
        """Add a node: `add_node("name", fn)` or `add_node(fn)` (named after the function).

        `fn(state)` returns a dict of updates, a `Command`, or None. It may also take
        `config`, `writer` and `runtime` (a `Runtime`) keyword parameters. A compiled graph
        can be a node (subgraph); an object with a sync `__call__` and an async `acall` (such
        as `ToolNode`) runs the one under invoke, the other under ainvoke. `retry_policy` (a
        `RetryPolicy` or a list of them) runs the node again when it raises (LangGraph's
        older `retry=` is accepted too). With `defer=True` an edge to the node does not run
        it in the next step: it waits until no other node would run (every pending branch
        has finished), then runs once, as LangGraph's deferred nodes do. With
        `cache_policy=CachePolicy(...)` and `compile(cache=...)`, a result the node returned
        for the same input is used instead of calling it (see the parity page, "Node
        caching").

        The node reads the state through `input_schema`, else the type its first parameter
        is annotated with (a TypedDict, dataclass or pydantic model), else the graph's
        state schema: it receives the keys of that schema only, as an instance of it for a
        dataclass or a pydantic model. That schema's keys become keys of the graph (a
        "private" key only some nodes read and write).
        """
        from interlock.graph._node_cache import check_cache_policy
        from interlock.graph._runtime import check_retry_policy

        try:
            retry = check_retry_policy(
                retry_policy if retry_policy is not None else _ignored.get("retry")
            )
            cache = check_cache_policy(cache_policy)
        except (TypeError, ValueError) as exc:
            raise InvalidGraph(f"node {node!r}: {exc}") from None
        if not isinstance(node, str):
            action, node = node, _node_name(node)
        if action is None:
            raise InvalidGraph(f"node {node!r} needs a function")
        if node in (START, END) or node in self.nodes:
            raise InvalidGraph(f"node name {node!r} is reserved or already used")
        if ":" in node or "|" in node:
            raise InvalidGraph(f"node name {node!r} must not contain ':' or '|'")
        schema = node_reads(self.schema, node, action, node_schema(action, input_schema))
        if schema is not None and schema.type is self.state_schema:
            schema = None  # the graph's own: it reads what every node reads
        if schema is not None:
            self.schema.merge(schema)  # its keys are channels of the graph (private state)
        spec = NodeSpec.create(node, action, schema, retry, defer=bool(defer))
        self.nodes[node] = replace(
            spec,
            metadata=dict(metadata) if metadata else None,
            destinations=declared_destinations(action, destinations),
            cache_policy=cache,
        )
        return self

    # ---- edges ---------------------------------------------------------------------------

    def add_edge(self, start_key: str | Sequence[str], end_key: str) -> StateGraph:
        """`a → b`; with a list of sources, `b` runs once all of them finished (fan-in)."""
        if isinstance(start_key, str):
            if start_key == END:
                raise InvalidGraph("END cannot be the source of an edge")
            if end_key == START:
                raise InvalidGraph("START cannot be the target of an edge")
            self.edges.append((start_key, end_key))
        else:
            sources = tuple(start_key)
            if not sources:
                raise InvalidGraph("add_edge needs at least one source")
            self.joins.append((sources, end_key))
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[..., Any],
        path_map: Mapping[Hashable, str] | Sequence[str] | None = None,
    ) -> StateGraph:
        """After `source`, call `path(state)` to choose the next node(s) (or END, or Sends).

        `path_map` maps the function's return values to node names (a list maps names to
        themselves).
        """
        if inspect.iscoroutinefunction(path):
            raise InvalidGraph("conditional edge functions must be synchronous")
        mapping: Mapping[Hashable, str] | None
        if path_map is None:
            mapping = None
        elif isinstance(path_map, Mapping):
            mapping = dict(path_map)
        else:
            mapping = {name: name for name in path_map}
        try:
            wants_config = "config" in inspect.signature(path).parameters
        except (TypeError, ValueError):
            wants_config = False
        self.branches.setdefault(source, []).append(
            Branch(path=path, path_map=mapping, wants_config=wants_config)
        )
        return self

    def add_sequence(
        self, nodes: Sequence[Callable[..., Any] | tuple[str, Callable]]
    ) -> StateGraph:
        """Add nodes that run one after another, chained by edges."""
        if not nodes:
            raise InvalidGraph("add_sequence needs at least one node")
        previous: str | None = None
        for item in nodes:
            if isinstance(item, tuple):
                name, fn = item
                self.add_node(name, fn)
            else:
                name = _node_name(item)
                self.add_node(name, item)
            if previous is not None:
                self.add_edge(previous, name)
            previous = name
        return self

    def set_entry_point(self, key: str) -> StateGraph:
        """Same as `add_edge(START, key)`."""
        return self.add_edge(START, key)

    def set_conditional_entry_point(
        self, path: Callable[..., Any], path_map: Mapping[Hashable, str] | None = None
    ) -> StateGraph:
        """Same as `add_conditional_edges(START, path, path_map)`."""
        return self.add_conditional_edges(START, path, path_map)

    def set_finish_point(self, key: str) -> StateGraph:
        """Same as `add_edge(key, END)`."""
        return self.add_edge(key, END)

    # ---- versions ------------------------------------------------------------------------

    def migrate(
        self, *, from_version: str, nodes: Mapping[str, str] | None = None
    ) -> Callable[[Callable[[dict[str, Any]], Mapping[str, Any]]], Callable[..., Any]]:
        """Register a migration for threads paused under version `from_version`: a pure
        function of the stored state values returning the new values; `nodes` renames the
        nodes the paused run goes on with (`{"pay": "charge"}`). Applied once, when such a
        thread is resumed by a graph compiled with `on_version_change="migrate"`, and
        recorded as its own checkpoint. Returns the function unchanged (test it alone)."""
        from interlock.graph._versions import registrar

        return registrar(self._migrations, from_version, nodes)

    # ---- compile -------------------------------------------------------------------------

    def _validate(self, interrupt_before: Sequence[str], interrupt_after: Sequence[str]) -> None:
        known = set(self.nodes)
        for src, dst in self.edges:
            if src != START and src not in known:
                raise InvalidGraph(f"edge {src!r} → {dst!r}: unknown source node {src!r}")
            if dst != END and dst not in known:
                raise InvalidGraph(f"edge {src!r} → {dst!r}: unknown target node {dst!r}")
        for sources, dst in self.joins:
            for src in sources:
                if src not in known:
                    raise InvalidGraph(f"edge {list(sources)} → {dst!r}: unknown node {src!r}")
            if dst != END and dst not in known:
                raise InvalidGraph(f"edge {list(sources)} → {dst!r}: unknown node {dst!r}")
        for src, branches in self.branches.items():
            if src != START and src not in known:
                raise InvalidGraph(f"conditional edge from unknown node {src!r}")
            for branch in branches:
                for dst in (branch.path_map or {}).values():
                    if dst != END and dst not in known:
                        raise InvalidGraph(
                            f"conditional edge from {src!r} maps to unknown node {dst!r}"
                        )
        if not any(src == START for src, _ in self.edges) and START not in self.branches:
            raise InvalidGraph(
                "the graph has no entry point: add_edge(START, 'first_node') "
                "or set_entry_point('first_node')"
            )
        for label, names in (
            ("interrupt_before", interrupt_before),
            ("interrupt_after", interrupt_after),
        ):
            for name in names:
                if name != "*" and name not in known:
                    raise InvalidGraph(f"{label} names unknown node {name!r}")

    def compile(
        self,
        checkpointer: BaseSaver | bool | None = None,
        *,
        interrupt_before: Sequence[str] | str | None = None,
        interrupt_after: Sequence[str] | str | None = None,
        name: str | None = None,
        debug: bool = False,
        store: Any = None,
        version: str | None = None,
        tools: Any = None,
        on_version_change: str | None = None,
        cache: Any = None,
        **_ignored: Any,
    ) -> CompiledStateGraph:
        """Check the graph and return a runnable `CompiledStateGraph`.

        Unknown nodes, dangling edges and a missing entry point raise `InvalidGraph` here.
        `store` is handed to nodes as `runtime.store` (interlock does not use it itself).
        For a graph used as a subgraph, `checkpointer=True` keeps its state from one parent
        step to the next and `checkpointer=False` gives it no checkpoints (LangGraph's
        meanings); by default it checkpoints in the parent's store for one task.

        Versions (see the safe-deploys guide): every checkpoint and request records the
        graph's version, by default the fingerprint of its manifest (node names and edges,
        state keys and reducers, and the argument schemas of `tools`, tool objects or
        `{name: JSON schema}`); `version="..."` names it instead (trusted: the same name is
        compatible). `on_version_change` says what a resume on breaking changes does:
        `"refuse"` (the default), `"migrate"` (with `migrate(from_version=...)`) or
        `"resume"`.

        `cache` (an `InMemoryCache`, a `SqliteCache` or your own `BaseCache`) keeps the
        results of the nodes added with a `cache_policy`.
        """
        from interlock.graph._compiled import CompiledStateGraph
        from interlock.graph._node_cache import check_cache
        from interlock.graph._versions import version_info

        try:
            node_cache = check_cache(cache)
        except ValueError as exc:
            raise InvalidGraph(str(exc)) from None

        before = (
            [interrupt_before]
            if isinstance(interrupt_before, str)
            else list(interrupt_before or ())
        )
        after = (
            [interrupt_after] if isinstance(interrupt_after, str) else list(interrupt_after or ())
        )
        self._validate(before, after)
        edges: dict[str, list[str]] = {}
        for src, dst in self.edges:
            edges.setdefault(src, [])
            if dst not in edges[src]:
                edges[src].append(dst)
        spec = GraphSpec(
            name=name or "LangGraph",
            schema=self.schema,
            nodes=dict(self.nodes),
            edges={k: tuple(v) for k, v in edges.items()},
            joins=tuple(self.joins),
            branches={k: tuple(v) for k, v in self.branches.items()},
            interrupt_before=frozenset(before),
            interrupt_after=frozenset(after),
            output_keys=self._output_keys,
            input_keys=self._input_keys,
        )
        info = version_info(spec, version=version, tools=tools, policy=on_version_change)
        spec = replace(spec, version=info.version)
        info.migrations.update(self._migrations)
        self._compiled = True
        saver = checkpointer if not isinstance(checkpointer, bool) else None
        graph = CompiledStateGraph(spec, checkpointer=saver, builder=self, version=info)
        graph.stateful = checkpointer is True  # as a subgraph: one namespace per node name
        graph.persistent = checkpointer is not False
        graph.store = store
        graph.cache = node_cache
        graph.context_schema = self.context_schema
        return graph
