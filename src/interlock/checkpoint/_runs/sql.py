"""The run queue in SQL: a mixin of `SqlSaver`.

Claiming is one transaction: on SQLite a `BEGIN IMMEDIATE` write transaction (the database
lock is taken before the oldest claimable run is read, so two claimers are serialised); on
PostgreSQL `PostgresSaver.claim_run` overrides it with one statement that locks the row
with `FOR UPDATE SKIP LOCKED` (concurrent claimers skip each other's rows instead of
waiting). Both use `claimable`, so which run is claimable is written once.

A thread's runs go one at a time, in order: only the front of its queue (its oldest open
run, which `run_fronts` holds, kept by triggers: `_runs/migration.py`) may be claimed. A
claim walks the fronts oldest first and stops at the first claimable one, however many
runs wait behind them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from interlock.checkpoint import serde
from interlock.checkpoint._runs.protocol import (
    FINAL_STATUSES,
    RunKind,
    RunRecord,
    RunStatus,
    StrandedThread,
    new_run_id,
)
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import utc_now
from interlock.checkpoint._workers.sql import advertised

__all__ = ["CLAIM", "CLAIMABLE", "RUN_COLS", "STRANDED", "SqlRunQueue", "claimable"]

RUN_COLS = (
    "run_id, thread_id, agent, input, status, created_by, created_at, updated_at, owner, "
    "attempts, after_id, result, error, kind, options, for_graph, for_version"
)
CLAIMABLE = (
    "r.status IN ('queued', 'running') AND COALESCE(r.lease_until, 0) <= {now} "
    "AND NOT EXISTS (SELECT 1 FROM runs o WHERE o.thread_id = r.thread_id "
    "AND o.status = 'running' AND o.run_id <> r.run_id AND o.lease_until > {now})"
)
"""Whether the front `r` of its thread may be claimed: queued (and not held back by a
delay) or running with an expired lease, and no other run of its thread is running with a
live lease. (The status is checked again because PostgreSQL checks the latest version of
a row it locks: the run may have ended meanwhile. The front is the thread's oldest open
run by `created_at`, the time its insert started: a run whose insert began first but
committed after a younger run was claimed becomes the front while that one runs, and
without the last check it was claimed beside it. The check reads `runs_running_thread`,
migration 19.)"""


def claimable(versions: Collection[tuple[str, str]]) -> tuple[str, tuple[str, ...]]:
    """`CLAIMABLE` for a claimer running `versions` ((graph, version) pairs), and its
    parameters: a run given back for a version is claimable only by a claimer running it,
    while a live process advertises the version, and by anyone once none does."""
    pairs = sorted(set(versions))
    mine = "".join(" OR (r.for_graph = ? AND r.for_version = ?)" for _ in pairs)
    sql = (
        f"{CLAIMABLE} AND (r.for_version IS NULL{mine} "
        f"OR NOT {advertised('r.for_graph', 'r.for_version')})"
    )
    return sql, tuple(x for pair in pairs for x in pair)


CLAIM = (
    "SELECT f.run_id FROM run_fronts f WHERE EXISTS (SELECT 1 FROM runs r "
    "WHERE r.run_id = f.run_id AND {claimable}) ORDER BY f.created_at, f.run_id LIMIT 1"
)
"""The run to claim: the fronts oldest first (`run_fronts_order`), one lookup of each
front's run, up to the first claimable one. (A correlated subquery, not a join: as a join,
SQLite with statistics of `runs` but none of `run_fronts` first built a Bloom filter of
every run. PostgreSQL's claim is `PG_CLAIM`.)"""


