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
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from interlock.errors import (
    GraphError,
    GraphInterrupt,
    StepNotSaved,
    StoreUnavailable,
)
from interlock.graph._effects import (
    Applied,
    CacheGet,
    CacheSet,
    Commit,
    Effect,
    Emit,
    HasDecided,
    Lookup,
    ParentCommand,
    Reopen,
    Resolve,
    RunResult,
    RunTasks,
    SaveProgress,
    SubgraphPaused,
    Task,
    TaskOutcome,
    Vote,
)
from interlock.graph._env import Env
from interlock.graph._heartbeat import keep_lease, keep_lease_async
from interlock.graph._interrupt import NodeInterrupt, TaskContext, _current
from interlock.graph._messages_out import seen_in, send_returned_messages
from interlock.graph._node_cache import acache_effect, cache_effect
from interlock.graph._options import config_value
from interlock.graph._runtime import ExecutionInfo, NodeTask, Runtime
from interlock.graph._spec import NodeSpec
from interlock.graph._state import BadInput
from interlock.graph._store_effects import store_async, store_sync
from interlock.graph._task_hooks import task_hooks
from interlock.graph._unsaved import Held, save_held

__all__ = ["Env", "ResultBox", "drive_async", "drive_sync", "save_children_now"]

_DONE = object()
Chunk = tuple[tuple[str, ...], str, Any]
"""A stream chunk on its way to the caller: `(namespace, mode, payload)`."""
_PAGE = 64
"""At most this many checkpoints per page when looking for a run's input (`Applied`): the
first page has 2 (usually enough: nothing was committed since the run was queued), then
each page doubles."""


@dataclass(slots=True)
class ResultBox:
    """Receives the engine's final `RunResult` (generators cannot return it to a for-loop)."""

    value: RunResult | None = None
    chunks: list[tuple[str, Any]] = field(default_factory=list)


# ---- task execution ------------------------------------------------------------------------


def _context(env: Env, task: Task, checkpoint_id: str, sink: Callable | None) -> TaskContext:
    if task.started is None:  # kept by the engine's retries of this task
        task.started = time.time()
    emit: Callable[[str, Any], None] | None = None
    if sink is not None:
        path = env.ns_path
        emit = lambda mode, payload: sink(path, mode, payload)  # noqa: E731

    ctx = NodeTask(
        thread_id=env.thread_id,
        checkpoint_ns=env.checkpoint_ns,
        checkpoint_id=checkpoint_id,
        task_id=task.id,
        task_name=task.name,
        config=env.config,
        durable=env.saver is not None,
        resume=list(task.resume),
        answers=dict(task.answers),
        memo=dict(task.memo),
        bound=task.bound,  # read only
        emit=emit,
        env=env,
        sink=sink,
        read_state=task.read_state,
    )
    attempt, started = task.attempt, task.started  # as of this attempt

    def make_runtime() -> Runtime[Any]:
        return Runtime(
            context=env.context,
            store=env.store,
            stream_writer=(lambda chunk: emit("custom", chunk)) if emit else _ignore,
            execution_info=ExecutionInfo(
                checkpoint_id=checkpoint_id,
                checkpoint_ns=env.checkpoint_ns,
                task_id=task.id,
                thread_id=env.thread_id if env.saver is not None else None,
                run_id=config_value(env.config, "run_id"),
                node_attempt=attempt,
                node_first_attempt_time=started,
            ),
        )

    ctx.make_runtime = make_runtime
    return ctx


def _call_args(node: NodeSpec, task: Task, ctx: TaskContext, env: Env) -> tuple[tuple, dict]:
    kwargs: dict[str, Any] = {}
    if node.wants_config:
        kwargs["config"] = env.config
    if node.wants_writer:
        kwargs["writer"] = (lambda chunk: ctx.emit("custom", chunk)) if ctx.emit else _ignore
    if node.wants_runtime:
        runtime = ctx.current_runtime() if isinstance(ctx, NodeTask) else None
        kwargs["runtime"] = runtime or Runtime(context=env.context, store=env.store)
    if node.wants_store:
        kwargs["store"] = env.store
    return (task.input,), kwargs


