"""The functional API (`interlock.func`, porting `langgraph.func`): `@entrypoint` makes a
plain function a runnable, checkpointed graph of one node; `@task` makes a function whose
calls return futures, run in parallel, and are recorded so a resumed run gets their
results back instead of running them again (see `_func_scope`)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import typing
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypedDict, TypeVar, overload

from interlock._types import START, Command
from interlock.checkpoint.base import BaseSaver
from interlock.errors import GraphError, InvalidGraph, StepNotSaved
from interlock.graph._compiled import CompiledStateGraph
from interlock.graph._drivers import save_children_now
from interlock.graph._effects import SubgraphPaused
from interlock.graph._func_scope import FuncContext, Scope, TaskDef, TaskFuture, call_task, derive
from interlock.graph._interrupt import NodeInterrupt, _current
from interlock.graph._node_cache import KEY_INPUT, check_cache, check_cache_policy
from interlock.graph._runtime import NodeTask, Runtime, check_retry_policy
from interlock.graph._stream_v2 import ainvoke_version, invoke_version, shaper

__all__ = ["EntrypointGraph", "entrypoint", "task"]

V = TypeVar("V")
S = TypeVar("S")
_POOL = 128
"""Threads a sync entrypoint's tasks may use at once (a task waiting for its own tasks
holds one, so the bound is generous)."""


class _FuncState(TypedDict, total=False):
    input: Any
    output: Any
    previous: Any
    ran: bool


# ---- @task ---------------------------------------------------------------------------------


class TaskFunction(Generic[V]):
    """A function decorated with `@task`: calling it starts it and returns a `TaskFuture`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        retry_policy: Any,
        cache_policy: Any = None,
    ) -> None:
        try:
            retry = check_retry_policy(retry_policy)
            cache = check_cache_policy(cache_policy)
        except (TypeError, ValueError) as exc:
            raise InvalidGraph(f"task {name or fn.__name__!r}: {exc}") from None
        self.func = fn
        self.name = name or _name_of(fn)
        self._spec = TaskDef(
            name=self.name,
            fn=fn,
            is_async=inspect.iscoroutinefunction(fn),
            retry=retry,
            cache_policy=cache,
        )
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, **kwargs: Any) -> TaskFuture:
        return call_task(self._spec, args, kwargs)

    def __repr__(self) -> str:
        return f"<task {self.name!r}>"


