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
"""


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
        else:
            threads = backend.list_threads(limit=args.limit)
            if args.json:
                _render.print_json(threads)
            else:
                out.print(_render.threads_table(threads))
        return 0
    finally:
        backend.close()