def _ignore(_chunk: Any) -> None:
    return None


def _outcome_of_error(task: Task, ctx: TaskContext, exc: BaseException, env: Env) -> TaskOutcome:
    if isinstance(exc, NodeInterrupt):
        return TaskOutcome(
            task=task,
            interrupt=exc.pending,
            more_interrupts=exc.more,
            memo=dict(ctx.new_memo),
            waiting=exc.waiting,
        )
    if isinstance(exc, SubgraphPaused):
        return TaskOutcome(task=task, waiting=exc, memo=dict(ctx.new_memo))
    if isinstance(exc, ParentCommand):
        return TaskOutcome(task=task, result=exc.command, memo=dict(ctx.new_memo))
    if isinstance(exc, GraphInterrupt):
        raise exc
    return TaskOutcome(task=task, error=exc, memo=dict(ctx.new_memo))


def _backoff(task: Task) -> float:
    """Seconds to wait before a retried task runs (its delay plus random jitter)."""
    return task.delay + (random.uniform(0, 1) if task.jitter else 0.0)


def _returned_messages(env: Env, task: Task, ctx: TaskContext, result: Any) -> None:
    """Send on `messages` what the node returned and the run has not sent yet."""
    if ctx.emit is None or "messages" not in env.modes:
        return
    meta = {"langgraph_node": task.name, "thread_id": env.thread_id}
    send_returned_messages(result, seen_in(task.input), env.said, ctx.emit, meta)


def _execute_sync(env: Env, task: Task, checkpoint_id: str, emit: Callable | None) -> TaskOutcome:
    if wait := _backoff(task):
        time.sleep(wait)
    return _execute_now(env, task, checkpoint_id, emit)


def _execute_now(env: Env, task: Task, checkpoint_id: str, emit: Callable | None) -> TaskOutcome:
    node = env.spec.nodes[task.name]
    ctx = _context(env, task, checkpoint_id, emit)
    token = _current.set(ctx)
    try:
        if isinstance(task.input, BadInput):  # the state does not fit the node's schema
            raise task.input.error
        if node.subgraph is not None:
            result = node.subgraph._run_as_child(task.input, ctx)
        else:
            if node.is_async:
                raise GraphError(f"node {task.name!r} is async; run the graph with ainvoke/astream")
            args, kwargs = _call_args(node, task, ctx, env)
            with task_hooks(ctx):
                result = node.fn(*args, **kwargs)
        if isinstance(ctx, NodeTask) and ctx.child_pause is not None:
            return _outcome_of_error(task, ctx, ctx.child_pause, env)
        _returned_messages(env, task, ctx, result)
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
    if node.subgraph is None and not node.is_async and node.afn is None:
        return await asyncio.to_thread(_execute_now, env, task, checkpoint_id, emit)
    ctx = _context(env, task, checkpoint_id, emit)
    token = _current.set(ctx)
    try:
        if isinstance(task.input, BadInput):
            raise task.input.error
        if node.subgraph is not None:
            result = await node.subgraph._arun_as_child(task.input, ctx)
        else:
            args, kwargs = _call_args(node, task, ctx, env)
            with task_hooks(ctx):
                result = await (node.afn or node.fn)(*args, **kwargs)
        if isinstance(ctx, NodeTask) and ctx.child_pause is not None:
            return _outcome_of_error(task, ctx, ctx.child_pause, env)
        _returned_messages(env, task, ctx, result)
        return TaskOutcome(task=task, result=result, memo=dict(ctx.new_memo))
    except Exception as exc:
        return _outcome_of_error(task, ctx, exc, env)
    except GraphInterrupt as exc:
        return _outcome_of_error(task, ctx, exc, env)
    finally:
        _current.reset(token)


