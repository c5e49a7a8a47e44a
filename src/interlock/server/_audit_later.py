"""Audit entries for acts that happened: an entry checked before an act is recorded only
once the act was carried out.

A route checks a change first (roles, reviews, detours), then makes it; the make can still
fail (409 `conflict` when the thread moved on, 422, a store error). So a check hands back
an `AuditLater` instead of writing the entry, and the route records it after the write
succeeded — a refused or failed change leaves no entry that says it was made. (Refusals
are acts too: they are audited as they happen, e.g. `state.refused`.)

These entries are appended right after the write, not in its transaction (the engine's
writes take no audit entry): a process that dies between the two leaves the change
without its entry. An entry the store cannot take then (`StoreUnavailable`) records a
change that was made all the same, so it is not reported as a failure of the change (the
caller is not told "nothing was changed, retry", nor is a run under way stopped): it is
appended from a thread of its own once the store answers (`record_all`, `RETRY_EVERY`,
`RETRY_FOR`). An act audited only after it was made (a copied thread, a cancelled or
deleted run, a run the worker finished) records its entry with `record_made`, which does
the same. Refusals, and entries that are the act's own precondition (`thread.created`
makes its actor the thread's owner) stay synchronous (`record_audit`). A thread's
deletion is the exception: its entry goes in the deletion's own transaction
(`delete_thread(audit=...)`), as the store audits what it does itself (requests,
decisions, votes, grants, assistants, crons).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint.base import AuditEntry, BaseSaver, ThreadAudit
from interlock.errors import StoreUnavailable
from interlock.server.auth import Principal

__all__ = [
    "RETRY_EVERY",
    "RETRY_FOR",
    "AuditLater",
    "delete_thread_audited",
    "record_all",
    "record_audit",
    "record_made",
]

_log = logging.getLogger("interlock.server.audit")

RETRY_EVERY = 0.5
"""Seconds between tries to append entries the store could not take (`record_all`)."""
RETRY_FOR = 900.0
"""Seconds those tries go on before the entries are given up (logged as an error)."""


def record_audit(
    saver: BaseSaver,
    who: Principal,
    action: str,
    thread_id: str | None,
    interrupt_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an audit entry by `who` now (a store error is the caller's). A
    `thread.created` entry also makes `who` the thread's owner (first, so that an owner
    never lacks the entry's thread)."""
    if action == "thread.created" and thread_id is not None:
        saver.set_thread_owner(thread_id, who.name)
    saver.append_audit(
        [
            AuditEntry(
                at=datetime.now(UTC),
                actor=who.name,
                action=action,
                thread_id=thread_id,
                interrupt_id=interrupt_id,
                detail=dict(detail or {}),
            )
        ]
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditLater:
    """An audit entry for an act not made yet: `record` it once the act was carried out."""

    who: Principal
    """The actor."""
    action: str
    """The entry's action, e.g. `state.detour`."""
    thread_id: str | None
    """The thread the act changes."""
    interrupt_id: str | None = None
    """The request the act concerns, if any."""
    detail: Mapping[str, Any] = field(default_factory=dict)
    """The entry's detail (what the act was asked to do)."""

    def record(self, saver: BaseSaver, **outcome: Any) -> None:
        """Append the entry, with `outcome` (what the act did, e.g. the checkpoint it
        wrote) added to its detail."""
        detail = {**self.detail, **outcome}
        record_audit(saver, self.who, self.action, self.thread_id, self.interrupt_id, detail)


def record_all(saver: BaseSaver, entries: Iterable[AuditLater | None]) -> None:
    """Record each entry once (an equal entry given twice, e.g. the same detour found by
    two checks, is recorded once); `None`s are skipped. The act they record was made: those
    the store cannot take now (`StoreUnavailable`) are appended later, from a thread of
    their own, once it answers; this call then returns as if they were."""
    seen: list[AuditLater] = []
    for entry in entries:
        if entry is not None and entry not in seen:
            seen.append(entry)
    for n, entry in enumerate(seen):
        try:
            entry.record(saver)
        except StoreUnavailable as exc:
            _log.warning("audit entry %s not appended yet (%s); trying again", entry.action, exc)
            _record_later(saver, seen[n:])
            return


def record_made(
    saver: BaseSaver,
    who: Principal,
    action: str,
    thread_id: str | None,
    interrupt_id: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Record the entry of an act already made (`record_audit`'s arguments): a store that
    cannot take it now (`StoreUnavailable`) does not make the act a failure; the entry is
    appended later, once it answers (`record_all`)."""
    entry = AuditLater(
        who=who, action=action, thread_id=thread_id, interrupt_id=interrupt_id, detail=detail or {}
    )
    record_all(saver, [entry])


def _record_later(saver: BaseSaver, entries: list[AuditLater]) -> None:
    """Append `entries` in order, each once, from a daemon thread, retrying every
    `RETRY_EVERY` seconds while the store is unavailable, for up to `RETRY_FOR` seconds."""
    wake = threading.Event()  # never set: the wait between tries

    def run() -> None:
        deadline = time.monotonic() + RETRY_FOR
        left = list(entries)
        while left:
            wake.wait(RETRY_EVERY)
            try:
                left[0].record(saver)
            except StoreUnavailable:
                if time.monotonic() < deadline:
                    continue
                _log.error("audit entries given up: %s", [e.action for e in left])
                return
            except Exception:
                _log.exception("audit entry %s could not be appended", left[0].action)
            left.pop(0)

    threading.Thread(target=run, name="interlock-audit-later", daemon=True).start()


def delete_thread_audited(
    saver: BaseSaver, who: Principal, thread_id: str, detail: Mapping[str, Any]
) -> None:
    """Delete the thread, audited `thread.deleted` with `detail` in the deletion's own
    transaction: a deletion the store failed leaves no entry."""
    saver.delete_thread(thread_id, audit=ThreadAudit(actor=who.name, detail=detail))
