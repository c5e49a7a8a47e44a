"""Running the functional API's tasks inside an entrypoint's node: futures, results recorded
with the node's task (returned, never recomputed, when the node runs again after a pause),
requests of tasks that paused, and the check that a re-run calls the tasks it recorded.

An entrypoint runs as the one node of a graph. Each task call gets a place: the order of
the call among its caller's task calls (`(2,)` for the entrypoint's third call, `(2, 0)`
for the first call made inside that task). The place names the call's record in the
node's memo (`task:2.0`), and numbers its `interrupt()` calls apart from everybody
else's (`index_base`), so answers reach the task that asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from interlock.checkpoint.base import TaskWrites
from interlock.checkpoint.serde import dumps
from interlock.errors import GraphError, NonDeterministicTask, SerializationError, StepNotSaved
from interlock.graph._effects import CacheGet, CacheSet, SubgraphPaused
from interlock.graph._interrupt import NodeInterrupt, PendingInterrupt, _current
from interlock.graph._node_cache import (
    ASKED,
    acache_effect,
    asked_mark,
    cache_effect,
    cache_namespace,
    entry_key,
    unkeyable,
)
from interlock.graph._run import MEMO, PART_SEP
from interlock.graph._runtime import NodeTask, retry_delay, stateful_refused

__all__ = ["FuncContext", "Scope", "TaskDef", "TaskFuture", "call_task"]

E = TypeVar("E", bound=BaseException)

_SPAN = 1000
"""`interrupt()` calls one task may make in one run (its indices are `base + 0 .. 999`)."""
_FLAT = 1_000_000
"""The entrypoint's own task calls take bases 1..FLAT; deeper calls are hashed above."""


def index_base(place: tuple[int, ...]) -> int:
    """The first request index of the task call at `place` (the entrypoint's own is 0)."""
    if not place:
        return 0
    if len(place) == 1 and place[0] < _FLAT:
        return (place[0] + 1) * _SPAN
    digest = hashlib.blake2b(repr(place).encode(), digest_size=8).digest()
    return (_FLAT + 1 + int.from_bytes(digest, "big") % _FLAT) * _SPAN


def slot_of(place: tuple[int, ...]) -> str:
    """The memo key of the task call at `place`."""
    return "task:" + ".".join(map(str, place))


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskDef:
    """What `@task` knows about its function."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    retry: tuple[Any, ...] = ()
    cache_policy: Any = None
    """`@task(cache_policy=CachePolicy(...))`: calls look for an earlier result of the same
    arguments in the entrypoint's cache (`_node_cache`)."""


@dataclass(slots=True, kw_only=True)
class FuncContext(NodeTask):
    """The task context of an entrypoint (place `()`) or of one of its task calls."""

    scope: Any = None
    place: tuple[int, ...] = ()
    child_calls: int = 0
    """Task calls made in this context so far (the next one's place ends with it)."""

    def call_mark(self) -> str:
        """A task call shares its entrypoint's task name and id: its place sets apart the
        subgraphs it runs (`@t0`, `@t1.0`, ...) from those its siblings, running beside it,
        run (the entrypoint's own are unmarked)."""
        return "@t" + ".".join(map(str, self.place)) if self.place else ""

    def claim_stateful(self, ns: str) -> None:
        """A subgraph kept by node name (`checkpointer=True`) keeps one state under the
        entrypoint's name, so one call per run of the entrypoint may run such subgraphs
        (LangGraph refuses several too: MULTIPLE_SUBGRAPHS); another call gets a clear
        error instead of the first call's state or result."""
        with self.scope.lock:
            holder = self.scope.stateful.setdefault(ns, self.place)
        if holder != self.place:
            raise stateful_refused(ns)

    def take_unmarked(self) -> bool:
        """Whether this call may go on with a subgraph paused under the unmarked namespace:
        interlock kept a task call's subgraph there (the entrypoint's) before task calls
        had marks, so a thread paused in one before the upgrade goes on from it. One call
        per run of the entrypoint takes it, the first to ask (several calls shared it);
        that call may take it again (a retry)."""
        if not self.place:
            return False
        with self.scope.lock:
            if self.scope.unmarked_taken is None:
                self.scope.unmarked_taken = self.place
            return self.scope.unmarked_taken == self.place


