"""The `interlock` command line. Subcommands live in their own modules.

interlock demo [--db sqlite:///path] [--model provider:model|scripted] [--thread ID]
interlock serve module:factory [--db URL] [--host H] [--port P] [--keys SPEC] [--workers N]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="interlock",
        description="Durable human-in-the-loop runtime for AI agents.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the course-administration agent: it asks before deleting a course",
        description=(
            "The tutorial's course-administration agent on the embedded SQLite store. It asks "
            "before it deletes a course; answer approve, reject (with a reason) or edit. "
            "Ctrl-C leaves the run paused; --thread ID resumes it later."
        ),
    )
    demo.add_argument(
        "--db",
        default=None,
        help="store URL: sqlite:///path/to/file.db (default ~/.interlock/demo.db)",
    )
    demo.add_argument(
        "--model",
        default=None,
        help="provider:model (e.g. deepseek:deepseek-v4-flash) or 'scripted'; "
        "default: a provider whose API key is set, else scripted",
    )
    demo.add_argument("--thread", default=None, help="resume this paused thread")
    demo.add_argument(
        "--message",
        default='Please delete the course "Outdated Java Tutorial"',
        help="what to ask the agent",
    )
    srv = sub.add_parser(
        "serve",
        help="run the HTTP API for the agents a module makes",
        description=(
            "Serve the HTTP API (threads, runs, the approvals inbox, decisions, audit) for the "
            "graphs that module:factory returns; factory(checkpointer) -> graph or "
            "{name: graph}."
        ),
    )
    srv.add_argument("target", help="module:factory, e.g. myapp.agents:make")
    srv.add_argument(
        "--db",
        default="sqlite:///interlock.db",
        help="sqlite:///path or postgresql://user@host/db (default sqlite:///interlock.db)",
    )
    srv.add_argument("--host", default="127.0.0.1")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument(
        "--keys",
        default=None,
        help="API keys: '<key>=<name>:<role>[,<role>];...' (default: $INTERLOCK_API_KEYS)",
    )
    srv.add_argument(
        "--expire-every",
        type=float,
        default=30.0,
        help="seconds between sweeps that expire requests past their deadline (default 30; "
        "0: no sweeping)",
    )
    srv.add_argument(
        "--webhook",
        action="append",
        default=None,
        metavar="URL|SECRET[|EVENTS]",
        help="POST approval events (approval.requested, approval.decided, approval.expired) "
        "to URL, signed with SECRET; repeatable; also $INTERLOCK_WEBHOOKS (';'-separated)",
    )
    srv.add_argument(
        "--workers",
        type=_non_negative_int,
        default=1,
        help="threads executing background runs queued in the store (default 1; 0: this "
        "process only queues them, other processes run them)",
    )
    srv.add_argument(
        "--run-lease",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="how long a worker holds a background run without renewing before another "
        "process takes it over (default 60)",
    )
    srv.add_argument(
        "--allow-self-approval",
        action="store_true",
        help="let the person who started a run decide its requests",
    )
    srv.add_argument(
        "--shared-threads",
        action="store_true",
        help="let every requester read and add to every thread (default: only their own)",
    )
    return parser


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `interlock` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from interlock.cli.demo import run_demo

        return run_demo(db=args.db, model=args.model, thread=args.thread, message=args.message)
    if args.command == "serve":
        from interlock.cli.serve import serve

        return serve(
            args.target,
            db=args.db,
            host=args.host,
            port=args.port,
            keys=args.keys,
            allow_self_approval=args.allow_self_approval,
            expire_every=args.expire_every,
            webhooks=args.webhook,
            workers=args.workers,
            run_lease=args.run_lease,
            shared_threads=args.shared_threads,
        )
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
