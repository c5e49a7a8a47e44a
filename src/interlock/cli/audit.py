"""`interlock audit`: the audit log, and a check that it misses no request or decision and
that no entry was changed.

`verify` checks two things. Coverage: every request has its `approval.requested` entry,
and every request that is no longer pending has the entry that closed it
(`approval.decided` by the person recorded as deciding it, `approval.expired` or
`approval.cancelled`). Integrity: every entry's hash chain and the signed manifests of the
chains' heads (`interlock.checkpoint._audit.verify`; against a local store the manifests are
checked with `--public-key`). `verify --file EXPORT --public-key PEM` checks an export
offline. `keygen`, `seal` and `export` are in `audit_chain`.
"""

from __future__ import annotations

import argparse
from typing import Any

from interlock.cli import _render, audit_chain
from interlock.cli._backend import Backend, RemoteBackend
from interlock.cli._connect import EXIT_CODES, WHERE, UsageError, add_connection, open_backend
from interlock.cli.audit_chain import add_chain_arguments

__all__ = ["add_parser", "run", "verify"]

EXAMPLES = """\
examples:
  interlock audit                          the latest entries
  interlock audit list --thread admin-3f2a9c1e
  interlock audit list --request 3f2a... --json
  interlock audit verify --public-key audit.key.pub
                                           coverage, chains and signed manifests
  interlock audit keygen --out audit.key   a signing key pair (audit.key, audit.key.pub)
  interlock audit seal --db sqlite:///interlock.db --audit-key audit.key
  interlock audit export --db sqlite:///interlock.db --out audit.jsonl
  interlock audit verify --file audit.jsonl --public-key audit.key.pub   offline
"""

CLOSING = {
    "resolved": "approval.decided",
    "expired": "approval.expired",
    "cancelled": "approval.cancelled",
}
NOT_CHECKED = (
    "not checked: entries written after the newest signed manifest can be cut or rewritten "
    "by someone with write access to the store without detection (seal often)"
)
NO_KEYS = "manifests not checked: give --public-key to check their signatures"


def add_parser(sub: Any) -> None:
    """Register `interlock audit` on the top-level subparsers."""
    p = sub.add_parser(
        "audit",
        help="read, verify, seal or export the audit log; make its signing key",
        description=(
            "Who asked and who decided what, and when. `verify` checks that every request "
            "has its `approval.requested` entry and every closed one the entry that closed it, "
            "and that every hash chain and signed manifest holds (exit 1 if not). Against a "
            "server this needs an admin key. `keygen`, `seal`, `export` and `verify --file` "
            "are maintenance commands on a local store or file."
        ),
        epilog=f"{EXAMPLES}\n{WHERE}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "action",
        nargs="?",
        default="list",
        choices=["list", "verify", "keygen", "seal", "export"],
        help="default list",
    )
    p.add_argument("--thread", default=None, help="only this thread's entries")
    p.add_argument("--request", default=None, help="only this request's entries")
    p.add_argument("--limit", type=int, default=100, help="list at most this many (default 100)")
    add_chain_arguments(p)
    add_connection(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Carry out `interlock audit ...`; returns the exit code."""
    if args.limit < 1:
        raise UsageError("--limit must be 1 or more")
    if args.action in CHAIN_ACTIONS:
        return CHAIN_ACTIONS[args.action](args)
    if args.action == "verify" and args.file:
        return audit_chain.verify_file(args)
    keys = audit_chain.public_keys(args.public_key)
    backend = open_backend(args)
    try:
        if args.action == "verify":
            report = verify(backend, thread_id=args.thread)
            chain = backend.verify_chain(keys)
            if not keys and not isinstance(backend, RemoteBackend):
                chain = _chains_only(chain)
            report["chain"] = chain
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
                audit_chain.print_chain_report(chain, False)
                if chain.get("note"):
                    print(chain["note"])
                print(report["not_checked"])
            return 1 if report["problems"] or not chain["ok"] else 0
        entries = backend.audit(thread_id=args.thread, interrupt_id=args.request, limit=args.limit)
        if args.json:
            _render.print_json(entries)
        else:
            _render.console().print(_render.audit_table(entries))
        return 0
    finally:
        backend.close()


CHAIN_ACTIONS = {
    "keygen": audit_chain.keygen,
    "seal": audit_chain.seal,
    "export": audit_chain.export,
}


def _chains_only(report: dict[str, Any]) -> dict[str, Any]:
    """Without public keys: keep the chain problems, drop the unverifiable manifests'."""
    problems = [p for p in report["problems"] if "signed by unknown key" not in p]
    first = problems[0] if problems else None
    return (
        report
        | {"problems": problems, "ok": not problems, "first_problem": first}
        | {"note": NO_KEYS}
    )


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
