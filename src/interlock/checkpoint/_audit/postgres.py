"""The audit log's parts of PostgreSQL's one-statement writes: other rooms' statements
insert their audit entries with these, in the same statement."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from interlock.checkpoint._audit.sql import SqlAuditLog

__all__ = ["AUDIT_ID", "AUDIT_INSERT", "PgAuditLog"]

AUDIT_ID = (
    "lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000000000)::bigint), 16, '0') "
    "|| substr(md5(random()::text || {row}.interrupt_id), 1, 16)"
)
"""A time-ordered 32-hex audit entry id made in SQL (as `new_audit_id` makes them), for the
row alias given as `{row}`."""
AUDIT_INSERT = (
    "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, interrupt_id, detail)"
)


class PgAuditLog(SqlAuditLog):
    """On PostgreSQL the `audit_chain` trigger (migration 10) links every inserted entry to
    its chain's head under the head's row lock, whichever statement inserts it."""

    def _chain_insert(self, conn: Any, at: datetime, params: tuple[Any, ...]) -> None:
        """Insert one entry; the trigger chains it."""
        self._x(
            conn,
            "INSERT INTO audit_log (entry_id, at, actor, action, thread_id, interrupt_id, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?J)",
            params,
        )