def derive(parent: NodeTask, scope: Scope, place: tuple[int, ...], name: str) -> FuncContext:
    """A context for the task call at `place`, sharing the node's ids, answers and emitter;
    its `once()` records live under the call's own prefix in the node's memo."""
    values = {f.name: getattr(parent, f.name) for f in fields(NodeTask)}
    base = index_base(place)
    answers = parent.answers
    resume: list[Any] = []
    while base + len(resume) in answers:
        resume.append(answers[base + len(resume)])
    prefix = slot_of(place) + "/" if place else ""
    memo = scope.root.memo
    own = {k[len(prefix) :]: v for k, v in memo.items() if k.startswith(prefix)} if prefix else memo
    values.update(
        resume=resume,
        memo=own,
        new_memo={} if prefix else scope.root.new_memo,
        calls=0,
        once_calls=0,
        index_base=base,
        task_label=name if place else None,
        subgraph_calls=0,
    )
    return FuncContext(**values, scope=scope, place=place)


class TaskFuture:
    """The result of a task call to come: `.result()` waits for it (sync entrypoints),
    `await future` too (async ones). A task that paused makes the waiting entrypoint pause
    with every request its running sibling tasks made as well."""

    def __init__(self, scope: Scope, inner: Future[Any] | asyncio.Future[Any]) -> None:
        self._scope = scope
        self._inner = inner

    def cancel(self) -> bool:
        """Cancel the task if it has not finished (asyncio tasks are interrupted)."""
        return self._inner.cancel()

    def cancelled(self) -> bool:
        """Whether the task was cancelled."""
        return self._inner.cancelled()

    def done(self) -> bool:
        """Whether the task finished (with a result, an error or a pause)."""
        return self._inner.done()

    def result(self, timeout: float | None = None) -> Any:
        """Wait for the task and return its result (raise what it raised)."""
        inner = self._inner
        if isinstance(inner, asyncio.Future):
            if not inner.done():
                raise GraphError("this task runs in an async entrypoint: `await` its future")
            return self._scope.unwrap(inner)
        try:
            return inner.result(timeout)
        except NodeInterrupt:
            raise self._scope.paused_sync() from None

    def __await__(self) -> Any:
        return self._await().__await__()

    async def _await(self) -> Any:
        inner = self._inner
        if isinstance(inner, asyncio.Future):
            try:
                return await inner
            except NodeInterrupt:
                raise (await self._scope.paused_async()) from None
        return await asyncio.wrap_future(inner)

    def __repr__(self) -> str:
        return f"<TaskFuture done={self.done()}>"


