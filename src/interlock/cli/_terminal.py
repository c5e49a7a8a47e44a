"""The terminal face's commands (`chat`, `approvals`, `threads`, `audit`, `db`): each lives
in its own module with an `add_parser(sub)` and a `run(args)`; this registers them and runs
the chosen one so that a failure is one line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["add_terminal_commands", "run_terminal_command"]


def add_terminal_commands(sub: Any) -> None:
    """Register the terminal commands on the `interlock` subparsers."""
    from interlock.cli import approvals, audit, chat, db, threads

    for module in (chat, approvals, threads, audit, db):
        module.add_parser(sub)


def run_terminal_command(args: argparse.Namespace) -> int:
    """Run the command `args.handler` names; returns the process exit code."""
    from interlock.cli._connect import run_command

    return run_command(args.command, lambda: args.handler(args))
