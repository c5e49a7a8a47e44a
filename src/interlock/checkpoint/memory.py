"""`InMemorySaver`: the store protocol in Python structures, for tests and notebooks.

Values are kept serialised (as the other stores keep them), so an unserialisable value fails
at write time and callers cannot mutate stored state through objects they hold.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from interlock.checkpoint import serde
from interlock.checkpoint._chain import (
    RowStats,
    chain_between,
    decode_writes,
    encode_record,
)
from interlock.checkpoint._memory_runs import MemoryRunQueue
from interlock.checkpoint._runs import THREAD_DELETED
from interlock.checkpoint.base import (
    AuditEntry,
    AuditPage,
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
    escalation_detail,
    new_audit_id,
)
from interlock.errors import ResumeConflict, ResumeError

__all__ = ["InMemorySaver", "MemorySaver"]


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
class _Interrupt:
    record: InterruptRecord
    """Immutable fields only; value, resume and metadata are kept as JSON below."""
    value: str
    metadata: str
    resume: str | None = None


@dataclass(slots=True)
class _Thread:
    created_at: datetime
    updated_at: datetime
    heads: dict[str, str] = field(default_factory=dict)
    rows: dict[tuple[str, str], _Row] = field(default_factory=dict)
    task_writes: dict[tuple[str, str], dict[str, tuple[str, str]]] = field(default_factory=dict)
    lease: tuple[str, float, float] | None = None
    """(owner, expires at (monotonic), ttl)."""
    interrupt_ids: list[str] = field(default_factory=list)
    """Ids of this thread's interrupts, in insertion order."""


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _inbox_key(item: _Interrupt) -> tuple[datetime, str]:
    return _utc(item.record.created_at), item.record.interrupt_id


