"""The audit log and its cursors in Python structures: a mixin of `InMemorySaver`."""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._audit.protocol import (
    AuditEntry,
    AuditPage,
    audit_position,
    new_audit_id,
)

__all__ = ["MemoryAuditLog"]


class MemoryAuditLog:
    """`append_audit`, `list_audit`, `claim_cursor`, `advance_cursor` over a sorted list, under
    the saver's lock; `_log` is how the other rooms audit in their own transaction."""

    _lock: threading.RLock

    def _init_audit(self) -> None:
        self._audit: list[tuple[AuditEntry, str]] = []
        """Entries (detail emptied) with their serialised detail, oldest first."""
        self._cursors: dict[str, tuple[str, str | None, float]] = {}
        """name -> (position, owner, lease until (monotonic))."""

    def _log(
        self,
        thread_id: str | None,
        interrupt_id: str | None,
        action: str,
        actor: Any,
        detail: str,
    ) -> None:
        """Under the saver's lock: an entry with its detail already serialised."""
        entry = AuditEntry(
            entry_id=new_audit_id(),
            at=datetime.now(UTC),
            actor=None if actor is None else str(actor),
            action=action,
            thread_id=thread_id,
            interrupt_id=interrupt_id,
        )
        bisect.insort(self._audit, (entry, detail), key=lambda row: row[0].entry_id)

    def append_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Append entries (ids assigned when empty), all or nothing."""
        stored = tuple(e if e.entry_id else replace(e, entry_id=new_audit_id()) for e in entries)
        rows = [
            (replace(e, detail={}), serde.dumps(dict(e.detail), f"audit detail of {e.action}"))
            for e in stored
        ]
        with self._lock:
            self._audit.extend(rows)
            self._audit.sort(key=lambda row: row[0].entry_id)
        return tuple(_decode(r) for r in rows)

    def list_audit(
        self,
        *,
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        after: str | None = None,
    ) -> AuditPage:
        """Entries newest first (or oldest first after `after`)."""
        mark = audit_position(cursor, after)
        with self._lock:
            rows = [
                r
                for r in (self._audit if after is not None else reversed(self._audit))
                if (thread_id is None or r[0].thread_id == thread_id)
                and (interrupt_id is None or r[0].interrupt_id == interrupt_id)
                and (
                    mark is None
                    or (r[0].entry_id > mark if after is not None else r[0].entry_id < mark)
                )
            ]
        items = tuple(_decode(r) for r in rows[:limit])
        more = len(rows) > limit and bool(items)
        return AuditPage(items=items, next_cursor=items[-1].entry_id if more else None)

    def claim_cursor(self, name: str, owner: str, *, ttl: float) -> str | None:
        """Take the cursor's lease and return its position, or None if held."""
        now = time.monotonic()
        with self._lock:
            position, holder, until = self._cursors.get(name, ("", None, 0.0))
            if holder not in (None, owner) and until > now:
                return None
            self._cursors[name] = (position, owner, now + ttl)
            return position

    def advance_cursor(self, name: str, owner: str, position: str, *, ttl: float) -> bool:
        """Move the cursor if `owner` holds it."""
        with self._lock:
            current = self._cursors.get(name)
            if current is None or current[1] != owner:
                return False
            self._cursors[name] = (position, owner, time.monotonic() + ttl)
            return True


def _decode(row: tuple[AuditEntry, str]) -> AuditEntry:
    return replace(row[0], detail=serde.loads(row[1]))
