"""Thin drivers around the pure engine: one sync, one async.

Each performs the engine's effects — run node functions, call the saver, pass stream chunks
to the caller — and sends the results back. Run semantics do not belong here; if a driver
needs an `if` about what a run means, that code goes in `_engine.py`.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field
from typing import Any

from interlock.checkpoint.base import BaseSaver
from interlock.errors import GraphError, GraphInterrupt
from interlock.graph._effects import (
    Applied,
    Commit,
    Effect,
    Emit,
    HasDecided,
    Lookup,
    Resolve,
    RunResult,
    RunTasks,
    SaveProgress,
    Task,
    TaskOutcome,
)
from interlock.graph._heartbeat import keep_lease, keep_lease_async
from interlock.graph._interrupt import NodeInterrupt, TaskContext, _current
from interlock.graph._runtime import ExecutionInfo, NodeTask, Runtime
from interlock.graph._spec import GraphSpec, NodeSpec

__all__ = ["Env", "ResultBox", "drive_async", "drive_sync"]

_DONE = object()
_PAGE = 64
"""At most this many checkpoints per page when looking for a run's input (`Applied`): the
first page has 2 (usually enough: nothing was committed since the run was queued), then
each page doubles."""


@dataclass(slots=True, kw_only=True)
class Env:
    """What the drivers need besides the engine generator."""

    spec: GraphSpec
    saver: BaseSaver | None
    config: dict[str, Any]
    thread_id: str
    checkpoint_ns: str
    modes: frozenset[str]
    """Stream modes the caller asked for."""
    lease_owner: str | None = None
    lease_ttl: float | None = None
    """The lease's time to live: kept while nodes run (`_heartbeat`)."""
    decided_by: str | None = None
    parent: TaskContext | None = None
    """Set when this graph runs embedded as a node of another graph (a subgraph)."""
    released: bool = False
    """The lease was given back with the run's last write."""
    context: Any = None
    """`invoke(..., context=...)`, coerced to the graph's `context_schema`."""
    store: Any = None
    """`compile(store=...)`: handed to nodes as `runtime.store`."""

    @property
    def live(self) -> bool:
        """Whether chunks from inside nodes must reach the caller while nodes run."""
        return bool(self.modes & {"custom", "messages"}) and self.parent is None


@dataclass(slots=True)
class ResultBox:
    """Receives the engine's final `RunResult` (generators cannot return it to a for-loop)."""

    value: RunResult | None = None
    chunks: list[tuple[str, Any]] = field(default_factory=list)


# ---- task execution ------------------------------------------------------------------------


def _context(env: Env, task: Task, checkpoint_id: str, emit: Callable | None) -> TaskContext:
    if env.parent is not None:
        return env.parent  # a subgraph's interrupts belong to the parent's task
    ctx = NodeTask(
        thread_id=env.thread_id,
        checkpoint_ns=env.checkpoint_ns,
        checkpoint_id=checkpoint_id,
        task_id=task.id,
        task_name=task.name,
        config=env.config,
        durable=env.saver is not None,
        resume=list(task.resume),
        memo=dict(task.memo),
        emit=emit,
    )
    ctx.runtime = Runtime(
        context=env.context,
        store=env.store,
        stream_writer=(lambda chunk: emit("custom", chunk)) if emit else _ignore,
        execution_info=ExecutionInfo(
            checkpoint_id=checkpoint_id,
            checkpoint_ns=env.checkpoint_ns,
            task_id=task.id,
            thread_id=env.thread_id if env.saver is not None else None,
            run_id=config_value(env.config, "run_id"),
            node_attempt=task.attempt,
        ),
    )
    return ctx


def _call_args(node: NodeSpec, task: Task, ctx: TaskContext, env: Env) -> tuple[tuple, dict]:
    kwargs: dict[str, Any] = {}
    if node.wants_config:
        kwargs["config"] = env.config
    if node.wants_writer:
        kwargs["writer"] = (lambda chunk: ctx.emit("custom", chunk)) if ctx.emit else _ignore
    if node.wants_runtime:
        kwargs["runtime"] = getattr(ctx, "runtime", None) or Runtime(
            context=env.context, store=env.store
        )
    return (task.input,), kwargs


def _ignore(_chunk: Any) -> None:
    return None


def _outcome_of_error(task: Task, ctx: TaskContext, exc: BaseException, env: Env) -> TaskOutcome:
    if isinstance(exc, NodeInterrupt) and env.parent is None:
        return TaskOutcome(task=task, interrupt=exc.pending, memo=dict(ctx.new_memo))
    if isinstance(exc, GraphInterrupt):
        raise exc
    return TaskOutcome(task=task, error=exc, memo=dict(ctx.new_memo))


def _backoff(task: Task) -> float:
    """Seconds to wait before a retried task runs (its delay plus random jitter)."""
    return task.delay + (random.random() if task.jitter else 0.0)


def _execute_sync(env: Env, task: Task, checkpoint_id: str, emit: Callable | None) -> TaskOutcome:
    if wait := _backoff(task):
        time.sleep(wait)
    return _execute_now(env, task, checkpoint_id, emit)


