"""Standing grants on the agent's side: which of a review's tool calls a grant covers.

A grant (`interlock.checkpoint.base.Grant`) names an agent, a tool and which arguments it
covers: `any`, `exact` (these keys with these values), `schema` (a JSON schema the
arguments match) or `predicate` (a function registered by name with `create_agent(...,
grant_predicates={name: fn})`, so that every process serving the agent has it). A covered
call runs without pausing; the store spends one use per call, exactly once, and audits it
(`grant.used`, by the grant's granter).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint.base import BaseSaver, Grant
from interlock.graph._jsonschema import schema_errors

__all__ = ["GrantPredicate", "approved_actions", "cover_calls", "grant_matches"]

GrantPredicate = Callable[[Mapping[str, Any]], bool]
"""A named predicate over a call's arguments."""


def grant_matches(
    grant: Grant, args: Mapping[str, Any], predicates: Mapping[str, GrantPredicate]
) -> bool:
    """Whether `grant`'s `match` covers a call with `args` (an unknown kind or predicate
    covers nothing)."""
    kind = grant.match.get("kind")
    if kind == "any":
        return True
    if kind == "exact":
        wanted = grant.match.get("args") or {}
        return all(k in args and args[k] == v for k, v in wanted.items())
    if kind == "schema":
        return not schema_errors(dict(args), grant.match.get("schema") or {})
    if kind == "predicate":
        check = predicates.get(str(grant.match.get("name")))
        return bool(check is not None and check(args))
    return False


def cover_calls(
    store: BaseSaver,
    agent: str,
    calls: Sequence[Mapping[str, Any]],
    thread_id: str | None,
    predicates: Mapping[str, GrantPredicate],
) -> dict[str, str]:
    """{call id: grant id} of the calls a grant covers, spending one use of it per call
    (again for a call already covered — a replayed node — without spending)."""
    now = datetime.now(UTC)
    covered: dict[str, str] = {}
    for call in calls:
        call_id = call.get("id")
        if not call_id:
            continue
        for grant in store.list_grants(agent=agent, tool=call["name"], active_at=None):
            if grant.revoked_at is not None or not grant_matches(
                grant, call.get("args") or {}, predicates
            ):
                continue
            if store.use_grant(grant.grant_id, call_id=call_id, thread_id=thread_id, now=now):
                covered[call_id] = grant.grant_id
                break
    return covered


def approved_actions(request: Any, decision: Any) -> list[dict[str, Any]]:
    """The tool calls (`{"name", "args"}`) a decision approved as asked, of a review
    request made by `create_agent` (`{"action_requests": [...]}`); [] for any other
    request or an answer that does not fit it."""
    from interlock.agent.approval import ApprovalError, _ordered

    if not isinstance(request, Mapping) or not isinstance(request.get("action_requests"), list):
        return []
    calls = [
        {"id": a.get("tool_call_id"), "name": a.get("name"), "args": a.get("args") or {}}
        for a in request["action_requests"]
        if isinstance(a, Mapping)
    ]
    try:
        decisions = _ordered(decision, calls)
    except ApprovalError:
        return []
    return [
        {"name": c["name"], "args": c["args"]}
        for c, d in zip(calls, decisions, strict=True)
        if isinstance(d, Mapping) and d.get("type") == "approve"
    ]
