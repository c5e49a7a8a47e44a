"""What the inbox pages show, apart from HTTP: a request as a list row (action, a one-line
summary of its arguments, ages and deadlines in words), an N-of-M quorum in words, and a
conversation as chat bubbles. Pure functions over records and plain dicts; the clock is a
parameter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from interlock.checkpoint.base import InterruptRecord
from interlock.server._plain import plain
from interlock.server.auth import ANONYMOUS, Principal, may_decide

__all__ = [
    "actions_of",
    "arg_order",
    "args_line",
    "asked_in",
    "chat",
    "exact",
    "kind_of",
    "quorum_of",
    "relative",
    "row",
    "short",
    "summary",
    "tool_schema",
    "until",
    "yours",
]

SOON = 3600
"""A deadline closer than this many seconds is shown in red."""


def relative(at: datetime, now: datetime) -> str:
    """`at` in words from `now`: "just now", "4 min ago", "in 2 h", "3 d ago".

    >>> from datetime import UTC, datetime, timedelta
    >>> now = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
    >>> relative(now - timedelta(minutes=4), now), relative(now + timedelta(hours=2), now)
    ('4 min ago', 'in 2 h')
    """
    seconds = int((now - at).total_seconds())
    if -5 < seconds < 5:
        return "just now"
    amount = _amount(abs(seconds))
    return f"{amount} ago" if seconds > 0 else f"in {amount}"


def _amount(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def exact(at: datetime) -> str:
    """`at` to the second, in UTC, for a tooltip ("2026-12-05 15:35:25 UTC")."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def until(deadline: datetime | None, now: datetime) -> dict[str, Any] | None:
    """A deadline in words ("in 2 h", "overdue") with `soon` set when under an hour is left."""
    if deadline is None:
        return None
    left = (deadline - now).total_seconds()
    text = relative(deadline, now) if left > 0 else "overdue"
    return {
        "text": text,
        "iso": deadline.isoformat(),
        "title": exact(deadline),
        "soon": left < SOON,
    }


def short(value: Any, limit: int) -> str:
    """`value` as text (JSON unless it is a string), cut to `limit` characters with "…"."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def args_line(args: Any, limit: int = 90) -> str:
    """A one-line summary of a call's arguments: `name: value` pairs, each value cut, the
    whole cut to `limit` ("course_name: Outdated Java Tutorial")."""
    if not isinstance(args, Mapping):
        return short(plain(args), limit) if args is not None else ""
    parts = [f"{k}: {short(plain(v), 40)}" for k, v in args.items()]
    return short(", ".join(parts), limit)


def actions_of(value: Any) -> list[dict[str, Any]] | None:
    """An agent's tool calls under review (`action_requests` with their `review_configs`),
    each with its `allowed` decisions, or None when `value` is not that shape (then the
    request is answered as plain JSON)."""
    if not isinstance(value, dict) or not isinstance(value.get("action_requests"), list):
        return None
    requests = value["action_requests"]
    configs = value.get("review_configs")
    configs = configs if isinstance(configs, list) else []
    out = []
    for i, action in enumerate(requests):
        if not isinstance(action, dict) or not isinstance(action.get("name"), str):
            return None
        config = configs[i] if i < len(configs) and isinstance(configs[i], dict) else {}
        allowed = config.get("allowed_decisions")
        if not (isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)):
            allowed = ["approve", "edit", "reject", "respond"]
        out.append({**action, "allowed": allowed})
    return out or None


def _get(value: Any, *path: str | int) -> Any:
    for step in path:
        if isinstance(step, int):
            value = (
                value[step]
                if isinstance(value, list) and -len(value) <= step < len(value)
                else None
            )
        else:
            value = value.get(step) if isinstance(value, Mapping) else None
    return value


def tool_schema(record: InterruptRecord, index: int) -> dict[str, Any] | None:
    """The JSON schema of the arguments of the `index`-th tool call under review, as the
    request's answer schema carries it (None when it carries none with properties)."""
    schema = record.metadata.get("response_schema")
    item = _get(schema, "then", "properties", "decisions", "prefixItems", index)
    args = _get(item, "then", "properties", "edited_action", "properties", "args")
    if isinstance(args, Mapping) and isinstance(args.get("properties"), Mapping):
        return dict(args)
    return None


def arg_order(schema: Mapping[str, Any]) -> list[str]:
    """A schema's properties in a stable order: the required ones as listed (a JSON array
    keeps its order in every store, an object's keys not in PostgreSQL's JSONB), then the
    others as the schema has them."""
    props = schema.get("properties")
    props = list(props) if isinstance(props, Mapping) else []
    required = schema.get("required")
    first = [str(k) for k in required if k in props] if isinstance(required, list) else []
    return list(dict.fromkeys([*first, *props]))


def summary(value: Any, order: Any = None) -> tuple[str, str]:
    """The action of a request and a one-line summary of what it carries: for a review,
    the tools' names and the first call's arguments (in the order of `order`, the tool's
    schema, when given); otherwise the payload itself."""
    actions = actions_of(value)
    if actions is not None:
        names = ", ".join(dict.fromkeys(a["name"] for a in actions))
        args = actions[0].get("args")
        if isinstance(order, Mapping) and isinstance(args, Mapping):
            args = {k: args[k] for k in [*arg_order(order), *args] if k in args}
        line = args_line(args)
        if len(actions) > 1:
            line = f"{line} (+{len(actions) - 1} more)" if line else f"{len(actions)} calls"
        return names, line
    if isinstance(value, dict) and len(value) == 1:
        ((key, inner),) = value.items()
        return str(key), short(plain(inner), 90)
    return "Answer", short(plain(value), 90)


