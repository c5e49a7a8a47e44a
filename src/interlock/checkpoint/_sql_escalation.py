"""Escalation of a pending request in SQL (SQLite and PostgreSQL); a mixin of `SqlSaver`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._sql_text import Dialect
from interlock.checkpoint.base import InterruptRecord, escalation_detail

__all__ = ["SqlEscalation"]


class SqlEscalation:
    """`escalate_interrupt`; the connection and row helpers come from `SqlSaver`."""

    dialect: Dialect

    if TYPE_CHECKING:

        def _write(self, *, durable: bool = True) -> AbstractContextManager[Any]: ...

        def _x(self, conn: Any, text: str, params: Sequence[Any] = ()) -> Any: ...

        def _count(self, conn: Any, cur: Any) -> int: ...

        def _interrupt(self, r: Sequence[Any], *, decoded: bool = False) -> InterruptRecord: ...

        def _log_request(
            self,
            conn: Any,
            interrupt_id: str,
            thread_id: str,
            action: str,
            actor: Any,
            detail: str,
        ) -> None: ...

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
        from interlock.checkpoint._sql import INTERRUPT_COLS

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
            cur = self._x(
                conn,
                "UPDATE interrupts SET deadline = ?, metadata = ?J WHERE interrupt_id = ? "
                "AND status = 'pending' AND deadline = ?",
                (ts(deadline), text, interrupt_id, ts(expected_deadline)),
            )
            if self._count(conn, cur) != 1:  # decided or escalated since the read
                return None
            before = self._interrupt(row)
            detail = escalation_detail(before, deadline, metadata)
            self._log_request(
                conn,
                interrupt_id,
                before.thread_id,
                "approval.escalated",
                None,  # the deadline escalated it, not a person
                serde.dumps(detail, "audit detail"),
            )
            after = self._x(
                conn,
                f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ?",
                (interrupt_id,),
            ).fetchone()
        return self._interrupt(after)