STRANDED = (
    "SELECT i.thread_id, i.checkpoint_ns, i.checkpoint_id, i.interrupt_id, i.decided_by, "
    "i.decided_at FROM interrupts i JOIN heads h ON h.thread_id = i.thread_id "
    "AND h.checkpoint_ns = i.checkpoint_ns AND h.head_id = i.checkpoint_id "
    "WHERE i.status IN ('resolved', 'expired') AND i.decided_at >= ? "
    "AND NOT EXISTS (SELECT 1 FROM interrupts p WHERE p.thread_id = i.thread_id "
    "AND p.checkpoint_ns = i.checkpoint_ns AND p.checkpoint_id = i.checkpoint_id "
    "AND p.status = 'pending') "
    "AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = i.thread_id "
    "AND (r.status IN ('queued', 'running') OR r.updated_at >= i.decided_at)) "
    "AND NOT EXISTS (SELECT 1 FROM threads t WHERE t.thread_id = i.thread_id "
    "AND t.lease_owner IS NOT NULL AND t.lease_until > {now}) "
    "ORDER BY i.decided_at, i.interrupt_id LIMIT ?"
)
"""Decided requests whose thread's head is still paused on them, with nothing pending at
that checkpoint, no run open or ended on the thread since the decision, and its lease
free. Driven by the partial index `interrupts_decided` (migration 8: decisions by time),
then one lookup per candidate in `heads`, `interrupts_thread`, `runs_thread` and
`threads`. (A request pending elsewhere on the thread — a subgraph's — is checked by the
run that is queued: it only reports a thread that waits.)"""


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

        def _forget_run_events(self, conn: Any, thread_id: str, run_id: str) -> None: ...

    def _drop_ended_runs(self, before: datetime) -> None:
        """Forget the runs that ended before `before`, and their events (the event log's
        hook, in the same transaction)."""
        with self._write() as conn:
            self._drop_ended_run_events(conn, before)
            self._x(
                conn,
                "DELETE FROM runs WHERE status IN ('done', 'interrupted', 'failed', 'cancelled') "
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
            kind=row[13],
            options=None if row[14] is None else serde.loads(row[14]),
            for_graph=row[15],
            for_version=row[16],
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
        kind: RunKind = "input",
        options: Any = None,
        owner: str | None = None,
        ttl: float | None = None,
    ) -> RunRecord:
        """Queue a run (claimed by `owner` already, if given): one insert, committed before
        returning. On PostgreSQL its time is the database's, so that processes on several
        machines queue one thread's runs in the order they were sent whatever their clocks
        say."""
        text = serde.dumps(input, "run input")
        extra = None if options is None else serde.dumps(options, "run options")
        run_id = run_id or new_run_id()
        with self._enqueue_conn() as conn:
            row = self._insert_run(
                conn, run_id, thread_id, agent, text, created_by, after, kind, extra, owner, ttl
            )
        if row is None:
            raise ValueError(f"run {run_id!r} already exists")
        return self._run(row)

    def _enqueue_conn(self) -> Any:
        """Where `enqueue_run` inserts: a write transaction (PostgreSQL: one statement in
        autocommit)."""
        return self._write()

    def _insert_run(
        self,
        conn: Any,
        run_id: str,
        thread_id: str,
        agent: str,
        text: str,
        created_by: str | None,
        after: str | None,
        kind: RunKind,
        extra: str | None,
        owner: str | None,
        ttl: float | None,
    ) -> Any:
        """In the caller's transaction: insert a run (its input and options serialised
        already); its row, or None (nothing written) if `run_id` exists. Also the crons
        room's, which queues a fire's run in its own transaction."""
        times: tuple[Any, ...] = ()
        if self.dialect.name == "postgres":
            when = "clock_timestamp(), clock_timestamp()"
        else:  # one machine, one clock
            now = self.dialect.ts(utc_now())
            when, times = "?, ?", (now, now)
        status, attempts = ("running", 1) if owner else ("queued", 0)
        lease = "{now} + ?" if owner else "NULL"
        lease_params: tuple[Any, ...] = (float(ttl or 0),) if owner else ()
        if self._x(conn, "SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone():
            return None
        self._x(
            conn,
            f"INSERT INTO runs ({RUN_COLS}, lease_until) VALUES "
            f"(?, ?, ?, ?J, ?, ?, {when}, ?, ?, ?, NULL, NULL, ?, ?J, NULL, NULL, {lease})",
            (
                run_id,
                thread_id,
                agent,
                text,
                status,
                created_by,
                *times,
                owner or None,
                attempts,
                after,
                kind,
                extra,
                *lease_params,
            ),
        )
        return self._x(conn, f"SELECT {RUN_COLS} FROM runs WHERE run_id = ?", (run_id,)).fetchone()

    def cancel_run(self, run_id: str) -> RunRecord | None:
        """Cancel the run if it is queued (one conditional update)."""
        with self._write() as conn:
            self._x(
                conn,
                "UPDATE runs SET status = 'cancelled', lease_until = NULL, updated_at = ? "
                "WHERE run_id = ? AND status = 'queued'",
                (self.dialect.ts(utc_now()), run_id),
            )
            row = self._x(conn, f"SELECT {RUN_COLS} FROM runs WHERE run_id = ?", (run_id,))
            found = row.fetchone()
        return self._run(found) if found else None

    def stop_run(self, run_id: str) -> RunRecord | None:
        """Cancel the run if it is queued, mark it if it is running or a queued resume (one
        transaction)."""
        marked = (
            "COALESCE(options, '{}'::jsonb) || '{\"stop\": true}'::jsonb"
            if self.dialect.name == "postgres"
            else "json_set(COALESCE(options, '{}'), '$.stop', json('true'))"
        )
        with self._write() as conn:
            now = self.dialect.ts(utc_now())
            self._x(
                conn,
                "UPDATE runs SET status = 'cancelled', lease_until = NULL, updated_at = ? "
                "WHERE run_id = ? AND status = 'queued' AND kind <> 'resume'",
                (now, run_id),
            )
            self._x(
                conn,
                f"UPDATE runs SET options = {marked}, updated_at = ? "
                "WHERE run_id = ? AND status IN ('queued', 'running')",
                (now, run_id),
            )
            row = self._x(conn, f"SELECT {RUN_COLS} FROM runs WHERE run_id = ?", (run_id,))
            found = row.fetchone()
        return self._run(found) if found else None

    def discard_run(self, run_id: str, owner: str) -> bool:
        """Delete the run if `owner` holds it."""
        with self._write() as conn:
            cur = self._x(
                conn,
                "DELETE FROM runs WHERE run_id = ? AND owner = ? AND status = 'running'",
                (run_id, owner),
            )
            return self._count(conn, cur) == 1

    def delete_run(self, thread_id: str, run_id: str) -> bool:
        """Forget the ended run and its events (one transaction)."""
        with self._write() as conn:
            cur = self._x(
                conn,
                "DELETE FROM runs WHERE run_id = ? AND thread_id = ? "
                "AND status IN ('done', 'interrupted', 'failed', 'cancelled')",
                (run_id, thread_id),
            )
            if self._count(conn, cur) != 1:
                return False
            self._forget_run_events(conn, thread_id, run_id)
            return True

    def stranded_threads(self, *, since: datetime, limit: int = 100) -> tuple[StrandedThread, ...]:
        """Threads decided but not carried out (`STRANDED`)."""
        limit = max(0, int(limit))
        with self._read() as conn:
            rows = self._x(conn, STRANDED, (self.dialect.ts(since), limit * 4 + 4)).fetchall()
        found: dict[str, list[Sequence[Any]]] = {}
        for row in rows:
            found.setdefault(row[0], []).append(row)
        out = []
        for thread_id, group in list(found.items())[:limit]:
            root = [r for r in group if r[1] == ""] or group
            out.append(
                StrandedThread(
                    thread_id=thread_id,
                    checkpoint_id=root[-1][2],
                    interrupt_ids=tuple(r[3] for r in group),
                    graph=None,
                    decided_by=group[-1][4],
                    decided_at=self.dialect.ts_req(group[-1][5]),
                )
            )
        return tuple(replace(s, graph=self._graph_of(s.interrupt_ids[0])) for s in out)

    def _graph_of(self, interrupt_id: str) -> str | None:
        record = self.get_interrupt(interrupt_id)  # type: ignore[attr-defined]
        graph = (record.metadata or {}).get("graph") if record is not None else None
        return str(graph) if graph is not None else None

    def claim_run(
        self, owner: str, *, ttl: float, versions: Collection[tuple[str, str]] = ()
    ) -> RunRecord | None:
        """Claim the oldest claimable run inside one write transaction."""
        now = self.dialect.ts(utc_now())
        where, params = claimable(versions)
        with self._write() as conn:
            found = self._x(conn, CLAIM.format(claimable=where), params).fetchone()
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
        status: Literal["done", "interrupted", "failed", "cancelled"],
        result: Any = None,
        error: str | None = None,
    ) -> bool:
        """Record the run's end if `owner` holds it."""
        if status not in FINAL_STATUSES:
            raise ValueError(f"a run ends done, interrupted, failed or cancelled, not {status!r}")
        text = None if result is None else serde.dumps(result, "run result")
        return self._owned_update(
            "status = ?, result = ?J, error = ?, lease_until = NULL",
            (status, text, error),
            run_id,
            owner,
        )

    def release_run(
        self,
        run_id: str,
        owner: str,
        *,
        delay: float = 0.0,
        for_version: tuple[str, str] | None = None,
    ) -> bool:
        """Give the run back to the queue, claimable after `delay` seconds (marked for
        `for_version`, or keeping its mark)."""
        graph, version = for_version if for_version is not None else (None, None)
        return self._owned_update(
            "status = 'queued', owner = NULL, lease_until = {now} + ?, attempts = attempts - 1, "
            "for_graph = COALESCE(?, for_graph), for_version = COALESCE(?, for_version)",
            (float(delay), graph, version),
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
