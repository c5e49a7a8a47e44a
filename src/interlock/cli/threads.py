"""`interlock threads`: the threads of a store or server, one thread, its history."""

from __future__ import annotations

import argparse
from typing import Any

from interlock.cli import _render
from interlock.cli._connect import EXIT_CODES, WHERE, UsageError, add_connection, open_backend

__all__ = ["add_parser", "run"]

EXAMPLES = """\
examples:
  interlock threads                         threads, most recently updated first
  interlock threads show admin-3f2a9c1e     its status, conversation and pending requests
  interlock threads history admin-3f2a9c1e  its checkpoints, newest first
  interlock threads list --json --url http://127.0.0.1:8000 --key k-ada
  interlock threads list --version 3f2a9c1e0b7d4e21   threads paused under that graph version
"""

SCAN = 10_000
"""`threads list --version` reads at most this many pending requests."""


def add_parser(sub: Any) -> None:
    """Register `interlock threads` on the top-level subparsers."""
    p = sub.add_parser(
        "threads",
        help="list threads, show one, or its checkpoint history",
        description="The threads (conversations, runs) of a store or a server.",
        epilog=f"{EXAMPLES}\n{WHERE}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "show", "history"],
        help="default list",
    )
    p.add_argument("id", nargs="?", default=None, help="the thread (for show and history)")
    p.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    p.add_argument(
        "--version",
        default=None,
        metavar="VERSION",
        help="list: only threads paused under this graph version (their pending requests "
        "were asked under it; see docs/safe-deploys.md); needs the approver role",
    )
    add_connection(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out `interlock threads ...`; returns the exit code."""
    if args.action != "list" and not args.id:
        raise UsageError(f"`threads {args.action}` needs the thread's ID")
    if args.action == "list" and args.id:
        raise UsageError(f"`threads list` takes no ID (did you mean `show {args.id}`?)")
    if not 0 < args.limit <= 500:
        raise UsageError("--limit must be from 1 to 500")
    if args.version is not None and args.action != "list":
        raise UsageError("--version is for `threads list`")
    backend = open_backend(args)
    try:
        out = _render.console()
        if args.action == "show":
            view = backend.get_thread(args.id)
            if args.json:
                _render.print_json(view)
            else:
                out.print(_render.thread_panel(view))
        elif args.action == "history":
            checkpoints = backend.history(args.id, limit=min(args.limit, 200))
            if args.json:
                _render.print_json(checkpoints)
            else:
                out.print(_render.history_table(checkpoints))
        elif args.version is not None:
            paused = paused_on(backend, args.version, args.limit)
            if args.json:
                _render.print_json(paused)
            else:
                out.print(_paused_table(paused, args.version))
        else:
            threads = backend.list_threads(limit=args.limit)
            if args.json:
                _render.print_json(threads)
            else:
                out.print(_render.threads_table(threads))
        return 0
    finally:
        backend.close()


def paused_on(backend: Any, version: str, limit: int) -> list[dict[str, Any]]:
    """Threads whose pending requests were asked under graph version `version`, oldest
    request first: `{thread_id, agent, graph_version, pending, oldest}` (reads at most
    `SCAN` pending requests)."""
    requests = backend.list_approvals(
        status="pending", agent=None, mine=False, thread_id=None, limit=SCAN
    )
    threads: dict[str, dict[str, Any]] = {}
    for r in requests:
        if r.get("graph_version") != version:
            continue
        row = threads.setdefault(
            r["thread_id"],
            {
                "thread_id": r["thread_id"],
                "agent": r.get("graph"),
                "graph_version": version,
                "pending": 0,
                "oldest": r.get("created_at"),
            },
        )
        row["pending"] += 1
    return list(threads.values())[:limit]


def _paused_table(rows: list[dict[str, Any]], version: str) -> Any:
    from rich.table import Table

    table = Table(
        title=f"{len(rows)} thread(s) paused under version {version}", title_justify="left"
    )
    for column in ("thread", "agent", "pending", "waiting since"):
        table.add_column(column, overflow="fold")
    for t in rows:
        table.add_row(
            t["thread_id"],
            t["agent"] or "-",
            str(t["pending"]),
            _render.age(t.get("oldest")) + " ago",
        )
    return table
