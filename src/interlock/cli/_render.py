"""How the terminal commands show things: rich tables and panels for people, JSON for
scripts (`--json`). Every function takes the API-shaped dicts of `interlock.cli._backend`."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "approval_panel",
    "approvals_table",
    "audit_table",
    "console",
    "history_table",
    "print_json",
    "summary",
    "thread_panel",
    "threads_table",
]


def console(stderr: bool = False) -> Any:
    """A rich console on stdout (or stderr); plain text when it is not a terminal."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def print_json(value: Any) -> None:
    """`value` as indented JSON on stdout (for `--json`)."""
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


def age(stamp: str | None, now: datetime | None = None) -> str:
    """`2h 5m` since (or, negative: until) an ISO time."""
    if not stamp:
        return "-"
    when = datetime.fromisoformat(stamp)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    seconds = int(((now or datetime.now(UTC)) - when).total_seconds())
    sign, seconds = ("in " if seconds < 0 else ""), abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes}m"
    elif minutes:
        text = f"{minutes}m {secs}s"
    else:
        text = f"{secs}s"
    return sign + text


def summary(approval: dict[str, Any]) -> str:
    """One line saying what a request asks: its tool calls, or its value."""
    value = approval.get("value")
    if isinstance(value, dict) and isinstance(value.get("action_requests"), list):
        parts = [
            f"{a.get('name')}({', '.join(f'{k}={v!r}' for k, v in (a.get('args') or {}).items())})"
            for a in value["action_requests"]
            if isinstance(a, dict)
        ]
        return "; ".join(parts)
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def approvals_table(approvals: list[dict[str, Any]]) -> Any:
    """The inbox as a table: id, age, deadline, agent, requester, action, status."""
    from rich.table import Table

    table = Table(title=f"{len(approvals)} request(s)", title_justify="left", expand=False)
    for column in ("id", "age", "deadline", "agent", "requester", "action", "status"):
        table.add_column(column, overflow="fold")
    for a in approvals:
        table.add_row(
            str(a["id"]),
            age(a.get("created_at")),
            age(a["deadline"]) if a.get("deadline") else "-",
            str(a.get("graph") or "-"),
            str(a.get("requested_by") or "-"),
            summary(a),
            str(a.get("status")),
        )
    return table


