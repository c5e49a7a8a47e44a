"""`update_state`: edit a thread's state as if a node had written it (pure, effect-yielding)."""

from __future__ import annotations

from collections.abc import Generator, Mapping
from typing import Any

from interlock._types import END, START, RunnableConfig
from interlock.checkpoint.base import InterruptRecord, Write
from interlock.errors import InvalidUpdate, ResumeConflict
from interlock.graph._abandon import check_expected, take_abandons
from interlock.graph._effects import Clock, Commit, Effect, Start
from interlock.graph._engine import _child_waits
from interlock.graph._finished import finished_writes, ordered_writes
from interlock.graph._run import EXPECTED_HEAD, _Run

__all__ = ["expected_head", "update_graph"]


def expected_head(config: RunnableConfig, start: Start) -> None:
    """Raise `ResumeConflict` when `config` names the head its caller expects
    (`EXPECTED_HEAD`) and the thread's head is another: it moved on since the caller read
    it."""
    expected = (config.get("configurable") or {}).get(EXPECTED_HEAD)
    if expected is not None and expected != start.head_id:
        raise ResumeConflict(
            f"thread {start.thread_id!r} moved on (expected head {expected}, found "
            f"{start.head_id}); nothing was changed: read it again"
        )


def update_graph(
    spec: Any,
    start: Start,
    values: Any,
    as_node: str | None,
    config: Mapping[str, Any],
    clock: Clock,
) -> Generator[Effect, Any, str]:
    """Commit a checkpoint with `values` applied through the reducers; return its id.

    - `as_node` given: the next nodes are those that follow `as_node` (its edges and branches,
      evaluated on the new state), and a planned node whose join (`add_edge([a, b], c)`)
      was complete: it stays planned until it runs, as in LangGraph; `as_node=END`
      finishes the thread, keeping the writes of the paused step's finished tasks.
    - `as_node=START`, or omitted on a thread with no checkpoint: the values are input, as in
      LangGraph: `next` is what START leads to, and `invoke(None, config)` runs from there.
    - `as_node` omitted: if one node wrote the current checkpoint, as that node (LangGraph's
      rule); otherwise the plan is kept (`next` unchanged).
    Pending requests of the old head are cancelled. A pause before a breakpoint node stays a
    pause: it is re-created at the new checkpoint if the new plan still reaches a breakpoint.
    """
    meta = start.stored.record.metadata if start.stored is not None else {}
    child = bool(start.checkpoint_ns) and meta.get("parent_task") is not None
    run = _Run(
        spec,
        start,
        config,
        clock,
        durable=True,
        recursion_limit=1,
        interrupt_before=None,
        interrupt_after=None,
        # a subgraph's state edited through its config stays the paused task's subgraph
        parent_task=meta.get("parent_task") if child else None,
        task_call=meta.get("task_call") if child else None,
    )
    if as_node is None and run.record is None:
        as_node = START
    elif as_node is None and run.record is not None:
        writers = {w.node for w in run.record.writes if w.node in spec.nodes}
        if len(writers) == 1:
            as_node = writers.pop()
    if as_node is not None and as_node not in (START, END) and as_node not in spec.nodes:
        raise InvalidUpdate(f"update_state(as_node={as_node!r}): no such node")
    writer = as_node or "__update__"
    writes = (
        spec.schema.prepared(spec.schema.to_updates(values, writer)) if values is not None else []
    )
    if run.record is None:
        run.values = spec.schema.initial_values()
    elif as_node == END and start.stored is not None:  # finished tasks are kept, as LangGraph
        head, names = run.record, [*run.record.next, *(n for n, _ in run.record.sends)]
        by_id = {t.task_id: t for t in start.stored.task_writes}
        done = finished_writes(head.checkpoint_id, names, by_id)
        writes = [*ordered_writes(head.checkpoint_id, names, len(head.next), done), *writes]
    spec.schema.apply(run.values, writes)

    yield from _child_waits(run)  # requests of paused subgraphs are cancelled too
    pending = run.waiting()  # cancelled by the write (`Commit.cancels`), with the fork's
    was_paused_before = any(
        r.kind == "breakpoint" and r.value.get("when") == "before" for r in pending
    )

    if as_node is None:
        rec = run.record
        nxt = rec.next if rec else ()
        sends = rec.sends if rec else ()
        barriers: Mapping[str, tuple[str, ...]] = rec.barriers if rec else {}
    elif as_node == END:
        nxt, sends, barriers = (), (), {}
    else:
        nxt, sends, barriers = run.triggers(
            [(as_node, [])], run.record.barriers if run.record else {}
        )
        # a join whose sources all finished stays due until its node runs (LangGraph's
        # barrier is consumed by the node, not by an update): the node stays planned
        joined = {target for _, target in spec.joins}
        kept = [n for n in (run.record.next if run.record else ()) if n in joined]
        if kept:
            nxt = (*kept, *(n for n in nxt if n not in kept))
            barriers = {k: v for k, v in barriers.items() if k.split("->")[-1] not in kept}
    step = run.record.step + 1 if run.record else 0
    record = run._commit(
        source="update",
        writes=[Write(node=writer, channel=c, value=v) for c, v in writes],
        next_=nxt,
        sends=sends,
        barriers=barriers,
        step=step,
    )
    bps: tuple[InterruptRecord, ...] = ()
    names = list(nxt) + [n for n, _ in sends]
    hit = spec.hits(spec.interrupt_before, names)
    if was_paused_before and hit and not child:  # a subgraph goes on past it with its parent
        bps = (run._breakpoint(record.checkpoint_id, "before", hit),)
    cancels = (*(r.interrupt_id for r in pending), *take_abandons(run))
    check_expected(config, start.thread_id, cancels)
    yield Commit(record, run.head, bps, True, tuple(dict.fromkeys(cancels)))
    return record.checkpoint_id
