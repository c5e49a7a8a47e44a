"""`interlock approvals`: the inbox across all threads, one request, and deciding it."""

from __future__ import annotations

import argparse
import time
from typing import Any

from interlock.cli import _render
from interlock.cli._backend import Backend, CliError
from interlock.cli._connect import EXIT_CODES, WHERE, UsageError, add_connection, open_backend
from interlock.cli._decisions import edits, one_for_all, parse_json, schema_problems

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  interlock approvals                                  the pending requests, oldest first
  interlock approvals list --agent billing --mine      those of one agent I may decide
  interlock approvals list --watch                     refreshed live until Ctrl-C
  interlock approvals show 3f2a...                     one request, its arguments, its status
  interlock approvals decide 3f2a... --approve
  interlock approvals decide 3f2a... --reject "still has students"
  interlock approvals decide 3f2a... --edit '{"course_name": "Python Basics"}'
  interlock approvals decide 3f2a... --respond "use the archive instead"
  interlock approvals decide 3f2a... --value '"yes"'   any request's raw answer
  interlock approvals --url http://127.0.0.1:8000 --key k-ada --json
"""


def add_parser(sub: Any) -> None:
    """Register `interlock approvals` on the top-level subparsers."""
    p = sub.add_parser(
        "approvals",
        help="list, show and decide the requests waiting for a person",
        description=(
            "The inbox across all threads. `list` (the default) shows requests in a table: "
            "age, deadline, agent, requester, action. `show ID` shows one. `decide ID` "
            "answers it: the run resumes, exactly once (a second decision exits 3). "
            "Edits and answers are checked against the request's schema before they are sent."
        ),
        epilog=f"{EXAMPLES}\n{WHERE}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action", nargs="?", default="list", choices=["list", "show", "decide"], help="default list"
    )
    p.add_argument("id", nargs="?", default=None, help="the request (for show and decide)")
    decide = p.add_argument_group("decide (one of)")
    decide.add_argument("--approve", action="store_true", help="approve every tool call")
    decide.add_argument("--reject", metavar="REASON", default=None, help="reject, saying why")
    decide.add_argument(
        "--edit",
        metavar="JSON",
        default=None,
        help="approve with these arguments (an object; a list of objects for several calls)",
    )
    decide.add_argument(
        "--respond", metavar="TEXT", default=None, help="answer the model instead of the tool"
    )
    decide.add_argument(
        "--value", metavar="JSON", default=None, help="the raw answer, for any request"
    )
    filters = p.add_argument_group("list")
    filters.add_argument("--agent", default=None, help="only this agent's requests (graph name)")
    filters.add_argument("--mine", action="store_true", help="only those I may decide")
    filters.add_argument(
        "--status",
        default="pending",
        choices=["pending", "resolved", "expired", "cancelled", "all"],
        help="default pending",
    )
    filters.add_argument("--thread", default=None, help="only this thread's requests")
    filters.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    filters.add_argument("--watch", action="store_true", help="refresh the list live until Ctrl-C")
    filters.add_argument(
        "--every", type=float, default=2.0, help="with --watch: seconds between refreshes"
    )
    add_connection(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out `interlock approvals ...`; returns the exit code."""
    if args.action in ("show", "decide") and not args.id:
        raise UsageError(f"`approvals {args.action}` needs the request's ID")
    if args.action == "list" and args.id:
        raise UsageError(f"`approvals list` takes no ID (did you mean `show {args.id}`?)")
    chosen = [
        n
        for n in ("approve", "reject", "edit", "respond", "value")
        if getattr(args, n) not in (None, False)
    ]
    if args.action == "decide" and len(chosen) != 1:
        raise UsageError(
            "decide with exactly one of --approve, --reject, --edit, --respond, --value"
        )
    if args.action != "decide" and chosen:
        raise UsageError(f"--{chosen[0]} is for `approvals decide ID`")
    backend = open_backend(args)
    try:
        if args.action == "show":
            approval = backend.get_approval(args.id)
            if args.json:
                _render.print_json(approval)
            else:
                _render.console().print(_render.approval_panel(approval))
            return 0
        if args.action == "decide":
            return _decide(backend, args, chosen[0])
        if args.watch:
            return _watch(backend, args)
        approvals = _list(backend, args)
        if args.json:
            _render.print_json(approvals)
        else:
            _render.console().print(_render.approvals_table(approvals))
        return 0
    finally:
        backend.close()


def _list(backend: Backend, args: argparse.Namespace) -> list[dict[str, Any]]:
    return backend.list_approvals(
        status=args.status,
        agent=args.agent,
        mine=args.mine,
        thread_id=args.thread,
        limit=args.limit,
    )


def _watch(backend: Backend, args: argparse.Namespace) -> int:
    """Redraw the table every `--every` seconds (a display refresh, nothing waits on it);
    with --json, print the list again whenever it changes."""
    from rich.live import Live

    if not args.every > 0:
        raise UsageError("--every must be a positive number of seconds")
    try:
        if args.json:
            last = None
            while True:
                approvals = _list(backend, args)
                if approvals != last:
                    _render.print_json(approvals)
                    last = approvals
                time.sleep(args.every)
        with Live(_render.approvals_table(_list(backend, args)), auto_refresh=False) as live:
            while True:
                time.sleep(args.every)
                live.update(_render.approvals_table(_list(backend, args)), refresh=True)
    except KeyboardInterrupt:
        return 0


def answer_of(approval: dict[str, Any], args: argparse.Namespace, how: str) -> Any:
    """The answer the decide flags describe, for this request."""
    if how == "approve":
        return one_for_all(approval, {"type": "approve"})
    if how == "reject":
        return one_for_all(approval, {"type": "reject", "message": args.reject})
    if how == "respond":
        return one_for_all(approval, {"type": "respond", "message": args.respond})
    if how == "edit":
        return edits(approval, parse_json(args.edit, "--edit"))
    return parse_json(args.value, "--value")


def _decide(backend: Backend, args: argparse.Namespace, how: str) -> int:
    approval = backend.get_approval(args.id)
    if approval.get("status") != "pending":
        raise CliError(
            f"request {args.id} was already {approval.get('status')}"
            + (f" by {approval['decided_by']}" if approval.get("decided_by") else ""),
            3,
        )
    value = answer_of(approval, args, how)
    problems = schema_problems(approval, value)
    if problems:
        raise CliError(f"not sent, the answer does not fit the request: {'; '.join(problems)}")
    result = backend.decide(args.id, value)
    if args.json:
        _render.print_json(result)
        return 0
    out = _render.console()
    decided = result.get("approval") or {}
    out.print(f"{decided.get('status', 'decided')}: {args.id} by {decided.get('decided_by')}")
    run = result.get("run") or {}
    messages = (run.get("values") or {}).get("messages")
    if isinstance(messages, list) and messages:
        out.print(_render.message_line(messages[-1]), markup=False, soft_wrap=True)
    for waiting in run.get("interrupts") or []:
        out.print(f"the run waits again: request {waiting['id']}")
    return 0
