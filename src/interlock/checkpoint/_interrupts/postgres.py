"""The interrupt index on PostgreSQL: a decision in one statement, and the part of a
checkpoint write's statement that inserts its requests (with their audit entries)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._audit.postgres import AUDIT_ID, AUDIT_INSERT
from interlock.checkpoint._interrupts.protocol import InterruptRecord, InterruptStatus
from interlock.checkpoint._interrupts.sql import INTERRUPT_COLS, INTERRUPT_COLS_I, SqlInterrupts
from interlock.checkpoint._sql_dialect import utc_now

__all__ = ["INTERRUPT_COLS_I", "PgInterrupts", "interrupts_cte"]

INTERRUPT_ROW = (
    "(%s, %s, %s, %s, %s, %s, %s::int, %s, %s, %s::jsonb, %s::jsonb, %s::timestamptz, "
    "%s::timestamptz, %s, %s::timestamptz, %s::jsonb)"
)
PRINCIPALS = (
    "CROSS JOIN LATERAL (SELECT '*' AS principal "
    "WHERE jsonb_typeof(i.metadata->'approvers') IS NULL "
    "OR jsonb_typeof(i.metadata->'approvers') = 'null' "
    "UNION SELECT e.value #>> '{}' FROM jsonb_array_elements(CASE WHEN "
    "jsonb_typeof(i.metadata->'approvers') = 'array' THEN i.metadata->'approvers' "
    "ELSE '[]'::jsonb END) e WHERE jsonb_typeof(e.value) = 'string') p"
)
"""The principals a request `i`'s approver rule names (as `approver_principals` says)."""


def interrupts_cte(count: int, guard: str) -> str:
    """Insert new requests (`i`) and, for those really new, their `approval.requested`
    audit entries (`ai`) and their approvers' index rows (`ip`), in the statement's
    transaction."""
    rows = ", ".join([INTERRUPT_ROW] * count)
    return (
        f"i AS (INSERT INTO interrupts ({INTERRUPT_COLS}) SELECT * FROM (VALUES {rows}) v "
        f"{guard} ON CONFLICT (interrupt_id) DO NOTHING "
        "RETURNING interrupt_id, thread_id, value, metadata, status, created_at), "
        f"ai AS ({AUDIT_INSERT} SELECT {AUDIT_ID.format(row='i')}, clock_timestamp(), "
        "i.metadata->>'requested_by', 'approval.requested', i.thread_id, i.interrupt_id, "
        "jsonb_build_object('value', i.value) FROM i), "
        "ip AS (INSERT INTO pending_approvers (principal, created_at, interrupt_id, thread_id) "
        f"SELECT p.principal, i.created_at, i.interrupt_id, i.thread_id FROM i {PRINCIPALS} "
        "WHERE i.status = 'pending' ON CONFLICT DO NOTHING)"
    )


class PgInterrupts(SqlInterrupts):
    """`resolve_interrupts` in one statement for one decision (the common case)."""

    def resolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
        bindings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> tuple[InterruptRecord, ...]:
        """Flip each interrupt from pending, all or nothing; one caller wins. One decision
        (the common case) is one statement; several take a transaction. Either locks the
        thread's row before the requests (`l`: the one lock order, `_lock_thread`)."""
        if len(decisions) != 1:
            return super().resolve_interrupts(
                thread_id, decisions, decided_by=decided_by, status=status, bindings=bindings
            )
        ((iid, value),) = decisions.items()
        text = serde.dumps(value, f"decision for {iid}")
        binding = (bindings or {}).get(iid)
        bound = None if binding is None else serde.dumps(dict(binding), "binding")
        now = self.dialect.ts(utc_now())
        sql = (
            "WITH l AS (SELECT 1 FROM threads WHERE thread_id = %s FOR UPDATE), "
            "u AS (UPDATE interrupts SET status = %s, resume = %s::jsonb, "
            "decided_by = %s, decided_at = %s, metadata = CASE WHEN %s::jsonb IS NULL "
            "THEN metadata ELSE jsonb_set(metadata, '{decision}', %s::jsonb) END "
            "WHERE interrupt_id = %s AND thread_id = %s "
            "AND status = 'pending' AND (SELECT count(*) FROM l) >= 0 "
            f"RETURNING {INTERRUPT_COLS}), "
            "t AS (UPDATE threads SET updated_at = %s WHERE thread_id = %s "
            "AND EXISTS (SELECT 1 FROM u)), "
            "pa AS (DELETE FROM pending_approvers WHERE interrupt_id IN "
            "(SELECT interrupt_id FROM u)), "
            f"a AS ({AUDIT_INSERT} SELECT {AUDIT_ID.format(row='u')}, clock_timestamp(), "
            "u.decided_by, CASE u.status WHEN 'resolved' THEN 'approval.decided' "
            "ELSE 'approval.' || u.status END, u.thread_id, u.interrupt_id, "
            "jsonb_build_object('value', u.value, 'decision', u.resume) FROM u) "
            "SELECT * FROM u"
        )
        with self._read() as conn:
            row = conn.execute(
                sql,
                (
                    thread_id,
                    status,
                    text,
                    decided_by,
                    now,
                    bound,
                    bound,
                    iid,
                    thread_id,
                    now,
                    thread_id,
                ),
            ).fetchone()
        if row is None:  # lost the race, or no such request: say which
            return super().resolve_interrupts(
                thread_id, decisions, decided_by=decided_by, status=status, bindings=bindings
            )
        return (self._interrupt(row),)