@dataclass(slots=True, kw_only=True)
class Scope:
    """The task calls of one run of an entrypoint's node."""

    root: NodeTask
    """The driver's context of the node (its memo and new_memo collect the records)."""
    is_async: bool
    pool: ThreadPoolExecutor | None = None
    loop: asyncio.AbstractEventLoop | None = None
    """An async entrypoint's event loop (its tasks run there)."""
    lock: threading.Lock = field(default_factory=threading.Lock)
    running: list[Future[Any] | asyncio.Future[Any]] = field(default_factory=list)
    paused: dict[str, PendingInterrupt] = field(default_factory=dict)
    """Requests of tasks that paused, by interrupt id, in the order they were made."""
    stateful: dict[str, tuple[int, ...]] = field(default_factory=dict)
    """Namespaces of subgraphs kept by node name, and the place of the call that ran them."""
    unmarked_taken: tuple[int, ...] | None = None
    """The place of the task call that went on with a subgraph kept under the unmarked
    namespace (see `FuncContext.take_unmarked`)."""

    # ---- starting a call -------------------------------------------------------------------

    def start(
        self, parent: FuncContext, spec: TaskDef, args: tuple, kwargs: dict[str, Any]
    ) -> TaskFuture:
        place = (*parent.place, parent.child_calls)
        parent.child_calls += 1
        slot = slot_of(place)
        try:
            dumps([list(args), kwargs], f"task {spec.name} arguments")
        except SerializationError as exc:
            raise SerializationError(
                f"task {spec.name!r} was called with arguments that cannot be stored ({exc}); "
                "its call is recorded so that a resumed run gets the same result back: pass "
                "JSON-like values, messages, dataclasses or pydantic models, and reach other "
                "objects (clients, models) from the task's own module"
            ) from None
        seen = self.root.memo.get(slot)
        if seen is not None and seen.get("task") != spec.name:
            raise NonDeterministicTask(
                f"task call #{'.'.join(map(str, place))} of this run was "
                f"{seen.get('task')!r} when it was recorded, and is now {spec.name!r}: the "
                "entrypoint's control flow changed between runs. Make it depend only on its "
                "input, `previous`, task results and interrupt() answers (wrap clocks, random "
                "numbers and I/O in tasks)"
            )
        if seen is not None and "result" in seen:
            return self._finished(seen["result"])
        key = None
        if seen is None:  # a first call may use the cache; one a pause stopped runs again
            self._note(slot, {"task": spec.name})
            key = self._cache_key(spec, args, kwargs)
        ctx = derive(self.root, self, place, spec.name)
        if self.is_async:
            run = self._arun if spec.is_async else self._arun_thread
            coro = run(ctx, spec, slot, args, kwargs, key)
            if self._in_loop():
                inner: Any = asyncio.ensure_future(coro)
            else:  # a sync task (in a worker thread) of an async entrypoint calls a task
                assert self.loop is not None
                inner = asyncio.run_coroutine_threadsafe(coro, self.loop)
        else:
            if spec.is_async:
                raise GraphError(
                    f"task {spec.name!r} is async; call it from an async entrypoint "
                    "(async def) and run it with ainvoke/astream"
                )
            assert self.pool is not None
            inner = self.pool.submit(
                copy_context().run, self._run, ctx, spec, slot, args, kwargs, key
            )
        self.running.append(inner)
        return TaskFuture(self, inner)

    def _in_loop(self) -> bool:
        try:
            return asyncio.get_running_loop() is self.loop
        except RuntimeError:
            return False

    def _finished(self, value: Any) -> TaskFuture:
        if self.is_async and self._in_loop():
            fut: Any = asyncio.get_running_loop().create_future()
        else:
            fut = Future()
        fut.set_result(value)
        return TaskFuture(self, fut)

    def _note(self, slot: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.root.memo[slot] = entry
            self.root.new_memo[slot] = entry

    # ---- running a call (sync) -------------------------------------------------------------

    def _run(
        self, ctx: FuncContext, spec: TaskDef, slot: str, args: tuple, kw: dict, key: Any = None
    ) -> Any:
        hit, key = self._cached(key, cache_effect(self._cache, self._get(key)) if key else {})
        token = _current.set(ctx)
        try:
            result = hit[0] if hit else self._attempts(ctx, spec, args, kw)
        except NodeInterrupt as exc:
            self._pause(ctx, slot, exc)
            if spec.cache_policy is not None:
                cache_effect(self._cache, asked_mark(cache_namespace(None, spec.fn)))
            raise
        finally:
            _current.reset(token)
        entry = self._record(ctx, spec, slot, result, cached=bool(hit))
        self._save_sync(slot, entry)
        if key is not None:
            cache_effect(self._cache, self._keep(key, spec, result))
        return result

    def _attempts(self, ctx: FuncContext, spec: TaskDef, args: tuple, kw: dict) -> Any:
        attempt = 1
        while True:
            try:
                return spec.fn(*args, **kw)
            except Exception as exc:
                again = retry_delay(spec.retry, exc, attempt) if spec.retry else None
                if again is None:
                    raise
            attempt += 1
            ctx.calls = ctx.once_calls = ctx.child_calls = ctx.subgraph_calls = 0
            time.sleep(_wait(again))

    # ---- running a call (async) ------------------------------------------------------------

    async def _arun(
        self, ctx: FuncContext, spec: TaskDef, slot: str, args: tuple, kw: dict, key: Any = None
    ) -> Any:
        found = await acache_effect(self._cache, self._get(key)) if key else {}
        hit, key = self._cached(key, found)
        if hit:
            return await self._done_async(ctx, spec, slot, hit[0], None, True)
        token = _current.set(ctx)
        attempt = 1
        try:
            while True:
                try:
                    result = await spec.fn(*args, **kw)
                    break
                except Exception as exc:
                    again = retry_delay(spec.retry, exc, attempt) if spec.retry else None
                    if again is None:
                        raise
                attempt += 1
                ctx.calls = ctx.once_calls = ctx.child_calls = ctx.subgraph_calls = 0
                await asyncio.sleep(_wait(again))
        except NodeInterrupt as exc:
            self._pause(ctx, slot, exc)
            await self._asked(spec)
            raise
        finally:
            _current.reset(token)
        return await self._done_async(ctx, spec, slot, result, key, False)

    async def _done_async(
        self, ctx: FuncContext, spec: TaskDef, slot: str, result: Any, key: Any, cached: bool
    ) -> Any:
        """Record a finished call, then keep its result in the cache under `key` (None: it
        is not kept — it came from there, or may not be cached)."""
        entry = self._record(ctx, spec, slot, result, cached=cached)
        await self._save_async(slot, entry)
        if key is not None:
            await acache_effect(self._cache, self._keep(key, spec, result))
        return result

    async def _arun_thread(
        self, ctx: FuncContext, spec: TaskDef, slot: str, args: tuple, kw: dict, key: Any = None
    ) -> Any:
        found = await acache_effect(self._cache, self._get(key)) if key else {}
        hit, key = self._cached(key, found)
        if hit:
            return await self._done_async(ctx, spec, slot, hit[0], None, True)

        def body() -> Any:
            token = _current.set(ctx)
            try:
                return self._attempts(ctx, spec, args, kw)
            finally:
                _current.reset(token)

        try:
            result = await asyncio.to_thread(body)
        except NodeInterrupt as exc:
            self._pause(ctx, slot, exc)
            await self._asked(spec)
            raise
        return await self._done_async(ctx, spec, slot, result, key, False)

    # ---- the node cache (`@task(cache_policy=...)`) -----------------------------------------

    @property
    def _cache(self) -> Any:
        return getattr(getattr(self.root, "env", None), "cache", None)

    def _cache_key(self, spec: TaskDef, args: tuple, kwargs: dict[str, Any]) -> Any:
        """The cache entry of a first call of a task with a cache policy (None: none)."""
        if spec.cache_policy is None or self._cache is None:
            return None
        try:
            key = entry_key(spec.cache_policy, *args, **kwargs)
        except Exception as exc:
            if unkeyable(spec.cache_policy, f"task {spec.name!r}", exc):
                return None
            raise
        return (cache_namespace(None, spec.fn), key)

    @staticmethod
    def _get(key: Any) -> CacheGet:
        """Look up a call's entry, and whether its task was seen asking a person."""
        return CacheGet((key, (key[0], ASKED)))

    @staticmethod
    def _cached(key: Any, found: Any) -> tuple[tuple[Any] | None, Any]:
        """(`(result,)` when the cache had the call's result, the key to keep its result
        under): neither for a task that asks people (it runs, and is not kept)."""
        if key is None or found.get((key[0], ASKED)) is not None:
            return None, None
        value = found.get(key)
        if isinstance(value, dict) and "result" in value:
            return (value["result"],), None
        return None, key

    async def _asked(self, spec: TaskDef) -> None:
        """Mark a task that paused for a person: its calls are not cached from now on."""
        if spec.cache_policy is not None:
            await acache_effect(self._cache, asked_mark(cache_namespace(None, spec.fn)))

    @staticmethod
    def _keep(key: Any, spec: TaskDef, result: Any) -> CacheSet:
        return CacheSet({key: ({"result": result}, spec.cache_policy.ttl)})

    # ---- outcomes ----------------------------------------------------------------------------

    def _record(
        self, ctx: FuncContext, spec: TaskDef, slot: str, result: Any, *, cached: bool = False
    ) -> dict[str, Any]:
        """Keep a finished call's result (and its `once()` records) with the node's task;
        `cached`: it came from the node cache (its `updates` chunk says so)."""
        try:
            dumps(result, f"task {spec.name} result")
        except SerializationError as exc:
            raise SerializationError(
                f"task {spec.name!r} returned a value that cannot be stored ({exc}); "
                "a task's result is recorded so that a resumed run does not run it again"
            ) from None
        entry = {**self.root.memo.get(slot, {}), "task": spec.name, "result": result}
        with self.lock:
            self._keep_once(ctx, slot)
            self.root.memo[slot] = entry
            self.root.new_memo[slot] = entry
        if ctx.emit is not None:
            chunk = {spec.name: result}
            ctx.emit("updates", {**chunk, "__metadata__": {"cached": True}} if cached else chunk)
        return entry

    def _keep_once(self, ctx: FuncContext, slot: str) -> None:
        for key, value in ctx.new_memo.items():
            self.root.memo[f"{slot}/{key}"] = value
            self.root.new_memo[f"{slot}/{key}"] = value
        ctx.new_memo.clear()

    def _pause(self, ctx: FuncContext, slot: str, exc: NodeInterrupt) -> None:
        with self.lock:
            self._keep_once(ctx, slot)
            for pending in (exc.pending, *exc.more):
                self.paused.setdefault(pending.interrupt.id, pending)

    def _part(self, slot: str, entry: dict[str, Any]) -> TaskWrites | None:
        """A finished call's record as writes of its own (`<node task id>:<slot>`), so that
        saving it costs its size, not the size of everything recorded so far."""
        env = getattr(self.root, "env", None)
        if env is None or env.saver is None or not env.step_progress:
            return None
        with self.lock:
            writes = [(MEMO + slot, entry)]
            writes += [(MEMO + k, v) for k, v in self.root.memo.items() if k.startswith(slot + "/")]
        return TaskWrites(
            task_id=self.root.task_id + PART_SEP + slot,
            task_name=self.root.task_name,
            writes=tuple(writes),
        )

    def _save_sync(self, slot: str, entry: dict[str, Any]) -> None:
        """Store the call's record now: a crash after this does not run the task again."""
        part = self._part(slot, entry)
        if part is None:
            return
        env = self.root.env
        env.saver.put_task_writes(
            env.thread_id,
            env.checkpoint_ns,
            self.root.checkpoint_id,
            (part,),
            lease_owner=env.lease_owner,
        )

    async def _save_async(self, slot: str, entry: dict[str, Any]) -> None:
        part = self._part(slot, entry)
        if part is None:
            return
        env = self.root.env
        await env.saver.aput_task_writes(
            env.thread_id,
            env.checkpoint_ns,
            self.root.checkpoint_id,
            (part,),
            lease_owner=env.lease_owner,
        )

    # ---- waiting ---------------------------------------------------------------------------

    def unwrap(self, fut: asyncio.Future[Any]) -> Any:
        exc = fut.exception()
        if isinstance(exc, NodeInterrupt):
            raise self.combined(exc)
        return fut.result()

    def combined(self, first: NodeInterrupt | None = None) -> NodeInterrupt:
        """One pause carrying every request made so far (the entrypoint's own first)."""
        with self.lock:
            pending: dict[str, PendingInterrupt] = {}
            if first is not None:
                for p in (first.pending, *first.more):
                    pending.setdefault(p.interrupt.id, p)
            for iid, p in self.paused.items():
                pending.setdefault(iid, p)
        items = list(pending.values())
        return NodeInterrupt(items[0], items[1:])

    def _ended_with(self, kind: type[E]) -> list[E]:
        """What the finished task calls raised, of `kind`, in the order they were made."""
        found: list[E] = []
        for f in self.running:
            if f.done() and not f.cancelled():
                exc = f.exception()
                if isinstance(exc, kind) and exc not in found:
                    found.append(exc)
        return found

    def held_steps(self) -> list[StepNotSaved]:
        """The task calls whose subgraph's step the store did not take, on this run's
        thread: each holds that step (see `StepNotSaved`)."""
        thread = getattr(self.root.env, "thread_id", None)
        return [e for e in self._ended_with(StepNotSaved) if e.nested and e.thread_id == thread]

    def paused_subgraphs(self) -> list[SubgraphPaused]:
        """The task calls whose subgraph paused."""
        return self._ended_with(SubgraphPaused)

    def unfinished(self) -> BaseException | None:
        """Why the entrypoint cannot end with its result although it returned one (every
        call has ended): calls it did not wait for paused (in `interrupt()` or in a
        subgraph), or hold a subgraph's step the store did not take."""
        if self.paused:
            return self.combined()
        subgraphs = self.paused_subgraphs()
        if subgraphs:
            return SubgraphPaused.joined(subgraphs)
        held = self.held_steps()
        return held[0] if held else None

    def wait_sync(self) -> None:
        """Let every started call finish (or pause, or fail)."""
        while True:
            todo = [f for f in self.running if not f.done()]
            if not todo:
                return
            for f in todo:
                assert isinstance(f, Future)
                with contextlib.suppress(BaseException):  # its outcome is read elsewhere
                    f.result()

    async def wait_async(self) -> None:
        while True:
            todo = [
                f if isinstance(f, asyncio.Future) else asyncio.wrap_future(f)
                for f in self.running
                if not f.done()
            ]
            if not todo:
                return
            await asyncio.gather(*todo, return_exceptions=True)

    def paused_sync(self) -> NodeInterrupt:
        # only the entrypoint waits for every call: a task waiting for a call that paused
        # would wait for itself (nor does a worker thread of an async entrypoint wait)
        ctx = _current.get()
        if not self.is_async and not (isinstance(ctx, FuncContext) and ctx.place):
            self.wait_sync()
        return self.combined()

    async def paused_async(self) -> NodeInterrupt:
        ctx = _current.get()  # only the entrypoint waits for every call (see paused_sync)
        if not (isinstance(ctx, FuncContext) and ctx.place):
            await self.wait_async()
        return self.combined()


def _wait(again: tuple[float, bool]) -> float:
    import random

    delay, jitter = again
    return delay + (random.uniform(0, 1) if jitter else 0.0)


def call_task(spec: TaskDef, args: tuple, kwargs: dict[str, Any]) -> TaskFuture:
    """Start a call of `spec` from the running entrypoint (or task)."""
    ctx = _current.get()
    if not isinstance(ctx, FuncContext) or ctx.scope is None:
        raise GraphError(
            f"task {spec.name!r} was called outside an entrypoint: call tasks from a function "
            "decorated with @entrypoint (or from another task) while it runs"
        )
    return ctx.scope.start(ctx, spec, args, kwargs)