class InMemorySaver(MemoryRunQueue, BaseSaver):
    """Keeps threads in this process's memory.

    Example:
        >>> saver = InMemorySaver()
        >>> saver.get_checkpoint("nobody") is None
        True
    """

    def __init__(self, *, snapshot_policy: SnapshotPolicy | None = None) -> None:
        self.policy = snapshot_policy or SnapshotPolicy()
        self._lock = threading.RLock()
        self._threads: dict[str, _Thread] = {}
        self._interrupts: dict[str, _Interrupt] = {}
        self._order: list[str] = []
        self._audit: list[tuple[AuditEntry, str]] = []
        self._cursors: dict[str, tuple[str, str | None, float]] = {}
        """Entries (detail emptied) with their serialised detail, oldest first."""
        self._run_rows = {}

    # ---- checkpoints -------------------------------------------------------------------

    def _thread(self, thread_id: str) -> _Thread:
        t = self._threads.get(thread_id)
        if t is None:
            now = _now()
            t = self._threads[thread_id] = _Thread(created_at=now, updated_at=now)
        return t

    def _encode_interrupts(self, interrupts: Sequence[InterruptRecord]) -> list[_Interrupt]:
        return [
            _Interrupt(
                record=replace(i, value=None, resume=None, metadata={}),
                value=serde.dumps(i.value, "interrupt value"),
                metadata=serde.dumps(dict(i.metadata), "metadata"),
                resume=None if i.resume is None else serde.dumps(i.resume, "resume"),
            )
            for i in interrupts
        ]

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
            thread = self._threads.get(record.thread_id)
            head = thread.heads.get(record.checkpoint_ns) if thread else None
            parent = None
            if record.parent_id is not None and thread is not None:
                row = thread.rows.get((record.checkpoint_ns, record.parent_id))
                parent = row.stats if row else None
            encoded = encode_record(record, parent, self.policy)
            stored_interrupts = self._encode_interrupts(interrupts)
            if head != expected_head:
                raise ResumeConflict(
                    f"thread {record.thread_id!r} moved on (head {head}, expected "
                    f"{expected_head}); another run committed first"
                )
            thread = self._thread(record.thread_id)
            thread.rows[(record.checkpoint_ns, record.checkpoint_id)] = _Row(
                record=replace(record, values=None, writes=(), metadata={}, sends=(), barriers={}),
                writes=encoded.writes,
                snapshot=encoded.snapshot,
                stats=encoded.stats,
                metadata=encoded.metadata,
                sends=encoded.sends,
                barriers=encoded.barriers,
            )
            thread.heads[record.checkpoint_ns] = record.checkpoint_id
            thread.updated_at = _now()
            self._add_interrupts(thread, stored_interrupts)
            self._lease_after_write(thread, lease_owner, release_lease)

    @staticmethod
    def _lease_after_write(thread: _Thread, owner: str | None, release: bool) -> None:
        if owner is None or not thread.lease or thread.lease[0] != owner:
            return
        if release:
            thread.lease = None
        else:
            ttl = thread.lease[2]
            thread.lease = (owner, time.monotonic() + ttl, ttl)

    def _add_interrupts(self, thread: _Thread, items: list[_Interrupt]) -> None:
        for item in items:
            if item.record.interrupt_id in self._interrupts:
                continue  # inserted once (as the SQL stores do)
            self._order.append(item.record.interrupt_id)
            self._interrupts[item.record.interrupt_id] = item
            thread.interrupt_ids.append(item.record.interrupt_id)
            requester = serde.loads(item.metadata).get("requested_by")
            self._log(item, "approval.requested", requester, '{"value":' + item.value + "}")

    def _log(self, item: _Interrupt, action: str, actor: Any, detail: str) -> None:
        entry = AuditEntry(
            entry_id=new_audit_id(),
            at=_now(),
            actor=None if actor is None else str(actor),
            action=action,
            thread_id=item.record.thread_id,
            interrupt_id=item.record.interrupt_id,
        )
        bisect.insort(self._audit, (entry, detail), key=lambda row: row[0].entry_id)

    def _decode_interrupt(self, item: _Interrupt) -> InterruptRecord:
        return replace(
            item.record,
            value=serde.loads(item.value),
            resume=serde.loads(item.resume) if item.resume is not None else None,
            metadata=serde.loads(item.metadata),
        )

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
            thread = self._threads.get(thread_id)
            if thread is None:
                return None
            cid = checkpoint_id or thread.heads.get(checkpoint_ns)
            row = thread.rows.get((checkpoint_ns, cid)) if cid else None
            if row is None:
                return None
            rows = thread.rows

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
            record = row.decoded()
            tw = thread.task_writes.get((checkpoint_ns, row.record.checkpoint_id), {})
            task_writes = tuple(
                TaskWrites(
                    task_id=tid, task_name=name, writes=tuple((c, v) for c, v in serde.loads(text))
                )
                for tid, (name, text) in tw.items()
            )
            ints = sorted(
                (
                    self._decode_interrupt(i)
                    for i in (self._interrupts[x] for x in thread.interrupt_ids)
                    if i.record.checkpoint_ns == checkpoint_ns
                    and i.record.checkpoint_id == row.record.checkpoint_id
                ),
                key=lambda r: (r.task_id, r.index),
            )
            return StoredCheckpoint(
                record=record,
                base=base,
                chain=chain,
                task_writes=task_writes,
                interrupts=tuple(ints),
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
            thread = self._threads.get(thread_id)
            if thread is None:
                return iter(())
            rows = sorted(
                (
                    r
                    for (ns, cid), r in thread.rows.items()
                    if ns == checkpoint_ns and (before is None or cid < before)
                ),
                key=lambda r: r.record.checkpoint_id,
                reverse=True,
            )
            if limit is not None:
                rows = rows[:limit]
            out = [r.decoded() for r in rows]
        return iter(out)

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
            known = self._threads.get(thread_id)
            if known is None or (checkpoint_ns, checkpoint_id) not in known.rows:
                raise _missing_checkpoint(thread_id, checkpoint_id)
            thread = self._thread(thread_id)
            slot = thread.task_writes.setdefault((checkpoint_ns, checkpoint_id), {})
            for tid, name, text in encoded:
                slot[tid] = (name, text)
            self._add_interrupts(thread, stored_interrupts)
            thread.updated_at = _now()
            self._lease_after_write(thread, lease_owner, release_lease)

    # ---- interrupts ----------------------------------------------------------------------

    def resolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
    ) -> tuple[InterruptRecord, ...]:
        """Flip pending interrupts to decided, all or nothing, exactly once."""
        encoded = {k: serde.dumps(v, f"decision for {k}") for k, v in decisions.items()}
        with self._lock:
            for iid in decisions:
                item = self._interrupts.get(iid)
                if item is None or item.record.thread_id != thread_id:
                    raise ResumeError(f"interrupt {iid!r} does not exist on thread {thread_id!r}")
                if item.record.status != "pending":
                    raise ResumeConflict(f"interrupt {iid!r} was already {item.record.status}")
            now = _now()
            out = []
            for iid in decisions:
                item = self._interrupts[iid]
                item.record = replace(
                    item.record, status=status, decided_by=decided_by, decided_at=now
                )
                item.resume = encoded[iid]
                detail = '{"value":' + item.value + ',"decision":' + encoded[iid] + "}"
                self._log(item, decision_action(status), decided_by, detail)
                out.append(self._decode_interrupt(item))
            return tuple(out)

    def escalate_interrupt(
        self,
        interrupt_id: str,
        *,
        expected_deadline: datetime,
        deadline: datetime,
        metadata: Mapping[str, Any],
    ) -> InterruptRecord | None:
        """Give a pending request a new deadline and metadata, once (see `BaseSaver`)."""
        text = serde.dumps(dict(metadata), "metadata")
        with self._lock:
            item = self._interrupts.get(interrupt_id)
            if (
                item is None
                or item.record.status != "pending"
                or item.record.deadline is None
                or _utc(item.record.deadline) != _utc(expected_deadline)
            ):
                return None
            before = self._decode_interrupt(item)
            item.record = replace(item.record, deadline=_utc(deadline))
            item.metadata = text
            detail = escalation_detail(before, deadline, metadata)
            # the actor is the deadline itself: no person escalated it
            self._log(item, "approval.escalated", None, serde.dumps(detail, "audit detail"))
            return self._decode_interrupt(item)

    def get_interrupt(self, interrupt_id: str) -> InterruptRecord | None:
        """One interrupt by id."""
        with self._lock:
            item = self._interrupts.get(interrupt_id)
            return self._decode_interrupt(item) if item else None

    def list_interrupts(
        self,
        *,
        status: InterruptStatus | None = "pending",
        thread_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        due_before: datetime | None = None,
    ) -> InterruptPage:
        """Interrupts oldest first, paged by an opaque cursor."""
        with self._lock:
            items = [
                i
                for i in (self._interrupts[x] for x in self._order)
                if (status is None or i.record.status == status)
                and (thread_id is None or i.record.thread_id == thread_id)
                and (
                    due_before is None
                    or (
                        i.record.deadline is not None
                        and _utc(i.record.deadline) <= _utc(due_before)
                    )
                )
            ]
            items.sort(key=_inbox_key)
            if cursor is not None:
                at, _, iid = cursor.partition("|")
                try:
                    after = (_utc(datetime.fromisoformat(at)), iid)
                except ValueError as exc:
                    raise ValueError(f"invalid cursor {cursor!r}") from exc
                items = [i for i in items if _inbox_key(i) > after]
            page = items[:limit]
            more = len(items) > limit
            next_cursor = (
                f"{_inbox_key(page[-1])[0].isoformat()}|{page[-1].record.interrupt_id}"
                if more and page
                else None
            )
            return InterruptPage(
                items=tuple(self._decode_interrupt(i) for i in page), next_cursor=next_cursor
            )

    # ---- audit log -----------------------------------------------------------------------

    def append_audit(self, entries: Sequence[AuditEntry]) -> tuple[AuditEntry, ...]:
        """Append entries (ids assigned when empty), all or nothing."""
        stored = tuple(e if e.entry_id else replace(e, entry_id=new_audit_id()) for e in entries)
        rows = [
            (replace(e, detail={}), serde.dumps(dict(e.detail), f"audit detail of {e.action}"))
            for e in stored
        ]
        with self._lock:
            self._audit.extend(rows)
            self._audit.sort(key=lambda row: row[0].entry_id)
        return tuple(self._decode_audit(r) for r in rows)

    def _decode_audit(self, row: tuple[AuditEntry, str]) -> AuditEntry:
        return replace(row[0], detail=serde.loads(row[1]))

    def list_audit(
        self,
        *,
        thread_id: str | None = None,
        interrupt_id: str | None = None,
        limit: int = 100,
        cursor: str | None = None,
        after: str | None = None,
    ) -> AuditPage:
        """Entries newest first (or oldest first after `after`)."""
        mark = _audit_position(cursor, after)
        with self._lock:
            rows = [
                r
                for r in (self._audit if after is not None else reversed(self._audit))
                if (thread_id is None or r[0].thread_id == thread_id)
                and (interrupt_id is None or r[0].interrupt_id == interrupt_id)
                and (
                    mark is None
                    or (r[0].entry_id > mark if after is not None else r[0].entry_id < mark)
                )
            ]
        items = tuple(self._decode_audit(r) for r in rows[:limit])
        more = len(rows) > limit and bool(items)
        return AuditPage(items=items, next_cursor=items[-1].entry_id if more else None)

    def claim_cursor(self, name: str, owner: str, *, ttl: float) -> str | None:
        """Take the cursor's lease and return its position, or None if held."""
        now = time.monotonic()
        with self._lock:
            position, holder, until = self._cursors.get(name, ("", None, 0.0))
            if holder not in (None, owner) and until > now:
                return None
            self._cursors[name] = (position, owner, now + ttl)
            return position

    def advance_cursor(self, name: str, owner: str, position: str, *, ttl: float) -> bool:
        """Move the cursor if `owner` holds it."""
        with self._lock:
            current = self._cursors.get(name)
            if current is None or current[1] != owner:
                return False
            self._cursors[name] = (position, owner, time.monotonic() + ttl)
            return True

    # ---- threads -------------------------------------------------------------------------

    def acquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Take (or renew) the thread's lease."""
        with self._lock:
            thread = self._thread(thread_id)
            now = time.monotonic()
            if thread.lease and thread.lease[0] != owner and thread.lease[1] > now:
                return False
            thread.lease = (owner, now + ttl, ttl)
            return True

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        """Extend the lease only if `owner` still holds it, unexpired."""
        with self._lock:
            thread = self._threads.get(thread_id)
            now = time.monotonic()
            if thread is None or not thread.lease or thread.lease[0] != owner:
                return False
            if thread.lease[1] <= now:
                return False
            thread.lease = (owner, now + ttl, ttl)
            return True

    def release_thread(self, thread_id: str, owner: str) -> None:
        """Give the lease back."""
        with self._lock:
            thread = self._threads.get(thread_id)
            if thread and thread.lease and thread.lease[0] == owner:
                thread.lease = None

    def _info(self, thread_id: str, thread: _Thread) -> ThreadInfo:
        head = thread.heads.get("")
        status: Literal["idle", "interrupted", "busy", "finished"]
        if thread.lease and thread.lease[1] > time.monotonic():
            status = "busy"
        elif any(self._interrupts[x].record.status == "pending" for x in thread.interrupt_ids):
            status = "interrupted"
        elif head is not None and not (
            thread.rows[("", head)].record.next or thread.rows[("", head)].sends != "[]"
        ):
            status = "finished"
        else:
            status = "idle"
        return ThreadInfo(
            thread_id=thread_id,
            head_id=head,
            created_at=thread.created_at,
            updated_at=thread.updated_at,
            status=status,
        )

    def get_thread(self, thread_id: str) -> ThreadInfo | None:
        """Summary of one thread."""
        with self._lock:
            thread = self._threads.get(thread_id)
            if thread is None or not thread.heads:
                return None
            return self._info(thread_id, thread)

    def list_threads(self, *, limit: int = 100, offset: int = 0) -> tuple[ThreadInfo, ...]:
        """Threads, most recently updated first."""
        with self._lock:
            items = sorted(
                ((tid, t) for tid, t in self._threads.items() if t.heads),
                key=lambda x: x[1].updated_at,
                reverse=True,
            )[offset : offset + limit]
            return tuple(self._info(tid, t) for tid, t in items)

    def delete_thread(self, thread_id: str) -> None:
        """Forget the thread entirely (its queued runs fail)."""
        with self._lock:
            self._fail_open_runs(thread_id, THREAD_DELETED)
            thread = self._threads.pop(thread_id, None)
            if thread is None or not thread.interrupt_ids:
                return
            for k in thread.interrupt_ids:
                del self._interrupts[k]
            self._order = [k for k in self._order if k in self._interrupts]

    def prune(
        self,
        *,
        finished_before: datetime | None = None,
        keep_last: int | None = None,
    ) -> int:
        """Delete finished threads and/or old checkpoints; returns checkpoints deleted."""
        deleted = 0
        with self._lock:
            if finished_before is not None:
                self._drop_ended_runs(_utc(finished_before))
                for tid, thread in list(self._threads.items()):
                    info = self._info(tid, thread) if thread.heads else None
                    if (
                        info
                        and info.status == "finished"
                        and thread.updated_at < _utc(finished_before)
                        and not self._has_open_runs(tid)  # a queued run will add to it
                    ):
                        deleted += len(thread.rows)
                        self.delete_thread(tid)
            if keep_last is not None:
                for thread in self._threads.values():
                    deleted += _prune_rows(thread, keep_last)
        return deleted


