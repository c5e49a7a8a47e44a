"""The interrupt index of the store protocol: one row per request for a person.

A request is inserted by the checkpoint write that pauses (see the checkpoints room), pending
until decided exactly once: `resolve_interrupts` is a conditional update (one caller wins,
the others get `ResumeConflict`). "Everything waiting for a person" is
`list_interrupts(status="pending")`, one indexed query per page whatever the number of
threads. A request with a deadline may be escalated to new approvers (`escalate_interrupt`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from interlock.checkpoint._async import to_thread

__all__ = [
    "ANY_APPROVER",
    "KEEP_VALUE",
    "InterruptIndex",
    "InterruptPage",
    "InterruptRecord",
    "InterruptStatus",
    "approver_principals",
    "check_eligible_filter",
    "decision_action",
    "escalation_detail",
    "reopen_detail",
    "reopen_metadata",
]


InterruptStatus = Literal["pending", "resolved", "expired", "cancelled"]


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
class InterruptPage:
    """One page of `list_interrupts`."""

    items: tuple[InterruptRecord, ...]
    next_cursor: str | None
    """Pass as `cursor=` to get the next page; None on the last page."""


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


KEEP_VALUE: Any = type("KeepValue", (), {"__repr__": lambda self: "KEEP_VALUE"})()
"""`reopen_interrupt(value=KEEP_VALUE)`: the request keeps the question it had."""


ANY_APPROVER = "*"
"""The principal of a request without an approver rule (any approver may decide it)."""


def approver_principals(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """Who a request's approver rule names, as the inbox's `eligible` filter matches them:
    its names, `role:` and `group:` entries; `("*",)` when it has no rule; none when the rule
    has an unexpected shape (only admins may decide it, and they are not filtered)."""
    approvers = metadata.get("approvers")
    if approvers is None:
        return (ANY_APPROVER,)
    if not isinstance(approvers, list | tuple) or not all(type(a) is str for a in approvers):
        return ()
    return tuple(dict.fromkeys(approvers))


def check_eligible_filter(status: str | None, eligible: Sequence[str] | None) -> None:
    """`eligible` is a filter of pending requests only (ValueError otherwise)."""
    if eligible is not None and status != "pending":
        raise ValueError("the eligible filter lists pending requests only")


def reopen_metadata(
    record: InterruptRecord, reason: str, at: datetime, by: str | None
) -> dict[str, Any]:
    """A reopened request's metadata: its own, plus `reopened` (why, when, by what, and the
    decision that was withdrawn; every store writes the same)."""
    return {
        **record.metadata,
        "reopened": {
            "reason": reason,
            "at": at.isoformat(),
            "by": by,
            "status": record.status,
            "decision": record.resume,
            "decided_by": record.decided_by,
            "decided_at": None if record.decided_at is None else record.decided_at.isoformat(),
            "count": int((record.metadata.get("reopened") or {}).get("count", 0)) + 1,
        },
    }


def reopen_detail(record: InterruptRecord, value: Any, reason: str) -> dict[str, Any]:
    """The detail of an `approval.reopened` audit entry (every store writes the same)."""
    detail: dict[str, Any] = {
        "reason": reason,
        "value": record.value if value is KEEP_VALUE else value,
        "withdrawn": {"status": record.status, "decision": record.resume},
    }
    if value is not KEEP_VALUE:
        detail["previous_value"] = record.value
    return detail


def decision_action(status: str) -> str:
    """The audit action recorded when a request gets `status`."""
    return {"resolved": "approval.decided", "expired": "approval.expired"}.get(
        status, f"approval.{status}"
    )


class InterruptIndex(ABC):
    """The interrupt index: decide requests exactly once, escalate them, find them across
    threads."""

    @abstractmethod
    def resolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
        bindings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> tuple[InterruptRecord, ...]:
        """Flip each interrupt id in `decisions` from pending to `status` with its value.

        All or nothing, exactly once: if any id is unknown for this thread → `ResumeError`;
        if any is no longer pending → `ResumeConflict`; in both cases nothing changes.
        `bindings` (by id) is stored as the record's `metadata["decision"]`: what the
        decision answered (the question's digest), under which rule, until when it holds.
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

    @abstractmethod
    def reopen_interrupt(
        self,
        interrupt_id: str,
        *,
        reason: str,
        expected_status: InterruptStatus = "resolved",
        value: Any = KEEP_VALUE,
        by: str | None = None,
    ) -> InterruptRecord | None:
        """Return a decided request to pending, once: for a decision that must not be
        carried out after all (its answer no longer fits the question, its validity window
        passed, the code changed under it). A conditional update on `expected_status`:
        the decision (`resume`, `decided_by`, `decided_at`) is withdrawn, `metadata
        ["reopened"]` says why (`reason`), when, by what (`by`: a process or person, or
        None) and which decision was withdrawn; `value` replaces the question when given.
        Writes the `approval.reopened` audit entry in the same transaction. The request
        keeps its id and its place in the inbox. Returns the updated record, or None when
        it is unknown or no longer `expected_status` (another process reopened or applied
        it first)."""

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
        agent: str | None = None,
        requested_by: str | None = None,
        eligible: Sequence[str] | None = None,
        not_requested_by: str | None = None,
        version: str | None = None,
    ) -> InterruptPage:
        """Interrupts across all threads, oldest first, from one indexed query per page
        (each filter is an index range or a condition inside one, never a page filtered
        afterwards, so a page holds `limit` requests while more match).

        `due_before`: only those with a deadline at or before that instant. `agent`: only
        those of this graph (`metadata["graph"]`); `requested_by`: only those this person
        asked (`metadata["requested_by"]`); `version`: only those asked under this graph
        version (`metadata["graph_version"]`). `eligible`: only pending requests whose approver
        rule names one of these principals (a name, `role:<r>`, `group:<g>`; `"*"` matches
        requests without a rule), see `approver_principals` — only with status "pending"
        (else ValueError). `not_requested_by`: leave out those this person asked."""

    async def aresolve_interrupts(
        self,
        thread_id: str,
        decisions: Mapping[str, Any],
        *,
        decided_by: str | None = None,
        status: InterruptStatus = "resolved",
        bindings: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> tuple[InterruptRecord, ...]:
        """Async twin of `resolve_interrupts`."""
        return await to_thread(
            self.resolve_interrupts,
            thread_id,
            decisions,
            decided_by=decided_by,
            status=status,
            bindings=bindings,
        )

    async def aescalate_interrupt(
        self,
        interrupt_id: str,
        *,
        expected_deadline: datetime,
        deadline: datetime,
        metadata: Mapping[str, Any],
    ) -> InterruptRecord | None:
        """Async twin of `escalate_interrupt`."""
        return await to_thread(
            self.escalate_interrupt,
            interrupt_id,
            expected_deadline=expected_deadline,
            deadline=deadline,
            metadata=metadata,
        )

    async def areopen_interrupt(
        self,
        interrupt_id: str,
        *,
        reason: str,
        expected_status: InterruptStatus = "resolved",
        value: Any = KEEP_VALUE,
        by: str | None = None,
    ) -> InterruptRecord | None:
        """Async twin of `reopen_interrupt`."""
        return await to_thread(
            self.reopen_interrupt,
            interrupt_id,
            reason=reason,
            expected_status=expected_status,
            value=value,
            by=by,
        )

    async def aget_interrupt(self, interrupt_id: str) -> InterruptRecord | None:
        """Async twin of `get_interrupt`."""
        return await to_thread(self.get_interrupt, interrupt_id)

    async def alist_interrupts(
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
        """Async twin of `list_interrupts`."""
        return await to_thread(
            self.list_interrupts,
            status=status,
            thread_id=thread_id,
            limit=limit,
            cursor=cursor,
            due_before=due_before,
            agent=agent,
            requested_by=requested_by,
            eligible=eligible,
            not_requested_by=not_requested_by,
            version=version,
        )
