"""The interrupt index in SQL, written once for SQLite and PostgreSQL: a mixin of `SqlSaver`.

Exactly once: a decision is `UPDATE interrupts SET status=... WHERE interrupt_id=? AND
status='pending'` — the one caller whose update changes a row wins. Requests are inserted by
the checkpoints room's writes (`_insert_interrupts`, in their transaction) and audited
through the audit room's `_audit_in`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._interrupts.protocol import (
    KEEP_VALUE,
    InterruptPage,
    InterruptRecord,
    InterruptStatus,
    approver_principals,
    check_eligible_filter,
    decision_action,
    escalation_detail,
    reopen_detail,
    reopen_metadata,
)
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text, utc_now
from interlock.errors import ResumeConflict, ResumeError

__all__ = [
    "INTERRUPT_COLS",
    "INTERRUPT_COLS_I",
    "SqlInterrupts",
    "decode_cursor",
    "encode_cursor",
]

INTERRUPT_COLS = (
    "interrupt_id, thread_id, checkpoint_ns, checkpoint_id, task_id, task_name, idx, kind, "
    "status, value, resume, created_at, deadline, decided_by, decided_at, metadata"
)
INTERRUPT_COLS_I = ", ".join("i." + col.strip() for col in INTERRUPT_COLS.split(","))
"""`INTERRUPT_COLS` of the table alias `i`."""


def encode_cursor(at: datetime, interrupt_id: str) -> str:
    raw = json.dumps([at.isoformat(), interrupt_id]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        at, iid = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(at), iid
    except (ValueError, TypeError) as exc:
        raise ValueError(f"invalid cursor {cursor!r}") from exc


class SqlInterrupts(SqlCore):
    """Requests over the `interrupts` table."""

    if TYPE_CHECKING:

        def _lock_thread(self, conn: Any, thread_id: str, *, heads: bool = False) -> None: ...

        def _touch_thread(
            self,
            conn: Any,
            thread_id: str,
            head: str | None,
            lease_owner: str | None,
            release: bool = False,
        ) -> None: ...

    def _interrupt_params(self, i: InterruptRecord) -> tuple[Any, ...]:
        return (
            i.interrupt_id,
            i.thread_id,
            i.checkpoint_ns,
            i.checkpoint_id,
            i.task_id,
            i.task_name,
            i.index,
            i.kind,
            i.status,
            serde.dumps(i.value, "interrupt value"),
            None if i.resume is None else serde.dumps(i.resume, "resume"),
            self.dialect.ts(i.created_at),
            self.dialect.ts(i.deadline),
            i.decided_by,
            self.dialect.ts(i.decided_at),
            serde.dumps(dict(i.metadata), "metadata"),
        )

    def _insert_interrupts(self, conn: Any, rows: list[tuple[Any, ...]]) -> None:
        for params in rows:
            cur = self._x(
                conn,
                f"INSERT INTO interrupts ({INTERRUPT_COLS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?J, ?J, ?, ?, ?, ?, ?J) "
                "ON CONFLICT (interrupt_id) DO NOTHING",
                params,
            )
            if self._count(conn, cur) == 1:  # a new request: in the audit log, same commit
                if params[8] == "pending":
                    self._add_approvers(conn, params[0], params[1], params[11], params[15])
                requester = json.loads(params[15]).get("requested_by")
                self._audit_in(
                    conn,
                    params[1],
                    params[0],
                    "approval.requested",
                    requester,
                    '{"value":' + params[9] + "}",
                )

    def _add_approvers(
        self, conn: Any, interrupt_id: str, thread_id: str, created_at: Any, metadata: Any
    ) -> None:
        """Index a pending request under each principal its approver rule names."""
        meta = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
        for principal in approver_principals(meta):
            self._x(
                conn,
                "INSERT INTO pending_approvers (principal, created_at, interrupt_id, thread_id) "
                "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (principal, created_at, interrupt_id, thread_id),
            )

    def _drop_approvers(self, conn: Any, interrupt_id: str) -> None:
        """A request no longer pending leaves the approvers' index."""
        self._x(conn, "DELETE FROM pending_approvers WHERE interrupt_id = ?", (interrupt_id,))

    def _meta_field(self, key: str) -> str:
        """The SQL of `i.metadata[key]` as text, as the indexes of migration 13 spell it."""
        if self.dialect.name == "postgres":
            return f"(i.metadata->>'{key}')"
        return f"json_extract(i.metadata, '$.{key}')"

    def _interrupt(self, r: Sequence[Any], *, decoded: bool = False) -> InterruptRecord:
        """An interrupt from its columns (`INTERRUPT_COLS` order). `decoded`: the JSON
        columns arrive already parsed (read inside a JSON aggregate)."""
        ts = self.dialect.ts_out
        if decoded:
            value, resume, metadata = r[9], r[10], r[15] or {}
        else:
            value = serde.loads(r[9]) if r[9] is not None else None
            resume = serde.loads(r[10]) if r[10] is not None else None
            metadata = serde.loads(r[15]) if r[15] is not None else {}
        return InterruptRecord(
            interrupt_id=r[0],
            thread_id=r[1],
            checkpoint_ns=r[2],
            checkpoint_id=r[3],
            task_id=r[4],
            task_name=r[5],
            index=r[6],
            kind=r[7],
            status=r[8],
            value=value,
            resume=resume,
            created_at=self.dialect.ts_req(r[11]),
            deadline=ts(r[12]),
            decided_by=r[13],
            decided_at=ts(r[14]),
            metadata=metadata,
        )

    def resolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
        bindings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> tuple[InterruptRecord, ...]:
        """Flip each interrupt from pending, all or nothing; one caller wins. The thread's
        row is locked first and the requests by id (the one lock order: `_lock_thread`);
        the records come back in the order of `decisions`."""
        encoded = {k: serde.dumps(v, f"decision for {k}") for k, v in decisions.items()}
        bound = {k: serde.dumps(dict(v), "binding") for k, v in (bindings or {}).items()}
        now = self.dialect.ts(utc_now())
        rows: list[Sequence[Any]] = []
        with self._write() as conn:
            self._lock_thread(conn, thread_id)
            for iid, text in sorted(encoded.items()):
                if iid in bound:
                    sql = (
                        "UPDATE interrupts SET status = ?, resume = ?J, decided_by = ?, "
                        f"decided_at = ?, metadata = {self._with_decision()} "
                        "WHERE interrupt_id = ? AND thread_id = ? AND status = 'pending'"
                    )
                    params: tuple[Any, ...] = (status, text, decided_by, now, bound[iid])
                else:
                    sql = (
                        "UPDATE interrupts SET status = ?, resume = ?J, decided_by = ?, "
                        "decided_at = ? WHERE interrupt_id = ? AND thread_id = ? "
                        "AND status = 'pending'"
                    )
                    params = (status, text, decided_by, now)
                changed = self._x(
                    conn, f"{sql} RETURNING {INTERRUPT_COLS}", (*params, iid, thread_id)
                ).fetchall()  # the row as decided (read to the end: the statement is done)
                if changed:
                    rows.extend(changed)
                    self._drop_approvers(conn, iid)
                    continue
                found = self._x(
                    conn,
                    "SELECT status, decided_by FROM interrupts "
                    "WHERE interrupt_id = ? AND thread_id = ?",
                    (iid, thread_id),
                ).fetchone()
                if found is None:
                    raise ResumeError(f"interrupt {iid!r} does not exist on thread {thread_id!r}")
                raise ResumeConflict(
                    f"interrupt {iid!r} was already {found[0]}"
                    + (f" by {found[1]}" if found[1] else "")
                )
            self._touch_thread(conn, thread_id, None, None)
            for r in rows:
                self._audit_in(
                    conn,
                    r[1],
                    r[0],
                    decision_action(r[8]),
                    r[13],
                    '{"value":' + json_text(r[9]) + ',"decision":' + json_text(r[10]) + "}",
                )
        place = {iid: n for n, iid in enumerate(encoded)}
        return tuple(self._interrupt(r) for r in sorted(rows, key=lambda r: place[r[0]]))

    def _with_decision(self) -> str:
        """SQL: the row's metadata with `decision` set to the (JSON) parameter."""
        if self.dialect.name == "postgres":
            return "jsonb_set(metadata, '{decision}', ?J)"
        return "json_set(metadata, '$.decision', json(?J))"

    def escalate_interrupt(
        self,
        interrupt_id: str,
        *,
        expected_deadline: datetime,
        deadline: datetime,
        metadata: Mapping[str, Any],
    ) -> InterruptRecord | None:
        """Give a pending request a new deadline and metadata, once: a conditional update on
        its status and deadline, and its audit entry, in one transaction."""
        text = serde.dumps(dict(metadata), "metadata")
        ts = self.dialect.ts
        with self._write() as conn:
            row = self._x(
                conn,
                f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ? "
                "AND status = 'pending' AND deadline = ?",
                (interrupt_id, ts(expected_deadline)),
            ).fetchone()
            if row is None:
                return None
            self._lock_thread(conn, row[1])  # (the one lock order; the update checks again)
            cur = self._x(
                conn,
                "UPDATE interrupts SET deadline = ?, metadata = ?J WHERE interrupt_id = ? "
                "AND status = 'pending' AND deadline = ?",
                (ts(deadline), text, interrupt_id, ts(expected_deadline)),
            )
            if self._count(conn, cur) != 1:  # decided or escalated since the read
                return None
            self._drop_approvers(conn, interrupt_id)  # the new rule's principals instead
            self._add_approvers(conn, interrupt_id, row[1], row[11], text)
            before = self._interrupt(row)
            detail = escalation_detail(before, deadline, metadata)
            self._audit_in(
                conn,
                before.thread_id,
                interrupt_id,
                "approval.escalated",
                None,  # the deadline escalated it, not a person
                detail,
            )
            after = self._x(
                conn,
                f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ?",
                (interrupt_id,),
            ).fetchone()
        return self._interrupt(after)

    def reopen_interrupt(
        self,
        interrupt_id: str,
        *,
        reason: str,
        expected_status: InterruptStatus = "resolved",
        value: Any = KEEP_VALUE,
        by: str | None = None,
    ) -> InterruptRecord | None:
        """Return a decided request to pending, once: a conditional update on its status,
        and its audit entry, in one transaction."""
        if value is not KEEP_VALUE:
            serde.dumps(value, "interrupt value")  # refuse before touching the store
        with self._write() as conn:
            row = self._x(
                conn,
                f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ? AND status = ?",
                (interrupt_id, expected_status),
            ).fetchone()
            if row is None:
                return None
            self._lock_thread(conn, row[1])  # (the one lock order; the update checks again)
            before = self._interrupt(row)
            now = utc_now()
            meta = serde.dumps(reopen_metadata(before, reason, now, by), "metadata")
            question = serde.dumps(before.value if value is KEEP_VALUE else value, "value")
            cur = self._x(
                conn,
                "UPDATE interrupts SET status = 'pending', resume = NULL, decided_by = NULL, "
                "decided_at = NULL, metadata = ?J, value = ?J "
                "WHERE interrupt_id = ? AND status = ?",
                (meta, question, interrupt_id, expected_status),
            )
            if self._count(conn, cur) != 1:  # changed since the read
                return None
            self._add_approvers(conn, interrupt_id, before.thread_id, row[11], meta)
            self._touch_thread(conn, before.thread_id, None, None)
            self._audit_in(
                conn,
                before.thread_id,
                interrupt_id,
                "approval.reopened",
                by,
                reopen_detail(before, value, reason),
            )
            after = self._x(
                conn,
                f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ?",
                (interrupt_id,),
            ).fetchone()
        return self._interrupt(after)

    def get_interrupt(self, interrupt_id: str) -> InterruptRecord | None:
        """One interrupt by id."""
        with self._read() as conn:
            row = self._x(
                conn,
                f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ?",
                (interrupt_id,),
            ).fetchone()
        return self._interrupt(row) if row else None

    def list_interrupts(
        self,
        *,
        status: InterruptStatus | None = "pending",
        thread_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        due_before: datetime | None = None,
        agent: str | None = None,
        requested_by: str | None = None,
        eligible: Sequence[str] | None = None,
        not_requested_by: str | None = None,
        version: str | None = None,
    ) -> InterruptPage:
        """Interrupts oldest first: one indexed query per page (keyset pagination). With
        `eligible`, one ordered range of `pending_approvers` per principal, merged."""
        check_eligible_filter(status, eligible)
        conds: list[str] = []
        params: list[Any] = []
        if status is not None:
            conds.append("i.status = ?")
            params.append(status)
        if thread_id is not None:
            conds.append("i.thread_id = ?")
            params.append(thread_id)
        if due_before is not None:
            conds.append("i.deadline IS NOT NULL AND i.deadline <= ?")
            params.append(self.dialect.ts(due_before))
        if agent is not None:
            conds.append(f"{self._meta_field('graph')} = ?")
            params.append(agent)
        if requested_by is not None:
            conds.append(f"{self._meta_field('requested_by')} = ?")
            params.append(requested_by)
        if version is not None:
            conds.append(f"{self._meta_field('graph_version')} = ?")
            params.append(version)
        if not_requested_by is not None:
            differs = "IS DISTINCT FROM" if self.dialect.name == "postgres" else "IS NOT"
            conds.append(f"{self._meta_field('requested_by')} {differs} ?")
            params.append(not_requested_by)
        after: list[Any] = []
        if cursor is not None:
            at, iid = decode_cursor(cursor)
            after = [self.dialect.ts(at), self.dialect.ts(at), iid]
        n = int(limit) + 1
        if eligible is None:
            where = " AND ".join(conds) or "1 = 1"
            if after:
                where += " AND (i.created_at > ? OR (i.created_at = ? AND i.interrupt_id > ?))"
            sql = (
                f"SELECT {INTERRUPT_COLS_I} FROM interrupts i WHERE {where} "
                "ORDER BY i.created_at, i.interrupt_id LIMIT ?"
            )
            args = [*params, *after, n]
        else:
            principals = list(dict.fromkeys(eligible))
            if not principals:
                return InterruptPage(items=(), next_cursor=None)
            # the index holds pending requests only: their status is not a condition (the
            # planner would take it for a filter of most rows and join the wrong way round)
            conds, params = conds[1:], params[1:]
            where = " AND ".join(["p.principal = ?", *conds])
            if after:
                where += " AND (p.created_at > ? OR (p.created_at = ? AND p.interrupt_id > ?))"
            join = "JOIN interrupts i ON i.interrupt_id = p.interrupt_id " if conds else ""
            one = (
                "SELECT p.created_at AS at, p.interrupt_id AS iid FROM pending_approvers p "
                f"{join}WHERE {where} ORDER BY p.created_at, p.interrupt_id LIMIT ?"
            )
            union = " UNION ".join(f"SELECT * FROM ({one}) e{k}" for k in range(len(principals)))
            sql = (
                f"SELECT {INTERRUPT_COLS_I} FROM ({union}) m "
                "JOIN interrupts i ON i.interrupt_id = m.iid ORDER BY m.at, m.iid LIMIT ?"
            )
            args = [x for p in principals for x in (p, *params, *after, n)] + [n]
        with self._read() as conn:
            rows = self._x(conn, sql, args).fetchall()
        items = [self._interrupt(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit and items:
            next_cursor = encode_cursor(items[-1].created_at, items[-1].interrupt_id)
        return InterruptPage(items=tuple(items), next_cursor=next_cursor)
