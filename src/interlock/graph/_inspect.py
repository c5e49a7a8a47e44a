"""Reading a thread's state: a checkpoint as a `StateSnapshot`, with the requests and
states of the subgraphs its tasks ran (`get_state(config, subgraphs=True)`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock._types import Interrupt, PregelTask, RunnableConfig, StateSnapshot
from interlock.checkpoint.base import BaseSaver, InterruptRecord, StoredCheckpoint
from interlock.errors import GraphError
from interlock.graph._called_graphs import node_graph
from interlock.graph._finished import finished_writes, with_finished
from interlock.graph._root_state import shown_values, task_result
from interlock.graph._run import BREAKPOINT_TASK, CHILD, ERROR
from interlock.graph._state import detached
from interlock.graph._subgraph import child_graph
from interlock.graph._writes import pending_of, task_id

__all__ = ["nested_async", "nested_sync", "snapshot", "state_async", "state_sync", "target"]

Address = tuple[str, str, str | None]
"""(thread id, checkpoint namespace, checkpoint id or None for the head)."""

Nested = Mapping[str, tuple[str, list[InterruptRecord], Any]]
"""Per task id: its subgraph's namespace, pending requests, and state (or config)."""


def _config(rec: Any, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": rec.thread_id,
            "checkpoint_ns": rec.checkpoint_ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def snapshot(
    graph: Any,
    stored: StoredCheckpoint | None,
    config: RunnableConfig,
    known: tuple[str | None, dict[str, Any] | None] = (None, None),
    *,
    cache: bool = True,
    nested: Nested | None = None,
    history: bool = False,
) -> StateSnapshot:
    """`stored` as the snapshot `get_state` returns (values folded with `graph`'s reducers;
    `known` is a state the caller holds for an earlier checkpoint of the chain). Its
    interrupts are those pending; in `history`, every request asked at the checkpoint
    that was not cancelled (answered ones included: what was asked there)."""
    if stored is None:
        return StateSnapshot(
            values={}, next=(), config=config, metadata=None, created_at=None, parent_config=None
        )
    rec = stored.record
    values = graph._values(stored, known[1], known[0])
    if cache:
        graph._cache.put((rec.thread_id, rec.checkpoint_ns), rec.checkpoint_id, values)
    pending = pending_of(stored)
    if history:
        pending = [r for r in stored.interrupts if r.status != "cancelled"]
    names = list(rec.next) + [n for n, _ in rec.sends]
    pulls = len(rec.next)  # LangGraph's task paths: (PULL, name), (PUSH, index, False)
    writes = {t.task_id: t for t in stored.task_writes}
    done = finished_writes(rec.checkpoint_id, names, writes)
    # the head, asked without a checkpoint id: its finished tasks' writes, as LangGraph's
    head = not history and not (config.get("configurable") or {}).get("checkpoint_id")
    if done and head:
        values = with_finished(graph.spec.schema, values, rec.checkpoint_id, names, pulls, done)
    values = {k: detached(v) for k, v in values.items()}
    shown_as = shown_values(values) if graph.spec.schema.kind == "root" else values
    nested = nested or {}
    tasks = []
    every = [Interrupt(value=r.value, id=r.interrupt_id) for r in pending]
    for i, name in sorted(enumerate(names), key=lambda e: e[0] < pulls):  # sends first
        tid = task_id(rec.checkpoint_id, name, i)
        mine = [
            r
            for r in pending
            if r.task_id == tid or (r.task_id == BREAKPOINT_TASK and r.task_name == name)
        ]
        _, below, state = nested.get(tid, ("", [], None))
        mine += below
        every += [Interrupt(value=r.value, id=r.interrupt_id) for r in below]
        tw = writes.get(tid)
        error = next((v for c, v in tw.writes if c == ERROR), None) if tw else None
        tasks.append(
            PregelTask(
                id=tid,
                name=name,
                path=("__pregel_pull", name) if i < pulls else ("__pregel_push", i - pulls, False),
                error=error,
                interrupts=tuple(Interrupt(value=r.value, id=r.interrupt_id) for r in mine),
                state=state,
                result=task_result(graph.spec.schema, done[tid]) if tid in done else None,
            )
        )
    shown = [t.name for t in tasks if not head or t.id not in done]
    return StateSnapshot(
        values=shown_as,
        next=tuple(shown),
        config=_config(rec, rec.checkpoint_id),
        metadata=dict(rec.metadata),
        created_at=rec.created_at.isoformat(),
        parent_config=_config(rec, rec.parent_id) if rec.parent_id else None,
        tasks=tuple(tasks),
        interrupts=tuple(every),
    )


def _marks(stored: StoredCheckpoint | None) -> dict[str, tuple[str, str, list[str]]]:
    """Tasks waiting for a subgraph: task id -> (node name, namespace, request ids). A task
    that ran several paused subgraphs (functional-API task calls) is shown with the first's
    namespace and the requests of them all."""
    if stored is None:
        return {}
    marks: dict[str, tuple[str, str, list[str]]] = {}
    for tw in stored.task_writes:
        for c, v in tw.writes:
            if c == CHILD:
                marks.setdefault(tw.task_id, (tw.task_name, v["ns"], []))[2].extend(v["interrupts"])
    return marks


def target(graph: Any, config: RunnableConfig) -> tuple[Any, str, str, str | None]:
    """The graph whose state `config` names (a subgraph for a `checkpoint_ns`), and its
    thread, namespace and checkpoint id."""
    thread_id, ns, cp_id = graph._address(config)
    if ns:
        sub = child_graph(graph, ns)
        if sub is None:
            raise GraphError(
                f"checkpoint_ns {ns!r} is not the namespace of a subgraph of this graph (a "
                "subgraph node, or a graph a node's function calls)"
            )
        graph = sub
    return graph, thread_id, ns, cp_id


def _sub_config(thread_id: str, ns: str) -> RunnableConfig:
    return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns}}


