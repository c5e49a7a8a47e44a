"""The interrupt index in Python structures: a mixin of `InMemorySaver`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._audit.audited import AuditedMemory
from interlock.checkpoint._interrupts.protocol import (
    KEEP_VALUE,
    InterruptPage,
    InterruptRecord,
    InterruptStatus,
    approver_principals,
    check_eligible_filter,
    decision_action,
    escalation_detail,
    reopen_detail,
    reopen_metadata,
)
from interlock.checkpoint._time import as_utc, utc_now
from interlock.errors import ResumeConflict, ResumeError

__all__ = ["MemoryInterrupts", "StoredInterrupt"]


@dataclass(slots=True)
class StoredInterrupt:
    """A request as the memory store keeps it."""

    record: InterruptRecord
    """Immutable fields only; value, resume and metadata are kept as JSON below."""
    value: str
    metadata: str
    resume: str | None = None


def _with_decision(metadata: str, decision: str) -> str:
    """Metadata (JSON text of an object) with `decision` set to `decision` (JSON text)."""
    if '"decision"' in metadata:  # decided before, and reopened: rewrite it whole
        meta = {**serde.loads(metadata), "decision": serde.loads(decision)}
        return serde.dumps(meta, "metadata")
    body = metadata.rstrip()[:-1].rstrip()
    return body + ("" if body.endswith("{") else ",") + '"decision":' + decision + "}"


def _inbox_key(item: StoredInterrupt) -> tuple[datetime, str]:
    return as_utc(item.record.created_at), item.record.interrupt_id


class MemoryInterrupts(AuditedMemory):
    """The interrupt index over dicts, under the saver's lock; requests are added by the
    checkpoints room's writes (`_add_interrupts`), audited through the audit room (`_log`)."""

    def _init_interrupts(self) -> None:
        self._interrupts: dict[str, StoredInterrupt] = {}
        self._order: list[str] = []
        """Ids in insertion order."""
        self._by_thread: dict[str, list[str]] = {}
        """Each thread's interrupt ids, in insertion order."""

    # ---- for the other rooms ---------------------------------------------------------------

    def _encode_interrupts(self, interrupts: Sequence[InterruptRecord]) -> list[StoredInterrupt]:
        return [
            StoredInterrupt(
                record=replace(i, value=None, resume=None, metadata={}),
                value=serde.dumps(i.value, "interrupt value"),
                metadata=serde.dumps(dict(i.metadata), "metadata"),
                resume=None if i.resume is None else serde.dumps(i.resume, "resume"),
            )
            for i in interrupts
        ]

    def _add_interrupts(self, thread_id: str, items: list[StoredInterrupt]) -> None:
        """Under the saver's lock: insert new requests (once each) and audit them."""
        for item in items:
            iid = item.record.interrupt_id
            if iid in self._interrupts:
                continue  # inserted once (as the SQL stores do)
            self._order.append(iid)
            self._interrupts[iid] = item
            self._by_thread.setdefault(thread_id, []).append(iid)
            requester = serde.loads(item.metadata).get("requested_by")
            self._log(
                item.record.thread_id,
                iid,
                "approval.requested",
                requester,
                '{"value":' + item.value + "}",
            )

    def _interrupts_at(
        self, thread_id: str, checkpoint_ns: str, checkpoint_id: str
    ) -> list[InterruptRecord]:
        """Every request saved against one checkpoint, in (task, index) order."""
        return sorted(
            (
                self._decode_interrupt(i)
                for i in (self._interrupts[x] for x in self._by_thread.get(thread_id, ()))
                if i.record.checkpoint_ns == checkpoint_ns
                and i.record.checkpoint_id == checkpoint_id
            ),
            key=lambda r: (r.task_id, r.index),
        )

    def _has_pending(self, thread_id: str) -> bool:
        return any(
            self._interrupts[x].record.status == "pending"
            for x in self._by_thread.get(thread_id, ())
        )

    def _forget_interrupts(self, thread_id: str) -> None:
        ids = self._by_thread.pop(thread_id, None)
        if not ids:
            return
        for k in ids:
            del self._interrupts[k]
        self._order = [k for k in self._order if k in self._interrupts]

    def _decode_interrupt(self, item: StoredInterrupt) -> InterruptRecord:
        return replace(
            item.record,
            value=serde.loads(item.value),
            resume=serde.loads(item.resume) if item.resume is not None else None,
            metadata=serde.loads(item.metadata),
        )

    def _matches(
        self,
        item: StoredInterrupt,
        agent: str | None,
        requested_by: str | None,
        eligible: set[str] | None,
        not_requested_by: str | None,
        version: str | None = None,
    ) -> bool:
        """The metadata filters of `list_interrupts`."""
        if (agent, requested_by, eligible, not_requested_by, version) == (None,) * 5:
            return True
        meta = serde.loads(item.metadata)
        asker = meta.get("requested_by")
        return (
            (agent is None or meta.get("graph") == agent)
            and (requested_by is None or asker == requested_by)
            and (not_requested_by is None or asker != not_requested_by)
            and (version is None or meta.get("graph_version") == version)
            and (eligible is None or not eligible.isdisjoint(approver_principals(meta)))
        )

    # ---- the protocol ----------------------------------------------------------------------

    def resolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
        bindings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> tuple[InterruptRecord, ...]:
        """Flip pending interrupts to decided, all or nothing, exactly once."""
        encoded = {k: serde.dumps(v, f"decision for {k}") for k, v in decisions.items()}
        bound = {k: serde.dumps(dict(v), "binding") for k, v in (bindings or {}).items()}
        with self._lock:
            for iid in decisions:
                item = self._interrupts.get(iid)
                if item is None or item.record.thread_id != thread_id:
                    raise ResumeError(f"interrupt {iid!r} does not exist on thread {thread_id!r}")
                if item.record.status != "pending":
                    raise ResumeConflict(f"interrupt {iid!r} was already {item.record.status}")
            now = utc_now()
            out = []
            for iid in decisions:
                item = self._interrupts[iid]
                item.record = replace(
                    item.record, status=status, decided_by=decided_by, decided_at=now
                )
                item.resume = encoded[iid]
                if iid in bound:
                    item.metadata = _with_decision(item.metadata, bound[iid])
                detail = '{"value":' + item.value + ',"decision":' + encoded[iid] + "}"
                self._log(thread_id, iid, decision_action(status), decided_by, detail)
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
        """Give a pending request a new deadline and metadata, once (see `InterruptIndex`)."""
        text = serde.dumps(dict(metadata), "metadata")
        with self._lock:
            item = self._interrupts.get(interrupt_id)
            if (
                item is None
                or item.record.status != "pending"
                or item.record.deadline is None
                or as_utc(item.record.deadline) != as_utc(expected_deadline)
            ):
                return None
            before = self._decode_interrupt(item)
            item.record = replace(item.record, deadline=as_utc(deadline))
            item.metadata = text
            detail = escalation_detail(before, deadline, metadata)
            # the actor is the deadline itself: no person escalated it
            self._audited(item.record.thread_id, interrupt_id, "approval.escalated", None, detail)
            return self._decode_interrupt(item)

    def reopen_interrupt(
        self,
        interrupt_id: str,
        *,
        reason: str,
        expected_status: InterruptStatus = "resolved",
        value: Any = KEEP_VALUE,
        by: str | None = None,
    ) -> InterruptRecord | None:
        """Return a decided request to pending, once (see `InterruptIndex`)."""
        text = None if value is KEEP_VALUE else serde.dumps(value, "interrupt value")
        with self._lock:
            item = self._interrupts.get(interrupt_id)
            if item is None or item.record.status != expected_status:
                return None
            before = self._decode_interrupt(item)
            now = utc_now()
            meta = serde.dumps(reopen_metadata(before, reason, now, by), "metadata")
            detail = serde.dumps(reopen_detail(before, value, reason), "audit detail")
            item.record = replace(item.record, status="pending", decided_by=None, decided_at=None)
            item.resume = None
            item.metadata = meta
            if text is not None:
                item.value = text
            self._log(item.record.thread_id, interrupt_id, "approval.reopened", by, detail)
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
        agent: str | None = None,
        requested_by: str | None = None,
        eligible: Sequence[str] | None = None,
        not_requested_by: str | None = None,
        version: str | None = None,
    ) -> InterruptPage:
        """Interrupts oldest first, paged by an opaque cursor."""
        check_eligible_filter(status, eligible)
        wanted = None if eligible is None else set(eligible)
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
                        and as_utc(i.record.deadline) <= as_utc(due_before)
                    )
                )
                and self._matches(i, agent, requested_by, wanted, not_requested_by, version)
            ]
            items.sort(key=_inbox_key)
            if cursor is not None:
                at, _, iid = cursor.partition("|")
                try:
                    after = (as_utc(datetime.fromisoformat(at)), iid)
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
