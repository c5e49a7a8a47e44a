"""Approval policies for tool calls: who must be asked, the request a person sees, and how
their decisions turn into tool results.

One model turn with gated tool calls produces one request (LangChain's shape):

    {"action_requests": [{"name", "args", "description", "tool_call_id"}, ...],
     "review_configs": [{"action_name", "allowed_decisions"}, ...]}

answered by `{"decisions": [decision, ...]}` in request order, or `{tool_call_id: decision}`.
A decision is `{"type": "approve"}`, `{"type": "edit", "edited_action": {"name", "args"}}`,
`{"type": "reject", "message": "..."}` or `{"type": "respond", "message": "..."}`.

The request carries a JSON schema of valid answers (count, allowed types per call, edited
arguments against the tool's own schema), so a bad answer is refused *before* the request is
marked decided: it stays pending, intact.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from interlock._types import Escalation, check_approvers
from interlock.errors import InterlockError

__all__ = [
    "DECISION_TYPES",
    "ApprovalError",
    "ApprovalPolicy",
    "HumanInTheLoopMiddleware",
    "ReviewOutcome",
    "apply_decisions",
    "build_request",
    "expired_decisions",
    "gated_calls",
    "normalise_policies",
    "review_approvers",
    "review_deadline",
    "review_escalation",
    "review_max_auth_age",
    "review_quorum",
]

DECISION_TYPES = ("approve", "edit", "reject", "respond")


class ApprovalError(InterlockError):
    """A malformed approval policy or decision."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ApprovalPolicy:
    """When and how one tool's calls are reviewed."""

    tool: str
    allowed_decisions: tuple[str, ...] = ("approve", "edit", "reject", "respond")
    description: str | Callable[[Mapping[str, Any]], str] | None = None
    """Shown to the reviewer; a callable receives the tool call."""
    when: Callable[[Mapping[str, Any]], bool] | None = None
    """Predicate on the call's arguments; None = always. If it raises, review is required."""
    deadline: timedelta | None = None
    """How long a reviewer has; unanswered after that, the call is rejected as expired."""
    approvers: tuple[str, ...] | None = None
    """Who may review it (`interrupt(approvers=...)`); None: any approver."""
    escalate: tuple[Escalation, ...] = ()
    """Where an unanswered review goes, in turn, before it expires (needs a deadline)."""
    max_auth_age: timedelta | None = None
    """A risky call: the reviewer must have signed in within this time
    (`interrupt(max_auth_age=...)`); None: any time."""
    quorum: int | None = None
    """How many distinct people must approve a call (`interrupt(quorum=...)`); any
    reject vetoes it. None: one."""

    def requires_review(self, args: Mapping[str, Any]) -> bool:
        """Whether this call must wait for a person (fails closed)."""
        if self.when is None:
            return True
        try:
            return bool(self.when(args))
        except Exception:
            return True

    def describe(self, call: Mapping[str, Any]) -> str:
        """The text shown to the reviewer for `call`."""
        if callable(self.description):
            try:
                return str(self.description(call))
            except Exception as exc:
                return f"Review the call to {self.tool} (description failed: {exc})"
        if self.description:
            return self.description
        return f"Tool execution requires approval: {self.tool}"


class HumanInTheLoopMiddleware:
    """LangChain's middleware, accepted by `create_agent(middleware=[...])` for porting.

    Example:
        >>> HumanInTheLoopMiddleware(interrupt_on={"delete_course": True}).interrupt_on
        {'delete_course': True}
    """

    def __init__(
        self,
        interrupt_on: Mapping[str, Any],
        *,
        description_prefix: str = "Tool execution requires approval",
    ) -> None:
        self.interrupt_on = dict(interrupt_on)
        self.description_prefix = description_prefix


