"""`interlock db`: bring a store's schema up to date, and prune finished threads."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from interlock.cli import _render
from interlock.cli._backend import CliError
from interlock.cli._connect import EXIT_CODES, UsageError

__all__ = ["add_parser", "parse_when", "run"]

EXAMPLES = """\
examples:
  interlock db migrate --db postgresql://app@db.internal/app
  interlock db prune --finished-before 30d --db sqlite:///interlock.db
  interlock db prune --finished-before 2026-01-01T00:00:00Z --json
"""


def add_parser(sub: Any) -> None:
    """Register `interlock db` on the top-level subparsers."""
    p = sub.add_parser(
        "db",
        help="migrate a store's schema, or prune finished threads",
        description=(
            "`migrate` applies the store's pending schema migrations (a store also does so "
            "when a server opens it) and prints the applied versions. `prune` deletes "
            "finished threads (nothing pending, no run queued or running) last updated "
            "before --finished-before, and the records of background runs that ended before "
            "it; interrupted and running threads are never touched. Acts on a local store only."
        ),
        epilog=f"{EXAMPLES}\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("action", choices=["migrate", "prune"])
    p.add_argument(
        "--db",
        default=None,
        help="sqlite:///path or postgresql://... (default sqlite:///interlock.db)",
    )
    p.add_argument(
        "--finished-before",
        default=None,
        metavar="WHEN",
        help="for prune: an ISO time (2026-01-01T00:00:00Z) or an age (90m, 12h, 30d)",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(handler=run)


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An ISO instant (UTC if it names no zone) or an age ago (`90s`, `90m`, `12h`, `30d`)."""
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
    now = now or datetime.now(UTC)
    if text[-1:] in units and text[:-1].isdigit():
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--finished-before must be an ISO time or an age like 30d, not {text!r}"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def run(args: argparse.Namespace) -> int:
    """Carry out `interlock db ...`; returns the exit code."""
    from interlock.cli.serve import DEFAULT_DB, open_store

    if args.action == "prune" and not args.finished_before:
        raise UsageError("`db prune` needs --finished-before WHEN (an ISO time or an age: 30d)")
    if args.action == "migrate" and args.finished_before:
        raise UsageError("--finished-before is for `db prune`")
    before = parse_when(args.finished_before) if args.finished_before else None
    url = args.db or DEFAULT_DB
    try:
        store = open_store(url)  # opening a store applies its pending migrations
    except SystemExit as exc:
        raise CliError(str(exc).replace("interlock serve: ", "")) from None
    try:
        if args.action == "migrate":
            versions = list(getattr(store, "schema_versions", list)())
            report: dict[str, Any] = {"db": url, "schema_versions": versions}
            text = f"{url}: schema up to date (versions {', '.join(map(str, versions))})"
        else:
            deleted = store.prune(finished_before=before)
            report = {
                "db": url,
                "finished_before": before.isoformat() if before else None,
                "checkpoints_deleted": deleted,
            }
            text = (
                f"{url}: pruned threads finished before {report['finished_before']}: "
                f"{deleted} checkpoint(s) deleted"
            )
    finally:
        store.close()
    if args.json:
        _render.print_json(report)
    else:
        print(text)
    return 0
