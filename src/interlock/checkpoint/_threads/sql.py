"""Threads in SQL, written once for SQLite and PostgreSQL: a mixin of `SqlSaver`.

The `threads` row of a thread holds its root head, its times and its lease; a run holds the
thread while `lease_owner` is set and `lease_until` (database clock) is ahead. Retention
deletes a thread's rows in every room's tables but the audit log.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._checkpoints.chain import prunable
from interlock.checkpoint._checkpoints.protocol import StoredCheckpoint
from interlock.checkpoint._runs.protocol import THREAD_DELETED
from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint._sql_dialect import utc_now
from interlock.checkpoint._threads.protocol import ThreadAudit, ThreadInfo, Threads
from interlock.checkpoint._threads.search_sql import INFO_COLUMNS, INFO_JOIN, SqlThreadSearch

__all__ = ["ACQUIRE_SQL", "SqlThreads"]

ACQUIRE_SQL = (
    "INSERT INTO threads (thread_id, created_at, updated_at, lease_owner, "
    "lease_until, lease_ttl) VALUES (?, ?, ?, ?, {now} + ?, ?) "
    "ON CONFLICT (thread_id) DO UPDATE SET lease_owner = excluded.lease_owner, "
    "lease_until = excluded.lease_until, lease_ttl = excluded.lease_ttl "
    "WHERE threads.lease_owner IS NULL OR threads.lease_owner = excluded.lease_owner "
    "OR threads.lease_until <= {now}"
)
"""Take a thread's lease if free, expired or already ours; parameters: thread_id, now,
now, owner, ttl, ttl."""


def _graph_of(metadata: Any) -> str | None:
    """The `graph` of a head checkpoint's metadata (JSON text), if it names one."""
    if not metadata:
        return None
    graph = json.loads(metadata).get("graph")
    return graph if isinstance(graph, str) else None