# ---- saver effects -------------------------------------------------------------------------


def _unsaved(
    gen: Generator[Effect, Any, RunResult],
    effect: Effect,
    env: Env,
    exc: StoreUnavailable,
    children: list[StepNotSaved],
) -> StepNotSaved | None:
    """The error for a step write the store could not take: a `StepNotSaved` holding the
    write (see `interlock.graph._unsaved`), else None (the error as it is: nothing ran that
    a write would keep; a retried task's attempt record is not the step's write either).
    Held with it: the writes the engine makes right after it without running anything
    (exit durability: the flushed steps, then the stopped step's progress), and, first,
    the steps of subgraphs that failed the same way (`children`)."""
    if env.saver is None or isinstance(exc, StepNotSaved):
        return None
    if not isinstance(effect, (Commit, SaveProgress)):
        return None
    if isinstance(effect, SaveProgress) and not effect.final:
        return None
    own = [_held(w, env) for w in (effect, *_following_writes(gen, effect))]
    return _step_not_saved(str(exc), env, [*_held_by(children), *own])


def _step_not_saved(message: str, env: Env, held: list[Any]) -> StepNotSaved:
    """A `StepNotSaved` for `held`, saved under the run's lease. A run whose owner saves it
    (`HOLD`: the service's) keeps the lease meanwhile instead of giving it back."""
    assert env.saver is not None
    keep = env.parent_task is None and env.hold
    if keep:
        env.released = True  # kept: `save_held` takes it again as the same owner
    save = partial(
        save_held, env.saver, env.thread_id, env.lease_owner, env.lease_ttl, held, keep=keep
    )
    text = (
        f"the store went away as thread {env.thread_id!r} wrote a step whose nodes had "
        "finished: the step is held and written once the store answers (the service does "
        "this itself; a library caller calls save()), and the thread goes on from it; do "
        f"not send the same input again ({message})"
    )
    nested = env.parent_task is not None
    return StepNotSaved(text, thread_id=env.thread_id, save=save, held=held, nested=nested)


def _held(effect: Effect, env: Env) -> Held:
    """`effect` (a commit or a stopped step's progress) as a write to do later."""
    top = env.parent_task is None
    if isinstance(effect, Commit):
        return Held(
            write=partial(store_sync, effect, env),
            checkpoint_ns=env.checkpoint_ns,
            commit=effect.record.checkpoint_id,
            releases=effect.final and top,
        )
    assert isinstance(effect, SaveProgress)
    return Held(
        write=partial(store_sync, effect, env),
        checkpoint_ns=env.checkpoint_ns,
        progress_on=effect.checkpoint_id,
        releases=effect.final and top,
    )


def _following_writes(gen: Generator[Effect, Any, RunResult], effect: Effect) -> list[Effect]:
    """After a failed commit that does not end the run: the writes the engine goes on to
    make before it runs anything or reads the store (their replies are not needed)."""
    follow: list[Effect] = []
    if not isinstance(effect, Commit) or effect.final:
        return follow
    while True:
        try:
            nxt = gen.send(None)
        except Exception:  # the engine ended, or re-raised a task's error: nothing more
            return follow
        if isinstance(nxt, Emit):
            continue
        if not isinstance(nxt, (Commit, SaveProgress)):
            return follow
        follow.append(nxt)
        if nxt.final:
            return follow


def _failed_children(outcomes: Any, env: Env) -> list[StepNotSaved]:
    """The subgraph tasks whose own step the store could not take. (A graph with a store of
    its own that a node ran on another thread is not one: its error goes up as it is, and
    its own `save()` writes its step.)"""
    if not isinstance(outcomes, list):
        return []
    return [
        o.error
        for o in outcomes
        if isinstance(o.error, StepNotSaved)
        and o.error.nested
        and o.error.thread_id == env.thread_id
    ]