def normalise_policies(
    interrupt_on: Mapping[str, Any] | None, tool_names: Sequence[str]
) -> dict[str, ApprovalPolicy]:
    """Turn `interrupt_on={"tool": True | False | {...}}` into policies, checking names."""
    policies: dict[str, ApprovalPolicy] = {}
    for name, spec in (interrupt_on or {}).items():
        if name not in tool_names:
            raise ApprovalError(
                f"interrupt_on names unknown tool {name!r}; tools: {sorted(tool_names)}"
            )
        if spec is False or spec is None:
            continue
        if spec is True:
            policies[name] = ApprovalPolicy(tool=name)
            continue
        if not isinstance(spec, Mapping):
            raise ApprovalError(f"interrupt_on[{name!r}] must be True, False or a dict")
        allowed = tuple(spec.get("allowed_decisions", DECISION_TYPES))
        bad = [d for d in allowed if d not in DECISION_TYPES]
        if bad or not allowed:
            raise ApprovalError(
                f"interrupt_on[{name!r}]: unknown decision types {bad}; use {DECISION_TYPES}"
            )
        unknown = set(spec) - {
            "allowed_decisions",
            "description",
            "when",
            "deadline",
            "approvers",
            "escalate",
            "max_auth_age",
            "quorum",
        }
        if unknown:
            raise ApprovalError(f"interrupt_on[{name!r}]: unknown options {sorted(unknown)}")
        deadline = spec.get("deadline")
        if isinstance(deadline, int | float) and not isinstance(deadline, bool):
            deadline = timedelta(seconds=float(deadline))
        if deadline is not None and not isinstance(deadline, timedelta):
            raise ApprovalError(
                f"interrupt_on[{name!r}]: deadline must be a timedelta or seconds, not {deadline!r}"
            )
        approvers = spec.get("approvers")
        try:
            if approvers is not None:
                approvers = check_approvers(approvers, f"interrupt_on[{name!r}]: approvers")
        except ValueError as exc:
            raise ApprovalError(str(exc)) from None
        steps = spec.get("escalate") or ()
        steps = (steps,) if isinstance(steps, Escalation) else tuple(steps)
        if any(not isinstance(step, Escalation) for step in steps):
            raise ApprovalError(f"interrupt_on[{name!r}]: escalate takes Escalation steps")
        if steps and deadline is None:
            raise ApprovalError(f"interrupt_on[{name!r}]: escalate needs a deadline")
        fresh = spec.get("max_auth_age")
        if isinstance(fresh, int | float) and not isinstance(fresh, bool):
            fresh = timedelta(seconds=float(fresh))
        if fresh is not None and not (isinstance(fresh, timedelta) and fresh > timedelta(0)):
            raise ApprovalError(
                f"interrupt_on[{name!r}]: max_auth_age must be a positive timedelta or "
                f"seconds, not {fresh!r}"
            )
        quorum = spec.get("quorum")
        if quorum is not None and (type(quorum) is not int or quorum < 1):
            raise ApprovalError(
                f"interrupt_on[{name!r}]: quorum must be a positive int, not {quorum!r}"
            )
        if (
            quorum is not None
            and approvers is not None
            and all(":" not in a for a in approvers)
            and len(set(approvers)) < quorum
        ):
            raise ApprovalError(
                f"interrupt_on[{name!r}]: quorum={quorum} needs {quorum} people who may "
                f"approve, but approvers names {len(set(approvers))}: {list(approvers)}"
            )
        policies[name] = ApprovalPolicy(
            tool=name,
            quorum=quorum,
            allowed_decisions=allowed,
            description=spec.get("description"),
            when=spec.get("when"),
            deadline=deadline,
            approvers=approvers,
            escalate=steps,
            max_auth_age=fresh,
        )
    return policies


def review_approvers(
    calls: Sequence[Mapping[str, Any]], policies: Mapping[str, ApprovalPolicy]
) -> tuple[str, ...] | None:
    """Who may decide a review of `calls`: those every call's rule allows (the rules'
    intersection; None when no call has a rule). When the rules share nobody, only admins
    may (the HTTP API always lets admins decide)."""
    rules = [p.approvers for c in calls if (p := policies[c["name"]]).approvers is not None]
    if not rules:
        return None
    common = [a for a in rules[0] if all(a in rule for rule in rules[1:])]
    return tuple(common) or ("role:admin",)


