"""Subgraphs: a compiled graph run inside a parent's task — as a node
(`add_node("review", review_graph)`) or called from a node (`review_graph.invoke(...)`,
or `review_graph.stream(...)`, whose chunks the node iterates over).

A subgraph keeps its own checkpoints in the parent's store, under its own namespace:
`<node>:<task id>` below the parent's (`outer:<id>|inner:<id>` two levels down), so

- an `interrupt()` inside it is stored with that namespace, pauses the subgraph (its
  finished steps and sibling tasks are kept), and makes the parent's task wait: the
  parent's run pauses with the subgraph's requests in its `__interrupt__`;
- a resume is given to the root graph as usual (by id when several wait); the root records
  the decision exactly once, then runs the waiting task again, and the subgraph continues
  from its last checkpoint — its finished nodes do not run again;
- `Command(graph=Command.PARENT, goto=..., update=...)` returned by a subgraph node ends the
  subgraph and becomes the result of the parent's task.

`compile(checkpointer=True)` keeps one namespace per node name instead (`<node>`), so the
subgraph's state carries over from one parent step to the next (LangGraph's "stateful"
subgraph); `compile(checkpointer=False)` runs it without checkpoints (it cannot pause).
The subgraph shares the parent's thread and lease; it never takes or gives back the lease.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from interlock.checkpoint.base import StoredCheckpoint
from interlock.graph._called_graphs import node_graph
from interlock.graph._drivers import Chunk, Env, ResultBox, drive_async, drive_sync
from interlock.graph._effects import NS_SEP, SubgraphPaused
from interlock.graph._engine import run_graph
from interlock.graph._root_state import fresh, root_chunks
from interlock.graph._runtime import NodeTask, stateful_refused

CompiledStateGraph = Any
"""A `CompiledStateGraph` (not imported: it imports this module)."""

__all__ = [
    "child_graph",
    "run_child_async",
    "run_child_sync",
    "stream_child_async",
    "stream_child_sync",
]

_LIVE = frozenset({"custom", "messages"})
"""What a subgraph streams to its caller unless `stream(..., subgraphs=True)`."""


def child_graph(graph: Any, ns: str) -> Any:
    """The graph a namespace below `graph` belongs to: a subgraph node's, or the first graph
    a node's function calls (as LangGraph finds it); None if neither."""
    for segment in ns.split(NS_SEP):
        name = segment.split(":", 1)[0].split("#", 1)[0]
        graph = node_graph(graph, name)
        if graph is None:
            return None
    return graph


def _env(graph: CompiledStateGraph, ctx: NodeTask, calls: int, *, marked: bool = True) -> Env:
    parent: Env = ctx.env
    segment = ctx.task_name if graph.stateful else f"{ctx.task_name}:{ctx.task_id}"
    if marked and not graph.stateful:
        segment += ctx.call_mark() or ""  # a functional-API task call's place
    if calls:
        segment = f"{segment}#{calls}"  # the k-th subgraph call of one node
    ns = f"{parent.checkpoint_ns}{NS_SEP}{segment}" if parent.checkpoint_ns else segment
    conf = {
        k: v
        for k, v in (parent.config.get("configurable") or {}).items()
        if k not in ("run_id", "run_after", "checkpoint_id")
    }
    conf["checkpoint_ns"] = ns
    return Env(
        spec=graph.spec,
        saver=parent.saver if graph.persistent else None,
        config={**parent.config, "configurable": conf},
        thread_id=parent.thread_id,
        checkpoint_ns=ns,
        modes=parent.modes if parent.subgraphs else parent.modes & _LIVE,
        lease_owner=parent.lease_owner,
        decided_by=parent.decided_by,
        context=parent.context,
        store=parent.store,
        cache=graph.cache,  # a subgraph's own, as in LangGraph (not its parent's)
        parent_task=ctx.task_id,
        ns_path=(*parent.ns_path, segment),
        sink=ctx.sink,
        subgraphs=parent.subgraphs,
        root_graph=parent.root_graph or parent.spec.name,
        said=parent.said,
    )