class SqlThreads(SqlThreadSearch, SqlCore, Threads):
    # the only half that names its protocol: PostgreSQL's acquire_and_get falls back to
    # the protocol's default through super(), which the type checker must see
    """Leases, summaries and retention over `threads` (reading the other rooms' tables)."""

    if TYPE_CHECKING:

        def _forget_stats(self, thread_id: str) -> None: ...

        def _checkpoint_in(
            self,
            conn: Any,
            thread_id: str,
            checkpoint_ns: str,
            checkpoint_id: str | None,
            after: str | None,
        ) -> StoredCheckpoint | None: ...

        def _has_open_runs(self, thread_id: str) -> bool: ...

        def _fail_open_runs(self, conn: Any, thread_id: str, error: str) -> None: ...

        def _drop_thread_crons(self, conn: Any, thread_id: str) -> None: ...

        def _drop_ended_runs(self, before: datetime) -> None: ...

        def _forget_events(self, conn: Any, thread_id: str) -> None: ...

    def _lock_thread(self, conn: Any, thread_id: str, *, heads: bool = False) -> None:
        """Inside a write transaction that changes several of a thread's rows: lock its
        `threads` row first (with `heads`, its `heads` rows before it), so that every
        writer of the thread takes its rows in one order and none deadlocks with another
        (docs/operations-faults.md, "Deadlocks"). The order: the thread's `heads` rows
        (by namespace), its `threads` row, its requests (by id), their approvers, its
        crons, its audit chain, then its runs and their queue front. PostgreSQL only:
        SQLite has one writer at a time."""
        if self.dialect.name != "postgres":
            return
        if heads:
            self._x(
                conn,
                "SELECT 1 FROM heads WHERE thread_id = ? ORDER BY checkpoint_ns FOR UPDATE",
                (thread_id,),
            ).fetchall()
        self._x(
            conn, "SELECT 1 FROM threads WHERE thread_id = ? FOR UPDATE", (thread_id,)
        ).fetchall()

    def _touch_thread(
        self,
        conn: Any,
        thread_id: str,
        head: str | None,
        lease_owner: str | None,
        release: bool = False,
    ) -> None:
        lease, params = self._touch_parts(thread_id, head, lease_owner, release)
        self._x(
            conn,
            "INSERT INTO threads (thread_id, created_at, updated_at, head_id) "
            "VALUES (?, ?, ?, ?) " + lease,
            params,
        )

    def _touch_parts(
        self, thread_id: str, head: str | None, lease_owner: str | None, release: bool
    ) -> tuple[str, tuple[Any, ...]]:
        """The upsert clause that records a commit on `threads` (updated time, head, and
        the lease: renewed, or given back with `release`), and the parameters of the whole
        `INSERT INTO threads (thread_id, created_at, updated_at, head_id) VALUES (...)`."""
        now = self.dialect.ts(utc_now())
        if release:
            lease = (
                "lease_owner = CASE WHEN threads.lease_owner = ? THEN NULL "
                "ELSE threads.lease_owner END, "
                "lease_until = CASE WHEN threads.lease_owner = ? THEN NULL "
                "ELSE threads.lease_until END"
            )
            params: tuple[Any, ...] = (thread_id, now, now, head, lease_owner, lease_owner)
        else:
            lease = (
                "lease_until = CASE WHEN threads.lease_owner = ? "
                "THEN {now} + threads.lease_ttl ELSE threads.lease_until END"
            )
            params = (thread_id, now, now, head, lease_owner)
        return (
            "ON CONFLICT (thread_id) DO UPDATE SET updated_at = excluded.updated_at, "
            "head_id = COALESCE(excluded.head_id, threads.head_id), " + lease,
            params,
        )

    def acquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Take the lease if free, expired or already ours (one conditional upsert)."""
        now = self.dialect.ts(utc_now())
        with self._write(durable=False) as conn:
            cur = self._x(conn, ACQUIRE_SQL, (thread_id, now, now, owner, float(ttl), float(ttl)))
            return self._count(conn, cur) == 1

    def acquire_and_get(
        self,
        thread_id: str,
        owner: str,
        *,
        ttl: float,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        after: str | None = None,
        flush: bool = True,
        hold: bool = False,
    ) -> tuple[bool, StoredCheckpoint | None]:
        """Take the lease and read the checkpoint in one write transaction: the read sees
        the thread as the lease found it, and a run's start costs one commit, not two.
        (`flush` is for stores whose commits can skip the wait for the disk; `hold`, see
        the protocol, for stores whose `_keep_open` can leave the transaction open.)"""
        now = self.dialect.ts(utc_now())
        with self._write() as conn:
            cur = self._x(conn, ACQUIRE_SQL, (thread_id, now, now, owner, float(ttl), float(ttl)))
            if self._count(conn, cur) != 1:
                return False, None
            stored = self._checkpoint_in(conn, thread_id, checkpoint_ns, checkpoint_id, after)
            if hold:
                self._keep_open(conn, thread_id, owner, float(ttl))
            return True, stored

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Extend the lease only if `owner` still holds it, unexpired (one update)."""
        with self._write(durable=False) as conn:
            cur = self._x(
                conn,
                "UPDATE threads SET lease_until = {now} + ?, lease_ttl = ? "
                "WHERE thread_id = ? AND lease_owner = ? AND lease_until > {now}",
                (float(ttl), float(ttl), thread_id, owner),
            )
            return self._count(conn, cur) == 1

    def release_thread(self, thread_id: str, owner: str) -> None:
        """Give the lease back if we hold it."""
        with self._write(durable=False) as conn:
            self._x(
                conn,
                "UPDATE threads SET lease_owner = NULL, lease_until = NULL "
                "WHERE thread_id = ? AND lease_owner = ?",
                (thread_id, owner),
            )

    def _infos(self, conn: Any, where: str, params: Sequence[Any]) -> list[ThreadInfo]:
        rows = self._x(
            conn,
            f"SELECT {INFO_COLUMNS} FROM threads t {INFO_JOIN} WHERE t.head_id IS NOT NULL {where}",
            params,
        ).fetchall()
        return [self._info_of(r) for r in rows]

    def _info_of(self, r: Sequence[Any]) -> ThreadInfo:
        """A thread's summary from a row of `INFO_COLUMNS`."""
        if r[4]:
            status = "busy"
        elif r[5]:
            status = "interrupted"
        elif r[6] is not None and not json.loads(r[6]) and not json.loads(r[7]):
            status = "finished"
        else:
            status = "idle"
        return ThreadInfo(
            thread_id=r[0],
            head_id=r[1],
            created_at=self.dialect.ts_req(r[2]),
            updated_at=self.dialect.ts_req(r[3]),
            status=status,  # type: ignore[arg-type]
            metadata=serde.loads(r[8]) if r[8] else {},
            owner=r[9],
            graph=_graph_of(r[10]),
        )

    def get_thread(self, thread_id: str) -> ThreadInfo | None:
        """Summary of one thread."""
        with self._read() as conn:
            infos = self._infos(conn, "AND t.thread_id = ?", (thread_id,))
        return infos[0] if infos else None

    def list_threads(
        self, *, limit: int = 100, offset: int = 0, owner: str | None = None
    ) -> tuple[ThreadInfo, ...]:
        """Threads, most recently updated first: one index range (`threads_updated`, or
        `threads_owner` for one person's)."""
        where = "" if owner is None else "AND t.owner = ? "
        params: list[Any] = [] if owner is None else [owner]
        params += [int(limit), int(offset)]
        with self._read() as conn:
            infos = self._infos(conn, where + "ORDER BY t.updated_at DESC LIMIT ? OFFSET ?", params)
        return tuple(infos)

    def set_thread_owner(self, thread_id: str, owner: str) -> None:
        """Record who created the thread (the first owner stays): one upsert."""
        with self._write() as conn:
            self._own_thread_in(conn, thread_id, owner)

    def _own_thread_in(self, conn: Any, thread_id: str, owner: str) -> None:
        """In the caller's transaction: `set_thread_owner` (also the crons room's, which
        makes a fire's thread with its run)."""
        now = self.dialect.ts(utc_now())
        self._x(
            conn,
            "INSERT INTO threads (thread_id, created_at, updated_at, owner) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (thread_id) "
            "DO UPDATE SET owner = COALESCE(threads.owner, excluded.owner)",
            (thread_id, now, now, owner),
        )

    def thread_owner(self, thread_id: str) -> str | None:
        """Who created the thread: one point read."""
        with self._read() as conn:
            return self._thread_owner_in(conn, thread_id)

    def _thread_owner_in(self, conn: Any, thread_id: str) -> str | None:
        """`thread_owner` on the caller's connection (in its transaction)."""
        row = self._x(conn, "SELECT owner FROM threads WHERE thread_id = ?", (thread_id,))
        found = row.fetchone()
        return None if found is None else found[0]

    def delete_thread(self, thread_id: str, *, audit: ThreadAudit | None = None) -> None:
        """Delete every row of the thread (and write `audit` in the same transaction)."""
        detail = None if audit is None else serde.dumps(dict(audit.detail), audit.action)
        with self._write() as conn:
            self._lock_thread(conn, thread_id, heads=True)  # (the one lock order)
            # the requests' approvers first: they are found through the requests
            self._x(
                conn,
                "DELETE FROM pending_approvers WHERE interrupt_id IN "
                "(SELECT interrupt_id FROM interrupts WHERE thread_id = ?)",
                (thread_id,),
            )
            # every room's per-thread tables but the audit log (a new room adds its own)
            for table in (
                "checkpoints",
                "task_writes",
                "interrupts",
                "votes",
                "heads",
                "thread_meta",
                "threads",
            ):
                self._x(conn, f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
            # its crons before its runs (the one lock order: a cron that fires locks its row,
            # then queues its run, which locks the thread's queue front)
            self._drop_thread_crons(conn, thread_id)  # the crons room's hook (audited)
            # its queued runs would start the thread again from nothing: they fail instead
            self._fail_open_runs(conn, thread_id, THREAD_DELETED)
            self._forget_events(conn, thread_id)  # the event log's hook
            if audit is not None and detail is not None:  # (its chain's row: locked above)
                self._audit_in(conn, thread_id, None, audit.action, audit.actor, detail)
        self._forget_stats(thread_id)

    def prune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
        thread_ids: Collection[str] | None = None,
    ) -> int:
        """Retention: drop finished threads idle since `finished_before`, and/or all but the
        last `keep_last` checkpoints of each thread (keeping what they need to be read)."""
        deleted = 0
        if finished_before is not None:
            self._drop_ended_runs(finished_before)  # the records of runs that ended
            with self._read() as conn:
                infos = self._infos(
                    conn, "AND t.updated_at < ?", (self.dialect.ts(finished_before),)
                )
            for info in infos:
                if info.status != "finished" or self._has_open_runs(info.thread_id):
                    continue  # a queued run will add to it
                with self._read() as conn:
                    (n,) = self._x(
                        conn,
                        "SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?",
                        (info.thread_id,),
                    ).fetchone()
                self.delete_thread(info.thread_id)
                deleted += n
        if keep_last is not None:
            deleted += self._prune_checkpoints(keep_last, thread_ids)
        return deleted

    def _prune_checkpoints(self, keep_last: int, thread_ids: Collection[str] | None) -> int:
        """`prune(keep_last=)`: drop all but the last `keep_last` checkpoints of each thread
        (of `thread_ids`, if given) in one transaction; how many went."""
        chosen, params = "", tuple[str, ...]()
        if thread_ids is not None:
            params = tuple(dict.fromkeys(thread_ids))
            marks = ", ".join("?" for _ in params)
            chosen = f" WHERE thread_id IN ({marks})" if params else " WHERE 1 = 0"
        with self._read() as conn:
            rows = self._x(
                conn,
                "SELECT thread_id, checkpoint_ns, checkpoint_id, "
                "parent_id, base_id FROM checkpoints" + chosen,
                params,
            ).fetchall()
        doomed = prunable(rows, keep_last)
        with self._write() as conn:
            for thread_id, ns, cid in doomed:
                self._x(
                    conn,
                    "DELETE FROM checkpoints WHERE thread_id = ? AND "
                    "checkpoint_ns = ? AND checkpoint_id = ?",
                    (thread_id, ns, cid),
                )
                self._x(
                    conn,
                    "DELETE FROM task_writes WHERE thread_id = ? AND "
                    "checkpoint_ns = ? AND checkpoint_id = ?",
                    (thread_id, ns, cid),
                )
        return len(doomed)