def review_escalation(
    calls: Sequence[Mapping[str, Any]], policies: Mapping[str, ApprovalPolicy]
) -> tuple[Escalation, ...]:
    """The escalation of a review: that of the policy whose deadline comes first, each
    step's `to` narrowed to those the other calls' rules allow too (only admins if nobody
    is left), so that an escalation never lets someone approve a call its rule forbids."""
    timed = [p for c in calls if (p := policies[c["name"]]).deadline is not None]
    if not timed:
        return ()
    first = min(timed, key=lambda p: p.deadline or timedelta.max)
    others = [
        p.approvers
        for c in calls
        if (p := policies[c["name"]]) is not first and p.approvers is not None
    ]
    return tuple(
        Escalation(
            to=tuple(a for a in step.to if all(a in rule for rule in others)) or ("role:admin",),
            deadline=step.deadline,
        )
        for step in first.escalate
    )


def review_max_auth_age(
    calls: Sequence[Mapping[str, Any]], policies: Mapping[str, ApprovalPolicy]
) -> timedelta | None:
    """The strictest `max_auth_age` among the policies of `calls` (None: no step-up)."""
    limits = [p.max_auth_age for c in calls if (p := policies[c["name"]]).max_auth_age]
    return min(limits) if limits else None


def review_quorum(
    calls: Sequence[Mapping[str, Any]], policies: Mapping[str, ApprovalPolicy]
) -> int | None:
    """The largest quorum among the policies of `calls` (None: one person decides)."""
    counts = [p.quorum for c in calls if (p := policies[c["name"]]).quorum]
    return max(counts) if counts else None


def review_deadline(
    calls: Sequence[Mapping[str, Any]], policies: Mapping[str, ApprovalPolicy]
) -> timedelta | None:
    """The soonest deadline among the policies of `calls` (None: wait indefinitely)."""
    limits = [p.deadline for c in calls if (p := policies[c["name"]]).deadline is not None]
    return min(limits) if limits else None