def _execute_now(env: Env, task: Task, checkpoint_id: str, emit: Callable | None) -> TaskOutcome:
    node = env.spec.nodes[task.name]
    ctx = _context(env, task, checkpoint_id, emit)
    token = _current.set(ctx)
    try:
        if node.subgraph is not None:
            result = node.subgraph._run_embedded(task.input, env.config, ctx)
        else:
            if node.is_async:
                raise GraphError(f"node {task.name!r} is async; run the graph with ainvoke/astream")
            args, kwargs = _call_args(node, task, ctx, env)
            result = node.fn(*args, **kwargs)
        return TaskOutcome(task=task, result=result, memo=dict(ctx.new_memo))
    except Exception as exc:
        return _outcome_of_error(task, ctx, exc, env)
    except GraphInterrupt as exc:
        return _outcome_of_error(task, ctx, exc, env)
    finally:
        _current.reset(token)


async def _execute_async(
    env: Env, task: Task, checkpoint_id: str, emit: Callable | None
) -> TaskOutcome:
    import asyncio

    node = env.spec.nodes[task.name]
    if wait := _backoff(task):
        await asyncio.sleep(wait)
    if node.subgraph is None and not node.is_async:
        return await asyncio.to_thread(_execute_now, env, task, checkpoint_id, emit)
    ctx = _context(env, task, checkpoint_id, emit)
    token = _current.set(ctx)
    try:
        if node.subgraph is not None:
            result = await node.subgraph._arun_embedded(task.input, env.config, ctx)
        else:
            args, kwargs = _call_args(node, task, ctx, env)
            result = await node.fn(*args, **kwargs)
        return TaskOutcome(task=task, result=result, memo=dict(ctx.new_memo))
    except Exception as exc:
        return _outcome_of_error(task, ctx, exc, env)
    except GraphInterrupt as exc:
        return _outcome_of_error(task, ctx, exc, env)
    finally:
        _current.reset(token)


# ---- saver effects -------------------------------------------------------------------------


def _store_sync(effect: Effect, env: Env) -> Any:
    saver = env.saver
    if saver is None:
        return {} if isinstance(effect, Lookup) else None
    if isinstance(effect, Commit):
        saver.put_checkpoint(
            effect.record,
            expected_head=effect.expected_head,
            interrupts=effect.interrupts,
            lease_owner=env.lease_owner,
            release_lease=effect.final,
        )
        env.released = effect.final
    elif isinstance(effect, SaveProgress):
        saver.put_task_writes(
            env.thread_id,
            env.checkpoint_ns,
            effect.checkpoint_id,
            effect.task_writes,
            effect.interrupts,
            lease_owner=env.lease_owner,
            release_lease=effect.final,
        )
        env.released = effect.final
    elif isinstance(effect, Resolve):
        saver.resolve_interrupts(
            env.thread_id,
            effect.decisions,
            decided_by=env.decided_by,
            status=effect.status,  # type: ignore[arg-type]
        )
    elif isinstance(effect, HasDecided):
        return any(
            saver.list_interrupts(status=s, thread_id=env.thread_id, limit=1).items
            for s in ("resolved", "expired")
        )
    elif isinstance(effect, Lookup):
        return {iid: saver.get_interrupt(iid) for iid in effect.ids}
    elif isinstance(effect, Applied):
        before, size = None, 2
        while True:
            page = list(
                saver.list_checkpoints(env.thread_id, env.checkpoint_ns, before=before, limit=size)
            )
            if (found := effect.seen(page, size)) is not None:
                return found
            before, size = page[-1].checkpoint_id, min(size * 2, _PAGE)
    return None


async def _store_async(effect: Effect, env: Env) -> Any:
    saver = env.saver
    if saver is None:
        return {} if isinstance(effect, Lookup) else None
    if isinstance(effect, Commit):
        await saver.aput_checkpoint(
            effect.record,
            expected_head=effect.expected_head,
            interrupts=effect.interrupts,
            lease_owner=env.lease_owner,
            release_lease=effect.final,
        )
        env.released = effect.final
    elif isinstance(effect, SaveProgress):
        await saver.aput_task_writes(
            env.thread_id,
            env.checkpoint_ns,
            effect.checkpoint_id,
            effect.task_writes,
            effect.interrupts,
            lease_owner=env.lease_owner,
            release_lease=effect.final,
        )
        env.released = effect.final
    elif isinstance(effect, Resolve):
        await saver.aresolve_interrupts(
            env.thread_id,
            effect.decisions,
            decided_by=env.decided_by,
            status=effect.status,  # type: ignore[arg-type]
        )
    elif isinstance(effect, HasDecided):
        for s in ("resolved", "expired"):
            if (await saver.alist_interrupts(status=s, thread_id=env.thread_id, limit=1)).items:
                return True
        return False
    elif isinstance(effect, Lookup):
        return {iid: await saver.aget_interrupt(iid) for iid in effect.ids}
    elif isinstance(effect, Applied):
        before, size = None, 2
        while True:
            page = await saver.alist_checkpoints(
                env.thread_id, env.checkpoint_ns, before=before, limit=size
            )
            if (found := effect.seen(page, size)) is not None:
                return found
            before, size = page[-1].checkpoint_id, min(size * 2, _PAGE)
    return None


