"""`SqlSaver`: the store protocol in SQL, written once for SQLite and PostgreSQL.

Subclasses supply a `Dialect` (placeholders, column types, the database clock) and
connections (`_read()` / `_write()` context managers yielding a DB-API connection whose
`execute(sql, params)` returns a cursor). Every statement here is shared.

Exactly once: a decision is `UPDATE interrupts SET status=... WHERE interrupt_id=? AND
status='pending'` — the one caller whose update changes a row wins. A commit is a
compare-and-swap on `heads`. A run holds its thread through a lease in `threads`.
"""

from __future__ import annotations

import json
from abc import abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._chain import (
    EncodedRow,
    RowStats,
    chain_between,
    decode_record,
    decode_writes,
    encode_record,
)
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint._sql_audit import SqlAuditLog
from interlock.checkpoint._sql_escalation import SqlEscalation
from interlock.checkpoint._sql_retention import SqlRetention
from interlock.checkpoint._sql_runs import SqlRunQueue
from interlock.checkpoint._sql_text import (
    ACQUIRE_SQL,
    CHECKPOINT_INSERT_COLS,
    CHECKPOINT_READ_COLS,
    HEAD_OF,
    INTERRUPT_COLS,
    RECORD_COLS,
    Dialect,
    decode_cursor,
    encode_cursor,
    json_text,
    missing_checkpoint,
    utc_now,
)
from interlock.checkpoint.base import (
    BaseSaver,
    CheckpointRecord,
    InterruptPage,
    InterruptRecord,
    InterruptStatus,
    SnapshotPolicy,
    StoredCheckpoint,
    TaskWrites,
    ThreadInfo,
    decision_action,
)
from interlock.errors import ResumeConflict, ResumeError

__all__ = [
    "ACQUIRE_SQL",
    "CHECKPOINT_INSERT_COLS",
    "CHECKPOINT_READ_COLS",
    "HEAD_OF",
    "INTERRUPT_COLS",
    "Dialect",
    "SqlSaver",
    "missing_checkpoint",
]


