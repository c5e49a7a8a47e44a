"""`interlock audit`: the audit log, and a check that it misses no request or decision.

`verify` checks what the store's records allow today: every request has its
`approval.requested` entry, and every request that is no longer pending has the entry that
closed it (`approval.decided` by the person recorded as deciding it, `approval.expired` or
`approval.cancelled`). The log is not yet signed or hash-chained, so verify cannot prove that
no entry was altered or removed together with its request; it says so.
"""

from __future__ import annotations

import argparse
from typing import Any

from interlock.cli import _render
from interlock.cli._backend import Backend
from interlock.cli._connect import EXIT_CODES, WHERE, UsageError, add_connection, open_backend

__all__ = ["add_parser", "run", "verify"]

EXAMPLES = """\
examples:
  interlock audit                          the latest entries
  interlock audit list --thread admin-3f2a9c1e
  interlock audit list --request 3f2a... --json
  interlock audit verify                   every request has its requested/decided entries
"""

CLOSING = {
    "resolved": "approval.decided",
    "expired": "approval.expired",
    "cancelled": "approval.cancelled",
}
NOT_CHECKED = (
    "not checked: entries are not signed or hash-chained yet, so an entry altered "
    "or deleted together with its request cannot be detected"
)


def add_parser(sub: Any) -> None:
    """Register `interlock audit` on the top-level subparsers."""
    p = sub.add_parser(
        "audit",
        help="read the audit log, or verify it covers every request and decision",
        description=(
            "Who asked and who decided what, and when. `verify` checks that every request "
            "has its `approval.requested` entry and every closed one the entry that closed it "
            "(exit 1 if not). Against a server this needs an admin key."
        ),
        epilog=f"{EXAMPLES}\n{WHERE}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action", nargs="?", default="list", choices=["list", "verify"], help="default list"
    )
    p.add_argument("--thread", default=None, help="only this thread's entries")
    p.add_argument("--request", default=None, help="only this request's entries")
    p.add_argument("--limit", type=int, default=100, help="list at most this many (default 100)")
    add_connection(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out `interlock audit ...`; returns the exit code."""
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    backend = open_backend(args)
    try:
        if args.action == "verify":
            report = verify(backend, thread_id=args.thread)
            if args.json:
                _render.print_json(report)
            else:
                print(
                    f"checked {report['requests']} request(s) against "
                    f"{report['entries']} audit entr(ies)"
                )
                for problem in report["problems"]:
                    print(f"missing: {problem}")
                if not report["problems"]:
                    print("ok: every request has its requested and closing entries")
                print(report["not_checked"])
            return 1 if report["problems"] else 0
        entries = backend.audit(thread_id=args.thread, interrupt_id=args.request, limit=args.limit)
        if args.json:
            _render.print_json(entries)
        else:
            _render.console().print(_render.audit_table(entries))
        return 0
    finally:
        backend.close()


def verify(backend: Backend, *, thread_id: str | None = None) -> dict[str, Any]:
    """Compare every request with the audit log; `{"requests", "entries", "problems",
    "not_checked"}`."""
    requests = backend.list_approvals(
        status="all", agent=None, mine=False, thread_id=thread_id, limit=10**9
    )
    entries = backend.audit(thread_id=thread_id, interrupt_id=None, limit=10**9)
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for e in entries:
        if e.get("interrupt_id"):
            seen.setdefault((e["interrupt_id"], e["action"]), []).append(e)
    problems = []
    for r in requests:
        rid = r["id"]
        if (rid, "approval.requested") not in seen:
            problems.append(f"request {rid} (thread {r['thread_id']}): no approval.requested")
        closing = CLOSING.get(r["status"])
        if closing is None:
            continue
        found = seen.get((rid, closing), [])
        if not found:
            problems.append(f"request {rid} is {r['status']}: no {closing}")
        elif closing == "approval.decided" and r.get("decided_by") not in {
            e.get("actor") for e in found
        }:
            problems.append(
                f"request {rid}: decided by {r.get('decided_by')!r}, audited as "
                f"{sorted(str(e.get('actor')) for e in found)}"
            )
    return {
        "requests": len(requests),
        "entries": len(entries),
        "problems": problems,
        "not_checked": NOT_CHECKED,
    }