def _held_by(children: list[StepNotSaved]) -> list[Any]:
    """The writes the failed subgraphs hold, in order."""
    return [h for c in children for h in c.held]


def save_children_now(env: Env, children: list[StepNotSaved], *, running: bool = False) -> None:
    """Another task's error ends the run before the subgraphs' held steps: the step's
    progress was just written, so the store answers; write them now, or they would run
    again (best effort: the error that ended the run is what the caller sees). `running`:
    called from inside a task of the run, which holds the lease and goes on writing."""
    if not children or env.saver is None:
        return
    # a subgraph runs under its root's lease: it neither takes nor gives it back; nor does
    # a task of the run (the run gives it back when it ends)
    owner = env.lease_owner if env.parent_task is None and not running else None
    why = "another run holds the thread, or it moved on"
    try:
        if save_held(env.saver, env.thread_id, owner, env.lease_ttl, _held_by(children)):
            return
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
    import logging  # imported when needed: `import interlock` stays light

    logging.getLogger("interlock").warning(
        "thread %s: the held steps of subgraphs were not written (%s)", env.thread_id, why
    )


def _children_failed(exc: StepNotSaved, env: Env, children: list[StepNotSaved]) -> StepNotSaved:
    """The engine re-raises the first failed task's error once the step's progress is
    written: for a subgraph's, one error that saves every subgraph that failed so, under
    this run's lease."""
    if exc not in children:
        return exc
    return _step_not_saved(str(exc.__cause__ or exc), env, _held_by(children))


def _keeping(effect: Effect, env: Env, children: list[StepNotSaved]) -> Effect:
    """The run's last write, when subgraphs' steps wait to be saved by a run's owner that
    keeps the lease for them (`HOLD`): written without giving the lease back."""
    if not children or env.parent_task is not None or not env.hold:
        return effect
    if isinstance(effect, (Commit, SaveProgress)) and effect.final:
        return replace(effect, final=False)
    return effect


# ---- sync driver ---------------------------------------------------------------------------


def _run_tasks_sync(env: Env, effect: RunTasks) -> Iterator[Chunk | list[TaskOutcome]]:
    """Yields live chunks, then finally the list of outcomes."""
    tasks = effect.tasks
    if not env.live:
        emit = env.sink
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

    def emit_live(ns: tuple[str, ...], mode: str, payload: Any) -> None:
        if _wanted(env, ns, mode):
            inbox.put((ns, mode, payload))

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


def _wanted(env: Env, ns: tuple[str, ...], mode: str) -> bool:
    """Whether a chunk reaches the caller: subgraphs' chunks only with `subgraphs=True`,
    except what nodes write themselves (`custom`, `messages`), which always does."""
    return mode in env.modes and (not ns or env.subgraphs or mode in ("custom", "messages"))


def _emit(env: Env, effect: Emit) -> Iterator[Chunk]:
    """An engine chunk: the caller's (a root run), or sent up the sink (a subgraph)."""
    if effect.mode not in env.modes:
        return
    if env.parent_task is None or env.yields:
        yield (env.ns_path, effect.mode, effect.payload)
    elif env.sink is not None:
        env.sink(env.ns_path, effect.mode, effect.payload)


_STORE_EFFECTS = (Commit, SaveProgress, Resolve, Vote, Reopen, HasDecided, Lookup, Applied)
"""The effects `store_sync` carries out: the run's own store calls."""


