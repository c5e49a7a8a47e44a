"""The audit log and named cursors in SQL, written once for SQLite and PostgreSQL: a mixin
of `SqlSaver`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._audit.chain import GENESIS, AuditManifest, AuditRow, entry_hash
from interlock.checkpoint._audit.protocol import (
    AuditEntry,
    AuditPage,
    audit_position,
    new_audit_id,
)
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import utc_now

__all__ = ["SqlAuditLog"]


class SqlAuditLog(SqlCore):
    """`append_audit`, `list_audit`, `claim_cursor`, `advance_cursor` over `audit_log` and
    `cursors`; `_audit_in` is how the other rooms audit in their own transaction."""

    def append_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Append entries in one transaction (ids assigned when empty)."""
        stored = tuple(e if e.entry_id else replace(e, entry_id=new_audit_id()) for e in entries)
        rows = [
            (
                e.entry_id,
                self.dialect.ts(e.at),
                e.actor,
                e.action,
                e.thread_id,
                e.interrupt_id,
                serde.dumps(dict(e.detail), f"audit detail of {e.action}"),
            )
            for e in stored
        ]
        # chain by chain (each in the order given): two batches that touch the same chains
        # lock their heads in one order, and never deadlock
        order = sorted(range(len(rows)), key=lambda n: rows[n][4] or "")
        with self._write() as conn:
            for n in order:
                self._chain_insert(conn, stored[n].at, rows[n])
        return stored

    def _chain_insert(self, conn: Any, at: datetime, params: tuple[Any, ...]) -> None:
        """Insert one entry (`entry_id, at, actor, action, thread_id, interrupt_id, detail`,
        `at` as the datetime the dialect's `ts` rendered) linked to its chain's head, in the
        caller's transaction. SQLite's writes are serialised (`BEGIN IMMEDIATE`), so reading
        the head here is safe; PostgreSQL links entries in a trigger instead (`PgAuditLog`)."""
        if not self._chained(conn):  # a schema from before migration 10 (only in tests)
            self._x(
                conn,
                "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, "
                "interrupt_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?J)",
                params,
            )
            return
        chain = params[4] or ""
        head = self._x(
            conn, "SELECT seq, head FROM audit_chains WHERE chain = ?", (chain,)
        ).fetchone()
        seq, prev = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
        digest = entry_hash(
            chain=chain,
            seq=seq,
            prev=prev,
            entry_id=params[0],
            at=at,
            actor=params[2],
            action=params[3],
            thread_id=params[4],
            interrupt_id=params[5],
            detail=params[6],
        )
        self._x(
            conn,
            "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, interrupt_id, "
            "detail, seq, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?J, ?, ?, ?)",
            (*params, seq, prev, digest),
        )
        self._x(
            conn,
            "INSERT INTO audit_chains (chain, seq, head) VALUES (?, ?, ?) "
            "ON CONFLICT (chain) DO UPDATE SET seq = excluded.seq, head = excluded.head",
            (chain, seq, digest),
        )

    def _chained(self, conn: Any) -> bool:
        """Whether the schema has the audit chain (migration 10); asked once."""
        known: bool | None = self.__dict__.get("_audit_chained")
        if known is None:
            found = self._x(
                conn, "SELECT 1 FROM interlock_migrations WHERE version = 10"
            ).fetchone()
            known = self.__dict__["_audit_chained"] = found is not None
        return known

    def audit_rows(self, *, after: str = "", limit: int = 1000) -> tuple[AuditRow, ...]:
        """Entries as stored with their chain fields, oldest first after `after`."""
        with self._read() as conn:
            rows = self._x(
                conn,
                "SELECT entry_id, at, actor, action, thread_id, interrupt_id, detail, seq, "
                "prev, hash FROM audit_log WHERE entry_id > ? ORDER BY entry_id LIMIT ?",
                (after, int(limit)),
            ).fetchall()
        return tuple(
            AuditRow(
                entry_id=r[0],
                at=self.dialect.ts_req(r[1]),
                actor=r[2],
                action=r[3],
                thread_id=r[4],
                interrupt_id=r[5],
                detail=r[6],
                seq=r[7],
                prev=r[8],
                hash=r[9],
            )
            for r in rows
        )

    def audit_heads(self) -> dict[str, tuple[int, str]]:
        """Every chain's (seq, hash) of its last entry."""
        with self._read() as conn:
            rows = self._x(conn, "SELECT chain, seq, head FROM audit_chains").fetchall()
        return {r[0]: (int(r[1]), r[2]) for r in rows}

    def add_audit_manifest(self, manifest: AuditManifest) -> None:
        """Keep a signed manifest."""
        with self._write() as conn:
            self._x(
                conn,
                "INSERT INTO audit_manifests (manifest_id, body, key_id, signature) "
                "VALUES (?, ?, ?, ?)",
                (manifest.manifest_id, manifest.body, manifest.key_id, manifest.signature),
            )

    def list_audit_manifests(
        self, *, after: str = "", limit: int = 1000
    ) -> tuple[AuditManifest, ...]:
        """Manifests oldest first after `after`."""
        with self._read() as conn:
            rows = self._x(
                conn,
                "SELECT manifest_id, body, key_id, signature FROM audit_manifests "
                "WHERE manifest_id > ? ORDER BY manifest_id LIMIT ?",
                (after, int(limit)),
            ).fetchall()
        return tuple(_manifest(r) for r in rows)

    def last_audit_manifest(self) -> AuditManifest | None:
        """The newest manifest, if any."""
        with self._read() as conn:
            row = self._x(
                conn,
                "SELECT manifest_id, body, key_id, signature FROM audit_manifests "
                "ORDER BY manifest_id DESC LIMIT 1",
            ).fetchone()
        return _manifest(row) if row else None

    def list_audit(
        self,
        *,
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        after: str | None = None,
    ) -> AuditPage:
        """Entries newest first (oldest first after `after`): one indexed query per page."""
        mark = audit_position(cursor, after)
        sql = (
            "SELECT entry_id, at, actor, action, thread_id, interrupt_id, detail "
            "FROM audit_log WHERE 1 = 1"
        )
        params: list[Any] = []
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        if interrupt_id is not None:
            sql += " AND interrupt_id = ?"
            params.append(interrupt_id)
        if cursor is not None:
            sql += " AND entry_id < ?"
            params.append(mark)
        if after:
            sql += " AND entry_id > ?"
            params.append(mark)
        sql += f" ORDER BY entry_id {'ASC' if after is not None else 'DESC'} LIMIT ?"
        params.append(int(limit) + 1)
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        items = tuple(
            AuditEntry(
                entry_id=r[0],
                at=self.dialect.ts_req(r[1]),
                actor=r[2],
                action=r[3],
                thread_id=r[4],
                interrupt_id=r[5],
                detail=serde.loads(r[6]),
            )
            for r in rows[:limit]
        )
        more = len(rows) > limit and bool(items)
        return AuditPage(items=items, next_cursor=items[-1].entry_id if more else None)

    def claim_cursor(self, name: str, owner: str, *, ttl: float) -> str | None:
        """Take the cursor's lease (one conditional upsert) and return its position."""
        with self._write() as conn:
            cur = self._x(
                conn,
                "INSERT INTO cursors (name, position, owner, lease_until) "
                "VALUES (?, '', ?, {now} + ?) ON CONFLICT (name) DO UPDATE SET "
                "owner = excluded.owner, lease_until = excluded.lease_until "
                "WHERE cursors.owner IS NULL OR cursors.owner = excluded.owner "
                "OR cursors.lease_until <= {now}",
                (name, owner, float(ttl)),
            )
            if self._count(conn, cur) != 1:
                return None
            row = self._x(conn, "SELECT position FROM cursors WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else ""

    def advance_cursor(self, name: str, owner: str, position: str, *, ttl: float) -> bool:
        """Move the cursor and renew the lease if `owner` holds it."""
        with self._write() as conn:
            cur = self._x(
                conn,
                "UPDATE cursors SET position = ?, lease_until = {now} + ? "
                "WHERE name = ? AND owner = ?",
                (position, float(ttl), name, owner),
            )
            return self._count(conn, cur) == 1

    def _audit_in(
        self,
        conn: Any,
        thread_id: str | None,
        interrupt_id: str | None,
        action: str,
        actor: Any,
        detail: str | Mapping[str, Any],
    ) -> None:
        """One audit entry in the caller's transaction, stamped now: how every other room
        audits its change in the change's own commit. `detail` is the JSON text to store, or
        a mapping to serialise; `actor` is kept as text (None: no person)."""
        at = utc_now()
        if not isinstance(detail, str):
            detail = serde.dumps(dict(detail), f"audit detail of {action}")
        params = (
            new_audit_id(),
            self.dialect.ts(at),
            None if actor is None else str(actor),
            action,
            thread_id,
            interrupt_id,
            detail,
        )
        self._chain_insert(conn, at, params)


def _manifest(r: Sequence[Any]) -> AuditManifest:
    return AuditManifest(manifest_id=r[0], body=r[1], key_id=r[2], signature=r[3])
