"""No way around a review: which request a `command.resume` answers (and Agent Inbox's
answers in our decision shape), and who may change the state of a thread that waits for a
person.

A resume goes through `decide_request`, the path `POST /v1/approvals/{id}/decision` and the
inbox take (exactly once, approver rules, no self-approval, audit, deadlines). A state
update (`POST /threads/{id}/state`) or a `command.update` / `command.goto` on a thread with a
pending request would cancel the request or route past it, so it is allowed only to a
caller who may decide every pending request of the thread (403 `not_an_approver` or
`self_approval` otherwise). A refusal is audited here (`state.refused`); an allowed change
is audited by its caller once it was made (`_audit_later`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.server._errors import ApiError
from interlock.server._operations import record_audit
from interlock.server.auth import ANONYMOUS, Principal, may_decide

__all__ = ["check_state_change", "from_agent_inbox", "resume_target"]

_INBOX = {"accept", "edit", "response", "ignore"}


def _pending(saver: BaseSaver, thread_id: str) -> list[InterruptRecord]:
    return list(saver.list_interrupts(status="pending", thread_id=thread_id, limit=100).items)


def resume_target(saver: BaseSaver, thread_id: str, resume: Any) -> dict[str, Any]:
    """The requests a `command.resume` answers, with their answers: a map keyed by request
    ids (pending or decided) answers each of them (decided together, all or nothing); any
    other value answers the thread's one pending request. 409 when the thread waits for
    nothing, 422 when it is ambiguous, 404 for an id that is not this thread's request."""
    if isinstance(resume, Mapping) and resume and all(isinstance(k, str) for k in resume):
        records = {k: saver.get_interrupt(k) for k in resume}
        if any(r is not None for r in records.values()):
            for interrupt_id, record in records.items():
                if record is None or record.thread_id != thread_id:
                    raise ApiError(404, "unknown_approval", f"no request {interrupt_id!r} here")
            return dict(resume)
    pending = _pending(saver, thread_id)
    if not pending:
        raise ApiError(
            409,
            "nothing_to_resume",
            f"thread {thread_id!r} waits for no decision; send input to start a run",
        )
    if len(pending) > 1:
        ids = [r.interrupt_id for r in pending]
        raise ApiError(422, "ambiguous_resume", f"several requests wait ({ids}); answer by id")
    return {pending[0].interrupt_id: resume}


def from_agent_inbox(value: Any, record: InterruptRecord, who: Principal) -> Any:
    """Agent Inbox's answer (`[{"type": "accept" | "edit" | "response" | "ignore", "args"}]`)
    to an agent's review request, as our `{"decisions": [...]}`; anything else unchanged."""
    request = record.value
    if not (
        isinstance(request, Mapping)
        and isinstance(request.get("action_requests"), list)
        and isinstance(value, list)
        and value
        and all(isinstance(v, Mapping) and v.get("type") in _INBOX for v in value)
    ):
        return value
    actions = request["action_requests"]
    decisions: list[dict[str, Any]] = []
    for i, answer in enumerate(value):
        kind, args = answer["type"], answer.get("args")
        if kind == "accept":
            decisions.append({"type": "approve"})
        elif kind == "edit":
            edited = args if isinstance(args, Mapping) else {}
            name = edited.get("action") or (actions[i]["name"] if i < len(actions) else "")
            decisions.append(
                {"type": "edit", "edited_action": {"name": name, "args": edited.get("args") or {}}}
            )
        elif kind == "response":
            decisions.append({"type": "respond", "message": str(args or "")})
        else:
            decisions.append({"type": "reject", "message": f"ignored by {who.name}"})
    if len(decisions) == 1 and len(actions) > 1:  # one answer for the whole turn
        decisions = decisions * len(actions)
    return {"decisions": decisions}


def check_state_change(
    saver: BaseSaver,
    who: Principal,
    thread_id: str,
    action: str,
    detail: Mapping[str, Any],
    *,
    allow_self_approval: bool,
) -> list[str]:
    """Refuse (403, audited as `state.refused`, `action` its `change`) a change of the
    thread's state while it waits for a request `who` may not decide; otherwise return the
    ids of the requests it may cancel. Nothing is audited for an allowed change: its caller
    records it once it was made."""
    pending = _pending(saver, thread_id)
    for record in pending:
        requester = record.metadata.get("requested_by")
        approvers = record.metadata.get("approvers")
        if requester == who.name and not allow_self_approval and who is not ANONYMOUS:
            reason, message = "self_approval", f"{who.name} started this run and may not decide it"
        elif not (who.can("approver") and may_decide(who, approvers)):
            reason = "not_an_approver"
            message = (
                f"thread {thread_id!r} waits for a decision ({record.interrupt_id}) that "
                f"{who.name} may not make; changing its state would skip the review"
            )
        else:
            continue
        record_audit(
            saver,
            who,
            "state.refused",
            thread_id,
            record.interrupt_id,
            {"reason": reason, "change": action, **detail},
        )
        raise ApiError(403, reason, message)
    return [r.interrupt_id for r in pending]
