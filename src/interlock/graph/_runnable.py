"""What a compiled LangGraph graph offers as a LangChain `Runnable`: `with_config`,
`batch` / `abatch`, `get_subgraphs` and `get_input_jsonschema` / `get_output_jsonschema` /
`get_context_jsonschema`.

`CompiledStateGraph` takes these from `RunnableMethods`; they only call its `invoke` /
`ainvoke` and read its builder, so they add no run semantics of their own.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from interlock._types import RunnableConfig
from interlock.graph._called_graphs import subgraphs_of
from interlock.graph._json_schemas import context_json_schema, json_schema
from interlock.graph._state_cache import StateCache
from interlock.graph._versions import renamed, replace_version

__all__ = ["RunnableMethods", "merge_configs"]


def merge_configs(*configs: Mapping[str, Any] | None) -> RunnableConfig:
    """Merge configs left to right as LangChain does: `configurable` and `metadata` are
    merged key by key, `tags` joined, any other key taken from the last config that has it.

    >>> merge_configs({"configurable": {"a": 1}, "tags": ["x"]}, {"configurable": {"b": 2}})
    {'configurable': {'a': 1, 'b': 2}, 'tags': ['x']}
    """
    out: dict[str, Any] = {}
    for config in configs:
        for key, value in (config or {}).items():
            if key in ("configurable", "metadata") and value is not None:
                out[key] = {**(out.get(key) or {}), **value}
            elif key == "tags" and value is not None:
                out[key] = sorted({*(out.get(key) or ()), *value})
            else:
                out[key] = value
    return cast(RunnableConfig, out)


def _configs(config: Any, n: int) -> list[RunnableConfig | None]:
    if isinstance(config, Sequence) and not isinstance(config, str | Mapping):
        if len(config) != n:
            raise ValueError(f"batch: {len(config)} configs for {n} inputs; give one per input")
        return [cast(RunnableConfig, dict(c)) if c is not None else None for c in config]
    return [copy.deepcopy(config) for _ in range(n)]


class RunnableMethods:
    """LangChain's `Runnable` methods of a compiled graph (mixed into `CompiledStateGraph`)."""

    config: RunnableConfig | None = None
    """Set by `with_config`: merged into the config of every call on this graph."""

    def _bound(self, config: RunnableConfig | None) -> RunnableConfig | None:
        """`config` with this graph's `with_config` config under it."""
        return merge_configs(self.config, config) if self.config else config

    def with_config(self, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """A copy of this graph whose calls (`invoke`, `stream`, `get_state`,
        `update_state`, ... and their async twins) merge `config` and `kwargs`
        (`configurable`, `recursion_limit`, `tags`, `metadata`...) under the config they are
        given, as LangGraph's does.

        >>> from interlock import StateGraph, START
        >>> g = StateGraph(dict).add_node("a", lambda s: {}).add_edge(START, "a").compile()
        >>> g.with_config(recursion_limit=50).config
        {'recursion_limit': 50}
        """
        bound = copy.copy(self)
        bound.config = merge_configs(self.config, config, kwargs)
        return bound

    def copy(self, update: Mapping[str, Any] | None = None) -> Any:
        """A copy of this compiled graph with the attributes in `update` replaced, as
        LangGraph's `graph.copy(update={"checkpointer": saver})` — how a server gives a graph
        compiled without one its store. The copy keeps no state read through the original.

        >>> from interlock import StateGraph, START
        >>> from interlock.checkpoint.memory import InMemorySaver
        >>> g = StateGraph(dict).add_node("a", lambda s: {}).add_edge(START, "a").compile()
        >>> saver = InMemorySaver()
        >>> g.copy(update={"checkpointer": saver}).checkpointer is saver, g.checkpointer
        (True, None)
        """
        out: Any = copy.copy(self)
        cache = getattr(self, "_cache", None)
        if cache is not None:  # its own, before an update may size it
            out._cache = StateCache(cache.size)
        info = getattr(self, "version_info", None)
        if info is not None:  # its own migrations and stored-on lists
            out.version_info = replace_version(info)
        for key, value in (update or {}).items():
            if key.startswith("_") or not hasattr(self, key):
                raise ValueError(f"copy(update=...): a compiled graph has no attribute {key!r}")
            if key == "name":  # as `compile(name=...)`: its spec and version name it too
                renamed(out, str(value))
                continue
            try:
                setattr(out, key, value)
            except AttributeError:
                raise ValueError(f"copy(update=...): {key!r} cannot be set") from None
        return out

    def batch(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig | None] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """`invoke` each input (concurrently, at most `config["max_concurrency"]` at once);
        return the results in order. `config` is one for all or a list, one per input;
        `return_exceptions=True` puts an input's error in its place instead of raising it.
        `kwargs` go to each `invoke`.

        >>> from interlock import StateGraph, START
        >>> g = StateGraph(dict).add_node("a", lambda s: {"n": s["n"] + 1}).add_edge(START, "a")
        >>> g.compile().batch([{"n": 1}, {"n": 2}])
        [{'n': 2}, {'n': 3}]
        """
        graph = cast(Any, self)
        configs = _configs(config, len(inputs))

        def one(item: tuple[Any, RunnableConfig | None]) -> Any:
            try:
                return graph.invoke(item[0], item[1], **kwargs)
            except Exception as exc:
                if return_exceptions:
                    return exc
                raise

        if len(inputs) <= 1 or graph._parent_task() is not None:  # in a node: one at a time
            return [one(item) for item in zip(inputs, configs, strict=True)]
        workers = min(len(inputs), _max_concurrency(configs) or 32)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = [
                pool.submit(contextvars.copy_context().run, one, item)
                for item in zip(inputs, configs, strict=True)
            ]
            return [f.result() for f in futures]

    async def abatch(
        self,
        inputs: Sequence[Any],
        config: RunnableConfig | Sequence[RunnableConfig | None] | None = None,
        *,
        return_exceptions: bool = False,
        **kwargs: Any,
    ) -> list[Any]:
        """Async twin of `batch` (`ainvoke` each input)."""
        graph = cast(Any, self)
        configs = _configs(config, len(inputs))
        limit = asyncio.Semaphore(_max_concurrency(configs) or len(inputs) or 1)

        async def one(input: Any, cfg: RunnableConfig | None) -> Any:
            async with limit:
                try:
                    return await graph.ainvoke(input, cfg, **kwargs)
                except Exception as exc:
                    if return_exceptions:
                        return exc
                    raise

        return list(
            await asyncio.gather(*(one(i, c) for i, c in zip(inputs, configs, strict=True)))
        )

    def get_subgraphs(
        self, *, namespace: str | None = None, recurse: bool = False
    ) -> Iterator[tuple[str, Any]]:
        """`(namespace, graph)` for each subgraph: a node that is a graph, or the graph a
        node's function calls. `namespace` (node names joined by `|`) picks one; deeper ones
        need `recurse=True`."""
        return subgraphs_of(self, namespace, recurse)

    async def aget_subgraphs(
        self, *, namespace: str | None = None, recurse: bool = False
    ) -> AsyncIterator[tuple[str, Any]]:
        """Async twin of `get_subgraphs`."""
        for item in subgraphs_of(self, namespace, recurse):
            yield item

    def get_input_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        """The JSON schema of the graph's input (its `input_schema`, else its state)."""
        builder = cast(Any, self).builder
        typ = getattr(builder, "input_schema", None)
        return json_schema(typ, f"{cast(Any, self).name}Input")

    def get_output_jsonschema(self, config: RunnableConfig | None = None) -> dict[str, Any]:
        """The JSON schema of the graph's output (its `output_schema`, else its state)."""
        builder = cast(Any, self).builder
        typ = getattr(builder, "output_schema", None)
        return json_schema(typ, f"{cast(Any, self).name}Output")

    def get_context_jsonschema(self) -> dict[str, Any] | None:
        """The JSON schema of the graph's `context_schema` (None when it has none)."""
        builder = cast(Any, self).builder
        return context_json_schema(getattr(builder, "context_schema", None))


def _max_concurrency(configs: list[RunnableConfig | None]) -> int | None:
    found = [cast(dict, c).pop("max_concurrency", None) for c in configs if c]
    return next((int(n) for n in found if n), None)
