"""Threads on PostgreSQL: a run's lease and its first read in one statement, and the part
of a write's statement that touches the thread's row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from interlock.checkpoint._checkpoints.protocol import StoredCheckpoint
from interlock.checkpoint._checkpoints.sql import CHECKPOINT_READ_COLS, HEAD_OF
from interlock.checkpoint._sql_dialect import NO_FLUSH, utc_now
from interlock.checkpoint._threads.sql import ACQUIRE_SQL, SqlThreads

__all__ = ["THREADS_INSERT", "PgThreads"]

THREADS_INSERT = (
    "INSERT INTO threads (thread_id, created_at, updated_at, head_id) "
    "SELECT %s, %s::timestamptz, %s::timestamptz, %s"
)
"""The head of a write's upsert of the thread row (`_touch_parts` gives the rest), selecting
from a CTE that says whether the write happened."""


class PgThreads(SqlThreads):
    """`acquire_and_get` in one statement; a search's list of ids as an array."""

    durable_steps: bool

    if TYPE_CHECKING:

        def _children_columns(self) -> str: ...

        def _stored(self, conn: Any, row: Sequence[Any], after: str | None) -> StoredCheckpoint: ...

    def _listed(self, ids: str) -> str:
        """`r.thread_id = ANY (ARRAY(ids))`: the list is made first, then each id read by
        primary key (as `IN (ids)`, the planner may join by hashing a scan of `threads`)."""
        return f"r.thread_id = ANY (ARRAY({ids}))"

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
        """Take the lease and read the head in one statement (`hold` is not used here: the
        one statement already spares the round trip a held transaction would).

        With `flush=False` (every run of the engine: its first write that waits — a
        decision, a pause or its last write — covers this earlier commit too) the lease
        skips the wait.

        The read sees the database as of the statement's start. If a run committed while
        the lease upsert waited for it (a new head, a pause, a decision), the thread row the
        upsert returns (the newest) was updated after the one the read saw, and the head is
        read again."""
        if checkpoint_id is not None or checkpoint_ns != "":
            return super().acquire_and_get(
                thread_id,
                owner,
                ttl=ttl,
                checkpoint_ns=checkpoint_ns,
                checkpoint_id=checkpoint_id,
                after=after,
                flush=flush,
            )
        now = self.dialect.ts(utc_now())
        no_flush = "" if flush or self.durable_steps else f", {NO_FLUSH}"
        sql = self._q(
            f"WITH l AS ({ACQUIRE_SQL} RETURNING updated_at){no_flush} "
            "SELECT l.updated_at, (SELECT t.updated_at FROM threads t WHERE t.thread_id = ?), "
            f"r.* FROM l{', s' if no_flush else ''} LEFT JOIN LATERAL (SELECT "
            f"{CHECKPOINT_READ_COLS}, "
            f"{self._children_columns()} FROM checkpoints c WHERE c.thread_id = ? "
            f"AND c.checkpoint_ns = ? AND c.checkpoint_id = {HEAD_OF}) r ON true"
        )
        params = (thread_id, now, now, owner, float(ttl), float(ttl), thread_id)
        with self._read() as conn:
            row = conn.execute(sql, (*params, thread_id, "", thread_id, "")).fetchone()
            if row is None:
                return False, None
            newest, seen = row[0], row[1]
            created = seen is None and newest == now  # the thread row is ours, just inserted
            if newest != seen and not created:  # a run committed while the lease waited
                return True, self.get_checkpoint(thread_id, after=after)
            if row[2] is None:
                return True, None
            return True, self._stored(conn, row[2:], after)