def drive_sync(gen: Generator[Effect, Any, RunResult], env: Env, box: ResultBox) -> Iterator[Chunk]:
    """Run the engine to completion, yielding `(namespace, mode, chunk)` for the requested
    modes (namespace `()` for the graph's own chunks)."""
    reply: Any = None
    children: list[StepNotSaved] = []  # subgraph tasks whose step the store did not take
    saver = env.saver
    holds = saver is not None and bool(env.lease_owner) and env.parent_task is None
    # the lease is kept however long nodes run or the caller takes to read the stream
    with keep_lease(saver, env.thread_id, env.lease_owner, env.lease_ttl):
        try:
            while True:
                try:
                    effect = gen.send(reply)
                except StepNotSaved as exc:
                    raise _children_failed(exc, env, children) from None
                except Exception:
                    save_children_now(env, children)
                    raise
                if isinstance(effect, _STORE_EFFECTS):
                    try:
                        reply = store_sync(_keeping(effect, env, children), env)
                    except StoreUnavailable as exc:
                        unsaved = _unsaved(gen, effect, env, exc, children)
                        if unsaved is None:
                            raise
                        raise unsaved from exc
                    continue
                if holds and saver is not None:  # only the run's own store calls share its
                    # lease's transaction (`_compiled._load`): not nodes, the caller's loop
                    saver.end_hold(owner=env.lease_owner)
                if isinstance(effect, RunTasks):
                    reply = None
                    for item in _run_tasks_sync(env, effect):
                        if isinstance(item, list):
                            reply = item
                        else:
                            yield item
                    children += _failed_children(reply, env)
                elif isinstance(effect, Emit):
                    reply = None
                    yield from _emit(env, effect)
                elif isinstance(effect, CacheGet | CacheSet):
                    reply = cache_effect(env.cache, effect)
        except StopIteration as stop:
            drop_hold(env)  # a run that wrote nothing: its lease was never needed
            box.value = stop.value
        except BaseException:
            drop_hold(env)
            raise


def drop_hold(env: Env) -> None:
    """Roll back what the run's `acquire_and_get(hold=True)` left open if no write took
    it: the lease was never taken, so it is not given back either. Only the run's own
    hold: this may run on a thread where another run holds its lease's transaction (a
    stream closed by the garbage collector)."""
    if env.saver is None or not env.lease_owner or env.parent_task is not None:
        return
    if env.saver.end_hold(commit=False, owner=env.lease_owner):
        env.released = True


# ---- async driver --------------------------------------------------------------------------


async def _run_tasks_async(env: Env, effect: RunTasks) -> AsyncIterator[Chunk | list[TaskOutcome]]:
    import asyncio

    tasks = effect.tasks
    if not env.live:
        emit = env.sink
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

    def emit_live(ns: tuple[str, ...], mode: str, payload: Any) -> None:
        if not _wanted(env, ns, mode):
            return
        if threading.get_ident() == owner:
            inbox.put_nowait((ns, mode, payload))
        else:
            loop.call_soon_threadsafe(inbox.put_nowait, (ns, mode, payload))

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
) -> AsyncIterator[Chunk]:
    """Async twin of `drive_sync`."""
    reply: Any = None
    children: list[StepNotSaved] = []
    async with keep_lease_async(env.saver, env.thread_id, env.lease_owner, env.lease_ttl):
        try:
            while True:
                try:
                    effect = gen.send(reply)
                except StepNotSaved as exc:
                    raise _children_failed(exc, env, children) from None
                except Exception:
                    if children:  # (store calls: off the event loop)
                        import asyncio

                        await asyncio.to_thread(save_children_now, env, children)
                    raise
                if isinstance(effect, RunTasks):
                    reply = None
                    async for item in _run_tasks_async(env, effect):
                        if isinstance(item, list):
                            reply = item
                        else:
                            yield item
                    children += _failed_children(reply, env)
                elif isinstance(effect, Emit):
                    reply = None
                    for chunk in _emit(env, effect):
                        yield chunk
                elif isinstance(effect, CacheGet | CacheSet):
                    reply = await acache_effect(env.cache, effect)
                else:
                    try:
                        reply = await store_async(_keeping(effect, env, children), env)
                    except StoreUnavailable as exc:
                        unsaved = _unsaved(gen, effect, env, exc, children)
                        if unsaved is None:
                            raise
                        raise unsaved from exc
        except StopIteration as stop:
            box.value = stop.value