def _name_of(fn: Any) -> str:
    """A task's default name: its function's (a partial's inner function's)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


@overload
def task(
    __func_or_none__: None = None,
    *,
    name: str | None = None,
    retry_policy: Any = None,
    cache_policy: Any = None,
) -> Callable[[Callable[..., Any]], TaskFunction[Any]]: ...
@overload
def task(__func_or_none__: Callable[..., Any]) -> TaskFunction[Any]: ...
def task(
    __func_or_none__: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    retry_policy: Any = None,
    cache_policy: Any = None,
    **_ignored: Any,
) -> Any:
    """Make a function a task of the functional API: `@task` or `@task(retry_policy=...)`.

    Called inside an `@entrypoint` (or another task), it starts at once (a sync task in a
    thread, an async one as an asyncio task) and returns a future: `.result()` waits for
    it, `await future` in an async entrypoint. Tasks started together run in parallel. Its
    arguments and result must be storable (JSON-like values, messages, dataclasses,
    pydantic models): the call is recorded with the run, and when the entrypoint runs again
    after a pause, the recorded result is returned without running the task again.
    `retry_policy` (a `RetryPolicy` or a list of them) runs it again when it raises. With
    `cache_policy=CachePolicy(...)` and `@entrypoint(cache=...)`, a call whose arguments
    an earlier call had returns that call's result without running (the parity page's
    "Node caching").

    Example:
        >>> from interlock.func import task
        >>> @task
        ... def double(x: int) -> int:
        ...     return 2 * x
    """

    def wrap(fn: Callable[..., Any]) -> TaskFunction[Any]:
        return TaskFunction(fn, name, retry_policy, cache_policy)

    return wrap(__func_or_none__) if __func_or_none__ is not None else wrap


# ---- @entrypoint ---------------------------------------------------------------------------


_INJECTED = ("previous", "config", "writer", "runtime", "store")


class entrypoint:  # LangGraph's name
    """Make a function the entry point of a functional-API workflow.

    `@entrypoint(checkpointer=...)` turns `def workflow(input, *, previous=None)` (sync or
    async) into an `EntrypointGraph` with `invoke`, `stream`, `get_state`, ... like a
    compiled graph. The function takes one input argument, and may ask for `previous`
    (what it returned, or `entrypoint.final(save=...)` saved, on this thread's last run),
    `config`, `writer`, `runtime` and `store` by name. It may call `interrupt()` and
    `@task` functions. `context_schema` coerces `invoke(..., context=...)`.

    `store=` (long-term memory, e.g. `interlock.store.sqlite.SqliteStore`) is handed to the
    function as `store` / `runtime.store` and to its tasks as `get_store()`. `cache` (an
    `InMemoryCache`, `SqliteCache`, ...) keeps the results of its tasks that have a
    `cache_policy`, and, with `cache_policy`, the entrypoint's own.

    Example:
        >>> from interlock import InMemorySaver
        >>> from interlock.func import entrypoint
        >>> @entrypoint(checkpointer=InMemorySaver())
        ... def count(n: int, *, previous: int | None = None) -> int:
        ...     return (previous or 0) + n
        >>> config = {"configurable": {"thread_id": "t"}}
        >>> count.invoke(2, config), count.invoke(3, config)
        (2, 5)
    """

    @dataclass(frozen=True, slots=True)
    class final(Generic[V, S]):  # LangGraph's name
        """Return `value` to the caller but save `save` as the next run's `previous`."""

        value: V
        save: S

    def __init__(
        self,
        checkpointer: BaseSaver | None = None,
        store: Any = None,
        cache: Any = None,
        context_schema: Any = None,
        cache_policy: Any = None,
        retry_policy: Any = None,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise GraphError(f"entrypoint() got unknown options {sorted(kwargs)}")
        try:
            check_cache(cache)
            check_cache_policy(cache_policy)
        except ValueError as exc:
            raise InvalidGraph(f"entrypoint: {exc}") from None
        self.checkpointer = checkpointer
        self.store = store
        self.context_schema = context_schema
        self.retry_policy = retry_policy
        self.cache = cache
        self.cache_policy = cache_policy

    def __call__(self, func: Callable[..., Any]) -> EntrypointGraph:
        return EntrypointGraph.build(self, func)


def _held_or(scope: Scope, error: BaseException) -> BaseException:
    """What the entrypoint raises once every task call ended. A pause becomes one pause
    with every call's requests: those asked by `interrupt()` and those of the subgraphs
    that paused (the engine records both). But when task calls ran subgraphs whose step the
    store did not take (`StepNotSaved`) and `error` is one of those, or a pause, those
    steps must be written before the entrypoint runs again, or the subgraphs' nodes would
    run twice: one `StepNotSaved` holds them all (the driver writes them, the entrypoint's
    own subgraph's first), and the pause is asked again when the thread goes on. (With any
    other error they are written at once: `_held_apart`.)"""
    if isinstance(error, NodeInterrupt | SubgraphPaused):  # one pause: every call's requests
        subgraphs = [p for p in scope.paused_subgraphs() if p is not error]
        if isinstance(error, SubgraphPaused):
            subgraphs.insert(0, error)
            error = scope.combined() if scope.paused else SubgraphPaused.joined(subgraphs)
        if isinstance(error, NodeInterrupt) and subgraphs:
            error.waiting = SubgraphPaused.joined(subgraphs)
    held = scope.held_steps()
    if not held or not (_holds(scope, error) or isinstance(error, NodeInterrupt | SubgraphPaused)):
        return error
    if isinstance(error, StepNotSaved) and _holds(scope, error) and error not in held:
        held.insert(0, error)  # a subgraph the entrypoint itself ran
    first = held[0]
    if len(held) == 1:
        return first
    joined = StepNotSaved(
        str(first),
        thread_id=first.thread_id,
        save=lambda: all([step.save() for step in held]),
        held=[h for step in held for h in step.held],
        nested=True,
    )
    joined.__cause__ = first.__cause__
    return joined


def _held_apart(scope: Scope, error: BaseException) -> list[StepNotSaved] | None:
    """The held steps of task calls' subgraphs when the entrypoint ends with another error
    (its own, or another call's): the driver would never see them, so they are written at
    once, as a graph's are when a sibling task fails (`save_children_now`)."""
    if _holds(scope, error) or isinstance(error, NodeInterrupt | SubgraphPaused):
        return None
    return scope.held_steps() or None


def _holds(scope: Scope, error: BaseException) -> bool:
    """Whether `error` is a subgraph's held step of this run's thread (not the held step
    of a graph with a store of its own, which its caller saves)."""
    thread = getattr(scope.root.env, "thread_id", None)
    return isinstance(error, StepNotSaved) and error.nested and error.thread_id == thread


def _key_input(state: Mapping[str, Any]) -> tuple[Any, Any]:
    """What an entrypoint's cache key is made of: its caller's input (what LangGraph hands
    `key_func`), with `previous` mixed in (a second call on a thread is not the first's)."""
    return state.get("input"), state.get("previous")


def _node_for(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The node running `fn`: its input from the state, its tasks in a `Scope`."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}  # type: ignore[assignment]
    wanted = [p for p in _INJECTED if p in params]
    positional = [
        p
        for p in params.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in _INJECTED
    ]
    if len(positional) > 1:
        raise InvalidGraph(f"entrypoint {name!r} must take one input argument, not several")

    def start(state: dict[str, Any], is_async: bool) -> tuple[Scope, FuncContext, Any]:
        root = _current.get()
        assert isinstance(root, NodeTask)
        pool = None if is_async else ThreadPoolExecutor(_POOL, thread_name_prefix="task")
        loop = asyncio.get_running_loop() if is_async else None
        scope = Scope(root=root, is_async=is_async, pool=pool, loop=loop)
        ctx = derive(root, scope, (), name)
        previous = state.get("previous")
        built = ctx.current_runtime()
        if built is not None:
            ctx.runtime = dataclasses.replace(built, previous=previous)
        runtime = ctx.runtime or Runtime(previous=previous)
        given = {
            "previous": previous,
            "config": root.config,
            "writer": runtime.stream_writer,
            "runtime": runtime,
            "store": runtime.store,
        }
        kwargs = {k: given[k] for k in wanted}
        args = (state.get("input"),) if positional else ()
        return scope, ctx, (args, kwargs)

    def finish(result: Any) -> dict[str, Any]:
        if isinstance(result, entrypoint.final):
            return {"output": result.value, "previous": result.save, "ran": True}
        return {"output": result, "previous": result, "ran": True}

    if inspect.iscoroutinefunction(fn):

        async def anode(state: dict[str, Any]) -> dict[str, Any]:
            scope, ctx, (args, kwargs) = start(state, True)
            token = _current.set(ctx)
            try:
                result = await fn(*args, **kwargs)
                await scope.wait_async()
                if (unfinished := scope.unfinished()) is not None:
                    raise unfinished
            except NodeInterrupt as exc:
                await scope.wait_async()
                joined = _held_or(scope, scope.combined(exc))
                raise joined from joined.__cause__
            except BaseException as exc:
                await scope.wait_async()
                if (held := _held_apart(scope, exc)) is not None:
                    await asyncio.to_thread(
                        functools.partial(save_children_now, running=True), scope.root.env, held
                    )
                if (joined := _held_or(scope, exc)) is exc:
                    raise
                raise joined from joined.__cause__
            finally:
                _current.reset(token)
            return finish(result)

        return anode

    def node(state: dict[str, Any]) -> dict[str, Any]:
        scope, ctx, (args, kwargs) = start(state, False)
        token = _current.set(ctx)
        try:
            result = fn(*args, **kwargs)
            scope.wait_sync()
            if (unfinished := scope.unfinished()) is not None:
                raise unfinished
        except NodeInterrupt as exc:
            scope.wait_sync()
            joined = _held_or(scope, scope.combined(exc))
            raise joined from joined.__cause__
        except BaseException as exc:
            scope.wait_sync()
            if (held := _held_apart(scope, exc)) is not None:
                save_children_now(scope.root.env, held, running=True)
            if (joined := _held_or(scope, exc)) is exc:
                raise
            raise joined from joined.__cause__
        finally:
            _current.reset(token)
            assert scope.pool is not None
            scope.pool.shutdown(wait=False)
        return finish(result)

    return node


class EntrypointGraph(CompiledStateGraph):
    """What `@entrypoint` returns: a compiled graph of one node (named after the function)
    whose input is the function's argument and whose result is the function's return
    value. `invoke`, `stream`, `get_state`, `update_state`, ... and their async twins work
    as for a `CompiledStateGraph`; a paused run's result is `{"__interrupt__": [...]}`."""

    func: Callable[..., Any]

    @classmethod
    def build(cls, options: entrypoint, func: Callable[..., Any]) -> EntrypointGraph:
        from interlock.graph._builder import StateGraph

        name = getattr(func, "__name__", "entrypoint")
        builder = StateGraph(_FuncState, context_schema=options.context_schema)
        node = _node_for(func, name)
        for attr in ("__module__", "__qualname__"):  # its cache entries are the function's
            with contextlib.suppress(AttributeError, TypeError):
                setattr(node, attr, getattr(func, attr))
        setattr(node, KEY_INPUT, _key_input)  # LangGraph's key_func gets the input
        builder.add_node(
            name, node, retry_policy=options.retry_policy, cache_policy=options.cache_policy
        )
        builder.add_edge(START, name)
        compiled = builder.compile(
            checkpointer=options.checkpointer, store=options.store, name=name, cache=options.cache
        )
        graph = cls.__new__(cls)
        graph.__dict__.update(compiled.__dict__)
        graph.func = func
        functools.update_wrapper(graph, func)  # type: ignore[arg-type]
        return graph

    def __repr__(self) -> str:
        return f"<EntrypointGraph {self.name!r}>"

    def get_input_jsonschema(self, config: Any = None) -> dict[str, Any]:
        """The schema of the function's argument, as LangGraph's (`LangGraphInput`)."""
        from interlock.graph._json_schemas import annotation_json_schema

        return annotation_json_schema(self._annotation("input"), "LangGraphInput")

    def get_output_jsonschema(self, config: Any = None) -> dict[str, Any]:
        """The schema of the function's result, as LangGraph's (`LangGraphOutput`)."""
        from interlock.graph._json_schemas import annotation_json_schema

        return annotation_json_schema(self._annotation("output"), "LangGraphOutput")

    def _annotation(self, which: str) -> Any:
        """The type of the function's first parameter or of its result (`Any` if none)."""
        try:
            hints = typing.get_type_hints(self.func)
        except (NameError, TypeError):
            return Any
        if which == "output":
            return hints.get("return", Any)
        first = next(iter(inspect.signature(self.func).parameters), None)
        return hints.get(first, Any) if first is not None else Any

    # ---- shaping input and output ------------------------------------------------------------

    @staticmethod
    def _in(input: Any) -> Any:
        if input is None or isinstance(input, Command):
            return input
        return {"input": input, "ran": False}

    @staticmethod
    def _out(values: dict[str, Any]) -> Any:
        if "__interrupt__" in values:
            return {"__interrupt__": values["__interrupt__"]}
        return values.get("output")

    def _chunk_of(self, mode: str, chunk: Any) -> tuple[bool, Any]:
        """A stream chunk as LangGraph's entrypoints give it (False: drop it)."""
        if mode == "values" and isinstance(chunk, dict):
            if "__interrupt__" in chunk:
                return True, {"__interrupt__": chunk["__interrupt__"]}
            return bool(chunk.get("ran")), chunk.get("output")
        if mode == "updates" and isinstance(chunk, dict) and self.name in chunk:
            view = chunk[self.name]
            if isinstance(view, dict) and "ran" in view:
                meta = {k: v for k, v in chunk.items() if k == "__metadata__"}
                return True, {self.name: view.get("output"), **meta}
        return True, chunk

    # ---- running -----------------------------------------------------------------------------

    def _env(self, config: Any, modes: frozenset[str], context: Any = None) -> Any:
        env = super()._env(config, modes, context)
        env.live_modes = frozenset({"custom", "messages", "updates"})
        return env

    def _engine(self, start: Any, input: Any, env: Any, kwargs: Any) -> Any:
        env.step_progress = (kwargs.get("durability") or "sync") != "exit"
        return super()._engine(start, input, env, kwargs)

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Run the entrypoint; return its result, or `{"__interrupt__": [...]}` if it paused
        (with `version="v2"`: `GraphOutput(value, interrupts)`)."""
        if "version" in kwargs:
            return invoke_version(self, input, config, kwargs)
        return self._out(super().invoke(self._in(input), config, **kwargs))

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        """Async twin of `invoke`."""
        if "version" in kwargs:
            return await ainvoke_version(self, input, config, kwargs)
        return self._out(await super().ainvoke(self._in(input), config, **kwargs))

    def stream(  # type: ignore[override]
        self, input: Any, config: Any = None, *, stream_mode: Any = "updates", **kwargs: Any
    ) -> Iterator[Any]:
        """Run and yield chunks: `updates` gives `{task_name: result}` as each task
        finishes and `{entrypoint_name: result}` at the end; `values` the result; the other
        modes as for graphs (and `version="v2"` as for graphs)."""
        shape, opts = self._stream_options(stream_mode, kwargs)
        for ns, mode, chunk in self._items(self._in(input), config, stream_mode, opts):
            keep, chunk = self._chunk_of(mode, chunk)
            if keep:
                yield shape(ns, mode, chunk)

    async def astream(  # type: ignore[override]
        self, input: Any, config: Any = None, *, stream_mode: Any = "updates", **kwargs: Any
    ) -> AsyncIterator[Any]:
        """Async twin of `stream`."""
        shape, opts = self._stream_options(stream_mode, kwargs)
        async for ns, mode, chunk in self._aitems(self._in(input), config, stream_mode, opts):
            keep, chunk = self._chunk_of(mode, chunk)
            if keep:
                yield shape(ns, mode, chunk)

    def _stream_options(self, stream_mode: Any, kwargs: dict[str, Any]) -> tuple[Any, Any]:
        """How `stream`'s items are shaped, and the run's options."""
        opts = {"context": None, "durability": None, "subgraphs": False, **kwargs}
        return shaper(self, stream_mode, bool(opts["subgraphs"]), opts), opts

    # ---- inspecting and editing ----------------------------------------------------------

    @staticmethod
    def _shown(snap: Any) -> Any:
        values = snap.values
        shown = values.get("output") if isinstance(values, dict) and "output" in values else {}
        return snap._replace(values=shown)

    def get_state(self, config: Any, *, subgraphs: bool = False) -> Any:
        """The thread's state; its `values` is the entrypoint's last result ({} before)."""
        return self._shown(super().get_state(config, subgraphs=subgraphs))

    async def aget_state(self, config: Any, *, subgraphs: bool = False) -> Any:
        """Async twin of `get_state`."""
        return self._shown(await super().aget_state(config, subgraphs=subgraphs))

    def get_state_history(self, config: Any, **kwargs: Any) -> Iterator[Any]:
        """The thread's snapshots, newest first (values shown as by `get_state`)."""
        for snap in super().get_state_history(config, **kwargs):
            yield self._shown(snap)

    async def aget_state_history(self, config: Any, **kwargs: Any) -> AsyncIterator[Any]:
        """Async twin of `get_state_history`."""
        async for snap in super().aget_state_history(config, **kwargs):
            yield self._shown(snap)

    def update_state(  # type: ignore[override]
        self, config: Any, values: Any, as_node: str | None = None
    ) -> Any:
        """Set the thread's saved value: the next run's `previous` (and the result
        `get_state` shows)."""
        update = {"output": values, "previous": values, "ran": True}
        return super().update_state(config, update, as_node or self.name)

    async def aupdate_state(  # type: ignore[override]
        self, config: Any, values: Any, as_node: str | None = None
    ) -> Any:
        """Async twin of `update_state`."""
        update = {"output": values, "previous": values, "ran": True}
        return await super().aupdate_state(config, update, as_node or self.name)
