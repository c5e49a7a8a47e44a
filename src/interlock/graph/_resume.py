"""Matching a resume to the requests it answers, and checking the answers before they are
recorded: the id map or single answer, response schemas, expiry markers, and the caller's
own authorization hook (`configurable.authorize_decision`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from interlock._types import Command
from interlock.checkpoint.base import CheckpointRecord, InterruptRecord
from interlock.errors import InvalidResumeValue, ResumeConflict, ResumeError
from interlock.graph._interrupt import is_expired_answer
from interlock.graph._jsonschema import schema_errors

__all__ = [
    "authorize_decisions",
    "looks_like_id_map",
    "match_resume",
    "refuse_old_branch",
    "validate_decisions",
]

_ID_MAP_KEY = re.compile(r"^[0-9a-f]{32}$")


def looks_like_id_map(value: Any) -> bool:
    """Whether a resume value answers by interrupt id (every key 32 hex digits)."""
    return (
        isinstance(value, Mapping)
        and bool(value)
        and all(isinstance(k, str) and _ID_MAP_KEY.match(k) for k in value)
    )


def refuse_old_branch(thread_id: str, record: CheckpointRecord | None, head_id: str | None) -> None:
    """A resume, with nothing pending, at a checkpoint that is not the thread's head: the
    thread went on from it (its request was decided — a resume sent twice at the checkpoint
    it read — or cancelled when the thread went on from another checkpoint). A
    `ResumeConflict` (the thread moved: read it again) that says so, before anything is
    recorded or cancelled."""
    checkpoint_id = record.checkpoint_id if record is not None else None
    if checkpoint_id is not None and head_id is not None and checkpoint_id != head_id:
        raise ResumeConflict(
            f"checkpoint {checkpoint_id} of thread {thread_id!r} is not the thread's head "
            f"({head_id}) and nothing waits there (what was asked there was decided, or "
            "cancelled when the thread went on from another checkpoint): read the thread "
            "again and resume its head, with a config without checkpoint_id"
        )


def match_resume(
    thread_id: str,
    interrupts: Sequence[InterruptRecord],
    checkpoint_id: str | None,
    command: Command,
    elsewhere: Mapping[str, InterruptRecord | None],
) -> dict[str, Any]:
    """Map a resume value to pending interrupt ids, or raise a precise ResumeError.

    `interrupts` are those of the checkpoint being resumed (`checkpoint_id`); `elsewhere`
    has the store's records of ids not found there."""
    pending = [r for r in interrupts if r.status == "pending"]
    value = command.resume
    if looks_like_id_map(value):
        known: dict[str, InterruptRecord | None] = {**elsewhere}
        known.update({r.interrupt_id: r for r in interrupts})
        decisions = {}
        for iid, answer in value.items():
            rec = known.get(iid)
            if rec is None or rec.thread_id != thread_id:
                raise ResumeError(
                    f"interrupt {iid!r} is not pending on thread {thread_id!r}; "
                    f"pending: {[r.interrupt_id for r in pending]}"
                )
            if rec.status == "pending" and rec.checkpoint_id != checkpoint_id:
                raise ResumeError(
                    f"interrupt {iid!r} belongs to checkpoint {rec.checkpoint_id}, not the "
                    "one being resumed"
                )
            if rec.status != "pending":
                raise ResumeConflict(
                    f"interrupt {iid!r} was already {rec.status}"
                    + (f" by {rec.decided_by}" if rec.decided_by else "")
                )
            decisions[iid] = answer
        return decisions
    if not pending:
        raise ResumeError(f"thread {thread_id!r} has no pending interrupt to resume")
    if len(pending) > 1:
        raise ResumeError(
            "When there are multiple pending interrupts, you must specify the interrupt id "
            f"when resuming. Thread {thread_id!r} waits for {len(pending)} decisions; answer "
            f"them by id: Command(resume={{interrupt_id: value, ...}}) with ids "
            f"{[r.interrupt_id for r in pending]}"
        )
    return {pending[0].interrupt_id: value}


def validate_decisions(interrupts: Sequence[InterruptRecord], decisions: Mapping[str, Any]) -> None:
    """Check each answer against its request's `response_schema`; expiry markers only alone
    and only for requests with a deadline."""
    by_id = {r.interrupt_id: r for r in interrupts}
    expired = [is_expired_answer(a) for a in decisions.values()]
    if any(expired) and not all(expired):
        raise ResumeError("expire requests in a call of their own, not with decisions")
    for iid, answer in decisions.items():
        if is_expired_answer(answer):
            if by_id[iid].deadline is None:
                raise ResumeError(f"interrupt {iid} has no deadline; it cannot expire")
            continue
        schema = by_id[iid].metadata.get("response_schema")
        if schema is None:
            continue
        problems = schema_errors(answer, schema)
        if problems:
            raise InvalidResumeValue(
                f"answer to interrupt {iid} does not match its response_schema: "
                + "; ".join(problems)
            )


def authorize_decisions(
    config: Mapping[str, Any],
    interrupts: Sequence[InterruptRecord],
    decisions: Mapping[str, Any],
) -> None:
    """The caller's last word on who decides (`configurable.authorize_decision(record)`,
    which raises to refuse), on the records read under the thread's lease: nothing can
    escalate them between this check and the decision."""
    authorize = (config.get("configurable") or {}).get("authorize_decision")
    if authorize is None:
        return
    by_id = {r.interrupt_id: r for r in interrupts}
    for iid in decisions:
        if iid in by_id:
            authorize(by_id[iid])
