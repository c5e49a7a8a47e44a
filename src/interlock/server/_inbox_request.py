"""What the inbox's request page shows (its calls with typed fields, the decision once made,
the conversation as chat) and the list's filters, apart from HTTP."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.errors import InterlockError
from interlock.graph import CompiledStateGraph
from interlock.server._inbox_form import answer_schema, defaults, fields
from interlock.server._inbox_view import (
    actions_of,
    asked_in,
    chat,
    exact,
    quorum_of,
    relative,
    summary,
    tool_schema,
    until,
    yours,
)
from interlock.server._operations import quorum_view, votes_of
from interlock.server._plain import plain
from interlock.server.auth import ANONYMOUS, Principal, eligible_principals, may_decide

__all__ = ["InboxFilter", "args_diff", "request_context"]


def request_context(
    saver: BaseSaver,
    registry: Mapping[str, CompiledStateGraph],
    record: InterruptRecord,
    who: Principal,
    now: datetime,
) -> dict[str, Any]:
    """The request page's template context for `record`, seen by `who` at `now`."""
    value = record.value
    actions = []
    for i, a in enumerate(actions_of(value) or []):
        schema = tool_schema(record, i)
        actions.append(
            {
                "name": a["name"],
                "description": a.get("description"),
                "args_json": json.dumps(plain(a.get("args")), indent=2),
                "args_plain": json.dumps(plain(a.get("args"))),
                "fields": fields(schema, a.get("args"), f"a{i}.") if schema else None,
                "allowed": a["allowed"],
            }
        )
    schema = record.metadata.get("response_schema")
    typed = answer_schema(record)
    action, line = summary(value, tool_schema(record, 0))
    decided_at = record.decided_at
    return {
        "r": record,
        "action": action,
        "args_line": line,
        "asked_in": asked_in(record),
        "asked": {"text": relative(record.created_at, now), "title": exact(record.created_at)},
        "decided_when": (
            {"text": relative(decided_at, now), "title": exact(decided_at)} if decided_at else None
        ),
        "deadline": until(record.deadline, now),
        "actions": actions,
        "value_json": json.dumps(plain(value), indent=2),
        "schema_json": json.dumps(schema, indent=2) if schema and not actions else None,
        "answer_json": "true",
        "answer_fields": fields(typed, defaults(typed), "f.") if typed else None,
        "messages": _conversation(saver, registry, record),
        "agent_version": getattr(registry.get(str(record.metadata.get("graph"))), "version", None),
        "approvers": record.metadata.get("approvers") or [],
        "level": record.metadata.get("escalation_level", 0),
        "may": may_decide(who, record.metadata.get("approvers")),
        "quorum": quorum_of({"quorum": quorum_view(record, votes_of(saver, record))}, who),
        "decided": _decided(record),
        "decision_json": (
            json.dumps(plain(record.resume), indent=2)
            if record.status not in ("pending", "cancelled")
            else None
        ),
    }


@dataclass(frozen=True, slots=True)
class InboxFilter:
    """The inbox list's filters: the agent (graph name), who asked, and "only what I may
    decide" — conditions of the store's one query per page (index ranges: a page holds
    `size` requests while more match)."""

    agent: str = ""
    by: str = ""
    mine: bool = False
    self_ok: bool = False
    """Whether people may decide their own requests (`--allow-self-approval`)."""

    def keeps(self, who: Principal, r: InterruptRecord) -> bool:
        """Whether request `r` passes the filters for `who` (as the store's query does)."""
        return (
            (not self.agent or r.metadata.get("graph") == self.agent)
            and (not self.by or r.metadata.get("requested_by") == self.by)
            and (not self.mine or yours(who, r, self.self_ok))
        )

    def page(
        self, saver: BaseSaver, who: Principal, cursor: str | None, size: int = 50
    ) -> tuple[list[InterruptRecord], str | None]:
        """Up to `size` matching requests from `cursor` on, and the cursor after them."""
        own_ok = self.self_ok or who is ANONYMOUS
        listing = saver.list_interrupts(
            status="pending",
            limit=size,
            cursor=cursor,
            agent=self.agent or None,
            requested_by=self.by or None,
            eligible=eligible_principals(who) if self.mine else None,
            not_requested_by=who.name if self.mine and not own_ok else None,
        )
        return list(listing.items), listing.next_cursor

    def query(self) -> str:
        """The filters as a query string (for the next page's link)."""
        from urllib.parse import urlencode

        pairs = {"agent": self.agent, "by": self.by, "mine": "1" if self.mine else ""}
        return urlencode({k: v for k, v in pairs.items() if v})


def args_diff(before: Any, after: Any) -> list[tuple[str, str]]:
    """A line diff of two argument objects as indented JSON: `(mark, line)` pairs with mark
    `-` (removed), `+` (added) or ` ` (kept)."""
    import difflib

    def lines(value: Any) -> list[str]:
        return json.dumps(plain(value), indent=2, sort_keys=True).splitlines()

    return [
        (line[0], line[2:])
        for line in difflib.ndiff(lines(before), lines(after))
        if line[:1] in ("-", "+", " ")
    ]


def _decided(record: InterruptRecord) -> list[dict[str, Any]]:
    """What was decided for each tool call of a decided review (edits with their diff)."""
    actions = actions_of(record.value)
    answer = record.resume
    if actions is None or record.status != "resolved" or not isinstance(answer, dict):
        return []
    decisions = answer.get("decisions")
    if not isinstance(decisions, list):
        return []
    out = []
    for action, decision in zip(actions, decisions, strict=False):
        if not isinstance(decision, dict):
            continue
        kind = str(decision.get("type", ""))
        edited = decision.get("edited_action")
        diff = None
        if kind == "edit" and isinstance(edited, dict):
            diff = args_diff(action.get("args"), edited.get("args"))
        out.append(
            {"name": action["name"], "type": kind, "message": decision.get("message"), "diff": diff}
        )
    return out


def _conversation(
    saver: BaseSaver, registry: Mapping[str, CompiledStateGraph], record: InterruptRecord
) -> list[dict[str, Any]]:
    """The thread's last messages as chat bubbles (none when its graph is not served here)."""
    graph = next((g for g in registry.values() if g.name == record.metadata.get("graph")), None)
    if graph is None:
        return []
    try:
        values = graph.get_state({"configurable": {"thread_id": record.thread_id}}).values
    except InterlockError:
        return []
    messages = values.get("messages") if isinstance(values, dict) else None
    return chat(messages) if isinstance(messages, list) else []
