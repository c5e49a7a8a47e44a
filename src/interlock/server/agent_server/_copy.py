"""`threads.copy`: a new thread with the source's checkpoints (its state and history) and
metadata, written through the store protocol so that every store copies alike.

What is copied, as LangGraph copies it: every checkpoint of the root graph, oldest first,
with the same checkpoint ids, times and metadata, and the task writes saved against each
(the finished siblings of a paused step, memoised results: a memoised side effect that ran
in the source is not run again in the copy). The thread's metadata is copied; the copy
belongs to whoever copied it.

Requests, and exactly once. A request pending on the source's head is asked again in the
copy as a new request: its id is the copy's (ids name their thread), it is requested by
the copier, it carries `copied_from`, and it is decided once like any other — a decision in
one thread never answers the other. Approving both runs the step once in each thread: the
copy is a second conversation, and it takes a second decision by an approver to act in it.
Decided requests are not copied: a thread whose head still waits to carry out a recorded
decision — paused on it, or stopped with nodes left to run after a request decided in its
turn (a step that failed or was cancelled after the decision) — or that has a run queued
or under way, is not copied (409) — its copy would carry the decision out a second time
without anybody deciding it. Votes of a quorum are
not copied (they answered the source's request). A thread paused inside a subgraph (a
request in a checkpoint namespace other than the root's) is refused (422): subgraph
checkpoints are not copied.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from interlock.checkpoint.base import BaseSaver, InterruptRecord, RunStatus
from interlock.graph._interrupt import interrupt_id
from interlock.server._errors import ApiError
from interlock.server._operations import record_made, run_config
from interlock.server.agent_server._context import Context
from interlock.server.agent_server._detour import decided_on_branch
from interlock.server.auth import Principal

__all__ = ["copy_thread", "decision_waits"]


_OPEN: tuple[RunStatus, ...] = ("queued", "running")


def decision_waits(saver: BaseSaver, thread_id: str) -> bool:
    """Whether a head of the thread (the root's, or a subgraph's namespace's) is paused on
    a decided request with nothing pending there: a decision recorded and not yet carried
    out — what the sweep for stranded decisions would carry out (`STRANDED`)."""
    namespaces = {""}
    for status in ("resolved", "expired"):
        cursor = None
        while True:
            page = saver.list_interrupts(
                status=status, thread_id=thread_id, limit=500, cursor=cursor
            )
            namespaces.update(r.checkpoint_ns for r in page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
    for ns in sorted(namespaces):
        head = saver.get_checkpoint(thread_id, ns)
        if head is None:
            continue
        statuses = {r.status for r in head.interrupts}
        if "pending" not in statuses and statuses & {"resolved", "expired"}:
            return True
    return False


def _refusals(ctx: Context, thread_id: str) -> None:
    saver = ctx.saver
    info = saver.get_thread(thread_id)
    busy = info is not None and info.status == "busy"
    open_runs = [saver.list_runs(thread_id=thread_id, status=s, limit=1) for s in _OPEN]
    if busy or any(open_runs):
        raise ApiError(
            409, "thread_busy", f"thread {thread_id!r} has a run under way or queued: copy it after"
        )
    if decision_waits(saver, thread_id):
        raise ApiError(
            409,
            "decision_not_carried_out",
            f"thread {thread_id!r} waits to carry out a recorded decision; copy it after",
        )
    pending = saver.list_interrupts(status="pending", thread_id=thread_id, limit=100).items
    if not pending and _decided_step_left(ctx, thread_id):
        raise ApiError(
            409,
            "decision_not_carried_out",
            f"thread {thread_id!r} stopped before carrying out a recorded decision (a step "
            "after it failed or was cancelled); copy it once the step ran",
        )
    if any(r.checkpoint_ns for r in pending):
        raise ApiError(
            422,
            "not_supported",
            f"thread {thread_id!r} is paused inside a subgraph: interlock copies the root "
            "graph's checkpoints only",
        )


def _decided_step_left(ctx: Context, thread_id: str) -> bool:
    """Whether the thread's head has nodes left to run (a step that failed, a run that was
    cancelled) after a request decided in its turn: continuing the copy would run them on
    that decision a second time (`_detour.decided_on_branch`)."""
    head = next(iter(ctx.saver.list_checkpoints(thread_id, limit=1)), None)
    found = ctx.graph(thread_id)
    if head is None or found is None or not found[1].get_state(run_config(thread_id)).next:
        return False
    return decided_on_branch(ctx.saver, thread_id, head.checkpoint_id, at_itself=True) is not None


def copy_thread(ctx: Context, who: Principal, source: str) -> str:
    """Copy thread `source` (see the module docstring); the new thread's id."""
    saver = ctx.saver
    _refusals(ctx, source)
    metadata = ctx.metadata(source)
    new, _ = ctx.new_thread(who, None, metadata)
    records = list(saver.list_checkpoints(source))[::-1]  # oldest first
    head: str | None = None
    for record in records:
        cid = record.checkpoint_id
        stored = saver.get_checkpoint(source, "", cid)
        if stored is None:  # pruned meanwhile
            continue
        values = dict(stored.base) if stored.base_id == cid else None
        if head is None and values is None:  # the oldest kept is no snapshot: fold it
            found = ctx.graph(source)
            if found is not None:
                values = dict(found[1].get_state(run_config(source, checkpoint_id=cid)).values)
        copied = replace(stored.record, thread_id=new, values=values)
        saver.put_checkpoint(copied, expected_head=head)
        head = cid
        last = cid == records[-1].checkpoint_id
        asked = _asked_again(stored.interrupts, new, who) if last else []
        if stored.task_writes or asked:
            saver.put_task_writes(new, "", cid, stored.task_writes, asked)
    record_made(saver, who, "thread.copied", new, detail={"from": source})
    return new


def _asked_again(
    requests: tuple[InterruptRecord, ...], thread_id: str, who: Principal
) -> list[InterruptRecord]:
    """The source head's requests as new pending requests of the copy. (A request decided
    in the source while the copy was made — the refusal above checked before — is asked
    again too: its decision was the source's.)"""
    now = datetime.now(UTC)
    out = []
    for r in requests:
        if r.status == "cancelled":
            continue
        meta = {k: v for k, v in r.metadata.items() if k != "decision"}
        meta.update(requested_by=who.name, copied_from=r.interrupt_id)
        out.append(
            replace(
                r,
                interrupt_id=interrupt_id(thread_id, "", r.checkpoint_id, r.task_id, r.index),
                thread_id=thread_id,
                status="pending",
                resume=None,
                decided_by=None,
                decided_at=None,
                created_at=now,
                metadata=meta,
            )
        )
    return out
