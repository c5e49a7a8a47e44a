"""The audit log of the store protocol, and the named cursors that tail it.

Stores write `approval.requested` (actor: the metadata's `requested_by`; detail {"value"})
in the transaction that stores a new request, and `approval.decided` / `approval.expired` /
`approval.cancelled` (actor: `decided_by`; detail {"value", "decision"}) in the one that
decides it, and `approval.escalated` (no actor; detail: the value, the approvers before and
after, the new deadline) in the one that escalates it: the log misses no request or
decision. Other entries (who created a thread, who sent input, what was refused) are
appended by the service with `append_audit`.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interlock.checkpoint._async import to_thread
from interlock.checkpoint._audit.chain import AuditManifest, AuditRow

__all__ = ["AuditEntry", "AuditLog", "AuditPage", "audit_position", "new_audit_id"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One line of the audit log: who did what, when, to which thread or request."""

    entry_id: str = ""
    """Time-ordered id (assigned by `append_audit` when empty)."""
    at: datetime
    actor: str | None
    """The principal who acted (None: the system itself, e.g. an expiry)."""
    action: str
    """e.g. `thread.created`, `run.started`, `approval.requested`, `approval.decided`,
    `approval.refused`."""
    thread_id: str | None = None
    interrupt_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    """What was asked or decided (JSON-serialisable): the request's value, the decision."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    """One page of `list_audit`, newest first."""

    items: tuple[AuditEntry, ...]
    next_cursor: str | None


def new_audit_id() -> str:
    """A 32-hex id that sorts by creation time (nanoseconds, then 64 random bits)."""
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def audit_position(cursor: str | None, after: str | None) -> str | None:
    """The entry id a page starts from; checks the forms the store protocol accepts."""
    if cursor is not None and after is not None:
        raise ValueError("pass cursor= (newest first) or after= (oldest first), not both")
    mark = cursor if cursor is not None else after
    if mark is None or (after is not None and mark == ""):
        return mark
    if len(mark) != 32 or any(c not in "0123456789abcdef" for c in mark):
        raise ValueError(f"invalid cursor {mark!r}")
    return mark


class AuditLog(ABC):
    """The audit log: append entries, page through them, tail them with a leased cursor."""

    @abstractmethod
    def append_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Append entries (ids assigned when empty); returns them as stored. Entries are
        never changed or deleted by interlock (`prune` and `delete_thread` keep them)."""

    @abstractmethod
    def list_audit(
        self,
        *,
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        after: str | None = None,
    ) -> AuditPage:
        """Entries newest first, optionally of one thread or one request, paged by the
        opaque `cursor` of the previous page. With `after` (an entry id, "" for the start):
        the entries after it, oldest first — for tailing the log (`next_cursor` is then the
        next `after`)."""

    @abstractmethod
    def claim_cursor(self, name: str, owner: str, *, ttl: float) -> str | None:
        """Take the named cursor's lease (free, expired or ours) and return its position
        ("" when new); None while another owner holds it. For a log tailer that must run in
        one process at a time (webhook delivery)."""

    @abstractmethod
    def advance_cursor(self, name: str, owner: str, position: str, *, ttl: float) -> bool:
        """Move the cursor to `position` and renew the lease, if `owner` still holds it."""

    @abstractmethod
    def audit_rows(self, *, after: str = "", limit: int = 1000) -> tuple[AuditRow, ...]:
        """Entries as stored, with their chain fields, oldest first (by entry id) after the
        entry id `after` ("" for the start): what `interlock audit export` writes."""

    @abstractmethod
    def audit_heads(self) -> dict[str, tuple[int, str]]:
        """Every chain's head: chain -> (seq, hash) of its last entry."""

    @abstractmethod
    def add_audit_manifest(self, manifest: AuditManifest) -> None:
        """Keep a signed manifest (the store does not check it; `interlock.audit` signs)."""

    @abstractmethod
    def list_audit_manifests(
        self, *, after: str = "", limit: int = 1000
    ) -> tuple[AuditManifest, ...]:
        """Manifests oldest first after the manifest id `after` ("" for the start)."""

    @abstractmethod
    def last_audit_manifest(self) -> AuditManifest | None:
        """The newest manifest, if any."""

    async def aappend_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Async twin of `append_audit`."""
        return await to_thread(self.append_audit, entries)

    async def alist_audit(
        self,
        *,
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        after: str | None = None,
    ) -> AuditPage:
        """Async twin of `list_audit`."""
        return await to_thread(
            self.list_audit,
            thread_id=thread_id,
            interrupt_id=interrupt_id,
            limit=limit,
            cursor=cursor,
            after=after,
        )
