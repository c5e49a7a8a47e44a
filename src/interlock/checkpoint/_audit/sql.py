"""The audit log and named cursors in SQL, written once for SQLite and PostgreSQL: a mixin
of `SqlSaver`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from interlock.checkpoint import serde
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
    `cursors`; `_log_request` is how the other rooms audit in their own transaction."""

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
        with self._write() as conn:
            for params in rows:
                self._x(
                    conn,
                    "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, "
                    "interrupt_id, detail) VALUES (?, ?, ?, ?, ?, ?, ?J)",
                    params,
                )
        return stored

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

    def _log_request(
        self,
        conn: Any,
        interrupt_id: str,
        thread_id: str,
        action: str,
        actor: Any,
        detail: str,
    ) -> None:
        """The audit entry of a request asked or decided, in the caller's transaction."""
        self._x(
            conn,
            "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, interrupt_id, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?J)",
            (
                new_audit_id(),
                self.dialect.ts(utc_now()),
                None if actor is None else str(actor),
                action,
                thread_id,
                interrupt_id,
                detail,
            ),
        )