def _args_table(args: dict[str, Any]) -> Any:
    from rich.table import Table

    table = Table(show_header=True, box=None, pad_edge=False)
    table.add_column("argument", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in args.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(str(key), shown)
    return table


def _json(value: Any) -> Any:
    from rich.syntax import Syntax

    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    return Syntax(text, "json", word_wrap=True, background_color="default")


def approval_panel(approval: dict[str, Any]) -> Any:
    """One request as a panel: what is asked and why, each tool call's arguments (a table
    when they are flat, highlighted JSON when nested), the allowed decisions, who asked."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = []
    value = approval.get("value")
    requests = value.get("action_requests") if isinstance(value, dict) else None
    if isinstance(requests, list):
        configs = value.get("review_configs") or []  # type: ignore[union-attr]
        for index, action in enumerate(requests):
            allowed = next(
                (
                    c.get("allowed_decisions")
                    for c in configs
                    if isinstance(c, dict) and c.get("action_name") == action.get("name")
                ),
                None,
            )
            if index:
                parts.append(Text(""))
            parts.append(Text(f"action: {action.get('name')}", style="bold"))
            if action.get("description"):
                parts.append(Text(f"reason: {action['description']}"))
            args = action.get("args") or {}
            flat = all(not isinstance(v, dict | list) for v in args.values())
            parts.append(_args_table(args) if flat and args else _json(args))
            if allowed:
                parts.append(Text(f"allowed: {', '.join(allowed)}", style="dim"))
    else:
        parts.append(Text("asks:", style="bold"))
        parts.append(_json(value))
    meta = [
        f"thread {approval.get('thread_id')}",
        f"agent {approval.get('graph') or '-'}",
        f"asked by {approval.get('requested_by') or '-'} {age(approval.get('created_at'))} ago",
    ]
    if approval.get("deadline"):
        meta.append(f"deadline {age(approval['deadline'])}")
    if approval.get("approvers"):
        meta.append(f"approvers {', '.join(map(str, approval['approvers']))}")
    if approval.get("status") != "pending":
        meta.append(f"{approval.get('status')} by {approval.get('decided_by') or '-'}")
    parts.append(Text(" · ".join(meta), style="dim"))
    title = f"Approval needed — {approval.get('id')}"
    if approval.get("status") != "pending":
        title = f"Request {approval.get('id')} ({approval.get('status')})"
    return Panel(Group(*parts), title=title, title_align="left", border_style="yellow")


def threads_table(threads: list[dict[str, Any]]) -> Any:
    """Threads as a table: id, status, created, updated."""
    from rich.table import Table

    table = Table(title=f"{len(threads)} thread(s)", title_justify="left")
    for column in ("thread", "status", "created", "updated"):
        table.add_column(column, overflow="fold")
    for t in threads:
        table.add_row(
            t["thread_id"],
            t["status"],
            age(t.get("created_at")) + " ago",
            age(t.get("updated_at")) + " ago",
        )
    return table


def thread_panel(view: dict[str, Any]) -> Any:
    """A thread: status, agent, its conversation (or its values), its pending requests."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.text import Text

    parts: list[Any] = [
        Text(
            f"status: {view.get('status')}   agent: {view.get('agent') or '-'}"
            + (f"   version: {view['graph_version']}" if view.get("graph_version") else "")
        ),
    ]
    values = view.get("values")
    messages = values.get("messages") if isinstance(values, dict) else None
    if isinstance(messages, list):
        for m in messages:
            parts.append(Text(message_line(m)))
    elif values is not None:
        parts.append(_json(values))
    for p in view.get("pending") or []:
        parts.append(Text(f"waiting for a decision: {p['id']} — {summary(p)}", style="yellow"))
    return Panel(Group(*parts), title=f"thread {view.get('thread_id')}", title_align="left")


def message_line(message: Any) -> str:
    """`role: text` for one message in the API's plain form."""
    if not isinstance(message, dict):
        return str(message)
    role = message.get("type") or message.get("role") or "?"
    content = message.get("content")
    text = content if isinstance(content, str) else json.dumps(content, ensure_ascii=False)
    calls = message.get("tool_calls") or []
    if calls:
        text += " " + "; ".join(f"→ {c.get('name')}({c.get('args')})" for c in calls)
    return f"{role}: {text}"


def history_table(checkpoints: list[dict[str, Any]]) -> Any:
    """A thread's checkpoints, newest first: id, when, step, source, next."""
    from rich.table import Table

    table = Table(title=f"{len(checkpoints)} checkpoint(s), newest first", title_justify="left")
    for column in ("checkpoint", "created", "step", "source", "next"):
        table.add_column(column, overflow="fold")
    for c in checkpoints:
        meta = c.get("metadata") or {}
        table.add_row(
            str(c.get("checkpoint_id")),
            str(c.get("created_at") or "-"),
            str(meta.get("step", "-")),
            str(meta.get("source", "-")),
            ", ".join(c.get("next") or []) or "-",
        )
    return table


def audit_table(entries: list[dict[str, Any]]) -> Any:
    """Audit entries: when, who, what, thread, request."""
    from rich.table import Table

    table = Table(title=f"{len(entries)} audit entr(ies)", title_justify="left")
    for column in ("at", "actor", "action", "thread", "request"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            str(e.get("at")),
            str(e.get("actor") or "-"),
            str(e.get("action")),
            str(e.get("thread_id") or "-"),
            str(e.get("interrupt_id") or "-"),
        )
    return table
