"""The `interlock` command line. Subcommands live in their own modules.

interlock demo [--db sqlite:///path] [--model provider:model|scripted] [--thread ID]
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `interlock` command."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from interlock.cli.demo import run_demo

        return run_demo(db=args.db, model=args.model, thread=args.thread, message=args.message)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
