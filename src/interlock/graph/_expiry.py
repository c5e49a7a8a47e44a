"""Deadlines: expiring and escalating a graph's overdue requests (`expire_due`).

A request past its deadline either moves to its next escalation step (new approvers, a new
deadline; the run keeps waiting) or, with no step left, expires: it is marked `expired`
through the same conditional update as a decision, so exactly once, and its run resumes
(the paused `interrupt()` returns its `on_expiry` value or raises `RequestExpired`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from interlock._types import MAX_ESCALATION_SECONDS, Command, RunnableConfig, check_approvers
from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.errors import InputRejected, ResumeError, ThreadBusy
from interlock.graph._interrupt import EXPIRED


class ExpiringGraph(Protocol):
    """What expiry needs of a compiled graph (`CompiledStateGraph` implements it; a
    protocol here keeps this module below the graph that calls it)."""

    name: str
    lease_ttl: float

    def _require_saver(self) -> BaseSaver: ...

    def invoke(self, input: Any, config: RunnableConfig | None = None, /) -> Any: ...

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, /) -> Any: ...


__all__ = ["aexpire_due", "expire_due", "next_escalation"]

OnRecord = Callable[[InterruptRecord], Any] | None


def next_escalation(
    record: InterruptRecord, now: datetime
) -> tuple[datetime, dict[str, Any]] | None:
    """The deadline and metadata `record` gets at its next escalation step, or None when it
    has no step left, or a malformed one (it then expires, and a warning is logged)."""
    steps = record.metadata.get("escalations") or []
    level = record.metadata.get("escalation_level", 0)
    try:
        if not isinstance(steps, list) or type(level) is not int or level < 0:
            raise ValueError(f"escalations {steps!r} at level {level!r}")
        if level >= len(steps):
            return None
        step = steps[level]
        to = check_approvers(step["to"], "escalation step")
        after = float(step["after"])
        if not 0 < after <= MAX_ESCALATION_SECONDS:
            raise ValueError(f"step deadline {after!r}")
        deadline = now + timedelta(seconds=after)
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        _logger().warning(
            "request %s has a malformed escalation step (%s); it expires instead",
            record.interrupt_id,
            exc,
        )
        return None
    metadata = {**record.metadata, "approvers": list(to), "escalation_level": level + 1}
    return deadline, metadata


def _aware(now: datetime) -> datetime:
    """`now` with a time zone; a naive one is local time (as naive deadlines are)."""
    return now if now.tzinfo is not None else now.astimezone()


def _escalate(
    graph: ExpiringGraph, saver: BaseSaver, record: InterruptRecord, step: Any
) -> InterruptRecord | None:
    """Escalate under the thread's lease, so that no decision can be made on the old rule
    between its check (inside the deciding run, under the lease) and this change. A busy
    thread is left to the next sweep."""
    owner = f"interlock-sweep:{uuid.uuid4().hex[:12]}"
    if not saver.acquire_thread(record.thread_id, owner, ttl=graph.lease_ttl):
        return None
    try:
        assert record.deadline is not None
        return saver.escalate_interrupt(
            record.interrupt_id,
            expected_deadline=record.deadline,
            deadline=step[0],
            metadata=step[1],
        )
    finally:
        saver.release_thread(record.thread_id, owner)


def due(graph: ExpiringGraph, saver: BaseSaver, now: datetime, limit: int) -> list[Any]:
    """The graph's pending requests due at `now`, paging through other graphs' ones."""
    out: list[InterruptRecord] = []
    cursor = None
    while len(out) < limit:
        page = saver.list_interrupts(status="pending", limit=200, cursor=cursor, due_before=now)
        out += [r for r in page.items if r.metadata.get("graph") == graph.name]
        cursor = page.next_cursor
        if cursor is None:
            break
    return out[:limit]


def expire_due(
    graph: ExpiringGraph,
    now: datetime,
    limit: int,
    on_expired: OnRecord,
    on_escalated: OnRecord,
) -> list[str]:
    """See `CompiledStateGraph.expire_due`."""
    saver = graph._require_saver()
    now = _aware(now)
    expired: list[str] = []
    for record in due(graph, saver, now, limit):
        step = next_escalation(record, now)
        if step is not None:
            moved = _escalate(graph, saver, record, step)
            if moved is not None and on_escalated is not None:
                on_escalated(moved)
            continue
        try:
            graph.invoke(*_expiry_call(record))
        except (ResumeError, ThreadBusy, InputRejected):
            continue  # decided or being decided meanwhile, or the thread moved on
        except Exception:
            current = saver.get_interrupt(record.interrupt_id)
            if current is None or current.status != "expired":
                raise
            _log_failed_after_expiry(record.interrupt_id)
        expired.append(record.interrupt_id)
        if on_expired is not None:
            on_expired(record)
    return expired


async def aexpire_due(
    graph: ExpiringGraph,
    now: datetime,
    limit: int,
    on_expired: OnRecord,
    on_escalated: OnRecord,
) -> list[str]:
    """Async twin of `expire_due`."""
    import asyncio  # imported when needed: `import interlock` stays light

    saver = graph._require_saver()
    now = _aware(now)
    expired: list[str] = []
    for record in await asyncio.to_thread(due, graph, saver, now, limit):
        step = next_escalation(record, now)
        if step is not None:
            moved = await asyncio.to_thread(_escalate, graph, saver, record, step)
            if moved is not None and on_escalated is not None:
                on_escalated(moved)
            continue
        try:
            await graph.ainvoke(*_expiry_call(record))
        except (ResumeError, ThreadBusy, InputRejected):
            continue
        except Exception:
            current = await saver.aget_interrupt(record.interrupt_id)
            if current is None or current.status != "expired":
                raise
            _log_failed_after_expiry(record.interrupt_id)
        expired.append(record.interrupt_id)
        if on_expired is not None:
            on_expired(record)
    return expired


def _logger() -> Any:
    import logging  # imported when needed: `import interlock` stays light

    return logging.getLogger("interlock")


def _log_failed_after_expiry(interrupt_id: str) -> None:
    _logger().warning(
        "request %s expired; the run it resumed then failed", interrupt_id, exc_info=True
    )


def _expiry_call(record: InterruptRecord) -> tuple[Command, RunnableConfig]:
    """The resume that expires `record`, run as the person who asked (so that a request the
    run raises next is theirs too, and they still may not decide it)."""
    configurable: dict[str, Any] = {"thread_id": record.thread_id}
    requester = record.metadata.get("requested_by")
    if requester:
        configurable["requested_by"] = requester
    return Command(resume={record.interrupt_id: EXPIRED}), {"configurable": configurable}
