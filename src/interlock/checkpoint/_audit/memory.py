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
from interlock.checkpoint._audit.chain import GENESIS, AuditManifest, AuditRow, entry_hash
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
        self._chains: dict[str, tuple[int, str]] = {}
        """chain -> (seq, hash) of its last entry."""
        self._links: dict[str, tuple[int, str, str]] = {}
        """entry id -> (seq, prev, hash): each entry's place in its chain."""
        self._unlinked: list[tuple[AuditEntry, str]] = []
        """Entries written since the chains were last read, in write order: linked (hashed)
        by `_settle` when a reader needs the chain fields, not on the write path."""
        self._manifests: list[AuditManifest] = []

    def _chain(self, entry: AuditEntry, detail: str) -> None:
        """Under the saver's lock: `entry` joins its chain (hashed when read: the order of
        the chain is the order of these calls either way)."""
        self._unlinked.append((entry, detail))

    def _settle(self) -> None:
        """Under the saver's lock: link the entries written since the last read."""
        pending, self._unlinked = self._unlinked, []
        for entry, detail in pending:
            self._link(entry, detail)

    def _link(self, entry: AuditEntry, detail: str) -> None:
        """Under the saver's lock: link `entry` to its chain's head."""
        chain = entry.thread_id or ""
        seq, prev = self._chains.get(chain, (0, GENESIS))
        digest = entry_hash(
            chain=chain,
            seq=seq + 1,
            prev=prev,
            entry_id=entry.entry_id,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            thread_id=entry.thread_id,
            interrupt_id=entry.interrupt_id,
            detail=detail,
        )
        self._chains[chain] = (seq + 1, digest)
        self._links[entry.entry_id] = (seq + 1, prev, digest)

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
        self._chain(entry, detail)
        if not self._audit or self._audit[-1][0].entry_id < entry.entry_id:
            self._audit.append((entry, detail))  # ids are time-ordered: the usual case
        else:
            bisect.insort(self._audit, (entry, detail), key=lambda row: row[0].entry_id)

    def append_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Append entries (ids assigned when empty), all or nothing."""
        stored = tuple(e if e.entry_id else replace(e, entry_id=new_audit_id()) for e in entries)
        rows = [
            (replace(e, detail={}), serde.dumps(dict(e.detail), f"audit detail of {e.action}"))
            for e in stored
        ]
        with self._lock:
            for entry, detail in rows:
                self._chain(entry, detail)
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

    def audit_rows(self, *, after: str = "", limit: int = 1000) -> tuple[AuditRow, ...]:
        """Entries as stored with their chain fields, oldest first after `after`."""
        with self._lock:
            start = bisect.bisect_right(self._audit, after, key=lambda row: row[0].entry_id)
            picked = self._audit[start : start + limit]
            self._settle()
            links = [self._links.get(e.entry_id) for e, _ in picked]
        return tuple(
            AuditRow(
                entry_id=e.entry_id,
                at=e.at,
                actor=e.actor,
                action=e.action,
                thread_id=e.thread_id,
                interrupt_id=e.interrupt_id,
                detail=detail,
                seq=None if link is None else link[0],
                prev=None if link is None else link[1],
                hash=None if link is None else link[2],
            )
            for (e, detail), link in zip(picked, links, strict=True)
        )

    def audit_heads(self) -> dict[str, tuple[int, str]]:
        """Every chain's (seq, hash) of its last entry."""
        with self._lock:
            self._settle()
            return dict(self._chains)

    def add_audit_manifest(self, manifest: AuditManifest) -> None:
        """Keep a signed manifest."""
        with self._lock:
            bisect.insort(self._manifests, manifest, key=lambda m: m.manifest_id)

    def list_audit_manifests(
        self, *, after: str = "", limit: int = 1000
    ) -> tuple[AuditManifest, ...]:
        """Manifests oldest first after `after`."""
        with self._lock:
            return tuple(m for m in self._manifests if m.manifest_id > after)[:limit]

    def last_audit_manifest(self) -> AuditManifest | None:
        """The newest manifest, if any."""
        with self._lock:
            return self._manifests[-1] if self._manifests else None


def _decode(row: tuple[AuditEntry, str]) -> AuditEntry:
    return replace(row[0], detail=serde.loads(row[1]))
