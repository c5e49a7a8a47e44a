"""A fork's old branch: the requests that waited on the thread's head before a run (or
`update_state`) started from an older checkpoint. Once the fork commits, the head is the new
branch and those requests can never be carried out, so the fork cancels them first, exactly
once (a request decided meanwhile makes the fork fail with `ResumeConflict`), as the Agent
Server's forks do."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from interlock.graph._effects import Effect, Resolve

if TYPE_CHECKING:
    from interlock.checkpoint.base import BaseSaver
    from interlock.graph._run import _Run

__all__ = ["abandon_old_branch", "apending_ids", "pending_ids"]


def pending_ids(saver: BaseSaver, thread_id: str) -> tuple[str, ...]:
    """The ids of every request of the thread that waits for a decision (all pages)."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = saver.list_interrupts(thread_id=thread_id, limit=500, cursor=cursor)
        ids.extend(r.interrupt_id for r in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return tuple(ids)


async def apending_ids(saver: BaseSaver, thread_id: str) -> tuple[str, ...]:
    """Async twin of `pending_ids`."""
    ids: list[str] = []
    cursor: str | None = None
    while True:
        page = await saver.alist_interrupts(thread_id=thread_id, limit=500, cursor=cursor)
        ids.extend(r.interrupt_id for r in page.items)
        cursor = page.next_cursor
        if cursor is None:
            return tuple(ids)


def abandon_old_branch(run: _Run) -> Generator[Effect, Any, None]:
    """Before a fork's first commit: cancel the requests that waited on the old head (once;
    the store refuses it, all or nothing, if one was decided meanwhile)."""
    ids, run.abandons = run.abandons, ()
    if ids:
        yield Resolve(dict.fromkeys(ids), status="cancelled")