def state_sync(
    graph: Any, saver: BaseSaver, config: RunnableConfig, subgraphs: bool
) -> StateSnapshot:
    """`get_state` on `saver` (see `CompiledStateGraph.get_state`)."""
    graph, thread_id, ns, cp_id = target(graph, config)
    return _state_sync(graph, saver, config, (thread_id, ns, cp_id), subgraphs)


def _state_sync(
    graph: Any, saver: BaseSaver, config: RunnableConfig, at: Address, subgraphs: bool
) -> StateSnapshot:
    thread_id, ns, cp_id = at
    known = graph._cache.get((thread_id, ns)) or (None, None)
    stored = saver.get_checkpoint(thread_id, ns, cp_id, after=known[0])
    nested = nested_sync(graph, saver, stored, thread_id, subgraphs=subgraphs)
    return snapshot(graph, stored, config, known, nested=nested)


def nested_sync(
    graph: Any,
    saver: BaseSaver,
    stored: StoredCheckpoint | None,
    thread_id: str,
    *,
    subgraphs: bool = False,
    history: bool = False,
) -> Nested:
    """What the subgraphs that `stored`'s tasks ran asked (pending ones; in `history`, all
    but cancelled ones), and their states with `subgraphs`."""
    nested = {}
    for tid, (name, sub_ns, ids) in _marks(stored).items():
        found = [saver.get_interrupt(i) for i in ids]
        below = [r for r in found if r is not None and _shown(r, history)]
        state: Any = _sub_config(thread_id, sub_ns)
        sub = node_graph(graph, name) if subgraphs else None
        if sub is not None:
            state = _state_sync(sub, saver, state, (thread_id, sub_ns, None), True)
        nested[tid] = (sub_ns, below, state)
    return nested


def _shown(record: InterruptRecord, history: bool) -> bool:
    return record.status != "cancelled" if history else record.status == "pending"


async def state_async(
    graph: Any, saver: BaseSaver, config: RunnableConfig, subgraphs: bool
) -> StateSnapshot:
    """Async twin of `state_sync`."""
    graph, thread_id, ns, cp_id = target(graph, config)
    return await _state_async(graph, saver, config, (thread_id, ns, cp_id), subgraphs)


async def _state_async(
    graph: Any, saver: BaseSaver, config: RunnableConfig, at: Address, subgraphs: bool
) -> StateSnapshot:
    thread_id, ns, cp_id = at
    known = graph._cache.get((thread_id, ns)) or (None, None)
    stored = await saver.aget_checkpoint(thread_id, ns, cp_id, after=known[0])
    nested = await nested_async(graph, saver, stored, thread_id, subgraphs=subgraphs)
    return snapshot(graph, stored, config, known, nested=nested)


async def nested_async(
    graph: Any,
    saver: BaseSaver,
    stored: StoredCheckpoint | None,
    thread_id: str,
    *,
    subgraphs: bool = False,
    history: bool = False,
) -> Nested:
    """Async twin of `nested_sync`."""
    nested = {}
    for tid, (name, sub_ns, ids) in _marks(stored).items():
        found = [await saver.aget_interrupt(i) for i in ids]
        below = [r for r in found if r is not None and _shown(r, history)]
        state: Any = _sub_config(thread_id, sub_ns)
        sub = node_graph(graph, name) if subgraphs else None
        if sub is not None:
            state = await _state_async(sub, saver, state, (thread_id, sub_ns, None), True)
        nested[tid] = (sub_ns, below, state)
    return nested
