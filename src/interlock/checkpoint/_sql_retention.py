"""Retention in SQL: delete a thread, prune finished threads and old checkpoints; a mixin
of `SqlSaver`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from interlock.checkpoint._chain import RowStats
from interlock.checkpoint._runs import THREAD_DELETED
from interlock.checkpoint._sql_text import Dialect, prunable, utc_now
from interlock.checkpoint.base import ThreadInfo

__all__ = ["SqlRetention"]


class SqlRetention:
    """`delete_thread` and `prune`; the connection methods come from `SqlSaver`."""

    dialect: Dialect
    _stats: dict[tuple[str, str, str], RowStats]

    if TYPE_CHECKING:

        def _read(self) -> AbstractContextManager[Any]: ...

        def _write(self, *, durable: bool = True) -> AbstractContextManager[Any]: ...

        def _x(self, conn: Any, text: str, params: Sequence[Any] = ()) -> Any: ...

        def _infos(self, conn: Any, where: str, params: Sequence[Any]) -> list[ThreadInfo]: ...

    def delete_thread(self, thread_id: str) -> None:
        """Delete every row of the thread."""
        with self._write() as conn:
            for table in ("checkpoints", "task_writes", "interrupts", "heads", "threads"):
                self._x(conn, f"DELETE FROM {table} WHERE thread_id = ?", (thread_id,))
            # its queued runs would start the thread again from nothing: they fail instead
            self._x(
                conn,
                "UPDATE runs SET status = 'failed', error = ?, owner = NULL, "
                "lease_until = NULL, updated_at = ? WHERE thread_id = ? "
                "AND status IN ('queued', 'running')",
                (THREAD_DELETED, self.dialect.ts(utc_now()), thread_id),
            )
        self._stats = {k: v for k, v in self._stats.items() if k[0] != thread_id}

    def _has_open_runs(self, thread_id: str) -> bool:
        with self._read() as conn:
            row = self._x(
                conn,
                "SELECT 1 FROM runs WHERE thread_id = ? AND status IN ('queued', 'running') "
                "LIMIT 1",
                (thread_id,),
            ).fetchone()
        return row is not None

    def prune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
    ) -> int:
        """Retention: drop finished threads idle since `finished_before`, and/or all but the
        last `keep_last` checkpoints of each thread (keeping what they need to be read)."""
        deleted = 0
        if finished_before is not None:
            with self._write() as conn:  # the records of runs that ended
                self._x(
                    conn,
                    "DELETE FROM runs WHERE status IN ('done', 'interrupted', 'failed') "
                    "AND updated_at < ?",
                    (self.dialect.ts(finished_before),),
                )
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
            with self._read() as conn:
                rows = self._x(
                    conn,
                    "SELECT thread_id, checkpoint_ns, checkpoint_id, "
                    "parent_id, base_id FROM checkpoints",
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
            deleted += len(doomed)
        return deleted