# ---- sync driver ---------------------------------------------------------------------------


def _run_tasks_sync(env: Env, effect: RunTasks) -> Iterator[tuple[str, Any] | list[TaskOutcome]]:
    """Yields live chunks, then finally the list of outcomes."""
    tasks = effect.tasks
    if not env.live:
        emit = _collector(env)
        if len(tasks) == 1:
            yield [_execute_sync(env, tasks[0], effect.checkpoint_id, emit)]
        else:
            with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
                futures = [
                    pool.submit(
                        copy_context().run, _execute_sync, env, t, effect.checkpoint_id, emit
                    )
                    for t in tasks
                ]
                yield [f.result() for f in futures]
        return
    inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def emit_live(mode: str, payload: Any) -> None:
        if mode in env.modes:
            inbox.put((mode, payload))

    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        futures = []
        for t in tasks:
            fut = pool.submit(
                copy_context().run, _execute_sync, env, t, effect.checkpoint_id, emit_live
            )
            fut.add_done_callback(lambda _f: inbox.put(_DONE))
            futures.append(fut)
        remaining = len(futures)
        while remaining:
            item = inbox.get()
            if item is _DONE:
                remaining -= 1
            else:
                yield item
        yield [f.result() for f in futures]


def _collector(env: Env) -> Callable[[str, Any], None] | None:
    if env.parent is not None and env.parent.emit is not None:
        return env.parent.emit  # a subgraph streams through its parent
    return None


def drive_sync(
    gen: Generator[Effect, Any, RunResult], env: Env, box: ResultBox
) -> Iterator[tuple[str, Any]]:
    """Run the engine to completion, yielding `(mode, chunk)` for the requested modes."""
    reply: Any = None
    # the lease is kept however long nodes run or the caller takes to read the stream
    with keep_lease(env.saver, env.thread_id, env.lease_owner, env.lease_ttl):
        try:
            while True:
                effect = gen.send(reply)
                if isinstance(effect, RunTasks):
                    reply = None
                    for item in _run_tasks_sync(env, effect):
                        if isinstance(item, list):
                            reply = item
                        else:
                            yield item
                elif isinstance(effect, Emit):
                    reply = None
                    if effect.mode in env.modes:
                        yield (effect.mode, effect.payload)
                else:
                    reply = _store_sync(effect, env)
        except StopIteration as stop:
            box.value = stop.value


# ---- async driver --------------------------------------------------------------------------


async def _run_tasks_async(
    env: Env, effect: RunTasks
) -> AsyncIterator[tuple[str, Any] | list[TaskOutcome]]:
    import asyncio

    tasks = effect.tasks
    if not env.live:
        emit = _collector(env)
        if len(tasks) == 1:
            yield [await _execute_async(env, tasks[0], effect.checkpoint_id, emit)]
        else:
            yield list(
                await asyncio.gather(
                    *(_execute_async(env, t, effect.checkpoint_id, emit) for t in tasks)
                )
            )
        return
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()
    owner = threading.get_ident()

    def emit_live(mode: str, payload: Any) -> None:
        if mode not in env.modes:
            return
        if threading.get_ident() == owner:
            inbox.put_nowait((mode, payload))
        else:
            loop.call_soon_threadsafe(inbox.put_nowait, (mode, payload))

    async def run_one(t: Task) -> TaskOutcome:
        try:
            return await _execute_async(env, t, effect.checkpoint_id, emit_live)
        finally:
            inbox.put_nowait(_DONE)

    runners = [asyncio.ensure_future(run_one(t)) for t in tasks]
    remaining = len(runners)
    try:
        while remaining:
            item = await inbox.get()
            if item is _DONE:
                remaining -= 1
            else:
                yield item
    finally:
        for r in runners:
            if not r.done():
                r.cancel()
    yield [r.result() for r in runners]


async def drive_async(
    gen: Generator[Effect, Any, RunResult], env: Env, box: ResultBox
) -> AsyncIterator[tuple[str, Any]]:
    """Async twin of `drive_sync`."""
    reply: Any = None
    async with keep_lease_async(env.saver, env.thread_id, env.lease_owner, env.lease_ttl):
        try:
            while True:
                effect = gen.send(reply)
                if isinstance(effect, RunTasks):
                    reply = None
                    async for item in _run_tasks_async(env, effect):
                        if isinstance(item, list):
                            reply = item
                        else:
                            yield item
                elif isinstance(effect, Emit):
                    reply = None
                    if effect.mode in env.modes:
                        yield (effect.mode, effect.payload)
                else:
                    reply = await _store_async(effect, env)
        except StopIteration as stop:
            box.value = stop.value


def modes_of(stream_mode: Any) -> tuple[frozenset[str], bool]:
    """Normalise `stream_mode` to a set, and whether the caller gave a single mode."""
    if isinstance(stream_mode, str):
        return frozenset({stream_mode}), True
    return frozenset(stream_mode), False


def config_value(config: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """`config["configurable"][key]` with a default."""
    return (config.get("configurable") or {}).get(key, default)
