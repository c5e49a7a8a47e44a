"""Answers bound to the question they answered.

A decision records the SHA-256 digest of the canonical question it answered (`question_digest`:
the interrupt's value, or for an agent's tool review the exact tool names and arguments),
who decided, under which rule, and until when it holds (`valid_for`). When the paused node
runs again, `interrupt()` hands an answer back only if the node asks the same question at
that call and the decision has not outlived its window (`stale_reason`); otherwise the
request is reopened with the new question and the run pauses on it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint.base import InterruptRecord
from interlock.errors import GraphError

__all__ = [
    "Bound",
    "binding_of",
    "bound",
    "question_digest",
    "stale_reason",
    "valid_for_of",
    "vote_kind",
]

Bound = dict[str, Any]
"""What a task knows of an answered call: `{"id", "value", "valid_until"}` (`value`: the
question that was answered)."""


def question_digest(value: Any) -> str:
    """The digest of what a request asks: for a tool review (`{"action_requests": [...]}`)
    its tools' names and arguments in order; otherwise the whole value."""
    if isinstance(value, dict) and isinstance(value.get("action_requests"), list):
        actions = value["action_requests"]
        if all(isinstance(a, dict) for a in actions):
            return serde.digest([[a.get("name"), a.get("args")] for a in actions])
    return serde.digest(value)


def valid_for_of(config: Mapping[str, Any]) -> float | None:
    """`configurable["valid_for"]` in seconds (a timedelta or a positive number), or None."""
    raw = (config.get("configurable") or {}).get("valid_for")
    if raw is None:
        return None
    seconds = raw.total_seconds() if isinstance(raw, timedelta) else raw
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not seconds > 0:
        raise GraphError(f"valid_for must be a positive timedelta or seconds, not {raw!r}")
    return float(seconds)


def binding_of(
    record: InterruptRecord, decided_by: str | None, now: datetime, valid_for: float | None
) -> dict[str, Any]:
    """What a decision on `record` records of itself (`metadata["decision"]`)."""
    out: dict[str, Any] = {
        "digest": question_digest(record.value),
        "by": decided_by,
        "rule": record.metadata.get("approvers"),
        "quorum": record.metadata.get("quorum", 1),
    }
    if valid_for is not None:
        out["valid_until"] = (now + timedelta(seconds=valid_for)).isoformat()
    return out


def bound(record: InterruptRecord) -> Bound:
    """What the node's re-run checks of an answered `record`."""
    decision = record.metadata.get("decision")
    if not isinstance(decision, Mapping):
        decision = {}
    return {  # the record's value is what was answered (a reopen replaces it only while
        # the request is pending): the decision's digest is that of this value
        "id": record.interrupt_id,
        "value": _UPDATED if decision.get("with_update") else record.value,
        "valid_until": decision.get("valid_until"),
    }


_UPDATED: Any = object()
"""The answered question of a resume that carried `update=`: the decider changed the state
the node re-runs on together with the answer, so whatever it asks next is what they answered
(`Command(resume=..., update=...)`); only its validity window is checked."""


def stale_reason(answered: Bound | None, value: Any, now: Callable[[], datetime]) -> str | None:
    """Why an answer must not be returned to `interrupt(value)` at `now()`, or None when it
    may."""
    if answered is None:
        return None
    asked = answered["value"]
    if (
        asked is not _UPDATED
        and value != asked
        and question_digest(value) != question_digest(asked)
    ):
        return (
            "the question changed: the node now asks something other than what was "
            "answered, so the answer is not applied"
        )
    until = answered.get("valid_until")
    if isinstance(until, str) and now() > datetime.fromisoformat(until):
        return (
            f"the decision was valid until {until} (valid_for) and the run reached it "
            "later, so it is not carried out"
        )
    return None


def vote_kind(answer: Any) -> str:
    """How a vote on a quorum request counts: `reject` (a veto: `False`, a `reject` or
    `respond` decision, `{"approved": False}`), `edit` (an `edit` decision), or `approve`."""
    if answer is False:
        return "reject"
    if not isinstance(answer, Mapping):
        return "approve"
    decisions = answer.get("decisions")
    if not isinstance(decisions, list):
        decisions = [v for v in answer.values() if isinstance(v, Mapping) and "type" in v]
    types = {d.get("type") for d in decisions if isinstance(d, Mapping)}
    types.add(answer.get("type"))
    if types & {"reject", "respond"} or answer.get("approved") is False:
        return "reject"
    if "edit" in types:
        return "edit"
    return "approve"
