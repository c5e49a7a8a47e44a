"""The checkpoints room in Python structures: a mixin of `InMemorySaver`.

Values are kept serialised (as the other stores keep them), so an unserialisable value fails
at write time and callers cannot mutate stored state through objects they hold.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from interlock.checkpoint import serde
from interlock.checkpoint._checkpoints.chain import (
    RowStats,
    chain_between,
    decode_writes,
    encode_record,
    prunable,
)
from interlock.checkpoint._checkpoints.protocol import (
    CheckpointRecord,
    SnapshotPolicy,
    StoredCheckpoint,
    TaskWrites,
    missing_checkpoint,
)
from interlock.checkpoint._interrupts.protocol import InterruptRecord
from interlock.errors import ResumeConflict

if TYPE_CHECKING:
    from interlock.checkpoint._interrupts.memory import StoredInterrupt

__all__ = ["MemoryCheckpoints"]


@dataclass(slots=True)
class _Row:
    record: CheckpointRecord
    """Immutable fields only; writes, metadata, sends and barriers are kept as JSON below."""
    writes: str
    snapshot: str | None
    stats: RowStats
    metadata: str
    sends: str
    barriers: str

    def decoded(self) -> CheckpointRecord:
        """A fresh copy of the stored record (callers cannot mutate what is stored)."""
        return replace(
            self.record,
            writes=decode_writes(self.writes),
            metadata=serde.loads(self.metadata),
            sends=tuple((n, a) for n, a in serde.loads(self.sends)),
            barriers={k: tuple(v) for k, v in serde.loads(self.barriers).items()},
        )


@dataclass(slots=True)
class _Checkpoints:
    """One thread's checkpoints."""

    heads: dict[str, str] = field(default_factory=dict)
    """Head checkpoint id per namespace."""
    rows: dict[tuple[str, str], _Row] = field(default_factory=dict)
    """(namespace, checkpoint id) -> row."""
    task_writes: dict[tuple[str, str], dict[str, tuple[str, str]]] = field(default_factory=dict)
    """(namespace, checkpoint id) -> task id -> (task name, JSON writes)."""


