"""The saver protocol: what the graph runtime asks of a checkpoint store.

A store keeps, per thread (and checkpoint namespace):

- checkpoints: one record per committed superstep, holding what that step *wrote*
  (`CheckpointRecord.writes`) and, only now and then, a full snapshot of the state. Reading a
  checkpoint returns the nearest snapshot at or before it plus the writes of every checkpoint
  after that snapshot on the parent chain (`StoredCheckpoint`); the graph folds them through its
  reducers. The store decides when to keep a snapshot (`SnapshotPolicy`), so a long thread costs
  about one copy of its state, not one per step.
- task writes: what the finished tasks of a step that did not complete wrote (a sibling paused
  or failed), plus memoised results; they are not recomputed on resume.
- interrupts: one row per pause request, pending until decided exactly once
  (`resolve_interrupts` is a conditional update: one caller wins, the others get
  `ResumeConflict`). "Everything waiting for a person" is `list_interrupts(status="pending")`.
- thread leases: a run holds its thread so two runs never execute one thread at once.
- the run queue (`RunQueue`, in `_runs.py`): background runs claimed by workers under leases.

Every method has an async twin with an `a` prefix and the same parameters. `BaseSaver` gives
the async twins by running the sync method in a worker thread; stores with native async I/O
override them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from interlock.checkpoint._runs import RunQueue, RunRecord, RunStatus

__all__ = [
    "AuditEntry",
    "AuditPage",
    "BaseSaver",
    "CheckpointRecord",
    "InterruptPage",
    "InterruptRecord",
    "InterruptStatus",
    "RunRecord",
    "RunStatus",
    "SnapshotPolicy",
    "StoredCheckpoint",
    "TaskWrites",
    "ThreadInfo",
    "Write",
]

InterruptStatus = Literal["pending", "resolved", "expired", "cancelled"]


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
class InterruptRecord:
    """A request for a person's decision."""

    interrupt_id: str
    thread_id: str
    checkpoint_ns: str = ""
    checkpoint_id: str
    """The checkpoint whose step was paused."""
    task_id: str
    task_name: str
    index: int
    """Call index of the `interrupt()` within its task (the k-th call)."""
    value: Any
    """The payload (JSON-serialisable)."""
    kind: Literal["interrupt", "breakpoint"] = "interrupt"
    status: InterruptStatus = "pending"
    created_at: datetime
    deadline: datetime | None = None
    """After this instant the request may be expired by the service."""
    resume: Any = None
    """The decision value, once resolved."""
    decided_by: str | None = None
    decided_at: datetime | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """Free-form: requester, graph name, tags the inbox filters on."""


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
class InterruptPage:
    """One page of `list_interrupts`."""

    items: tuple[InterruptRecord, ...]
    next_cursor: str | None
    """Pass as `cursor=` to get the next page; None on the last page."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadInfo:
    """Summary of a thread."""

    thread_id: str
    head_id: str | None
    """Latest checkpoint of the root namespace."""
    created_at: datetime
    updated_at: datetime
    status: Literal["idle", "interrupted", "busy", "finished"]
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One line of the audit log: who did what, when, to which thread or request."""

    entry_id: str = ""
    """Time-ordered id (assigned by `append_audit` when empty)."""
    at: datetime
    actor: str | None
    """The principal who acted (None: the system itself, e.g. an expiry)."""
    action: str
    """e.g. `thread.created`, `run.started`, `approval.requested`, `approval.decided`,
    `approval.refused`."""
    thread_id: str | None = None
    interrupt_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)
    """What was asked or decided (JSON-serialisable): the request's value, the decision."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditPage:
    """One page of `list_audit`, newest first."""

    items: tuple[AuditEntry, ...]
    next_cursor: str | None


def escalation_detail(
    record: InterruptRecord, deadline: datetime, metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """The detail of an `approval.escalated` audit entry (every store writes the same)."""
    return {
        "value": record.value,
        "from": record.metadata.get("approvers"),
        "to": metadata.get("approvers"),
        "deadline": (
            deadline.replace(tzinfo=UTC) if deadline.tzinfo is None else deadline.astimezone(UTC)
        ).isoformat(),  # a naive time is UTC, as the stores take it
        "level": metadata.get("escalation_level"),
    }


def decision_action(status: str) -> str:
    """The audit action recorded when a request gets `status`."""
    return {"resolved": "approval.decided", "expired": "approval.expired"}.get(
        status, f"approval.{status}"
    )


def new_audit_id() -> str:
    """A 32-hex id that sorts by creation time (nanoseconds, then 64 random bits)."""
    import secrets
    import time

    return f"{time.time_ns():016x}{secrets.token_hex(8)}"


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


async def _to_thread(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
    import asyncio  # imported on first async use: `import interlock` stays light

    return await asyncio.to_thread(fn, *args, **kwargs)


class BaseSaver(RunQueue, ABC):
    """The store protocol. Subclasses implement the sync methods; async twins come free.

    Errors: `SerializationError` before anything is written; `ResumeConflict` /
    `ResumeError` from `resolve_interrupts`; `StoreUnavailable` when the database is down;
    `ResumeConflict` when `put_checkpoint`'s compare-and-swap fails, or when task writes
    name a checkpoint that is not stored.
    """

    # ---- checkpoints -------------------------------------------------------------------

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

    # ---- an incomplete step -------------------------------------------------------------

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

    # ---- interrupts ---------------------------------------------------------------------

    @abstractmethod
    def resolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
    ) -> tuple[InterruptRecord, ...]:
        """Flip each interrupt id in `decisions` from pending to `status` with its value.

        All or nothing, exactly once: if any id is unknown for this thread → `ResumeError`;
        if any is no longer pending → `ResumeConflict`; in both cases nothing changes.
        Returns the updated records.
        """

    @abstractmethod
    def escalate_interrupt(
        self,
        interrupt_id: str,
        *,
        expected_deadline: datetime,
        deadline: datetime,
        metadata: Mapping[str, Any],
    ) -> InterruptRecord | None:
        """Move a pending request to its next escalation step: give it `deadline` and
        `metadata` (new approvers), if it is still pending with `expected_deadline` (so one
        sweeper wins). Writes the `approval.escalated` audit entry (detail: the value, the
        approvers before and after, the new deadline) in the same transaction. Returns the
        updated record, or None when it was decided, expired or escalated meanwhile."""

    async def aescalate_interrupt(
        self,
        interrupt_id: str,
        *,
        expected_deadline: datetime,
        deadline: datetime,
        metadata: Mapping[str, Any],
    ) -> InterruptRecord | None:
        """Async twin of `escalate_interrupt`."""
        return await _to_thread(
            self.escalate_interrupt,
            interrupt_id,
            expected_deadline=expected_deadline,
            deadline=deadline,
            metadata=metadata,
        )

    @abstractmethod
    def get_interrupt(self, interrupt_id: str) -> InterruptRecord | None:
        """One interrupt by id, any status."""

    @abstractmethod
    def list_interrupts(
        self,
        *,
        status: InterruptStatus | None = "pending",
        thread_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        due_before: datetime | None = None,
    ) -> InterruptPage:
        """Interrupts across all threads, oldest first, from one indexed query per page.
        `due_before`: only those with a deadline at or before that instant."""

    # ---- threads ------------------------------------------------------------------------

    @abstractmethod
    def acquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Take the thread's lease for `ttl` seconds; False if another owner holds a live one.
        Re-acquiring one's own lease renews it."""

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
    ) -> tuple[bool, StoredCheckpoint | None]:
        """Take the thread's lease, then read the checkpoint a run starts from (as
        `get_checkpoint`). Returns `(False, None)` when another owner holds a live lease.

        A run's first two store calls in one: stores over a network do both in one round
        trip; the default calls `acquire_thread` then `get_checkpoint`.

        `flush=False` lets a store whose commits can skip the wait for the disk skip it for
        this lease: the caller promises that its next write, made before anything else runs,
        waits for the disk (a resume's decision), and that write makes the lease durable
        too. Other stores ignore it."""
        if not self.acquire_thread(thread_id, owner, ttl=ttl):
            return False, None
        return True, self.get_checkpoint(thread_id, checkpoint_ns, checkpoint_id, after=after)

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Extend `owner`'s lease by `ttl` seconds only if `owner` still holds it and it has
        not lapsed; False otherwise (nothing changes: unlike `acquire_thread`, a free or
        lapsed lease is not taken). What a running run's lease keeper calls. The default
        re-acquires (stores should override it)."""
        return self.acquire_thread(thread_id, owner, ttl=ttl)

    @abstractmethod
    def release_thread(self, thread_id: str, owner: str) -> None:
        """Give the lease back (no-op if `owner` does not hold it)."""

    @abstractmethod
    def get_thread(self, thread_id: str) -> ThreadInfo | None:
        """Summary of one thread; None if it has no checkpoint."""

    @abstractmethod
    def list_threads(self, *, limit: int = 100, offset: int = 0) -> tuple[ThreadInfo, ...]:
        """Threads, most recently updated first."""

    @abstractmethod
    def delete_thread(self, thread_id: str) -> None:
        """Delete everything stored for the thread (all namespaces)."""

    # ---- audit log --------------------------------------------------------------------

    # Stores write `approval.requested` (actor: the metadata's `requested_by`; detail
    # {"value"}) in the transaction that stores a new request, and `approval.decided` /
    # `approval.expired` / `approval.cancelled` (actor: `decided_by`; detail {"value",
    # "decision"}) in the one that decides it: the log misses no request or decision.

    @abstractmethod
    def append_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Append entries (ids assigned when empty); returns them as stored. Entries are
        never changed or deleted by interlock (`prune` and `delete_thread` keep them)."""

    @abstractmethod
    def list_audit(
        self,
        *,
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        after: str | None = None,
    ) -> AuditPage:
        """Entries newest first, optionally of one thread or one request, paged by the
        opaque `cursor` of the previous page. With `after` (an entry id, "" for the start):
        the entries after it, oldest first — for tailing the log (`next_cursor` is then the
        next `after`)."""

    @abstractmethod
    def claim_cursor(self, name: str, owner: str, *, ttl: float) -> str | None:
        """Take the named cursor's lease (free, expired or ours) and return its position
        ("" when new); None while another owner holds it. For a log tailer that must run in
        one process at a time (webhook delivery)."""

    @abstractmethod
    def advance_cursor(self, name: str, owner: str, position: str, *, ttl: float) -> bool:
        """Move the cursor to `position` and renew the lease, if `owner` still holds it."""

    @abstractmethod
    def prune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
    ) -> int:
        """Retention. `finished_before`: delete finished threads (no next task, nothing
        pending, no queued or running background run) last updated before that instant,
        and the records of background runs that ended before it. `keep_last`: in every
        thread, drop checkpoints older than the last `keep_last`, keeping what is needed to
        read them. Returns the number of checkpoints deleted."""

    def expire_finished(self, ttl: timedelta | float) -> int:
        """Retention by age: delete finished threads not updated for `ttl` (seconds or a
        timedelta). Returns the number of checkpoints deleted. Run it from a cron job or a
        worker; interrupted and running threads are never touched."""
        age = ttl if isinstance(ttl, timedelta) else timedelta(seconds=float(ttl))
        return self.prune(finished_before=datetime.now(UTC) - age)

    async def aexpire_finished(self, ttl: timedelta | float) -> int:
        """Async twin of `expire_finished`."""
        return await _to_thread(self.expire_finished, ttl)

    def close(self) -> None:
        """Release connections. The default does nothing."""

    # ---- context manager ----------------------------------------------------------------

    def __enter__(self) -> BaseSaver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- async twins --------------------------------------------------------------------

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
        await _to_thread(
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
        return await _to_thread(
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
        return await _to_thread(
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
        await _to_thread(
            self.put_task_writes,
            thread_id,
            checkpoint_ns,
            checkpoint_id,
            task_writes,
            interrupts,
            lease_owner=lease_owner,
            release_lease=release_lease,
        )

    async def aresolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
    ) -> tuple[InterruptRecord, ...]:
        """Async twin of `resolve_interrupts`."""
        return await _to_thread(
            self.resolve_interrupts, thread_id, decisions, decided_by=decided_by, status=status
        )

    async def aget_interrupt(self, interrupt_id: str) -> InterruptRecord | None:
        """Async twin of `get_interrupt`."""
        return await _to_thread(self.get_interrupt, interrupt_id)

    async def alist_interrupts(
        self,
        *,
        status: InterruptStatus | None = "pending",
        thread_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        due_before: datetime | None = None,
    ) -> InterruptPage:
        """Async twin of `list_interrupts`."""
        return await _to_thread(
            self.list_interrupts,
            status=status,
            thread_id=thread_id,
            limit=limit,
            cursor=cursor,
            due_before=due_before,
        )

    async def aacquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Async twin of `acquire_thread`."""
        return await _to_thread(self.acquire_thread, thread_id, owner, ttl=ttl)

    async def aappend_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Async twin of `append_audit`."""
        return await _to_thread(self.append_audit, entries)

    async def alist_audit(
        self,
        *,
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        after: str | None = None,
    ) -> AuditPage:
        """Async twin of `list_audit`."""
        return await _to_thread(
            self.list_audit,
            thread_id=thread_id,
            interrupt_id=interrupt_id,
            limit=limit,
            cursor=cursor,
            after=after,
        )

    async def aacquire_and_get(
        self,
        thread_id: str,
        owner: str,
        *,
        ttl: float,
        checkpoint_ns: str = "",
        checkpoint_id: str | None = None,
        after: str | None = None,
        flush: bool = True,
    ) -> tuple[bool, StoredCheckpoint | None]:
        """Async twin of `acquire_and_get`."""
        return await _to_thread(
            self.acquire_and_get,
            thread_id,
            owner,
            ttl=ttl,
            checkpoint_ns=checkpoint_ns,
            checkpoint_id=checkpoint_id,
            after=after,
            flush=flush,
        )

    async def arelease_thread(self, thread_id: str, owner: str) -> None:
        """Async twin of `release_thread`."""
        await _to_thread(self.release_thread, thread_id, owner)

    async def aget_thread(self, thread_id: str) -> ThreadInfo | None:
        """Async twin of `get_thread`."""
        return await _to_thread(self.get_thread, thread_id)

    async def alist_threads(self, *, limit: int = 100, offset: int = 0) -> tuple[ThreadInfo, ...]:
        """Async twin of `list_threads`."""
        return await _to_thread(self.list_threads, limit=limit, offset=offset)

    async def adelete_thread(self, thread_id: str) -> None:
        """Async twin of `delete_thread`."""
        await _to_thread(self.delete_thread, thread_id)

    async def aprune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
    ) -> int:
        """Async twin of `prune`."""
        return await _to_thread(self.prune, finished_before=finished_before, keep_last=keep_last)
