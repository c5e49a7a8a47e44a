"""`interlock audit keygen | seal | export | verify --file`: the signed audit chain's
maintenance commands (see docs/audit.md). They are not bound by the request timeouts: the
store is read under `maintenance()`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

from interlock.cli import _render
from interlock.cli._connect import UsageError

__all__ = ["add_chain_arguments", "export", "keygen", "print_chain_report", "public_keys", "seal"]


def add_chain_arguments(p: argparse.ArgumentParser) -> None:
    """The flags of the chain's actions on `interlock audit`."""
    p.add_argument(
        "--out",
        default=None,
        metavar="PATH",
        help="keygen: the private key file; export: "
        "the JSON Lines file ('-' or none: standard output)",
    )
    p.add_argument(
        "--file", default=None, metavar="EXPORT", help="verify: an export, offline (no store)"
    )
    p.add_argument(
        "--public-key",
        action="append",
        default=[],
        metavar="PEM",
        help="verify: a public key that signs manifests (repeatable: old keys after rotation)",
    )
    p.add_argument(
        "--since",
        default="",
        metavar="WHEN",
        help="export: only the entries after this entry id or ISO time (verified as partial)",
    )
    p.add_argument(
        "--audit-key",
        default=None,
        metavar="PATH",
        help="seal: the private key (default: $INTERLOCK_AUDIT_KEY)",
    )


def public_keys(paths: list[str]) -> list[Any]:
    """The public keys named by --public-key."""
    from interlock.checkpoint._audit.signing import load_public_key

    try:
        return [load_public_key(p) for p in paths]
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def keygen(args: argparse.Namespace) -> int:
    """Write a new Ed25519 key pair."""
    from interlock.checkpoint._audit.signing import generate_key

    if not args.out:
        raise UsageError("keygen needs --out PATH (the public key goes to PATH.pub)")
    try:
        signer = generate_key(args.out)
    except (ValueError, OSError) as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote {args.out} (private: keep it secret) and {args.out}.pub (key {signer.key_id})")
    return 0


def _store(args: argparse.Namespace) -> Any:
    from interlock.cli.serve import DEFAULT_DB, open_store

    if args.url:
        raise UsageError("seal and export read the store itself: give --db, not --url")
    try:
        return open_store(args.db or DEFAULT_DB)
    except SystemExit as exc:
        raise UsageError(str(exc).replace("interlock serve: ", "")) from None


def _bound(store: Any) -> Any:
    return getattr(store, "maintenance", contextlib.nullcontext)()


def seal(args: argparse.Namespace) -> int:
    """Sign a manifest of every chain's head now."""
    from interlock.checkpoint._audit.manifest import seal_audit
    from interlock.checkpoint._audit.signing import load_signer

    path = args.audit_key or os.environ.get("INTERLOCK_AUDIT_KEY")
    if not path:
        raise UsageError("seal needs --audit-key PATH (or $INTERLOCK_AUDIT_KEY)")
    try:
        signer = load_signer(path)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    store = _store(args)
    try:
        with _bound(store):
            manifest = seal_audit(store, signer)
    finally:
        store.close()
    if manifest is None:
        print("another process is sealing right now; nothing done", file=sys.stderr)
        return 1
    print(f"sealed: manifest {manifest.manifest_id} signed by key {manifest.key_id}")
    return 0


def export(args: argparse.Namespace) -> int:
    """Write the log, its manifests and the given public keys as JSON Lines."""
    from interlock.checkpoint._audit.export import since_position, write_export

    keys = public_keys(args.public_key)
    try:
        since = since_position(args.since) if args.since else ""
    except ValueError:
        raise UsageError(f"--since takes an entry id or an ISO time, not {args.since!r}") from None
    store = _store(args)
    try:
        with _bound(store):
            if args.out in (None, "-"):
                count = write_export(store, sys.stdout, keys=keys, since=since)
            else:
                with Path(args.out).open("w", encoding="utf-8") as out:
                    count = write_export(store, out, keys=keys, since=since)
    finally:
        store.close()
    if args.out not in (None, "-"):
        print(f"exported {count} entr(ies) to {args.out}", file=sys.stderr)
    return 0


def verify_file(args: argparse.Namespace) -> int:
    """Check an export offline, with the public keys only."""
    from interlock.checkpoint._audit.export import read_export
    from interlock.checkpoint._audit.verify import verify_audit

    if not args.public_key:
        raise UsageError("verify --file needs --public-key PEM (the key that signs manifests)")
    keys = public_keys(args.public_key)
    try:
        with Path(args.file).open(encoding="utf-8") as lines:
            bundle = read_export(lines)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from None
    except ValueError as exc:
        print(f"broken: {exc}")
        return 1
    report = verify_audit(bundle.rows, bundle.manifests, keys, partial=bundle.partial)
    out = report.as_dict() | {"partial": bundle.partial}
    if bundle.partial and not args.json:
        print(f"partial export (after entry {bundle.since}): chain starts are taken on trust")
    return print_chain_report(out, args.json)


def print_chain_report(report: dict[str, Any], as_json: bool) -> int:
    """Print a chain report; the exit code (1 if a problem was found)."""
    if as_json:
        _render.print_json(report)
    else:
        print(
            f"chains: {report['entries']} entr(ies) in {report['chains']} chain(s), "
            f"{report['manifests']} signed manifest(s), {report['legacy']} from before the "
            f"chain, {report['unsealed']} not yet sealed"
        )
        for problem in report["problems"]:
            print(f"broken: {problem}")
        if report["ok"]:
            print("ok: every chain links, every manifest verifies and matches the chains")
    return 0 if report["ok"] else 1