def _prune_rows(thread: _Thread, keep_last: int) -> int:
    deleted = 0
    for ns in list(thread.heads):
        ids = sorted(cid for n, cid in thread.rows if n == ns)
        keep = set(ids[-keep_last:]) if keep_last > 0 else set()
        keep |= {thread.rows[(ns, cid)].stats.base_id for cid in keep}
        # keep every row between a kept row and its base on the parent chain
        for cid in list(keep):
            row = thread.rows[(ns, cid)]
            current: str | None = cid
            while current is not None and current != row.stats.base_id:
                keep.add(current)
                current = thread.rows[(ns, current)].record.parent_id
        for cid in ids:
            if cid not in keep:
                del thread.rows[(ns, cid)]
                thread.task_writes.pop((ns, cid), None)
                deleted += 1
    return deleted


MemorySaver = InMemorySaver


def _missing_checkpoint(thread_id: str, checkpoint_id: str) -> ResumeConflict:
    return ResumeConflict(
        f"checkpoint {checkpoint_id} of thread {thread_id!r} does not exist (deleted, or lost "
        "with a database restart); nothing was saved"
    )


def _audit_position(cursor: str | None, after: str | None) -> str | None:
    """The entry id a page starts from; checks the forms the store protocol accepts."""
    if cursor is not None and after is not None:
        raise ValueError("pass cursor= (newest first) or after= (oldest first), not both")
    mark = cursor if cursor is not None else after
    if mark is None or (after is not None and mark == ""):
        return mark
    if len(mark) != 32 or any(c not in "0123456789abcdef" for c in mark):
        raise ValueError(f"invalid cursor {mark!r}")
    return mark