def _one_call(stored: StoredCheckpoint | None, env: Env, mark: str | None) -> None:
    """A subgraph kept by node name that another functional-API call (or the entrypoint
    itself) ran in this step is refused, even when that call's result is replayed from
    its record after a pause and so never claims it again (see `claim_stateful`)."""
    if stored is None or mark is None:
        return
    meta = stored.record.metadata
    call = meta.get("task_call")
    if meta.get("parent_task") == env.parent_task and call is not None and call != mark:
        raise stateful_refused(env.checkpoint_ns)


def _paused_here(stored: StoredCheckpoint | None, env: Env, mark: str) -> bool:
    """Whether `stored` (under the unmarked namespace) is a subgraph the task call `mark`
    may go on with: one this very task ran, written before task calls had marks (its
    checkpoints name no call) and not finished, or one this call went on with (finished
    or not: a finished one gives its output). Never the entrypoint's own subgraph (its
    checkpoints name the call "")."""
    if stored is None or stored.record.metadata.get("parent_task") != env.parent_task:
        return False
    call = stored.record.metadata.get("task_call")
    if call is not None:  # finished or not, the call's own since it went on with it
        return bool(call == mark)
    return bool(stored.record.next or stored.record.sends)


def _input(stored: StoredCheckpoint | None, env: Env, input: Any) -> tuple[Any, bool]:
    """What the subgraph runs with: `(input, False)` to start (or, kept by node name, a
    new turn), `(None, False)` to go on where it paused, `(None, True)` when it already
    finished for this very task (the task runs again after a later pause of its own)."""
    if stored is None or stored.record.metadata.get("parent_task") != env.parent_task:
        return input, False
    rec = stored.record
    return None, not (rec.next or rec.sends)


def _engine(
    graph: CompiledStateGraph,
    env: Env,
    stored: StoredCheckpoint | None,
    input: Any,
    task_call: str | None,
) -> Any:
    start = graph._start(stored, env, stored.record.checkpoint_id if stored else None)
    limit = env.config.get("recursion_limit") or 25
    gen = run_graph(
        graph.spec,
        start,
        input,
        env.config,
        graph._clock,
        durable=env.saver is not None,
        recursion_limit=int(limit),
        interrupt_before=None,
        interrupt_after=None,
        modes=env.modes,
        parent_task=env.parent_task,
        root_graph=env.root_graph,
        task_call=task_call,
        caching=env.cache is not None,
    )
    return root_chunks(gen) if graph.spec.schema.kind == "root" else gen


def _result(graph: CompiledStateGraph, env: Env, box: ResultBox) -> Mapping[str, Any]:
    result = box.value
    assert result is not None
    if result.interrupts:
        raise SubgraphPaused(result.interrupts, env.checkpoint_ns)
    return graph._output(result)


def run_child_sync(graph: CompiledStateGraph, input: Any, ctx: NodeTask) -> Mapping[str, Any]:
    """Run `graph` as a subgraph of the task `ctx`; its output values, or `SubgraphPaused`."""
    calls, ctx.subgraph_calls = ctx.subgraph_calls, ctx.subgraph_calls + 1
    env = _env(graph, ctx, calls)
    if graph.stateful:
        ctx.claim_stateful(env.checkpoint_ns)
    return _run_sync(graph, input, ctx, calls, env)


def _prepared_sync(
    graph: CompiledStateGraph, input: Any, ctx: NodeTask, calls: int, env: Env
) -> tuple[Env, StoredCheckpoint | None, Any, bool]:
    """The subgraph's env, stored checkpoint and input, and whether it already finished
    for this task (see `_input`)."""
    saver = env.saver
    stored = saver.get_checkpoint(env.thread_id, env.checkpoint_ns) if saver else None
    mark = ctx.call_mark()
    if graph.stateful:
        _one_call(stored, env, mark)
    if saver is not None and stored is None and mark and not graph.stateful:
        old = _env(graph, ctx, calls, marked=False)
        was = saver.get_checkpoint(old.thread_id, old.checkpoint_ns)
        if _paused_here(was, old, mark) and ctx.take_unmarked():
            env, stored = old, was
    input, finished = _input(stored, env, input)
    return env, stored, input, finished