def kind_of(value: Any) -> str:
    """Which requests may be decided together: reviews of the same tools ("review:a,b"),
    or "answer" for any other request (decided one at a time, on its page)."""
    actions = actions_of(value)
    if actions is None:
        return "answer"
    return "review:" + ",".join(a["name"] for a in actions)


def asked_in(record: InterruptRecord) -> str:
    """The agent that asked, and the subgraph inside it when one did ("orders / review")."""
    graph = str(record.metadata.get("graph") or "")
    sub = record.metadata.get("subgraph")
    return f"{graph} / {sub}" if sub else graph


def yours(who: Principal, record: InterruptRecord, self_ok: bool) -> bool:
    """Whether `who` may decide `record`: its approver rule names them, and it is not their
    own request (unless self-approval is allowed)."""
    own = record.metadata.get("requested_by") == who.name and who is not ANONYMOUS
    return may_decide(who, record.metadata.get("approvers")) and (self_ok or not own)


def quorum_of(view: Mapping[str, Any], who: Principal | None = None) -> dict[str, Any] | None:
    """An N-of-M quorum in words, from a request's view or metadata carrying `quorum` as
    `{"required": N, "votes": [{"by": "ada", "vote": "approve", "at": "..."}]}`; None when
    there is none (or it is malformed).

    >>> quorum_of({"quorum": {"required": 2, "votes": [{"by": "ada", "vote": "approve"}]}})["line"]
    '1 of 2 approvals, by ada'
    """
    quorum = view.get("quorum")
    if not isinstance(quorum, Mapping):
        return None
    required = quorum.get("required")
    votes = quorum.get("votes")
    if not isinstance(required, int) or isinstance(required, bool) or required < 1:
        return None
    votes = [v for v in votes if isinstance(v, Mapping)] if isinstance(votes, list) else []
    yes = ("approve", "edit")  # an edit vote approves the edited call
    approvals = [str(v.get("by")) for v in votes if v.get("vote", "approve") in yes]
    against = [str(v.get("by")) for v in votes if v.get("vote", "approve") not in yes]
    line = f"{len(approvals)} of {required} approval{'s' if required != 1 else ''}"
    if approvals:
        line += ", by " + ", ".join(approvals)
    if against:
        line += "; against: " + ", ".join(against)
    voters = {str(v.get("by")) for v in votes}
    return {
        "required": required,
        "approvals": len(approvals),
        "line": line,
        "voted": who is not None and who.name in voters,
        "next": min(len(approvals) + 1, required),
    }


def row(
    record: InterruptRecord,
    who: Principal,
    now: datetime,
    *,
    self_ok: bool,
    quorum: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A pending request as a row of the inbox list (`quorum`: its votes as `approval_view`
    shows them, for a quorum request)."""
    action, line = summary(record.value, tool_schema(record, 0))
    actions = actions_of(record.value)
    approvers = record.metadata.get("approvers")
    mine = yours(who, record, self_ok)
    return {
        "id": record.interrupt_id,
        "action": action,
        "args": line,
        "kind": kind_of(record.value),
        "thread_id": record.thread_id,
        "graph": asked_in(record),
        "requested_by": record.metadata.get("requested_by"),
        "created": record.created_at.isoformat(),
        "age": relative(record.created_at, now),
        "age_title": exact(record.created_at),
        "deadline": until(record.deadline, now),
        "approvers": ", ".join(map(str, approvers)) if isinstance(approvers, list) else "",
        "level": record.metadata.get("escalation_level", 0),
        "yours": mine,
        "quorum": quorum_of({"quorum": quorum} if quorum else record.metadata, who),
        "reopened": (record.metadata.get("reopened") or {}).get("reason"),
        # approve / reject together: only reviews whose every call allows both
        "bulk": mine
        and actions is not None
        and all({"approve", "reject"} <= set(a["allowed"]) for a in actions),
    }


def _call_text(call: Mapping[str, Any]) -> str:
    args = call.get("args")
    if isinstance(args, Mapping):
        inner = ", ".join(f"{k}={short(plain(v), 60)}" for k, v in args.items())
    else:
        inner = short(plain(args), 60) if args else ""
    return f"called {call.get('name', '?')}({inner})"


def chat(messages: list[Any], limit: int = 20) -> list[dict[str, Any]]:
    """The last `limit` messages as chat bubbles: `role` (human, ai, tool, system), the
    text, an assistant's tool calls as "called name(arg=value)", a tool result's tool."""
    names: dict[str, str] = {}
    out = []
    for m in plain(messages[-(limit + 20) :]):
        if not isinstance(m, dict):
            continue
        raw = m.get("tool_calls")
        calls: list[Any] = raw if isinstance(raw, list) else []
        for call in calls:
            if isinstance(call, dict) and call.get("id"):
                names[str(call["id"])] = str(call.get("name", ""))
        content = m.get("content")
        text = content if isinstance(content, str) else _parts_text(content)
        role = str(m.get("type", "message"))
        out.append(
            {
                "role": role if role in ("human", "ai", "tool", "system") else "other",
                "text": text,
                "calls": [_call_text(c) for c in calls if isinstance(c, dict)],
                "tool": m.get("name") or names.get(str(m.get("tool_call_id")), "tool"),
                "error": m.get("status") == "error",
            }
        )
    return out[-limit:]


def _parts_text(content: Any) -> str:
    """The text of a message's content blocks (`[{"type": "text", "text": ...}, ...]`)."""
    if isinstance(content, list):
        texts = [p.get("text") for p in content if isinstance(p, dict)]
        if texts and all(isinstance(t, str) for t in texts):
            return "\n".join(t for t in texts if t)
    return "" if content is None else json.dumps(content)
