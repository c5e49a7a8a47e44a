"""The run queue in SQL: a mixin of `SqlSaver`.

Claiming is one transaction: on SQLite a `BEGIN IMMEDIATE` write transaction (the database
lock is taken before the oldest claimable run is read, so two claimers are serialised); on
PostgreSQL `PostgresSaver.claim_run` overrides it with one statement that locks the row
with `FOR UPDATE SKIP LOCKED` (concurrent claimers skip each other's rows instead of
waiting). Both use `CLAIMABLE`, so which run is claimable is written once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from interlock.checkpoint import serde
from interlock.checkpoint._runs.protocol import RunRecord, RunStatus, new_run_id
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import utc_now

__all__ = ["CLAIMABLE", "RUN_COLS", "SqlRunQueue"]

RUN_COLS = (
    "run_id, thread_id, agent, input, status, created_by, created_at, updated_at, owner, "
    "attempts, after_id, result, error"
)
CLAIMABLE = (
    "r.status IN ('queued', 'running') AND COALESCE(r.lease_until, 0) <= {now} "
    "AND NOT EXISTS (SELECT 1 FROM runs e WHERE e.thread_id = r.thread_id "
    "AND e.status IN ('queued', 'running') AND (e.created_at < r.created_at "
    "OR (e.created_at = r.created_at AND e.run_id < r.run_id)))"
)
"""Which run `r` may be claimed: queued (and not held back by a delay) or running with an
expired lease, and no older open run of its thread (a thread's runs go in order)."""


class SqlRunQueue(SqlCore):
    """`enqueue_run`, `claim_run`, ... over the `runs` table."""

    def _has_open_runs(self, thread_id: str) -> bool:
        with self._read() as conn:
            row = self._x(
                conn,
                "SELECT 1 FROM runs WHERE thread_id = ? AND status IN ('queued', 'running') "
                "LIMIT 1",
                (thread_id,),
            ).fetchone()
        return row is not None

    def _fail_open_runs(self, conn: Any, thread_id: str, error: str) -> None:
        """In the caller's transaction: fail the thread's queued and running runs."""
        self._x(
            conn,
            "UPDATE runs SET status = 'failed', error = ?, owner = NULL, "
            "lease_until = NULL, updated_at = ? WHERE thread_id = ? "
            "AND status IN ('queued', 'running')",
            (error, self.dialect.ts(utc_now()), thread_id),
        )

    if TYPE_CHECKING:  # the event log's hook (`_events/sql.py`)

        def _drop_ended_run_events(self, conn: Any, before: datetime) -> None: ...

    def _drop_ended_runs(self, before: datetime) -> None:
        """Forget the runs that ended before `before`, and their events (the event log's
        hook, in the same transaction)."""
        with self._write() as conn:
            self._drop_ended_run_events(conn, before)
            self._x(
                conn,
                "DELETE FROM runs WHERE status IN ('done', 'interrupted', 'failed') "
                "AND updated_at < ?",
                (self.dialect.ts(before),),
            )

    def _run(self, row: Sequence[Any]) -> RunRecord:
        """A run from its columns (`RUN_COLS` order)."""
        return RunRecord(
            run_id=row[0],
            thread_id=row[1],
            agent=row[2],
            input=serde.loads(row[3]),
            status=row[4],
            created_by=row[5],
            created_at=self.dialect.ts_req(row[6]),
            updated_at=self.dialect.ts_req(row[7]),
            owner=row[8],
            attempts=int(row[9]),
            after=row[10],
            result=None if row[11] is None else serde.loads(row[11]),
            error=row[12],
        )

    def enqueue_run(
        self,
        *,
        thread_id: str,
        agent: str,
        input: Any,
        created_by: str | None = None,
        after: str | None = None,
        run_id: str | None = None,
    ) -> RunRecord:
        """Queue a run: one insert, committed before returning. On PostgreSQL its time is
        the database's, so that processes on several machines queue one thread's runs in
        the order they were sent whatever their clocks say."""
        text = serde.dumps(input, "run input")
        run_id = run_id or new_run_id()
        times: tuple[Any, ...] = ()
        if self.dialect.name == "postgres":
            when = "clock_timestamp(), clock_timestamp()"
        else:  # one machine, one clock
            now = self.dialect.ts(utc_now())
            when, times = "?, ?", (now, now)
        with self._write() as conn:
            self._x(
                conn,
                f"INSERT INTO runs ({RUN_COLS}) VALUES "
                f"(?, ?, ?, ?J, 'queued', ?, {when}, NULL, 0, ?, NULL, NULL)",
                (run_id, thread_id, agent, text, created_by, *times, after),
            )
            row = self._x(conn, f"SELECT {RUN_COLS} FROM runs WHERE run_id = ?", (run_id,))
            return self._run(row.fetchone())

    def claim_run(self, owner: str, *, ttl: float) -> RunRecord | None:
        """Claim the oldest claimable run inside one write transaction."""
        now = self.dialect.ts(utc_now())
        with self._write() as conn:
            found = self._x(
                conn,
                f"SELECT r.run_id FROM runs r WHERE {CLAIMABLE} "
                "ORDER BY r.created_at, r.run_id LIMIT 1",
            ).fetchone()
            if found is None:
                return None
            cur = self._x(
                conn,
                "UPDATE runs SET status = 'running', owner = ?, lease_until = {now} + ?, "
                "attempts = attempts + 1, updated_at = ? WHERE run_id = ?",
                (owner, float(ttl), now, found[0]),
            )
            if self._count(conn, cur) != 1:  # pragma: no cover - the transaction holds it
                return None
            row = self._x(conn, f"SELECT {RUN_COLS} FROM runs WHERE run_id = ?", (found[0],))
            return self._run(row.fetchone())

    def _owned_update(
        self, assignments: str, params: Sequence[Any], run_id: str, owner: str
    ) -> bool:
        """`UPDATE runs SET <assignments>` if `owner` holds the running run."""
        with self._write() as conn:
            cur = self._x(
                conn,
                f"UPDATE runs SET {assignments}, updated_at = ? "
                "WHERE run_id = ? AND owner = ? AND status = 'running'",
                (*params, self.dialect.ts(utc_now()), run_id, owner),
            )
            return self._count(conn, cur) == 1

    def renew_run(self, run_id: str, owner: str, *, ttl: float) -> bool:
        """Extend the lease if `owner` holds the run."""
        return self._owned_update("lease_until = {now} + ?", (float(ttl),), run_id, owner)

    def finish_run(
        self,
        run_id: str,
        owner: str,
        *,
        status: Literal["done", "interrupted", "failed"],
        result: Any = None,
        error: str | None = None,
    ) -> bool:
        """Record the run's end if `owner` holds it."""
        if status not in ("done", "interrupted", "failed"):
            raise ValueError(f"a run ends done, interrupted or failed, not {status!r}")
        text = None if result is None else serde.dumps(result, "run result")
        return self._owned_update(
            "status = ?, result = ?J, error = ?, lease_until = NULL",
            (status, text, error),
            run_id,
            owner,
        )

    def release_run(self, run_id: str, owner: str, *, delay: float = 0.0) -> bool:
        """Give the run back to the queue, claimable after `delay` seconds."""
        return self._owned_update(
            "status = 'queued', owner = NULL, lease_until = {now} + ?, attempts = attempts - 1",
            (float(delay),),
            run_id,
            owner,
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        with self._read() as conn:
            row = self._x(conn, f"SELECT {RUN_COLS} FROM runs WHERE run_id = ?", (run_id,))
            found = row.fetchone()
        return self._run(found) if found else None

    def list_runs(
        self,
        *,
        thread_id: str | None = None,
        status: RunStatus | None = None,
        limit: int = 100,
    ) -> tuple[RunRecord, ...]:
        """Runs newest first."""
        sql = f"SELECT {RUN_COLS} FROM runs WHERE 1 = 1"
        params: list[Any] = []
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        sql += " ORDER BY created_at DESC, run_id DESC LIMIT ?"
        params.append(max(0, int(limit)))
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        return tuple(self._run(r) for r in rows)
