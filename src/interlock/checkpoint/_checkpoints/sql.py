"""The checkpoints room in SQL, written once for SQLite and PostgreSQL: a mixin of
`SqlSaver`.

A commit is a compare-and-swap on `heads`; a checkpoint row holds the step's writes and, now
and then, a snapshot (`chain.encode_record` decides). A write inserts its new requests and
touches the thread's row and lease through the other rooms' halves, in its transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._checkpoints.chain import (
    EncodedRow,
    RowStats,
    chain_between,
    decode_record,
    decode_writes,
    encode_record,
)
from interlock.checkpoint._checkpoints.protocol import (
    CheckpointRecord,
    SnapshotPolicy,
    StoredCheckpoint,
    TaskWrites,
    missing_checkpoint,
)
from interlock.checkpoint._interrupts.protocol import InterruptRecord
from interlock.checkpoint._interrupts.sql import INTERRUPT_COLS
from interlock.checkpoint._sql_core import SqlCore
from interlock.errors import ResumeConflict

__all__ = [
    "CHECKPOINT_INSERT_COLS",
    "CHECKPOINT_READ_COLS",
    "HEAD_OF",
    "RECORD_COLS",
    "SqlCheckpoints",
]

RECORD_COLS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_id, step, created_at, source, writes, "
    "next, sends, barriers, metadata"
)
CHECKPOINT_READ_COLS = (
    ", ".join("c." + col.strip() for col in RECORD_COLS.split(","))
    + ", c.base_id, c.bytes_since, c.steps_since, c.snapshot_bytes"
)
"""What a checkpoint read selects (table alias `c`): the record, then its row stats."""
HEAD_OF = "(SELECT h.head_id FROM heads h WHERE h.thread_id = ? AND h.checkpoint_ns = ?)"
"""The head checkpoint id of (thread_id, checkpoint_ns); compared with `c.checkpoint_id`,
the read is one primary-key lookup however long the thread is."""
CHECKPOINT_INSERT_COLS = (
    "thread_id, checkpoint_ns, checkpoint_id, parent_id, step, source, created_at, writes, "
    "snapshot, next, sends, barriers, metadata, base_id, bytes_since, steps_since, snapshot_bytes"
)


class SqlCheckpoints(SqlCore):
    """Checkpoints and task writes over `heads`, `checkpoints` and `task_writes`."""

    policy: SnapshotPolicy
    _stats: dict[tuple[str, str, str], RowStats]
    """Row stats of checkpoints seen (immutable once written), to plan their children."""

    if TYPE_CHECKING:

        def _interrupt_params(self, i: InterruptRecord) -> tuple[Any, ...]: ...

        def _insert_interrupts(self, conn: Any, rows: list[tuple[Any, ...]]) -> None: ...

        def _interrupt(self, r: Sequence[Any], *, decoded: bool = False) -> InterruptRecord: ...

        def _touch_thread(
            self,
            conn: Any,
            thread_id: str,
            head: str | None,
            lease_owner: str | None,
            release: bool = False,
        ) -> None: ...

    def _forget_stats(self, thread_id: str) -> None:
        """Drop the cached row stats of a deleted thread."""
        self._stats = {k: v for k, v in self._stats.items() if k[0] != thread_id}

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
        thread, ns, cid = record.thread_id, record.checkpoint_ns, record.checkpoint_id
        parent = self._stats.get((thread, ns, record.parent_id or ""))
        if parent is None and record.parent_id is not None:  # read only what is not cached
            with self._read() as conn:
                parent = self._parent_stats(conn, record)
        encoded = encode_record(record, parent, self.policy)
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
        with self._read() as conn:
            return self._checkpoint_in(conn, thread_id, checkpoint_ns, checkpoint_id, after)

    def _checkpoint_in(
        self,
        conn: Any,
        thread_id: str,
        checkpoint_ns: str,
        checkpoint_id: str | None,
        after: str | None,
    ) -> StoredCheckpoint | None:
        """`get_checkpoint` inside the caller's transaction `conn`."""
        extra = self._children_columns()
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
