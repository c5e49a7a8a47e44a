"""Checkpoints on PostgreSQL: each write in one statement (data-modifying CTEs), and a read
that carries its task writes and requests in its row.

One statement per write makes it a single network round trip and a single commit
(autocommit: the statement is its transaction). Every sub-statement that must not happen
when the compare-and-swap fails reads from `h` (`k` for task writes). The interrupt index,
audit log and threads rooms contribute their parts (`interrupts_cte`, `THREADS_INSERT` with
`_touch_parts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interlock.checkpoint import serde
from interlock.checkpoint._checkpoints.chain import EncodedRow, encode_record
from interlock.checkpoint._checkpoints.protocol import (
    CheckpointRecord,
    TaskWrites,
    missing_checkpoint,
)
from interlock.checkpoint._checkpoints.sql import CHECKPOINT_INSERT_COLS, SqlCheckpoints
from interlock.checkpoint._interrupts.postgres import INTERRUPT_COLS_I, interrupts_cte
from interlock.checkpoint._interrupts.protocol import InterruptRecord
from interlock.checkpoint._sql_dialect import NO_FLUSH
from interlock.checkpoint._threads.postgres import THREADS_INSERT
from interlock.errors import ResumeConflict

__all__ = ["PgCheckpoints"]

CHECKPOINT_VALUES = (
    "%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb, %s::jsonb, "
    "%s::jsonb, %s, %s, %s, %s"
)
TASK_WRITES_ROW = "(%s, %s, %s, %s, %s, %s::jsonb)"


class PgCheckpoints(SqlCheckpoints):
    """Checkpoint writes in one statement each; reads with their children inline."""

    durable_steps: bool

    if TYPE_CHECKING:

        def _touch_parts(
            self, thread_id: str, head: str | None, lease_owner: str | None, release: bool
        ) -> tuple[str, tuple[Any, ...]]: ...

    def _children_columns(self) -> str:
        # the task writes and interrupts themselves, as JSON arrays, in the checkpoint's row
        return (
            "(SELECT json_agg(json_build_array(w.task_id, w.task_name, w.writes) "
            "ORDER BY w.task_id) FROM task_writes w WHERE w.thread_id = c.thread_id AND "
            "w.checkpoint_ns = c.checkpoint_ns AND w.checkpoint_id = c.checkpoint_id), "
            f"(SELECT json_agg(json_build_array({INTERRUPT_COLS_I}) ORDER BY i.task_id, i.idx) "
            "FROM interrupts i WHERE i.thread_id = c.thread_id AND "
            "i.checkpoint_ns = c.checkpoint_ns AND i.checkpoint_id = c.checkpoint_id)"
        )

    def _children(
        self, conn: Any, thread_id: str, ns: str, cid: str, extra: Sequence[Any]
    ) -> tuple[tuple[TaskWrites, ...], tuple[InterruptRecord, ...]]:
        task_writes = tuple(
            TaskWrites(task_id=t[0], task_name=t[1], writes=tuple((c, v) for c, v in t[2]))
            for t in (serde.loads(extra[0]) if extra[0] else ())
        )
        interrupts = tuple(
            self._interrupt(r, decoded=True) for r in (serde.loads(extra[1]) if extra[1] else ())
        )
        return task_writes, interrupts

    def put_checkpoint(
        self,
        record: CheckpointRecord,
        *,
        expected_head: str | None,
        interrupts: Sequence[InterruptRecord] = (),
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Commit a checkpoint: head compare-and-swap, the row, the thread's head and lease,
        and new interrupts, in one statement."""
        intr_rows = [self._interrupt_params(i) for i in interrupts]
        thread, ns, cid = record.thread_id, record.checkpoint_ns, record.checkpoint_id
        parent = self._stats.get((thread, ns, record.parent_id or ""))
        if parent is None and record.parent_id is not None:
            with self._read() as conn:
                parent = self._parent_stats(conn, record)
        encoded = encode_record(record, parent, self.policy)
        # Skip the flush wait only inside a run (a lease owner) and not for its last write or a
        # pause: what a person or another process acts on is durable before the call returns.
        flush = self.durable_steps or release_lease or bool(intr_rows) or lease_owner is None
        if self._put(record, encoded, expected_head, intr_rows, lease_owner, release_lease, flush):
            self._remember_stats((thread, ns, cid), encoded.stats)
            return
        if encoded.snapshot is not None or self._exists(thread, ns, encoded.stats.base_id):
            raise ResumeConflict(
                f"thread {thread!r} moved on (expected head {expected_head}); another run "
                "committed first"
            )
        # the parent's base snapshot was pruned meanwhile: store this one as a snapshot
        encoded = encode_record(record, None, self.policy)
        if not self._put(
            record, encoded, expected_head, intr_rows, lease_owner, release_lease, flush
        ):
            raise ResumeConflict(
                f"thread {thread!r} moved on (expected head {expected_head}); another run "
                "committed first"
            )
        self._remember_stats((thread, ns, cid), encoded.stats)

    def _exists(self, thread_id: str, ns: str, checkpoint_id: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT 1 FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = %s "
                "AND checkpoint_id = %s",
                (thread_id, ns, checkpoint_id),
            ).fetchone()
        return row is not None

    def _put(
        self,
        record: CheckpointRecord,
        encoded: EncodedRow,
        expected_head: str | None,
        intr_rows: list[tuple[Any, ...]],
        lease_owner: str | None,
        release_lease: bool,
        flush: bool,
    ) -> bool:
        """The one statement of `put_checkpoint`; False when nothing was written (the head
        moved on, or a delta's base snapshot is gone)."""
        thread, ns, cid = record.thread_id, record.checkpoint_ns, record.checkpoint_id
        lease, touch = self._touch_parts(
            thread, cid if ns == "" else None, lease_owner, release_lease
        )
        guard = ""
        guard_params: tuple[str, ...] = ()
        if encoded.snapshot is None:  # a delta: its base snapshot must still be there
            guard = (
                " AND EXISTS (SELECT 1 FROM checkpoints b WHERE b.thread_id = %s AND "
                "b.checkpoint_ns = %s AND b.checkpoint_id = %s)"
            )
            guard_params = (thread, ns, encoded.stats.base_id)
        if expected_head is None:
            cas = (
                "INSERT INTO heads (thread_id, checkpoint_ns, head_id) SELECT %s, %s, %s "
                f"WHERE TRUE{guard} ON CONFLICT (thread_id, checkpoint_ns) DO NOTHING RETURNING 1"
            )
            cas_params: tuple[Any, ...] = (thread, ns, cid, *guard_params)
        else:
            cas = (
                "UPDATE heads SET head_id = %s WHERE thread_id = %s AND checkpoint_ns = %s "
                f"AND head_id = %s{guard} RETURNING 1"
            )
            cas_params = (cid, thread, ns, expected_head, *guard_params)
        parts = [
            f"WITH h AS ({cas})",
            f"c AS (INSERT INTO checkpoints ({CHECKPOINT_INSERT_COLS}) "
            f"SELECT {CHECKPOINT_VALUES} FROM h)",
        ]
        params = [*cas_params, *self._checkpoint_params(record, encoded)]
        if intr_rows:
            parts.append(interrupts_cte(len(intr_rows), "WHERE EXISTS (SELECT 1 FROM h)"))
            params += [p for row in intr_rows for p in row]
        # last in the text, so run first of the parts the main query does not read (PostgreSQL
        # finishes those in reverse order): the thread's row is locked after its head and
        # before the audit chain (the one lock order: `_lock_thread`)
        parts.append(f"t AS ({THREADS_INSERT} FROM h {lease})")
        params += touch
        if not flush:
            parts.append(NO_FLUSH)
        sql = self._q(
            ", ".join(parts)
            + " SELECT (SELECT count(*) FROM h)"
            + ("" if flush else ", (SELECT 1 FROM s)")
        )
        with self._read() as conn:
            return bool(conn.execute(sql, params).fetchone()[0] == 1)

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
        """Save (replace per task) writes of an incomplete step, new interrupts and the
        thread's lease, in one statement."""
        by_task = {
            t.task_id: (
                thread_id,
                checkpoint_ns,
                checkpoint_id,
                t.task_id,
                t.task_name,
                serde.dumps([[c, v] for c, v in t.writes], f"task {t.task_name}"),
            )
            for t in task_writes
        }
        intr_rows = [self._interrupt_params(i) for i in interrupts]
        lease, touch = self._touch_parts(thread_id, None, lease_owner, release_lease)
        # everything below is saved only if the checkpoint is stored (a mid-run checkpoint
        # that skipped the flush can be lost with a database restart)
        ctes = [
            "k AS (SELECT 1 FROM checkpoints WHERE thread_id = %s AND checkpoint_ns = %s "
            "AND checkpoint_id = %s)"
        ]
        params: list[Any] = [thread_id, checkpoint_ns, checkpoint_id]
        if by_task:
            rows = ", ".join([TASK_WRITES_ROW] * len(by_task))
            ctes.append(
                "w AS (INSERT INTO task_writes (thread_id, checkpoint_ns, checkpoint_id, "
                f"task_id, task_name, writes) SELECT * FROM (VALUES {rows}) v "
                "WHERE EXISTS (SELECT 1 FROM k) ON CONFLICT (thread_id, "
                "checkpoint_ns, checkpoint_id, task_id) DO UPDATE SET "
                "task_name = excluded.task_name, writes = excluded.writes)"
            )
            params += [p for row in by_task.values() for p in row]
        if intr_rows:
            ctes.append(interrupts_cte(len(intr_rows), "WHERE EXISTS (SELECT 1 FROM k)"))
            params += [p for row in intr_rows for p in row]
        flush = self.durable_steps or release_lease or bool(intr_rows) or lease_owner is None
        if not flush:
            ctes.append(NO_FLUSH)
        ctes.append(f"t AS ({THREADS_INSERT} FROM k {lease})")
        sql = f"WITH {', '.join(ctes)} SELECT (SELECT count(*) FROM k)" + (
            "" if flush else ", (SELECT 1 FROM s)"
        )
        with self._read() as conn:
            found = conn.execute(self._q(sql), [*params, *touch]).fetchone()[0]
        if not found:
            raise missing_checkpoint(thread_id, checkpoint_id)
