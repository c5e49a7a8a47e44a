"""Audit entries for acts that happened: an entry checked before an act is recorded only
once the act was carried out.

A route checks a change first (roles, reviews, detours), then makes it; the make can still
fail (409 `conflict` when the thread moved on, 422, a store error). So a check hands back
an `AuditLater` instead of writing the entry, and the route records it after the write
succeeded — a refused or failed change leaves no entry that says it was made. (Refusals
are acts too: they are audited as they happen, e.g. `state.refused`.)

These entries are appended right after the write, not in its transaction (the engine's
writes take no audit entry): a process that dies between the two leaves the change
without its entry. A thread's deletion is the exception: its entry goes in the deletion's
own transaction (`delete_thread(audit=...)`), as the store audits what it does itself
(requests, decisions, votes, grants, assistants, crons).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from interlock.checkpoint.base import BaseSaver, ThreadAudit
from interlock.server._operations import record_audit
from interlock.server.auth import Principal

__all__ = ["AuditLater", "delete_thread_audited", "record_all"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditLater:
    """An audit entry for an act not made yet: `record` it once the act was carried out."""

    who: Principal
    """The actor."""
    action: str
    """The entry's action, e.g. `state.detour`."""
    thread_id: str | None
    """The thread the act changes."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """The entry's detail (what the act was asked to do)."""

    def record(self, saver: BaseSaver, **outcome: Any) -> None:
        """Append the entry, with `outcome` (what the act did, e.g. the checkpoint it
        wrote) added to its detail."""
        record_audit(
            saver, self.who, self.action, self.thread_id, detail={**self.detail, **outcome}
        )


def record_all(saver: BaseSaver, entries: Iterable[AuditLater | None]) -> None:
    """Record each entry once (an equal entry given twice, e.g. the same detour found by
    two checks, is recorded once); `None`s are skipped."""
    seen: list[AuditLater] = []
    for entry in entries:
        if entry is not None and entry not in seen:
            seen.append(entry)
            entry.record(saver)


def delete_thread_audited(
    saver: BaseSaver, who: Principal, thread_id: str, detail: Mapping[str, Any]
) -> None:
    """Delete the thread, audited `thread.deleted` with `detail` in the deletion's own
    transaction: a deletion the store failed leaves no entry."""
    saver.delete_thread(thread_id, audit=ThreadAudit(actor=who.name, detail=detail))
