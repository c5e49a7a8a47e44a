"""Standing grants in SQL, written once for SQLite and PostgreSQL: a mixin of `SqlSaver`.

Exactly once: a use is `INSERT INTO grant_uses (grant_id, call_id)` (its primary key keeps
one per call) and a conditional `UPDATE grants SET uses_left = uses_left - 1 WHERE ... AND
uses_left > 0`, in one transaction with its audit entry: two processes racing for the last
use cannot both win (the update of the one row serialises them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from interlock.checkpoint._grants.protocol import Grant, grant_detail
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import utc_now

__all__ = ["SqlGrants"]

GRANT_COLS = (
    "grant_id, agent, tool, match, granted_by, created_at, expires_at, uses_left, "
    "revoked_at, revoked_by, interrupt_id"
)


class SqlGrants(SqlCore):
    """Grants over the `grants` and `grant_uses` tables."""

    def _grant(self, r: Sequence[Any]) -> Grant:
        ts = self.dialect.ts_out
        return Grant(
            grant_id=r[0],
            agent=r[1],
            tool=r[2],
            match=json.loads(r[3]),
            granted_by=r[4],
            created_at=self.dialect.ts_req(r[5]),
            expires_at=ts(r[6]),
            uses_left=r[7],
            revoked_at=ts(r[8]),
            revoked_by=r[9],
            interrupt_id=r[10],
        )

    def add_grant(self, grant: Grant) -> Grant:
        """Keep a new grant (audited, same transaction)."""
        ts = self.dialect.ts
        with self._write() as conn:
            self._x(
                conn,
                f"INSERT INTO grants ({GRANT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    grant.grant_id,
                    grant.agent,
                    grant.tool,
                    json.dumps(dict(grant.match), sort_keys=True),
                    grant.granted_by,
                    ts(grant.created_at),
                    ts(grant.expires_at),
                    grant.uses_left,
                    ts(grant.revoked_at),
                    grant.revoked_by,
                    grant.interrupt_id,
                ),
            )
            detail = grant_detail(grant)
            self._audit_in(
                conn, None, grant.interrupt_id, "grant.created", grant.granted_by, detail
            )
        return grant

    def get_grant(self, grant_id: str) -> Grant | None:
        """One grant by id."""
        with self._read() as conn:
            row = self._x(
                conn, f"SELECT {GRANT_COLS} FROM grants WHERE grant_id = ?", (grant_id,)
            ).fetchone()
        return self._grant(row) if row else None

    def list_grants(
        self, *, agent: str | None = None, tool: str | None = None, active_at: datetime | None
    ) -> tuple[Grant, ...]:
        """Grants oldest first, filtered."""
        sql = f"SELECT {GRANT_COLS} FROM grants WHERE 1 = 1"
        params: list[Any] = []
        if agent is not None:
            sql += " AND agent = ?"
            params.append(agent)
        if tool is not None:
            sql += " AND tool = ?"
            params.append(tool)
        if active_at is not None:
            sql += (
                " AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
                " AND (uses_left IS NULL OR uses_left > 0)"
            )
            params.append(self.dialect.ts(active_at))
        sql += " ORDER BY created_at, grant_id"
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        return tuple(self._grant(r) for r in rows)

    def revoke_grant(self, grant_id: str, *, revoked_by: str) -> Grant | None:
        """Revoke once (audited, same transaction)."""
        with self._write() as conn:
            cur = self._x(
                conn,
                "UPDATE grants SET revoked_at = ?, revoked_by = ? "
                "WHERE grant_id = ? AND revoked_at IS NULL",
                (self.dialect.ts(utc_now()), revoked_by, grant_id),
            )
            row = self._x(
                conn, f"SELECT {GRANT_COLS} FROM grants WHERE grant_id = ?", (grant_id,)
            ).fetchone()
            if self._count(conn, cur) == 1:
                self._audit_in(
                    conn,
                    None,
                    row[10],
                    "grant.revoked",
                    revoked_by,
                    {"grant_id": grant_id, "interrupt_id": row[10]},
                )
        return self._grant(row) if row else None

    def use_grant(
        self, grant_id: str, *, call_id: str, thread_id: str | None, now: datetime
    ) -> bool:
        """Spend one use on `call_id`, exactly once (see the module docstring)."""
        try:
            return self._use_grant(grant_id, call_id, thread_id, now)
        except _Retry:
            return True

    def _use_grant(self, grant_id: str, call_id: str, thread_id: str | None, now: datetime) -> bool:
        with self._write() as conn:
            done = self._x(
                conn,
                "SELECT 1 FROM grant_uses WHERE grant_id = ? AND call_id = ?",
                (grant_id, call_id),
            ).fetchone()
            if done:
                return True
            cur = self._x(
                conn,
                "UPDATE grants SET uses_left = uses_left - 1 WHERE grant_id = ? "
                "AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?) "
                "AND (uses_left IS NULL OR uses_left > 0)",
                (grant_id, self.dialect.ts(now)),
            )
            if self._count(conn, cur) != 1:
                return False
            inserted = self._x(
                conn,
                "INSERT INTO grant_uses (grant_id, call_id, thread_id, used_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (grant_id, call_id) DO NOTHING",
                (grant_id, call_id, thread_id, self.dialect.ts(now)),
            )
            if self._count(conn, inserted) != 1:  # a racing replay of the same call won
                raise _Retry
            row = self._x(
                conn, "SELECT tool, granted_by FROM grants WHERE grant_id = ?", (grant_id,)
            ).fetchone()
            self._audit_in(
                conn,
                thread_id,
                None,
                "grant.used",
                row[1],
                {"grant_id": grant_id, "tool": row[0], "call_id": call_id},
            )
        return True


class _Retry(Exception):
    """Internal: the same call was covered concurrently (the transaction is rolled back)."""
