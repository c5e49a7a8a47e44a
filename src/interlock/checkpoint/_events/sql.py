"""The run event log in SQL: a mixin of `SqlSaver`.

An append takes the thread's next numbers inside its write transaction: on SQLite the write
transaction is the database's one writer; on PostgreSQL a transaction-scoped advisory lock
on the thread serialises appenders of one thread (rare: a thread runs one run at a time),
so two processes never take one number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._events.protocol import RunEvent, RunLog
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text, utc_now

__all__ = ["SqlEventLog"]

_COLS = "thread_id, seq, run_id, event, data, at"
_ENDED = "SELECT run_id FROM run_events WHERE event IN ('end', 'error') AND at < ?"


class SqlEventLog(SqlCore):
    """`append_events`, `read_events`, ... over the `run_events` table."""

    def _forget_events(self, conn: Any, thread_id: str) -> None:
        """In the caller's transaction: drop every event of the thread."""
        self._x(conn, "DELETE FROM run_events WHERE thread_id = ?", (thread_id,))

    def _forget_run_events(self, conn: Any, thread_id: str, run_id: str) -> None:
        """In the caller's transaction: drop every event of one run."""
        self._x(
            conn, "DELETE FROM run_events WHERE thread_id = ? AND run_id = ?", (thread_id, run_id)
        )

    def _drop_ended_run_events(self, conn: Any, before: datetime) -> None:
        """In the caller's transaction (before the run records are dropped): drop the
        events of runs whose stream ended before `before`, and of the ended runs whose
        records are about to be dropped."""
        when = self.dialect.ts(before)
        self._x(conn, f"DELETE FROM run_events WHERE run_id IN ({_ENDED})", (when,))
        self._x(
            conn,
            "DELETE FROM run_events WHERE run_id IN (SELECT run_id FROM runs WHERE "
            "status IN ('done', 'interrupted', 'failed', 'cancelled') AND updated_at < ?)",
            (when,),
        )

    def _event(self, row: Sequence[Any]) -> RunEvent:
        return RunEvent(
            thread_id=row[0],
            seq=int(row[1]),
            run_id=row[2],
            event=row[3],
            data=serde.loads(json_text(row[4])),
            at=self.dialect.ts_req(row[5]),
        )

    def append_events(
        self, thread_id: str, run_id: str, events: Sequence[tuple[str, Any]]
    ) -> tuple[int, ...]:
        """Append events of one run in one transaction; returns their numbers."""
        texts = [(str(e), serde.dumps(d, f"event {e}")) for e, d in events]
        if not texts:
            return ()
        now = self.dialect.ts(utc_now())
        with self._write() as conn:
            if self.dialect.name == "postgres":
                self._x(conn, "SELECT pg_advisory_xact_lock(7, hashtext(?))", (thread_id,))
            (last,) = self._x(
                conn,
                "SELECT COALESCE(MAX(seq), 0) FROM run_events WHERE thread_id = ?",
                (thread_id,),
            ).fetchone()
            seqs = tuple(range(int(last) + 1, int(last) + 1 + len(texts)))
            for seq, (event, text) in zip(seqs, texts, strict=True):
                self._x(
                    conn,
                    f"INSERT INTO run_events ({_COLS}) VALUES (?, ?, ?, ?, ?J, ?)",
                    (thread_id, seq, run_id, event, text, now),
                )
        return seqs

    def read_events(
        self,
        thread_id: str,
        *,
        run_id: str | None = None,
        after: int = 0,
        limit: int = 1000,
    ) -> tuple[RunEvent, ...]:
        """Events above `after`, oldest first."""
        sql = f"SELECT {_COLS} FROM run_events WHERE thread_id = ?"
        params: list[Any] = [thread_id]
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        sql += " AND seq > ? ORDER BY seq LIMIT ?"
        params += [int(after), max(0, int(limit))]
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        return tuple(self._event(r) for r in rows)

    def _logs(self, conn: Any, thread_id: str, where: str, params: Sequence[Any]) -> list[RunLog]:
        spans = self._x(
            conn,
            "SELECT run_id, MIN(seq), MAX(seq), COUNT(*) FROM run_events "
            f"WHERE thread_id = ? {where}",
            (thread_id, *params),
        ).fetchall()
        out = []
        for run_id, first, last, count in spans:
            rows = self._x(
                conn,
                f"SELECT {_COLS} FROM run_events WHERE thread_id = ? AND seq IN (?, ?) "
                "ORDER BY seq",
                (thread_id, first, last),
            ).fetchall()
            events = [self._event(r) for r in rows]
            out.append(
                RunLog(
                    run_id=run_id,
                    thread_id=thread_id,
                    first=events[0],
                    last=events[-1],
                    count=int(count),
                )
            )
        return out

    def run_logs(self, thread_id: str, *, limit: int = 100) -> tuple[RunLog, ...]:
        """Runs with events, newest first."""
        with self._read() as conn:
            logs = self._logs(
                conn,
                thread_id,
                "GROUP BY run_id ORDER BY MIN(seq) DESC LIMIT ?",
                (max(0, int(limit)),),
            )
        return tuple(logs)

    def run_log(self, thread_id: str, run_id: str) -> RunLog | None:
        """One run's summary."""
        with self._read() as conn:
            logs = self._logs(conn, thread_id, "AND run_id = ? GROUP BY run_id", (run_id,))
        return logs[0] if logs else None
