"""The checkpoints part of the store protocol: committed supersteps and the task writes of a
step in flight.

A store keeps, per thread (and checkpoint namespace), one record per committed superstep,
holding what that step *wrote* (`CheckpointRecord.writes`) and, only now and then, a full
snapshot of the state. Reading a checkpoint returns the nearest snapshot at or before it plus
the writes of every checkpoint after that snapshot on the parent chain (`StoredCheckpoint`);
the graph folds them through its reducers. The store decides when to keep a snapshot
(`SnapshotPolicy`), so a long thread costs about one copy of its state, not one per step.
Task writes are what the finished tasks of a step that did not complete wrote (a sibling
paused or failed), plus memoised results; they are not recomputed on resume.

A checkpoint write also inserts the step's new requests (the interrupt index), renews or
gives back the run's thread lease (threads) and audits the requests (audit log), all in its
one transaction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interlock.checkpoint._async import to_thread
from interlock.checkpoint._interrupts.protocol import InterruptRecord
from interlock.errors import ResumeConflict

__all__ = [
    "CheckpointRecord",
    "CheckpointStore",
    "SnapshotPolicy",
    "StoredCheckpoint",
    "TaskWrites",
    "Write",
    "missing_checkpoint",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """One value written to one state channel by one task (or by input / update_state)."""

    node: str
    """Name of the writer: a node name, `__input__`, or the `as_node` of `update_state`."""
    channel: str
    """State key written."""
    value: Any
    """The update value, before the reducer (the reducer folds it into the channel)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckpointRecord:
    """A committed superstep of one thread."""

    thread_id: str
    checkpoint_ns: str = ""
    """Namespace: "" for the root graph."""
    checkpoint_id: str
    """Sortable id: ids of one thread sort in commit order."""
    parent_id: str | None
    """The checkpoint this one follows (the fold walks this chain)."""
    step: int
    """-1 for the input checkpoint, then 0, 1, 2 ..."""
    created_at: datetime
    """UTC time of the commit."""
    source: str
    """"input", "loop", "update" or "fork"."""
    writes: tuple[Write, ...]
    """What this step applied on top of its parent."""
    next: tuple[str, ...]
    """Nodes (tasks) that run in the following step; empty when the run is finished."""
    sends: tuple[tuple[str, Any], ...] = ()
    """Extra `(node, arg)` tasks (from `Send`) that run in the following step."""
    barriers: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Join-edge progress: for each join target, the sources that already finished."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Free-form, JSON-serialisable; the runtime puts `source`, `step`, `writes`, run info."""
    values: Mapping[str, Any] | None = None
    """The full state after this step, offered to the store by the runtime on `put`.

    The store keeps it only when its snapshot policy says so; records read back carry it only
    when it was kept (then it is the base of `StoredCheckpoint`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskWrites:
    """What one task of a not-yet-committed step produced, kept so it is not recomputed."""

    task_id: str
    task_name: str
    writes: tuple[tuple[str, Any], ...]
    """`(channel, value)` pairs. Channels starting with `__` are the runtime's own (results
    of memoised steps, the finished marker, errors); the store keeps them like any other."""


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredCheckpoint:
    """A checkpoint as read back: its record plus what is needed to rebuild its state."""

    record: CheckpointRecord
    """The checkpoint asked for."""
    base: Mapping[str, Any]
    """Full state values of the nearest snapshot at or before `record` ({} if none)."""
    chain: tuple[tuple[Write, ...], ...]
    """Writes of each checkpoint after the base up to and including `record`, oldest first.
    Folding them over `base` with the graph's reducers gives the state at `record`."""
    base_id: str | None = None
    """The checkpoint `base` is the state of. When the caller passed `after=` and that
    checkpoint was usable, this is `after`, `base` is empty, and the caller folds `chain` over
    the state it already holds for `after`."""
    task_writes: tuple[TaskWrites, ...] = ()
    """Task writes saved against `record` (its step started but did not commit)."""
    interrupts: tuple[InterruptRecord, ...] = ()
    """Every interrupt saved against `record`, any status, in (task, index) order."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotPolicy:
    """When a store keeps a full snapshot instead of only the step's writes.

    A snapshot is kept when the serialised writes since the last snapshot reach `ratio` x the
    size of that snapshot (at least `min_bytes`): snapshots then form a geometric series, so
    total storage stays within a small constant factor of the final state and a read folds at
    most about `ratio` states' worth of writes. Small states also get one every `max_steps`
    steps (the limit grows with the snapshot's size, `per_bytes` bytes per extra step), so
    reading a long thread of tiny writes never folds hundreds of rows.
    """

    ratio: float = 2.0
    min_bytes: int = 1024
    max_steps: int = 16
    per_bytes: int = 512

    def wants_snapshot(self, *, bytes_since: int, steps_since: int, snapshot_bytes: int) -> bool:
        """Whether the next checkpoint should carry a full snapshot."""
        if steps_since >= self.max_steps + snapshot_bytes // self.per_bytes:
            return True
        return bytes_since >= max(self.min_bytes, self.ratio * snapshot_bytes)


def missing_checkpoint(thread_id: str, checkpoint_id: str) -> ResumeConflict:
    """The error for writes against a checkpoint that is not stored."""
    return ResumeConflict(
        f"checkpoint {checkpoint_id} of thread {thread_id!r} does not exist (deleted, or lost "
        "with a database restart); nothing was saved"
    )


class CheckpointStore(ABC):
    """Checkpoints: commit a step (compare-and-swap on the thread's head), read one back with
    its fold chain, list history, save the task writes of a step in flight."""

    @abstractmethod
    def put_checkpoint(
        self,
        record: CheckpointRecord,
        *,
        expected_head: str | None,
        interrupts: Sequence[InterruptRecord] = (),
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Commit `record` atomically and make it the thread's head.

        Compare-and-swap: fails with `ResumeConflict` unless the thread's current head (in
        `record.checkpoint_ns`) is `expected_head` (None = the thread has no checkpoint).
        `interrupts` (breakpoint pauses after this step) are inserted in the same transaction.
        Task writes of the parent are kept (history) but no longer pending.
        If `lease_owner` is given, the thread lease is renewed for it in the same transaction
        (or given back, with `release_lease=True`: the run ends with this write).
        """

    @abstractmethod
    def get_checkpoint(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        *,
        after: str | None = None,
    ) -> StoredCheckpoint | None:
        """The head (or the given) checkpoint with its fold chain; None if absent.

        `after`: the id of a checkpoint whose state the caller already holds. If it lies on
        the parent chain between the snapshot base and the asked checkpoint, only the writes
        after it are read and returned (`base_id == after`, `base == {}`); otherwise it is
        ignored. This makes reading a long thread's head cost what changed, not its size."""

    @abstractmethod
    def list_checkpoints(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        *,
        before: str | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointRecord]:
        """Records of the thread newest first (`values` omitted), optionally older than `before`.

        Served from an index; does not read states."""

    @abstractmethod
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
        """Save (replace, per task id) writes of tasks of the step after `checkpoint_id`, and
        insert new pending `interrupts`, in one transaction (giving the lease of
        `lease_owner` back in it when `release_lease`)."""

    async def aput_checkpoint(
        self,
        record: CheckpointRecord,
        *,
        expected_head: str | None,
        interrupts: Sequence[InterruptRecord] = (),
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Async twin of `put_checkpoint`."""
        await to_thread(
            self.put_checkpoint,
            record,
            expected_head=expected_head,
            interrupts=interrupts,
            lease_owner=lease_owner,
            release_lease=release_lease,
        )

    async def aget_checkpoint(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        *,
        after: str | None = None,
    ) -> StoredCheckpoint | None:
        """Async twin of `get_checkpoint`."""
        return await to_thread(
            self.get_checkpoint, thread_id, checkpoint_ns, checkpoint_id, after=after
        )

    async def alist_checkpoints(
        self,
        thread_id: str,
        checkpoint_ns: str = "",
        *,
        before: str | None = None,
        limit: int | None = None,
    ) -> list[CheckpointRecord]:
        """Async twin of `list_checkpoints` (returns a list)."""
        return await to_thread(
            lambda: list(
                self.list_checkpoints(thread_id, checkpoint_ns, before=before, limit=limit)
            )
        )

    async def aput_task_writes(
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
        """Async twin of `put_task_writes`."""
        await to_thread(
            self.put_task_writes,
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            task_writes,
            interrupts,
            lease_owner=lease_owner,
            release_lease=release_lease,
        )
