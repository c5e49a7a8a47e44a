"""`CompiledStateGraph`: run, stream, inspect and edit threads of a compiled graph."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from interlock._types import Command, RunnableConfig, StateSnapshot
from interlock.checkpoint.base import BaseSaver, InterruptRecord, StoredCheckpoint
from interlock.errors import (
    GraphError,
    ResumeBusy,
    ResumeError,
    StoreError,
    ThreadBusy,
    ThreadRequired,
)
from interlock.graph._abandon import apending_ids, check_expected, pending_ids
from interlock.graph._drivers import Chunk, Env, ResultBox, drive_async, drive_sync, drop_hold
from interlock.graph._effects import Clock, RunResult, Start
from interlock.graph._engine import (
    fold,
    run_graph,
)
from interlock.graph._expiry import aexpire_due, expire_due
from interlock.graph._history import history_async, history_sync
from interlock.graph._ids import new_checkpoint_id, utc_now
from interlock.graph._inspect import snapshot, state_async, state_sync
from interlock.graph._interrupt import _current
from interlock.graph._node_cache import CacheMethods
from interlock.graph._options import config_value, modes_of
from interlock.graph._root_state import fresh, root_chunks
from interlock.graph._root_state import output as root_output
from interlock.graph._runnable import RunnableMethods
from interlock.graph._runtime import Durability, NodeTask, coerce_context
from interlock.graph._spec import GraphSpec
from interlock.graph._state import detached
from interlock.graph._state_cache import StateCache
from interlock.graph._stop import STOP
from interlock.graph._stream_v2 import ainvoke_version, invoke_version, shaper
from interlock.graph._subgraph import (
    child_graph,
    run_child_async,
    run_child_sync,
    stream_child_async,
    stream_child_sync,
)
from interlock.graph._unsaved import HOLD
from interlock.graph._update import expected_head, update_graph
from interlock.graph._version_check import check_async, check_sync
from interlock.graph._versions import (
    VersionInfo,
    aensure_stored,
    ensure_stored,
    registrar,
    version_info,
)

__all__ = ["CompiledStateGraph"]

_CLOCK = Clock(now=utc_now, new_checkpoint_id=new_checkpoint_id)
_OWNER_PREFIX = f"{socket.gethostname()}:{os.getpid()}"
DEFAULT_LEASE_TTL = 60.0
DEFAULT_RECURSION_LIMIT = 25
DEFAULT_STATE_CACHE = 256
"""Threads whose latest folded state a compiled graph keeps (`graph.state_cache_size`)."""


def _as_set(value: Sequence[str] | str | None) -> frozenset[str] | None:
    if value is None:
        return None
    return frozenset([value] if isinstance(value, str) else value)


class CompiledStateGraph(CacheMethods, RunnableMethods):
    """A runnable graph. Build it with `StateGraph(...).compile(checkpointer=...)`.

    Also LangChain's `with_config`, `batch`, `abatch` and JSON schemas (`RunnableMethods`).
    Threads are addressed by `config={"configurable": {"thread_id": "..."}}`; add
    `"checkpoint_id"` to start from an older checkpoint (replay / fork).
    """

    def __init__(
        self,
        spec: GraphSpec,
        *,
        checkpointer: BaseSaver | None,
        builder: Any,
        version: VersionInfo | None = None,
    ) -> None:
        self.spec = spec
        self.checkpointer = checkpointer
        self.builder = builder
        self.name = spec.name
        self.lease_ttl = DEFAULT_LEASE_TTL
        """Seconds a run's lease lasts unless renewed: its writes renew it, and so does the
        process every `lease_ttl / 3` seconds while nodes run; a run whose process died is
        taken over once it lapses."""
        self._cache = StateCache(DEFAULT_STATE_CACHE)
        self.store: Any = None
        """`compile(store=...)`: handed to nodes as `runtime.store`."""
        self.cache: Any = None
        """`compile(cache=...)`: where nodes with a `cache_policy` keep their results."""
        self.context_schema: Any = None
        """`StateGraph(..., context_schema=...)`: what `invoke(context=...)` is coerced to."""
        self.stateful = False
        """`compile(checkpointer=True)`: as a subgraph, one namespace per node name (its
        state carries over between the parent's steps) instead of one per task."""
        self.persistent = True
        """False for `compile(checkpointer=False)`: as a subgraph, no checkpoints at all."""
        self._clock = _CLOCK
        self.version_info: VersionInfo = version or version_info(
            spec, version=None, tools=None, policy=None
        )
        """The graph's version (`compile(version=..., tools=..., on_version_change=...)`)."""

    @property
    def version(self) -> str:
        """The version this graph's checkpoints and requests record: `compile(version=...)`,
        or the first 16 hex digits of its manifest's fingerprint."""
        return self.version_info.version

    @property
    def manifest(self) -> dict[str, Any]:
        """What a paused run depends on: node names and edges, state keys and reducers,
        tools and their argument schemas (a copy)."""
        return dict(self.version_info.manifest)

    def migrate(
        self, *, from_version: str, nodes: Mapping[str, str] | None = None
    ) -> Callable[[Callable[[dict[str, Any]], Mapping[str, Any]]], Callable[..., Any]]:
        """Register a migration for threads paused under `from_version` (see
        `StateGraph.migrate`); used when `on_version_change="migrate"`."""
        return registrar(self.version_info.migrations, from_version, nodes)

    @property
    def state_cache_size(self) -> int:
        """How many threads' latest states this graph keeps in memory to read them
        incrementally (0 turns the cache off; values are never shared with callers)."""
        return self._cache.size

    @state_cache_size.setter
    def state_cache_size(self, size: int) -> None:
        self._cache.size = max(0, int(size))

    @property
    def nodes(self) -> Mapping[str, Any]:
        """The graph's nodes by name."""
        return self.spec.nodes

    def get_graph(self, config: RunnableConfig | None = None, *, xray: bool | int = False) -> Any:
        """The graph's nodes and edges as LangGraph draws them (a `DrawableGraph`);
        `.draw_mermaid()` gives Mermaid text to paste into docs. With `xray`, subgraph nodes
        are drawn with their insides (`xray=n`: n levels deep)."""
        from interlock.graph._drawing import drawable

        return drawable(self.spec, xray)

    async def aget_graph(
        self, config: RunnableConfig | None = None, *, xray: bool | int = False
    ) -> Any:
        """Async twin of `get_graph`."""
        return self.get_graph(config, xray=xray)

    def __repr__(self) -> str:
        return f"<CompiledStateGraph {self.name!r} nodes={list(self.spec.nodes)}>"

    # ---- preparing a run -----------------------------------------------------------------

    def _address(self, config: RunnableConfig | None) -> tuple[str, str, str | None]:
        config = self._bound(config)
        thread_id = config_value(config or {}, "thread_id")
        if self.checkpointer is not None and thread_id is None:
            raise ThreadRequired(
                "this graph has a checkpointer, so each call needs a thread: "
                "config={'configurable': {'thread_id': '...'}}"
            )
        return (
            str(thread_id) if thread_id is not None else "",
            config_value(config or {}, "checkpoint_ns", "") or "",
            config_value(config or {}, "checkpoint_id"),
        )

    def _env(
        self, config: RunnableConfig | None, modes: frozenset[str], context: Any = None
    ) -> Env:
        config = self._bound(config)
        thread_id, ns, _ = self._address(config)
        cfg = dict(config or {})
        conf = {**(cfg.get("configurable") or {}), "thread_id": thread_id}
        hold = bool(conf.pop(HOLD, False))  # the run's owner's, not for the nodes to see
        stop = conf.pop(STOP, None)
        cfg["configurable"] = conf
        owner = None
        if self.checkpointer is not None:
            owner = f"{_OWNER_PREFIX}:{os.urandom(6).hex()}"
        return Env(
            spec=self.spec,
            saver=self.checkpointer,
            config=cfg,
            thread_id=thread_id,
            checkpoint_ns=ns,
            modes=modes,
            lease_owner=owner,
            lease_ttl=self.lease_ttl,
            decided_by=config_value(cfg, "user_id") or config_value(cfg, "decided_by"),
            context=coerce_context(self.context_schema, context),
            store=self.store,
            cache=self.cache,
            hold=hold,
            stop=stop if callable(stop) else None,
        )

    def _known(self, env: Env) -> tuple[str | None, dict[str, Any] | None]:
        cached = self._cache.get((env.thread_id, env.checkpoint_ns))
        return (cached[0], cached[1]) if cached else (None, None)

    def _values(
        self, stored: StoredCheckpoint, known: dict[str, Any] | None, known_id: str | None
    ) -> dict[str, Any]:
        if known is not None and stored.base_id is not None and stored.base_id == known_id:
            return self.spec.schema.with_empties(fold(known, stored.chain, self.spec))
        return self.spec.schema.with_empties(fold(stored.base, stored.chain, self.spec))

    def _start(
        self,
        stored: StoredCheckpoint | None,
        env: Env,
        head: str | None,
        known: dict[str, Any] | None = None,
        known_id: str | None = None,
        abandons: tuple[str, ...] = (),
    ) -> Start:
        values = self._values(stored, known, known_id) if stored else {}
        if stored is not None:
            self._cache.put((env.thread_id, env.checkpoint_ns), stored.record.checkpoint_id, values)
        return Start(
            thread_id=env.thread_id,
            checkpoint_ns=env.checkpoint_ns,
            stored=stored,
            values=values,
            head_id=head,
            abandons=abandons,
        )

    def _load(
        self,
        config: RunnableConfig | None,
        env: Env,
        *,
        lease: bool = False,
    ) -> Start:
        """Read the checkpoint a run starts from; with `lease`, take the thread's lease in
        the same store call (raises `ThreadBusy`/`ResumeConflict` via `_busy` if held).

        The lease does not wait for the disk (stores that can skip the wait skip it):
        the run's first write that waits — a resume's decision, which is its next
        statement, a pause, or its last write — makes it durable too (the log is written
        in order), and nothing a person or another process acts on depends on the lease
        before that. What a database crash can lose with it is only what the run wrote
        before it (its input, mid-run steps): the run then failed as a whole, and its nodes
        run again on a retry, as after any crash."""
        saver = self.checkpointer
        if saver is None:
            return Start(thread_id="", checkpoint_ns="", stored=None, values={}, head_id=None)
        _, ns, cp_id = self._address(config)
        known_id, known = self._known(env)
        if lease:
            taken, stored = saver.acquire_and_get(
                env.thread_id,
                env.lease_owner or "",
                ttl=self.lease_ttl,
                checkpoint_ns=ns,
                checkpoint_id=cp_id,
                after=known_id,
                flush=False,
                hold=True,
            )
            if not taken:
                raise _Busy()
        else:
            stored = saver.get_checkpoint(env.thread_id, ns, cp_id, after=known_id)
        if cp_id is not None and stored is None:
            raise ResumeError(f"checkpoint {cp_id!r} of thread {env.thread_id!r} not found")
        head = stored.record.checkpoint_id if stored else None
        abandons: tuple[str, ...] = ()
        if cp_id is not None:
            head = next(iter(saver.list_checkpoints(env.thread_id, ns, limit=1))).checkpoint_id
            if head != cp_id:  # a fork: the old head's requests (in `ns`) are cancelled
                abandons = pending_ids(saver, env.thread_id, ns)
                check_expected(env.config, env.thread_id, abandons)
        return self._start(stored, env, head, known, known_id, abandons)

    async def _aload(
        self,
        config: RunnableConfig | None,
        env: Env,
        *,
        lease: bool = False,
    ) -> Start:
        """Async twin of `_load`."""
        saver = self.checkpointer
        if saver is None:
            return Start(thread_id="", checkpoint_ns="", stored=None, values={}, head_id=None)
        _, ns, cp_id = self._address(config)
        known_id, known = self._known(env)
        if lease:
            taken, stored = await saver.aacquire_and_get(
                env.thread_id,
                env.lease_owner or "",
                ttl=self.lease_ttl,
                checkpoint_ns=ns,
                checkpoint_id=cp_id,
                after=known_id,
                flush=False,
            )
            if not taken:
                raise _Busy()
        else:
            stored = await saver.aget_checkpoint(env.thread_id, ns, cp_id, after=known_id)
        if cp_id is not None and stored is None:
            raise ResumeError(f"checkpoint {cp_id!r} of thread {env.thread_id!r} not found")
        head = stored.record.checkpoint_id if stored else None
        abandons: tuple[str, ...] = ()
        if cp_id is not None:
            head = (await saver.alist_checkpoints(env.thread_id, ns, limit=1))[0].checkpoint_id
            if head != cp_id:
                abandons = await apending_ids(saver, env.thread_id, ns)
                check_expected(env.config, env.thread_id, abandons)
        return self._start(stored, env, head, known, known_id, abandons)

    def _busy(self, env: Env, input: Any) -> Exception:
        if isinstance(input, Command) and input.has_resume:
            return ResumeBusy(
                f"thread {env.thread_id!r} is being run by another caller right now; "
                "its request is being decided there"
            )
        return ThreadBusy(
            f"thread {env.thread_id!r} is running in another call (lease held); retry when "
            "it finishes"
        )

    def _engine(self, start: Start, input: Any, env: Env, kwargs: Mapping[str, Any]) -> Any:
        limit = env.config.get("recursion_limit") or DEFAULT_RECURSION_LIMIT
        durability = kwargs.get("durability") or "sync"
        if durability not in ("sync", "async", "exit"):
            raise GraphError(f"durability must be 'sync', 'async' or 'exit', not {durability!r}")
        gen = run_graph(
            self.spec,
            start,
            input,
            env.config,
            _CLOCK,
            durable=self.checkpointer is not None,
            recursion_limit=int(limit),
            interrupt_before=_as_set(kwargs.get("interrupt_before")),
            interrupt_after=_as_set(kwargs.get("interrupt_after")),
            modes=env.modes,
            defer=durability == "exit",
            stop=env.stop,
            caching=env.cache is not None,
        )
        return root_chunks(gen) if self.spec.schema.kind == "root" else gen

    def _remember(self, env: Env, box: ResultBox) -> None:
        if self.checkpointer is not None and box.value is not None:
            self._cache.put(
                (env.thread_id, env.checkpoint_ns), box.value.checkpoint_id, box.value.values
            )

    def _output(self, result: RunResult | None) -> dict[str, Any] | Any:
        assert result is not None
        keys = self.spec.output_keys
        values = result.values if result.shown is None else result.shown
        if self.spec.schema.kind == "root":
            return detached(root_output(values, result.interrupts))
        picked = keys if keys else values.keys()
        out = {k: detached(values[k]) for k in picked if k in values}
        if result.interrupts:
            out["__interrupt__"] = list(result.interrupts)
        return out

    # ---- running -------------------------------------------------------------------------

    def _run_sync(
        self,
        input: Any,
        config: Any,
        modes: frozenset[str],
        box: ResultBox,
        kwargs: Mapping[str, Any],
    ) -> Iterator[Chunk]:
        env = self._env(config, modes, kwargs.get("context"))
        env.subgraphs = bool(kwargs.get("subgraphs"))
        saver = self.checkpointer
        lease = saver is not None and bool(env.lease_owner)
        try:
            try:
                if saver is not None:
                    ensure_stored(self.version_info, saver)
                start = self._load(config, env, lease=lease)
            except _Busy:
                env.released = True  # the lease is someone else's: nothing to give back
                raise self._busy(env, input) from None
            if saver is not None:
                start = check_sync(self.version_info, saver, start, input, env)
            yield from drive_sync(self._engine(start, input, env, kwargs), env, box)
            self._remember(env, box)
        finally:
            if lease and saver is not None:
                drop_hold(env)  # refused before the engine ran (a version check)
                if not env.released:
                    _release(saver, env)

    async def _run_async(
        self,
        input: Any,
        config: Any,
        modes: frozenset[str],
        box: ResultBox,
        kwargs: Mapping[str, Any],
    ) -> AsyncIterator[Chunk]:
        env = self._env(config, modes, kwargs.get("context"))
        env.subgraphs = bool(kwargs.get("subgraphs"))
        saver = self.checkpointer
        lease = saver is not None and bool(env.lease_owner)
        try:
            try:
                if saver is not None:
                    await aensure_stored(self.version_info, saver)
                start = await self._aload(config, env, lease=lease)
            except _Busy:
                env.released = True  # the lease is someone else's: nothing to give back
                raise self._busy(env, input) from None
            if saver is not None:
                start = await check_async(self.version_info, saver, start, input, env)
            async for chunk in drive_async(self._engine(start, input, env, kwargs), env, box):
                yield chunk
            self._remember(env, box)
        finally:
            if lease and saver is not None and not env.released:
                await _arelease(saver, env)

    def invoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        durability: Durability | None = None,
        **kwargs: Any,
    ) -> dict[str, Any] | Any:
        """Run until the graph finishes or pauses; return the state values.

        When the run paused, the result has `"__interrupt__": [Interrupt(value, id), ...]`.
        `input` is a state update (new turn), `Command(resume=...)` (answer a pause), or
        `None` (continue after a breakpoint). `context` reaches nodes as `runtime.context`
        (coerced to the graph's `context_schema`; not saved: pass it again on resume).
        `durability` (`"sync"`, `"async"` or `"exit"`) says when steps are written; a pause,
        a decision and the run's last step are durable whatever it says. Other keyword
        options: `interrupt_before`, `interrupt_after` (override the compiled breakpoints
        for this call). With `version="v2"`, returns `GraphOutput(value, interrupts)`.
        """
        if "version" in kwargs:
            return invoke_version(
                self, input, config, {**kwargs, "context": context, "durability": durability}
            )
        if (parent := self._parent_task()) is not None:
            return fresh(self._run_as_child(input, parent))
        box = ResultBox()
        opts = {**kwargs, "context": context, "durability": durability}
        for _ in self._run_sync(input, config, frozenset(), box, opts):
            pass
        return self._output(box.value)

    async def ainvoke(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        context: Any = None,
        durability: Durability | None = None,
        **kwargs: Any,
    ) -> dict[str, Any] | Any:
        """Async twin of `invoke`."""
        if "version" in kwargs:
            return await ainvoke_version(
                self, input, config, {**kwargs, "context": context, "durability": durability}
            )
        if (parent := self._parent_task()) is not None:
            return fresh(await self._arun_as_child(input, parent))
        box = ResultBox()
        opts = {**kwargs, "context": context, "durability": durability}
        async for _ in self._run_async(input, config, frozenset(), box, opts):
            pass
        return self._output(box.value)

    def stream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stream_mode: str | Sequence[str] = "updates",
        context: Any = None,
        durability: Durability | None = None,
        subgraphs: bool = False,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Run and yield chunks: `values` (state after each step), `updates` (`{node: update}`,
        and `{"__interrupt__": (...)}` on a pause), `custom` (from `get_stream_writer()`),
        `messages` (model tokens as `(chunk, metadata)`). With a list of modes, yields
        `(mode, chunk)` pairs; with `version="v2"`, typed parts `{"type", "ns", "data"}`.
        `context` and `durability` as for `invoke`. Called inside a node, the graph runs as
        that node's subgraph (as `invoke` there does)."""
        shape = shaper(self, stream_mode, subgraphs, kwargs)
        opts = {**kwargs, "context": context, "durability": durability, "subgraphs": subgraphs}
        for ns, mode, chunk in self._items(input, config, stream_mode, opts):
            yield shape(ns, mode, chunk)

    def _items(self, input: Any, config: Any, stream_mode: Any, opts: Any) -> Iterator[Chunk]:
        """The run's `(namespace, mode, chunk)` items, before `stream` shapes them."""
        modes, _ = modes_of(stream_mode)
        if (parent := self._parent_task()) is not None:
            yield from stream_child_sync(self, input, parent, modes, bool(opts["subgraphs"]))
        else:
            yield from self._run_sync(input, config, modes, ResultBox(), opts)

    async def astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stream_mode: str | Sequence[str] = "updates",
        context: Any = None,
        durability: Durability | None = None,
        subgraphs: bool = False,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        """Async twin of `stream`."""
        shape = shaper(self, stream_mode, subgraphs, kwargs)
        opts = {**kwargs, "context": context, "durability": durability, "subgraphs": subgraphs}
        async for ns, mode, chunk in self._aitems(input, config, stream_mode, opts):
            yield shape(ns, mode, chunk)

    def _aitems(self, input: Any, config: Any, stream_mode: Any, opts: Any) -> AsyncIterator[Chunk]:
        modes, _ = modes_of(stream_mode)
        if (parent := self._parent_task()) is not None:
            return stream_child_async(self, input, parent, modes, bool(opts["subgraphs"]))
        return self._run_async(input, config, modes, ResultBox(), opts)

    def _run_as_child(self, input: Any, ctx: NodeTask) -> Any:
        """Run as a subgraph inside the task `ctx` (see `_subgraph`)."""
        return run_child_sync(self, input, ctx)

    async def _arun_as_child(self, input: Any, ctx: NodeTask) -> Any:
        """Async twin of `_run_as_child`."""
        return await run_child_async(self, input, ctx)

    def _parent_task(self) -> NodeTask | None:
        """The node task this call runs inside, when this graph is a subgraph of it (it has
        no store of its own)."""
        ctx = _current.get()
        if self.checkpointer is None and isinstance(ctx, NodeTask) and ctx.env is not None:
            return ctx
        return None

    # ---- inspection ----------------------------------------------------------------------

    def _require_saver(self) -> BaseSaver:
        if self.checkpointer is None:
            raise GraphError("state inspection needs a checkpointer: compile(checkpointer=...)")
        return self.checkpointer

    def _snapshot(
        self,
        stored: StoredCheckpoint | None,
        config: RunnableConfig,
        known: tuple[str | None, dict[str, Any] | None] = (None, None),
        *,
        cache: bool = True,
        history: bool = False,
        nested: Any = None,
    ) -> StateSnapshot:
        return snapshot(self, stored, config, known, cache=cache, history=history, nested=nested)

    def get_state(self, config: RunnableConfig, *, subgraphs: bool = False) -> StateSnapshot:
        """The thread's state at its latest (or the configured) checkpoint.

        A thread with no checkpoint gives an empty snapshot (`values == {}`, `next == ()`).
        Requests of paused subgraphs are in `interrupts` and in their task's; each such
        task's `state` is the subgraph's `StateSnapshot` with `subgraphs=True` (else the
        config addressing it: pass it to `get_state` to read it). A config naming a
        subgraph's `checkpoint_ns` reads that subgraph's state.
        """
        return state_sync(self, self._require_saver(), config, subgraphs)

    async def aget_state(self, config: RunnableConfig, *, subgraphs: bool = False) -> StateSnapshot:
        """Async twin of `get_state`."""
        return await state_async(self, self._require_saver(), config, subgraphs)

    def get_state_history(
        self,
        config: RunnableConfig,
        *,
        filter: Mapping[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[StateSnapshot]:
        """Snapshots of the thread, newest first; page with `before=` and `limit=`."""
        yield from history_sync(self, self._require_saver(), config, filter, before, limit)

    async def aget_state_history(
        self,
        config: RunnableConfig,
        *,
        filter: Mapping[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[StateSnapshot]:
        """Async twin of `get_state_history`."""
        async for snap in history_async(self, self._require_saver(), config, filter, before, limit):
            yield snap

    # ---- deadlines ------------------------------------------------------------------------

    def expire_due(
        self,
        *,
        now: datetime | None = None,
        limit: int = 100,
        on_expired: Callable[[InterruptRecord], Any] | None = None,
        on_escalated: Callable[[InterruptRecord], Any] | None = None,
    ) -> list[str]:
        """Expire this graph's pending requests whose deadline has passed, and resume their
        runs (the paused `interrupt()` returns its `on_expiry` value or raises
        `RequestExpired`). Exactly once, like a decision: a request decided meanwhile is
        skipped, and so is a thread busy with another run (the next sweep takes it). A run
        that fails after its request expired is logged (logger `interlock`); the request
        still counts as expired. Returns the ids expired, at most `limit`. Call it from a
        scheduler; `interlock serve` sweeps on its own. `on_expired(record)` is called as
        each one expires (before the next), e.g. to audit it.

        A request with an escalation step left (`interrupt(escalate=...)`) is not expired:
        it goes to the step's approvers with the step's new deadline (exactly once too; the
        store audits it as `approval.escalated`), its run keeps waiting, and
        `on_escalated(updated_record)` is called.
        """
        return expire_due(self, now or datetime.now(UTC), limit, on_expired, on_escalated)

    async def aexpire_due(
        self,
        *,
        now: datetime | None = None,
        limit: int = 100,
        on_expired: Callable[[InterruptRecord], Any] | None = None,
        on_escalated: Callable[[InterruptRecord], Any] | None = None,
    ) -> list[str]:
        """Async twin of `expire_due`."""
        return await aexpire_due(self, now or datetime.now(UTC), limit, on_expired, on_escalated)

    def update_state(
        self, config: RunnableConfig, values: Any, as_node: str | None = None
    ) -> RunnableConfig:
        """Apply `values` through the reducers as if `as_node` wrote them; new checkpoint.

        Returns the config of the new checkpoint. Pending requests of the old head are
        cancelled (see `interlock.graph._update`)."""
        saver = self._require_saver()
        env = self._env(config, frozenset())
        if not saver.acquire_thread(env.thread_id, env.lease_owner or "", ttl=self.lease_ttl):
            raise self._busy(env, None)
        try:
            start = self._load(config, env)
            expected_head(config, start)
            gen = update_graph(self._spec_at(env), start, values, as_node, env.config, _CLOCK)
            box = ResultBox()
            for _ in drive_sync(_as_result(gen), env, box):
                pass
        finally:
            if not env.released:
                _release(saver, env)
        return self._new_config(env, box)

    async def aupdate_state(
        self, config: RunnableConfig, values: Any, as_node: str | None = None
    ) -> RunnableConfig:
        """Async twin of `update_state`."""
        saver = self._require_saver()
        env = self._env(config, frozenset())
        if not await saver.aacquire_thread(
            env.thread_id, env.lease_owner or "", ttl=self.lease_ttl
        ):
            raise self._busy(env, None)
        try:
            start = await self._aload(config, env)
            expected_head(config, start)
            gen = update_graph(self._spec_at(env), start, values, as_node, env.config, _CLOCK)
            box = ResultBox()
            async for _ in drive_async(_as_result(gen), env, box):
                pass
        finally:
            if not env.released:
                await _arelease(saver, env)
        return self._new_config(env, box)

    def _spec_at(self, env: Env) -> Any:
        """The graph whose state `env` addresses: a subgraph node's for its namespace."""
        sub = child_graph(self, env.checkpoint_ns) if env.checkpoint_ns else None
        return sub.spec if sub is not None else self.spec

    @staticmethod
    def _new_config(env: Env, box: ResultBox) -> RunnableConfig:
        assert box.value is not None
        return {
            "configurable": {
                "thread_id": env.thread_id,
                "checkpoint_ns": env.checkpoint_ns,
                "checkpoint_id": box.value.checkpoint_id,
            }
        }


class _Busy(Exception):
    """The thread's lease is held by another owner (turned into `_busy(...)`'s error)."""


def _release(saver: BaseSaver, env: Env) -> None:
    """Give the lease back; if the store is down, the lease simply expires (`lease_ttl`)."""
    with contextlib.suppress(StoreError):
        saver.release_thread(env.thread_id, env.lease_owner or "")


async def _arelease(saver: BaseSaver, env: Env) -> None:
    with contextlib.suppress(StoreError):
        await saver.arelease_thread(env.thread_id, env.lease_owner or "")


def _as_result(gen: Any) -> Any:
    checkpoint_id = yield from gen
    return RunResult(values={}, interrupts=(), checkpoint_id=checkpoint_id)