class MemoryCheckpoints:
    """`put_checkpoint`, `get_checkpoint`, `list_checkpoints`, `put_task_writes` over dicts,
    under the saver's lock. A write inserts its requests and touches the thread's lease
    through the other rooms' halves, under the same lock (one transaction)."""

    _lock: threading.RLock
    policy: SnapshotPolicy

    if TYPE_CHECKING:

        def _encode_interrupts(
            self, interrupts: Sequence[InterruptRecord]
        ) -> list[StoredInterrupt]: ...

        def _add_interrupts(self, thread_id: str, items: list[StoredInterrupt]) -> None: ...

        def _interrupts_at(
            self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
        ) -> list[InterruptRecord]: ...

        def _touch_thread(self, thread_id: str, owner: str | None, release: bool) -> None: ...

    def _init_checkpoints(self) -> None:
        self._checkpoints: dict[str, _Checkpoints] = {}

    # ---- for the other rooms ---------------------------------------------------------------

    def _head_state(self, thread_id: str) -> tuple[str, bool] | None:
        """The root namespace's head of a thread and whether anything runs after it (tasks
        or sends); None when the thread has no root checkpoint."""
        cps = self._checkpoints.get(thread_id)
        head = cps.heads.get("") if cps else None
        if cps is None or head is None:
            return None
        row = cps.rows[("", head)]
        return head, bool(row.record.next) or row.sends != "[]"

    def _has_checkpoints(self, thread_id: str) -> bool:
        cps = self._checkpoints.get(thread_id)
        return cps is not None and bool(cps.heads)

    def _checkpoint_count(self, thread_id: str) -> int:
        cps = self._checkpoints.get(thread_id)
        return len(cps.rows) if cps else 0

    def _forget_checkpoints(self, thread_id: str) -> None:
        self._checkpoints.pop(thread_id, None)

    def _prune_checkpoints(self, keep_last: int, thread_ids: Collection[str] | None = None) -> int:
        """Drop all but the last `keep_last` checkpoints of every thread (or of
        `thread_ids`), keeping what they need to be read; returns how many were dropped."""
        return sum(
            _prune_rows(cps, keep_last)
            for thread_id, cps in self._checkpoints.items()
            if thread_ids is None or thread_id in thread_ids
        )

    # ---- the protocol ----------------------------------------------------------------------

    def put_checkpoint(
        self,
        record: CheckpointRecord,
        *,
        expected_head: str | None,
        interrupts: Sequence[InterruptRecord] = (),
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Commit a checkpoint (compare-and-swap on the head)."""
        with self._lock:
            cps = self._checkpoints.get(record.thread_id)
            head = cps.heads.get(record.checkpoint_ns) if cps else None
            parent = None
            if record.parent_id is not None and cps is not None:
                row = cps.rows.get((record.checkpoint_ns, record.parent_id))
                parent = row.stats if row else None
            encoded = encode_record(record, parent, self.policy)
            stored_interrupts = self._encode_interrupts(interrupts)
            if head != expected_head:
                raise ResumeConflict(
                    f"thread {record.thread_id!r} moved on (head {head}, expected "
                    f"{expected_head}); another run committed first"
                )
            if cps is None:
                cps = self._checkpoints[record.thread_id] = _Checkpoints()
            cps.rows[(record.checkpoint_ns, record.checkpoint_id)] = _Row(
                record=replace(record, values=None, writes=(), metadata={}, sends=(), barriers={}),
                writes=encoded.writes,
                snapshot=encoded.snapshot,
                stats=encoded.stats,
                metadata=encoded.metadata,
                sends=encoded.sends,
                barriers=encoded.barriers,
            )
            cps.heads[record.checkpoint_ns] = record.checkpoint_id
            self._touch_thread(record.thread_id, lease_owner, release_lease)
            self._add_interrupts(record.thread_id, stored_interrupts)

    def get_checkpoint(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        *,
        after: str | None = None,
    ) -> StoredCheckpoint | None:
        """The head (or given) checkpoint with what is needed to rebuild its state."""
        with self._lock:
            cps = self._checkpoints.get(thread_id)
            if cps is None:
                return None
            cid = checkpoint_id or cps.heads.get(checkpoint_ns)
            row = cps.rows.get((checkpoint_ns, cid)) if cid else None
            if row is None:
                return None
            rows = cps.rows

            def parent_of(x: str) -> str | None:
                return rows[(checkpoint_ns, x)].record.parent_id

            start, ids = chain_between(
                row.record.checkpoint_id, row.stats.base_id, after, parent_of
            )
            base_row = rows[(checkpoint_ns, start)]
            base = (
                serde.loads(base_row.snapshot)
                if start != after and base_row.snapshot is not None
                else {}
            )
            chain = tuple(decode_writes(rows[(checkpoint_ns, i)].writes) for i in ids)
            tw = cps.task_writes.get((checkpoint_ns, row.record.checkpoint_id), {})
            task_writes = tuple(
                TaskWrites(
                    task_id=tid, task_name=name, writes=tuple((c, v) for c, v in serde.loads(text))
                )
                for tid, (name, text) in tw.items()
            )
            interrupts = self._interrupts_at(thread_id, checkpoint_ns, row.record.checkpoint_id)
            return StoredCheckpoint(
                record=row.decoded(),
                base=base,
                chain=chain,
                task_writes=task_writes,
                interrupts=tuple(interrupts),
                base_id=start,
            )

    def list_checkpoints(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        *,
        before: str | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointRecord]:
        """Records newest first."""
        with self._lock:
            cps = self._checkpoints.get(thread_id)
            if cps is None:
                return iter(())
            rows = sorted(
                (
                    r
                    for (ns, cid), r in cps.rows.items()
                    if ns == checkpoint_ns and (before is None or cid < before)
                ),
                key=lambda r: r.record.checkpoint_id,
                reverse=True,
            )
            if limit is not None:
                rows = rows[:limit]
            out = [r.decoded() for r in rows]
        return iter(out)

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
        """Save writes of finished tasks of an incomplete step, and new interrupts."""
        encoded = [
            (
                t.task_id,
                t.task_name,
                serde.dumps([[c, v] for c, v in t.writes], f"task {t.task_name}"),
            )
            for t in task_writes
        ]
        stored_interrupts = self._encode_interrupts(interrupts)
        with self._lock:
            cps = self._checkpoints.get(thread_id)
            if cps is None or (checkpoint_ns, checkpoint_id) not in cps.rows:
                raise missing_checkpoint(thread_id, checkpoint_id)
            slot = cps.task_writes.setdefault((checkpoint_ns, checkpoint_id), {})
            for tid, name, text in encoded:
                slot[tid] = (name, text)
            self._add_interrupts(thread_id, stored_interrupts)
            self._touch_thread(thread_id, lease_owner, release_lease)


def _prune_rows(cps: _Checkpoints, keep_last: int) -> int:
    rows = [
        ("", ns, cid, row.record.parent_id, row.stats.base_id)
        for (ns, cid), row in cps.rows.items()
    ]
    doomed = prunable(rows, keep_last)
    for _, ns, cid in doomed:
        del cps.rows[(ns, cid)]
        cps.task_writes.pop((ns, cid), None)
    return len(doomed)