class SqlSaver(SqlAuditLog, SqlEscalation, SqlRetention, SqlRunQueue, BaseSaver):
    """A store over a SQL database; see the module docstring."""

    dialect: Dialect

    def __init__(self, *, snapshot_policy: SnapshotPolicy | None = None) -> None:
        self.policy = snapshot_policy or SnapshotPolicy()
        self._stats: dict[tuple[str, str, str], RowStats] = {}
        self._sql_cache: dict[str, str] = {}

    # ---- connections: provided by the dialect subclass ------------------------------------

    @abstractmethod
    def _read(self) -> AbstractContextManager[Any]:
        """A connection for reads."""

    @abstractmethod
    def _write(self, *, durable: bool = True) -> AbstractContextManager[Any]:
        """A write transaction. `durable=False` marks a single-statement write of soft state
        (a lease), which a store may run without an explicit transaction."""

    def _count(self, conn: Any, cur: Any) -> int:
        """Rows changed by the statement `cur` ran."""
        return int(cur.rowcount)

    def _lock_migrations(self, conn: Any) -> None:
        """Serialise concurrent schema setup (PostgreSQL takes an advisory lock)."""

    def _q(self, text: str) -> str:
        out = self._sql_cache.get(text)
        if out is None:
            out = self._sql_cache[text] = self.dialect.sql(text)
        return out

    def _x(self, conn: Any, text: str, params: Sequence[Any] = ()) -> Any:
        return conn.execute(self._q(text), tuple(params))

    def setup(self) -> None:
        """Create or upgrade the schema (idempotent; safe from several processes)."""
        with self._write() as conn:
            self._lock_migrations(conn)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS interlock_migrations ("
                "version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            done = {row[0] for row in self._x(conn, "SELECT version FROM interlock_migrations")}
            for version, description, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    if isinstance(statement, tuple):
                        only, statement = statement
                        if only != self.dialect.name:
                            continue
                    conn.execute(self.dialect.ddl(statement))
                self._x(
                    conn,
                    "INSERT INTO interlock_migrations VALUES (?, ?, ?)",
                    (version, description, utc_now().isoformat()),
                )

    def schema_versions(self) -> list[int]:
        """Applied migration versions, ascending."""
        with self._read() as conn:
            rows = self._x(conn, "SELECT version FROM interlock_migrations ORDER BY version")
            return [r[0] for r in rows]

    # ---- checkpoints ---------------------------------------------------------------------

    def _parent_stats(self, conn: Any, record: CheckpointRecord) -> RowStats | None:
        if record.parent_id is None:
            return None
        key = (record.thread_id, record.checkpoint_ns, record.parent_id)
        stats = self._stats.get(key)
        if stats is not None:
            return stats
        row = self._x(
            conn,
            "SELECT base_id, bytes_since, steps_since, snapshot_bytes FROM checkpoints "
            "WHERE thread_id = ? AND checkpoint_ns = ? AND checkpoint_id = ?",
            key,
        ).fetchone()
        return (
            RowStats(base_id=row[0], bytes_since=row[1], steps_since=row[2], snapshot_bytes=row[3])
            if row
            else None
        )

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
                requester = json.loads(params[15]).get("requested_by")
                self._log_request(
                    conn,
                    params[0],
                    params[1],
                    "approval.requested",
                    requester,
                    '{"value":' + params[9] + "}",
                )

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

    def put_checkpoint(
        self,
        record: CheckpointRecord,
        *,
        expected_head: str | None,
        interrupts: Sequence[InterruptRecord] = (),
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Commit a checkpoint: serialise first, then one transaction with a head CAS."""
        intr_rows = [self._interrupt_params(i) for i in interrupts]
        with self._read() as conn:
            parent = self._parent_stats(conn, record)
        encoded = encode_record(record, parent, self.policy)
        thread, ns, cid = record.thread_id, record.checkpoint_ns, record.checkpoint_id
        with self._write() as conn:
            if expected_head is None:
                cur = self._x(
                    conn,
                    "INSERT INTO heads (thread_id, checkpoint_ns, head_id) VALUES (?, ?, ?) "
                    "ON CONFLICT (thread_id, checkpoint_ns) DO NOTHING",
                    (thread, ns, cid),
                )
            else:
                cur = self._x(
                    conn,
                    "UPDATE heads SET head_id = ? WHERE thread_id = ? AND checkpoint_ns = ? "
                    "AND head_id = ?",
                    (cid, thread, ns, expected_head),
                )
            if self._count(conn, cur) != 1:
                raise ResumeConflict(
                    f"thread {thread!r} moved on (expected head {expected_head}); another run "
                    "committed first"
                )
            if (
                encoded.snapshot is None
                and not self._x(
                    conn,
                    "SELECT 1 FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                    "AND checkpoint_id = ?",
                    (thread, ns, encoded.stats.base_id),
                ).fetchone()
            ):  # its base snapshot was pruned meanwhile: store a snapshot instead
                encoded = encode_record(record, None, self.policy)
            self._x(
                conn,
                f"INSERT INTO checkpoints ({CHECKPOINT_INSERT_COLS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?J, ?J, ?J, ?J, ?J, ?J, ?, ?, ?, ?)",
                self._checkpoint_params(record, encoded),
            )
            self._touch_thread(conn, thread, cid if ns == "" else None, lease_owner, release_lease)
            self._insert_interrupts(conn, intr_rows)
        self._remember_stats((thread, ns, cid), encoded.stats)

    def _checkpoint_params(self, record: CheckpointRecord, encoded: EncodedRow) -> tuple[Any, ...]:
        """Parameters of a checkpoint row, in `CHECKPOINT_INSERT_COLS` order."""
        s = encoded.stats
        return (
            record.thread_id,
            record.checkpoint_ns,
            record.checkpoint_id,
            record.parent_id,
            record.step,
            record.source,
            self.dialect.ts(record.created_at),
            encoded.writes,
            encoded.snapshot,
            encoded.next,
            encoded.sends,
            encoded.barriers,
            encoded.metadata,
            s.base_id,
            s.bytes_since,
            s.steps_since,
            s.snapshot_bytes,
        )

    def _record(self, row: Sequence[Any]) -> CheckpointRecord:
        return decode_record(
            thread_id=row[0],
            checkpoint_ns=row[1],
            checkpoint_id=row[2],
            parent_id=row[3],
            step=row[4],
            created_at=self.dialect.ts_out(row[5]),
            source=row[6],
            writes=row[7],
            next=row[8],
            sends=row[9],
            barriers=row[10],
            metadata=row[11],
        )

    def get_checkpoint(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        *,
        after: str | None = None,
    ) -> StoredCheckpoint | None:
        """The head (or given) checkpoint with its fold chain, in one read transaction."""
        extra = self._children_columns()
        with self._read() as conn:
            if checkpoint_id is None:  # the head, found and read in one query
                row = self._x(
                    conn,
                    f"SELECT {CHECKPOINT_READ_COLS}, {extra} FROM checkpoints c WHERE "
                    f"c.thread_id = ? AND c.checkpoint_ns = ? AND c.checkpoint_id = {HEAD_OF}",
                    (thread_id, checkpoint_ns, thread_id, checkpoint_ns),
                ).fetchone()
            else:
                row = self._x(
                    conn,
                    f"SELECT {CHECKPOINT_READ_COLS}, {extra} FROM checkpoints c "
                    "WHERE c.thread_id = ? AND c.checkpoint_ns = ? AND c.checkpoint_id = ?",
                    (thread_id, checkpoint_ns, checkpoint_id),
                ).fetchone()
            if row is None:
                return None
            return self._stored(conn, row, after)

    def _stored(self, conn: Any, row: Sequence[Any], after: str | None) -> StoredCheckpoint:
        """A `StoredCheckpoint` from a checkpoint row read with `_children_columns()` (reads
        the snapshot and the writes the fold needs, when the row is not enough)."""
        record = self._record(row)
        thread_id, checkpoint_ns = record.thread_id, record.checkpoint_ns
        cid = record.checkpoint_id
        base_id = row[12]
        self._remember_stats(
            (thread_id, checkpoint_ns, cid),
            RowStats(
                base_id=base_id,
                bytes_since=row[13],
                steps_since=row[14],
                snapshot_bytes=row[15],
            ),
        )
        if cid in (after, base_id):
            start, ids = cid, []
        elif after is not None and record.parent_id == after:
            start, ids = after, [cid]  # the common case: one step since the known state
        else:
            start, ids = self._walk(conn, thread_id, checkpoint_ns, cid, base_id, after)
        writes: dict[str, str] = {}
        if ids and ids != [cid]:
            writes = dict(
                self._x(
                    conn,
                    "SELECT checkpoint_id, writes FROM checkpoints WHERE thread_id = ? AND "
                    "checkpoint_ns = ? AND checkpoint_id > ? AND checkpoint_id <= ?",
                    (thread_id, checkpoint_ns, start, cid),
                ).fetchall()
            )
        base: dict[str, Any] = {}
        if start != after:
            snap = self._x(
                conn,
                "SELECT snapshot FROM checkpoints WHERE thread_id = ? AND "
                "checkpoint_ns = ? AND checkpoint_id = ?",
                (thread_id, checkpoint_ns, start),
            ).fetchone()
            base = serde.loads(snap[0]) if snap and snap[0] is not None else {}
        task_writes, interrupts = self._children(conn, thread_id, checkpoint_ns, cid, row[16:])
        chain = tuple(record.writes if i == cid else decode_writes(writes[i]) for i in ids)
        return StoredCheckpoint(
            record=record,
            base=base,
            chain=chain,
            task_writes=task_writes,
            interrupts=interrupts,
            base_id=start,
        )

    def _children_columns(self) -> str:
        """Extra columns of the checkpoint read that tell (or carry) its task writes and
        interrupts; `_children` turns them into records. Here: two EXISTS flags, so that a
        checkpoint with neither costs no further query."""
        return (
            "EXISTS (SELECT 1 FROM task_writes w WHERE w.thread_id = c.thread_id AND "
            "w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id), "
            "EXISTS (SELECT 1 FROM interrupts i WHERE i.thread_id = c.thread_id AND "
            "i.checkpoint_ns = c.checkpoint_ns AND i.checkpoint_id = c.checkpoint_id)"
        )

    def _children(
        self, conn: Any, thread_id: str, ns: str, cid: str, extra: Sequence[Any]
    ) -> tuple[tuple[TaskWrites, ...], tuple[InterruptRecord, ...]]:
        """Task writes and interrupts saved against checkpoint `cid`."""
        task_writes: tuple[TaskWrites, ...] = ()
        interrupts: tuple[InterruptRecord, ...] = ()
        if extra[0]:
            rows = self._x(
                conn,
                "SELECT task_id, task_name, writes FROM task_writes WHERE thread_id = ? AND "
                "checkpoint_ns = ? AND checkpoint_id = ? ORDER BY task_id",
                (thread_id, ns, cid),
            ).fetchall()
            task_writes = tuple(
                TaskWrites(
                    task_id=t[0],
                    task_name=t[1],
                    writes=tuple((c, v) for c, v in serde.loads(t[2])),
                )
                for t in rows
            )
        if extra[1]:
            rows = self._x(
                conn,
                f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE thread_id = ? AND "
                "checkpoint_ns = ? AND checkpoint_id = ? ORDER BY task_id, idx",
                (thread_id, ns, cid),
            ).fetchall()
            interrupts = tuple(self._interrupt(r) for r in rows)
        return task_writes, interrupts

    def _remember_stats(self, key: tuple[str, str, str], stats: RowStats) -> None:
        """Keep a checkpoint's row stats (immutable once written) to plan its child."""
        if len(self._stats) > 4096:
            self._stats.clear()
        self._stats[key] = stats

    def _walk(
        self, conn: Any, thread_id: str, ns: str, cid: str, base_id: str, after: str | None
    ) -> tuple[str, list[str]]:
        """The fold path from `after` (when it is on the chain) or the base up to `cid`.

        Reads only the ids in the id range it needs: with a cached `after` that is the few
        checkpoints since then, not everything since the last snapshot."""
        lowers = [base_id]
        if after is not None and base_id < after <= cid:
            lowers.insert(0, after)
        for lower in lowers:
            parents = dict(
                self._x(
                    conn,
                    "SELECT checkpoint_id, parent_id FROM checkpoints WHERE thread_id = ? AND "
                    "checkpoint_ns = ? AND checkpoint_id >= ? AND checkpoint_id <= ?",
                    (thread_id, ns, lower, cid),
                ).fetchall()
            )
            try:
                return chain_between(cid, base_id, after, parents.get)
            except LookupError:
                continue
        raise LookupError(f"checkpoint {cid} of thread {thread_id} cannot reach its snapshot")

    def list_checkpoints(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        *,
        before: str | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointRecord]:
        """Records newest first, from the primary-key index."""
        sql = f"SELECT {RECORD_COLS} FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ?"
        params: list[Any] = [thread_id, checkpoint_ns]
        if before is not None:
            sql += " AND checkpoint_id < ?"
            params.append(before)
        sql += " ORDER BY checkpoint_id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        return iter([self._record(r) for r in rows])

    # ---- incomplete steps ----------------------------------------------------------------

    def put_task_writes(
        self,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str,
        task_writes: Sequence[TaskWrites],
        interrupts: Sequence[InterruptRecord] = (),
        *,
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Save (replace per task) writes of an incomplete step, plus new interrupts."""
        encoded = [
            (
                t.task_id,
                t.task_name,
                serde.dumps([[c, v] for c, v in t.writes], f"task {t.task_name}"),
            )
            for t in task_writes
        ]
        intr_rows = [self._interrupt_params(i) for i in interrupts]
        with self._write() as conn:
            if not self._x(
                conn,
                "SELECT 1 FROM checkpoints WHERE thread_id = ? AND checkpoint_ns = ? "
                "AND checkpoint_id = ?",
                (thread_id, checkpoint_ns, checkpoint_id),
            ).fetchone():
                raise missing_checkpoint(thread_id, checkpoint_id)
            for task_id, name, text in encoded:
                self._x(
                    conn,
                    "INSERT INTO task_writes (thread_id, checkpoint_ns, checkpoint_id, task_id, "
                    "task_name, writes) VALUES (?, ?, ?, ?, ?, ?J) ON CONFLICT (thread_id, "
                    "checkpoint_ns, checkpoint_id, task_id) DO UPDATE SET "
                    "task_name = excluded.task_name, writes = excluded.writes",
                    (thread_id, checkpoint_ns, checkpoint_id, task_id, name, text),
                )
            self._insert_interrupts(conn, intr_rows)
            self._touch_thread(conn, thread_id, None, lease_owner, release_lease)

    # ---- interrupts ----------------------------------------------------------------------

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
    ) -> tuple[InterruptRecord, ...]:
        """Flip each interrupt from pending, all or nothing; one caller wins."""
        encoded = {k: serde.dumps(v, f"decision for {k}") for k, v in decisions.items()}
        now = self.dialect.ts(utc_now())
        with self._write() as conn:
            for iid, text in encoded.items():
                cur = self._x(
                    conn,
                    "UPDATE interrupts SET status = ?, resume = ?J, decided_by = ?, "
                    "decided_at = ? WHERE interrupt_id = ? AND thread_id = ? "
                    "AND status = 'pending'",
                    (status, text, decided_by, now, iid, thread_id),
                )
                if self._count(conn, cur) == 1:
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
            rows = [
                self._x(
                    conn, f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE interrupt_id = ?", (iid,)
                ).fetchone()
                for iid in encoded
            ]
            for r in rows:
                self._log_request(
                    conn,
                    r[0],
                    r[1],
                    decision_action(r[8]),
                    r[13],
                    '{"value":' + json_text(r[9]) + ',"decision":' + json_text(r[10]) + "}",
                )
        return tuple(self._interrupt(r) for r in rows)

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
    ) -> InterruptPage:
        """Interrupts oldest first: one indexed query per page (keyset pagination)."""
        sql = f"SELECT {INTERRUPT_COLS} FROM interrupts WHERE 1 = 1"
        params: list[Any] = []
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        if thread_id is not None:
            sql += " AND thread_id = ?"
            params.append(thread_id)
        if due_before is not None:
            sql += " AND deadline IS NOT NULL AND deadline <= ?"
            params.append(self.dialect.ts(due_before))
        if cursor is not None:
            at, iid = decode_cursor(cursor)
            sql += " AND (created_at > ? OR (created_at = ? AND interrupt_id > ?))"
            params += [self.dialect.ts(at), self.dialect.ts(at), iid]
        sql += " ORDER BY created_at, interrupt_id LIMIT ?"
        params.append(int(limit) + 1)
        with self._read() as conn:
            rows = self._x(conn, sql, params).fetchall()
        items = [self._interrupt(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit and items:
            next_cursor = encode_cursor(items[-1].created_at, items[-1].interrupt_id)
        return InterruptPage(items=tuple(items), next_cursor=next_cursor)

    # ---- threads -------------------------------------------------------------------------

    def acquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Take the lease if free, expired or already ours (one conditional upsert)."""
        now = self.dialect.ts(utc_now())
        with self._write(durable=False) as conn:
            cur = self._x(conn, ACQUIRE_SQL, (thread_id, now, now, owner, float(ttl), float(ttl)))
            return self._count(conn, cur) == 1

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
            "SELECT t.thread_id, t.head_id, t.created_at, t.updated_at, "
            "CASE WHEN t.lease_owner IS NOT NULL AND t.lease_until > {now} THEN 1 ELSE 0 END, "
            "EXISTS (SELECT 1 FROM interrupts i WHERE i.thread_id = t.thread_id "
            "AND i.status = 'pending'), c.next, c.sends, t.metadata "
            "FROM threads t LEFT JOIN checkpoints c ON c.thread_id = t.thread_id "
            "AND c.checkpoint_ns = '' AND c.checkpoint_id = t.head_id "
            f"WHERE t.head_id IS NOT NULL {where}",
            params,
        ).fetchall()
        out = []
        for r in rows:
            if r[4]:
                status = "busy"
            elif r[5]:
                status = "interrupted"
            elif r[6] is not None and not json.loads(r[6]) and not json.loads(r[7]):
                status = "finished"
            else:
                status = "idle"
            out.append(
                ThreadInfo(
                    thread_id=r[0],
                    head_id=r[1],
                    created_at=self.dialect.ts_req(r[2]),
                    updated_at=self.dialect.ts_req(r[3]),
                    status=status,  # type: ignore[arg-type]
                    metadata=serde.loads(r[8]) if r[8] else {},
                )
            )
        return out

    def get_thread(self, thread_id: str) -> ThreadInfo | None:
        """Summary of one thread."""
        with self._read() as conn:
            infos = self._infos(conn, "AND t.thread_id = ?", (thread_id,))
        return infos[0] if infos else None

    def list_threads(self, *, limit: int = 100, offset: int = 0) -> tuple[ThreadInfo, ...]:
        """Threads, most recently updated first."""
        with self._read() as conn:
            infos = self._infos(
                conn, "ORDER BY t.updated_at DESC LIMIT ? OFFSET ?", (int(limit), int(offset))
            )
        return tuple(infos)