def expired_decisions(calls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """What an unanswered review becomes at its deadline: every call rejected as expired."""
    reason = "no reviewer answered before the deadline (expired)"
    return {"decisions": [{"type": "reject", "message": reason} for _ in calls]}


def gated_calls(
    calls: Sequence[Mapping[str, Any]], policies: Mapping[str, ApprovalPolicy]
) -> list[Mapping[str, Any]]:
    """The calls of one turn that must wait for a person."""
    out = []
    for call in calls:
        policy = policies.get(call["name"])
        if policy is not None and policy.requires_review(call.get("args") or {}):
            out.append(call)
    return out


def _decision_schema(
    allowed: Sequence[str], params: Mapping[str, Any] | None, name: str
) -> dict[str, Any]:
    """JSON schema of one decision: its type must be allowed; an edit carries arguments valid
    for the tool; a respond carries a message."""
    edit = {
        "required": ["edited_action"],
        "properties": {
            "edited_action": {
                "type": "object",
                "properties": {
                    "name": {"const": name},
                    "args": dict(params) if params else {"type": "object"},
                },
                "required": ["args"],
            }
        },
    }
    respond = {"required": ["message"]}
    return {
        "type": "object",
        "required": ["type"],
        "properties": {"type": {"enum": list(allowed)}, "message": {"type": "string"}},
        "if": {"properties": {"type": {"const": "edit"}}},
        "then": edit,
        "else": {"if": {"properties": {"type": {"const": "respond"}}}, "then": respond},
    }


def build_request(
    calls: Sequence[Mapping[str, Any]],
    policies: Mapping[str, ApprovalPolicy],
    tool_params: Mapping[str, Mapping[str, Any]],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The interrupt payload for `calls`, and the JSON schema its answer must match."""
    actions, configs, items, by_id = [], [], [], {}
    for call in calls:
        policy = policies[call["name"]]
        actions.append(
            {
                "name": call["name"],
                "args": copy.deepcopy(dict(call.get("args") or {})),
                "description": policy.describe(call),
                "tool_call_id": call.get("id"),
            }
        )
        configs.append(
            {"action_name": call["name"], "allowed_decisions": list(policy.allowed_decisions)}
        )
        schema = _decision_schema(
            policy.allowed_decisions, tool_params.get(call["name"]), call["name"]
        )
        items.append(schema)
        if call.get("id"):
            by_id[call["id"]] = schema
    n = len(calls)
    list_form = {
        "type": "object",
        "properties": {
            "decisions": {"type": "array", "prefixItems": items, "minItems": n, "maxItems": n}
        },
        "required": ["decisions"],
    }
    map_form = {
        "type": "object",
        "properties": by_id,
        "required": list(by_id),
        "additionalProperties": False,
    }
    request = {"action_requests": actions, "review_configs": configs}
    schema = {
        "if": {"type": "object", "required": ["decisions"]},
        "then": list_form,
        "else": map_form,
    }
    return request, schema


@dataclass(slots=True, kw_only=True)
class ReviewOutcome:
    """What a person's decisions mean for one model turn."""

    run: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls to execute (approved, or edited with new args)."""
    results: list[dict[str, Any]] = field(default_factory=list)
    """Tool results decided by the person: `{tool_call_id, name, content, decision}`."""
    edits: dict[str, dict[str, Any]] = field(default_factory=dict)
    """tool_call_id → new args, to rewrite the AI message so the model sees what ran."""
    notes: dict[str, str] = field(default_factory=dict)
    """tool_call_id → note appended to the tool result (edited calls)."""


def _ordered(answer: Any, calls: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    if isinstance(answer, Mapping) and "decisions" in answer:
        decisions = answer["decisions"]
        if not isinstance(decisions, list) or len(decisions) != len(calls):
            raise ApprovalError(f"expected {len(calls)} decisions, got {decisions!r}")
        return decisions
    if isinstance(answer, Mapping):
        missing = [c["id"] for c in calls if c.get("id") not in answer]
        if missing:
            raise ApprovalError(f"no decision for tool calls {missing}")
        return [answer[c["id"]] for c in calls]
    raise ApprovalError("answer with {'decisions': [...]} or {tool_call_id: decision}")


def apply_decisions(answer: Any, calls: Sequence[Mapping[str, Any]]) -> ReviewOutcome:
    """Interpret a (schema-validated) answer for the gated `calls`."""
    out = ReviewOutcome()
    for call, decision in zip(calls, _ordered(answer, calls), strict=True):
        kind = decision.get("type")
        cid = call.get("id") or ""
        if kind == "approve":
            out.run.append(dict(call))
        elif kind == "edit":
            new_args = dict(decision["edited_action"].get("args") or {})
            out.run.append({**call, "args": new_args})
            out.edits[cid] = new_args
            out.notes[cid] = (
                f"[The reviewer edited this call: it ran with {new_args!r} instead of the "
                f"requested {dict(call.get('args') or {})!r}.]"
            )
        elif kind == "reject":
            reason = (decision.get("message") or "no reason given").rstrip()
            stop = "" if reason.endswith((".", "!", "?")) else "."
            out.results.append(
                {
                    "tool_call_id": cid,
                    "name": call["name"],
                    "decision": "reject",
                    "content": (
                        f"The reviewer rejected this call to {call['name']}: {reason}{stop} "
                        "This is a final decision, not an error: do not retry this call; "
                        "continue without it or ask the user."
                    ),
                }
            )
        elif kind == "respond":
            out.results.append(
                {
                    "tool_call_id": cid,
                    "name": call["name"],
                    "decision": "respond",
                    "content": str(decision.get("message", "")),
                }
            )
        else:
            raise ApprovalError(f"unknown decision type {kind!r}; use {DECISION_TYPES}")
    return out