def _run_sync(
    graph: CompiledStateGraph, input: Any, ctx: NodeTask, calls: int, env: Env
) -> Mapping[str, Any]:
    env, stored, input, finished = _prepared_sync(graph, input, ctx, calls, env)
    if finished:
        assert stored is not None
        return graph._output(graph._start(stored, env, None).as_result())
    box = ResultBox()
    for _ in drive_sync(_engine(graph, env, stored, input, ctx.call_mark()), env, box):
        pass
    return _result(graph, env, box)


def stream_child_sync(
    graph: CompiledStateGraph, input: Any, ctx: NodeTask, modes: frozenset[str], subgraphs: bool
) -> Iterator[Chunk]:
    """`graph.stream(...)` inside the task `ctx`: run it as a subgraph (as `invoke` does)
    and yield its chunks in `modes` to the node, sending the parent's stream what it would
    get from `invoke`. A pause yields its `__interrupt__` update, then `SubgraphPaused`."""
    calls, ctx.subgraph_calls = ctx.subgraph_calls, ctx.subgraph_calls + 1
    env = _env(graph, ctx, calls)
    if graph.stateful:
        ctx.claim_stateful(env.checkpoint_ns)
    env, stored, input, finished = _prepared_sync(graph, input, ctx, calls, env)
    if finished:
        assert stored is not None
        yield from _finished_values(graph, env, stored, modes)
        return
    up, pick = _streaming(env, ctx, modes, subgraphs)
    box = ResultBox()
    chunks = drive_sync(_engine(graph, env, stored, input, ctx.call_mark()), env, box)
    for chunk in chunks:
        _note_pause(ctx, env, chunk)
        up(chunk)
        if pick(chunk):
            try:
                yield chunk
            except GeneratorExit:  # the node stopped reading
                if _paused(ctx, env):  # what follows is the pause's: every task's request
                    for rest in chunks:
                        _note_pause(ctx, env, rest)
                        up(rest)
                raise
    _result(graph, env, box)


def _finished_values(
    graph: CompiledStateGraph, env: Env, stored: StoredCheckpoint, modes: frozenset[str]
) -> Iterator[Chunk]:
    """A subgraph this task already ran to its end, streamed again (the task runs again
    after a later pause of its own): its state, once, as LangGraph sends it."""
    if "values" in modes:
        values = graph._output(graph._start(stored, env, None).as_result())
        yield (env.ns_path, "values", fresh(values))


def _note_pause(ctx: NodeTask, env: Env, chunk: Chunk) -> None:
    """Keep the streamed subgraph's pause on the task as its `__interrupt__` comes by:
    a node that stops reading there and returns still pauses (`NodeTask.child_pause`)."""
    ns, mode, payload = chunk
    mine = mode == "updates" and ns == env.ns_path and isinstance(payload, dict)
    if mine and "__interrupt__" in payload:  # one chunk per task that asks: all of them
        was = ctx.child_pause
        before = (
            was.interrupts
            if isinstance(was, SubgraphPaused) and was.ns == env.checkpoint_ns
            else ()
        )
        ctx.child_pause = SubgraphPaused((*before, *payload["__interrupt__"]), env.checkpoint_ns)


def _paused(ctx: NodeTask, env: Env) -> bool:
    """Whether the streamed subgraph `env` paused (its `__interrupt__` came by)."""
    was = ctx.child_pause
    return isinstance(was, SubgraphPaused) and was.ns == env.checkpoint_ns


