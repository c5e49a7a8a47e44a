"""Crons in SQL, written once for SQLite and PostgreSQL: a mixin of `SqlSaver`.

A fire and a change: `queue_cron_run` makes the thread (a cron without one), updates the
cron's row on the condition that it is as read (`enabled`, `next_run_date`, `updated_at`),
rolling all back when no row matched, then inserts the run and audits it. On PostgreSQL that
update takes the row's lock, so a delete or update of the cron either committed before it
(no row matched) or waits for the fire's commit; on SQLite the write transactions are
serialised. The rows are locked in the order a thread's deletion (which deletes its crons)
takes them: the thread's, the cron's, the run's (and its queue front's), the audit chain's.

Exactly once: `advance_cron` is `UPDATE crons SET next_run_date = <next> WHERE cron_id = ?
AND next_run_date = <due>`. Two processes advancing the same due time are serialised on the
row (SQLite's `BEGIN IMMEDIATE`; PostgreSQL's row lock, after which the second re-reads the
row, sees the new date and changes nothing): one changes a row, the other none.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._crons.protocol import (
    CRON_CHANGES,
    CRON_SORTS,
    CronFire,
    CronJob,
    CronQuery,
    change_detail,
    checked_in_python,
    cron_detail,
    cron_matches,
)
from interlock.checkpoint._runs.protocol import RunRecord
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import json_text, utc_now

__all__ = ["CRON_COLS", "SqlCrons"]

CRON_COLS = (
    "cron_id, agent, thread_id, owner, schedule, timezone, payload, metadata, "
    "on_run_completed, end_time, enabled, next_run_date, created_at, updated_at"
)
_JSON = frozenset({"payload", "metadata"})
_TIMES = frozenset({"end_time", "next_run_date"})
_PAGE = 200
"""Rows read at a time while a metadata filter is checked in Python."""


class _Stale(Exception):
    """Internal: the fired cron is not as read (its transaction is rolled back)."""


class SqlCrons(SqlCore):
    """Crons over the `crons` table."""

    if TYPE_CHECKING:  # the runs' and threads' rooms, written in a fire's transaction

        def _insert_run(
            self,
            conn: Any,
            run_id: str,
            thread_id: str,
            agent: str,
            text: str,
            created_by: str | None,
            after: str | None,
            kind: Any,
            extra: str | None,
            owner: str | None,
            ttl: float | None,
        ) -> Any: ...

        def _run(self, r: Sequence[Any]) -> RunRecord: ...

        def _thread_owner_in(self, conn: Any, thread_id: str) -> str | None: ...

        def _own_thread_in(self, conn: Any, thread_id: str, owner: str) -> None: ...

        def _thread_metadata_in(
            self, conn: Any, thread_id: str, metadata: Mapping[str, Any], text: str
        ) -> None: ...

    def _cron(self, r: Sequence[Any]) -> CronJob:
        ts = self.dialect.ts_out
        return CronJob(
            cron_id=r[0],
            agent=r[1],
            thread_id=r[2],
            owner=r[3],
            schedule=r[4],
            timezone=r[5],
            payload=serde.loads(json_text(r[6])),
            metadata=serde.loads(json_text(r[7])),
            on_run_completed=r[8],
            end_time=ts(r[9]),
            enabled=bool(r[10]),
            next_run_date=ts(r[11]),
            created_at=self.dialect.ts_req(r[12]),
            updated_at=self.dialect.ts_req(r[13]),
        )

    def _param(self, name: str, value: Any) -> Any:
        """A column's parameter."""
        if name in _JSON:
            return serde.dumps(dict(value), f"cron {name}")
        if name in _TIMES:
            return self.dialect.ts(value)
        if name == "enabled":
            return 1 if value else 0
        return value

    def _drop_thread_crons(self, conn: Any, thread_id: str) -> None:
        """In the caller's transaction, as its thread is deleted: delete the thread's crons
        (each audited `cron.deleted`)."""
        rows = self._x(
            conn, "SELECT cron_id FROM crons WHERE thread_id = ? ORDER BY cron_id", (thread_id,)
        ).fetchall()
        if not rows:
            return
        self._x(conn, "DELETE FROM crons WHERE thread_id = ?", (thread_id,))
        for (cron_id,) in rows:
            detail = {"cron_id": cron_id, "reason": "thread_deleted"}
            self._audit_in(conn, thread_id, None, "cron.deleted", None, detail)

    def add_cron(self, cron: CronJob, *, actor: str | None) -> CronJob:
        """Keep a new cron (audited, same transaction)."""
        ts = self.dialect.ts
        params = (
            cron.cron_id,
            cron.agent,
            cron.thread_id,
            cron.owner,
            cron.schedule,
            cron.timezone,
            self._param("payload", cron.payload),
            self._param("metadata", cron.metadata),
            cron.on_run_completed,
            ts(cron.end_time),
            1 if cron.enabled else 0,
            ts(cron.next_run_date),
            ts(cron.created_at),
            ts(cron.updated_at),
        )
        with self._write() as conn:
            cur = self._x(
                conn,
                f"INSERT INTO crons ({CRON_COLS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?J, ?J, ?, ?, ?, ?, ?, ?) ON CONFLICT (cron_id) DO NOTHING",
                params,
            )
            if self._count(conn, cur) != 1:
                raise ValueError(f"cron {cron.cron_id!r} exists")
            row = self._select_cron(conn, cron.cron_id)
            stored = self._cron(row)
            self._audit_in(conn, cron.thread_id, None, "cron.created", actor, cron_detail(stored))
        return stored

    def _select_cron(self, conn: Any, cron_id: str) -> Any:
        return self._x(
            conn, f"SELECT {CRON_COLS} FROM crons WHERE cron_id = ?", (cron_id,)
        ).fetchone()

    def get_cron(self, cron_id: str) -> CronJob | None:
        """One cron by id."""
        with self._read() as conn:
            row = self._select_cron(conn, cron_id)
        return None if row is None else self._cron(row)

    def update_cron(
        self, cron_id: str, changes: Mapping[str, Any], *, actor: str | None
    ) -> CronJob | None:
        """Set the changed fields (audited, same transaction)."""
        unknown = set(changes) - CRON_CHANGES
        if unknown:
            raise ValueError(f"a cron's {sorted(unknown)} cannot be changed")
        names = sorted(changes)
        sets = "".join(f"{n} = {'?J' if n in _JSON else '?'}, " for n in names)
        params = [self._param(n, changes[n]) for n in names]
        detail = change_detail(cron_id, changes)
        with self._write() as conn:
            cur = self._x(
                conn,
                f"UPDATE crons SET {sets}updated_at = ? WHERE cron_id = ?",
                (*params, self.dialect.ts(utc_now()), cron_id),
            )
            if self._count(conn, cur) != 1:
                return None
            cron = self._cron(self._select_cron(conn, cron_id))
            self._audit_in(conn, cron.thread_id, None, "cron.updated", actor, detail)
        return cron

    def delete_cron(self, cron_id: str, *, actor: str | None) -> CronJob | None:
        """Delete a cron (audited, same transaction)."""
        with self._write() as conn:
            row = self._select_cron(conn, cron_id)
            if row is None:
                return None
            cron = self._cron(row)
            self._x(conn, "DELETE FROM crons WHERE cron_id = ?", (cron_id,))
            self._audit_in(conn, cron.thread_id, None, "cron.deleted", actor, {"cron_id": cron_id})
        return cron

    def _where(self, query: CronQuery) -> tuple[str, list[Any]]:
        """The SQL filters of `query` (its metadata and assistant are checked in Python)."""
        sql = " WHERE 1 = 1"
        params: list[Any] = []
        for column, value in (
            ("agent", query.agent),
            ("thread_id", query.thread_id),
            ("owner", query.owner),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        if query.enabled is not None:
            sql += " AND enabled = ?"
            params.append(1 if query.enabled else 0)
        return sql, params

    def _select(self, query: CronQuery) -> tuple[str, list[Any]]:
        """The page query of `query`'s SQL filters in its order (LIMIT and OFFSET last)."""
        if query.sort_by not in CRON_SORTS or query.sort_order not in ("asc", "desc"):
            raise ValueError(f"cannot sort crons by {query.sort_by!r} {query.sort_order!r}")
        where, params = self._where(query)
        col, way = query.sort_by, query.sort_order.upper()
        order = f" ORDER BY CASE WHEN {col} IS NULL THEN 1 ELSE 0 END, {col} {way}, cron_id {way}"
        return f"SELECT {CRON_COLS} FROM crons{where}{order} LIMIT ? OFFSET ?", params

    def _found(self, conn: Any, query: CronQuery) -> Iterator[CronJob]:
        """The crons `query` matches, in its order, read a page at a time."""
        sql, params = self._select(query)
        read = 0
        while True:
            rows = self._x(conn, sql, (*params, _PAGE, read)).fetchall()
            for row in rows:
                cron = self._cron(row)
                if cron_matches(cron, query):
                    yield cron
            if len(rows) < _PAGE:
                return
            read += len(rows)

    def search_crons(
        self, query: CronQuery, *, limit: int = 10, offset: int = 0
    ) -> tuple[CronJob, ...]:
        """Matching crons in the query's order, a page (paged in SQL without a metadata or
        assistant filter; with one, read in order and checked in Python)."""
        if limit <= 0:
            return ()
        with self._read() as conn:
            if not checked_in_python(query):
                sql, params = self._select(query)
                rows = self._x(conn, sql, (*params, limit, offset)).fetchall()
                return tuple(self._cron(r) for r in rows)
            found = islice(self._found(conn, query), offset, offset + limit)
            return tuple(found)

    def count_crons(self, query: CronQuery) -> int:
        """How many crons match."""
        with self._read() as conn:
            if checked_in_python(query):
                return sum(1 for _ in self._found(conn, query))
            where, params = self._where(query)
            row = self._x(conn, f"SELECT COUNT(*) FROM crons{where}", params).fetchone()
        return int(row[0])

    def due_crons(
        self, now: datetime, *, limit: int = 100, agents: Collection[str] | None = None
    ) -> tuple[CronJob, ...]:
        """Enabled crons due at `now` (of `agents`), earliest first (a range of
        `crons_due`, its rows of other agents passed over)."""
        names = None if agents is None else sorted(set(agents))
        if names == [] or limit <= 0:
            return ()
        among = "" if names is None else f" AND agent IN ({', '.join('?' * len(names))})"
        with self._read() as conn:
            rows = self._x(
                conn,
                f"SELECT {CRON_COLS} FROM crons WHERE enabled = 1 "
                f"AND next_run_date IS NOT NULL AND next_run_date <= ?{among} "
                "ORDER BY next_run_date, cron_id LIMIT ?",
                (self.dialect.ts(now), *(names or ()), limit),
            ).fetchall()
        return tuple(self._cron(r) for r in rows)

    def advance_cron(self, cron_id: str, *, due: datetime, next_run: datetime | None) -> bool:
        """Move `next_run_date` from `due` to `next_run`, if it still is `due` (the one
        conditional update that makes a due time fire once)."""
        ts = self.dialect.ts
        with self._write() as conn:
            cur = self._x(
                conn,
                "UPDATE crons SET next_run_date = ? WHERE cron_id = ? AND next_run_date = ?",
                (ts(next_run), cron_id, ts(due)),
            )
            return self._count(conn, cur) == 1

    def queue_cron_run(self, fire: CronFire) -> RunRecord | None:
        """Queue the fire's run (and make its thread) in one transaction, committed only if
        the cron is still as read (see the module docstring)."""
        text = serde.dumps(fire.input, "run input")
        extra = None if fire.options is None else serde.dumps(fire.options, "run options")
        meta = None if fire.new_thread is None else serde.dumps(dict(fire.new_thread), "metadata")
        queued = serde.dumps(dict(fire.queued), "audit detail of run.queued")
        created = serde.dumps(dict(fire.thread_created), "audit detail of thread.created")
        ts = self.dialect.ts
        try:
            with self._write() as conn:
                new = fire.new_thread
                if new is not None and self._thread_owner_in(conn, fire.thread_id) is None:
                    self._own_thread_in(conn, fire.thread_id, fire.created_by or "system")
                    who = fire.created_by
                    self._audit_in(conn, fire.thread_id, None, "thread.created", who, created)
                    self._thread_metadata_in(conn, fire.thread_id, new, meta or "{}")
                cur = self._x(  # the cron's row lock, before the run's (the module docstring)
                    conn,
                    "UPDATE crons SET next_run_date = next_run_date WHERE cron_id = ? "
                    "AND enabled = 1 AND next_run_date = ? AND updated_at = ?",
                    (fire.cron_id, ts(fire.due), ts(fire.updated_at)),
                )
                if self._count(conn, cur) != 1:
                    raise _Stale
                row = self._insert_run(
                    conn,
                    fire.run_id,
                    fire.thread_id,
                    fire.agent,
                    text,
                    fire.created_by,
                    fire.after,
                    "input",
                    extra,
                    None,
                    None,
                )
                if row is None:  # (a racing fire of the same due time: all rolled back)
                    raise ValueError(f"run {fire.run_id!r} already exists")
                self._audit_in(conn, fire.thread_id, None, "run.queued", fire.created_by, queued)
        except _Stale:
            return None
        return self._run(row)