def _streaming(
    env: Env, ctx: NodeTask, modes: frozenset[str], subgraphs: bool
) -> tuple[Callable[[Chunk], None], Callable[[Chunk], bool]]:
    """Make `env` a subgraph whose chunks come out of its driver (as a root graph's do),
    in the modes its parent wants and those the node asked for; returns how a chunk goes
    up to the parent's stream, and whether the node gets it."""
    forward = env.modes if ctx.sink is not None else frozenset()
    if "custom" in modes:  # what nodes write goes to the stream that asked for it, only
        forward = forward - {"custom"}
    sink, own = ctx.sink, env.ns_path
    # `updates` always: its `__interrupt__` tells the task the subgraph paused
    env.modes, env.subgraphs, env.yields = forward | modes | {"updates"}, True, True

    def up(chunk: Chunk) -> None:
        if sink is not None and chunk[1] in forward:
            sink(*chunk)

    def pick(chunk: Chunk) -> bool:
        ns, mode, _ = chunk
        return mode in modes and (ns == own or subgraphs or mode in _LIVE)

    return up, pick


async def run_child_async(
    graph: CompiledStateGraph, input: Any, ctx: NodeTask
) -> Mapping[str, Any]:
    """Async twin of `run_child_sync`."""
    calls, ctx.subgraph_calls = ctx.subgraph_calls, ctx.subgraph_calls + 1
    env = _env(graph, ctx, calls)
    if graph.stateful:
        ctx.claim_stateful(env.checkpoint_ns)
    return await _run_async(graph, input, ctx, calls, env)


async def _prepared_async(
    graph: CompiledStateGraph, input: Any, ctx: NodeTask, calls: int, env: Env
) -> tuple[Env, StoredCheckpoint | None, Any, bool]:
    """Async twin of `_prepared_sync`."""
    saver = env.saver
    stored = await saver.aget_checkpoint(env.thread_id, env.checkpoint_ns) if saver else None
    mark = ctx.call_mark()
    if graph.stateful:
        _one_call(stored, env, mark)
    if saver is not None and stored is None and mark and not graph.stateful:
        old = _env(graph, ctx, calls, marked=False)
        was = await saver.aget_checkpoint(old.thread_id, old.checkpoint_ns)
        if _paused_here(was, old, mark) and ctx.take_unmarked():
            env, stored = old, was
    input, finished = _input(stored, env, input)
    return env, stored, input, finished


async def _run_async(
    graph: CompiledStateGraph, input: Any, ctx: NodeTask, calls: int, env: Env
) -> Mapping[str, Any]:
    env, stored, input, finished = await _prepared_async(graph, input, ctx, calls, env)
    if finished:
        assert stored is not None
        return graph._output(graph._start(stored, env, None).as_result())
    box = ResultBox()
    async for _ in drive_async(_engine(graph, env, stored, input, ctx.call_mark()), env, box):
        pass
    return _result(graph, env, box)


async def stream_child_async(
    graph: CompiledStateGraph, input: Any, ctx: NodeTask, modes: frozenset[str], subgraphs: bool
) -> AsyncIterator[Chunk]:
    """Async twin of `stream_child_sync`."""
    calls, ctx.subgraph_calls = ctx.subgraph_calls, ctx.subgraph_calls + 1
    env = _env(graph, ctx, calls)
    if graph.stateful:
        ctx.claim_stateful(env.checkpoint_ns)
    env, stored, input, finished = await _prepared_async(graph, input, ctx, calls, env)
    if finished:
        assert stored is not None
        for chunk in _finished_values(graph, env, stored, modes):
            yield chunk
        return
    up, pick = _streaming(env, ctx, modes, subgraphs)
    box = ResultBox()
    gen = _engine(graph, env, stored, input, ctx.call_mark())
    chunks = drive_async(gen, env, box)
    async for chunk in chunks:
        _note_pause(ctx, env, chunk)
        up(chunk)
        out = [chunk] if pick(chunk) else []
        if _paused(ctx, env):  # the rest is the pause's (a chunk per asking task): read it
            # before the node may stop (an `async for` left by `break` is not closed)
            async for rest in chunks:
                _note_pause(ctx, env, rest)
                up(rest)
                if pick(rest):
                    out.append(rest)
        for picked in out:
            yield picked
    _result(graph, env, box)
