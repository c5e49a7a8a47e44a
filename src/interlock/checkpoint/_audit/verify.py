"""Verifying an audit log: its chains, its signed manifests, and the chains against the
manifests (pure: the rows, manifests and public keys are given).

What a failure says, and how a change to the log shows:

- an entry edited: its hash no longer matches its content (or, if its hash was recomputed,
  the next entry's `prev` no longer matches it, or a manifest's head does not);
- an entry deleted: a gap in its chain's `seq` (or the chain is shorter than a manifest
  says, when the deleted entries were its tail);
- entries swapped or moved: their hashes or `prev` links no longer match;
- an entry inserted: a duplicate `seq`, or a `prev` that is not the entry before it;
- a whole chain deleted: a manifest lists it and no entry of it is left;
- a manifest forged or edited: its signature does not verify with any given key;
- a manifest deleted: the next one's `prev` does not match the one before it.

Not detectable: entries appended after the newest manifest and then removed or rewritten
(chain and all) by someone with write access to the database — `unsealed` counts them; the
newest manifests deleted together with everything they covered beyond the one before.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interlock.checkpoint._audit.chain import (
    GENESIS,
    AuditManifest,
    AuditRow,
    legacy_digest,
    row_hash,
)
from interlock.checkpoint._audit.manifest import body_hash
from interlock.checkpoint._audit.signing import PublicKey

if TYPE_CHECKING:
    from interlock.checkpoint._audit.protocol import AuditLog

__all__ = ["VerifyReport", "store_rows", "verify_audit", "verify_store"]


@dataclass(slots=True, kw_only=True)
class VerifyReport:
    """What `verify_audit` found. `problems` are in log order; the first names the first
    broken link."""

    entries: int = 0
    chains: int = 0
    manifests: int = 0
    legacy: int = 0
    """Entries from before chains existed (anchored by the manifests' `legacy` digest)."""
    unsealed: int = 0
    """Chained entries no signed manifest covers yet."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "ok": self.ok,
            "entries": self.entries,
            "chains": self.chains,
            "manifests": self.manifests,
            "legacy": self.legacy,
            "unsealed": self.unsealed,
            "first_problem": self.problems[0] if self.problems else None,
            "problems": self.problems,
        }


def _check_manifests(
    manifests: Sequence[AuditManifest], keys: Mapping[str, PublicKey], report: VerifyReport
) -> list[dict[str, Any]]:
    """The bodies of the manifests whose signature verifies, oldest first."""
    good: list[dict[str, Any]] = []
    prev = GENESIS
    for m in sorted(manifests, key=lambda m: m.manifest_id):
        key = keys.get(m.key_id)
        if key is None:
            report.problems.append(f"manifest {m.manifest_id}: signed by unknown key {m.key_id}")
            continue
        if not key.verify(m.signature, m.body.encode()):
            report.problems.append(
                f"manifest {m.manifest_id}: signature does not verify (forged or edited)"
            )
            continue
        body: dict[str, Any] = json.loads(m.body)
        if body.get("manifest_id") != m.manifest_id or body.get("key_id") != m.key_id:
            report.problems.append(f"manifest {m.manifest_id}: id or key differs from its body")
            continue
        if body.get("prev") != prev:
            report.problems.append(
                f"manifest {m.manifest_id}: does not follow the manifest before it "
                "(a manifest was deleted or reordered)"
            )
        prev = body_hash(m.body)
        good.append(body)
    return good


def _check_chain(chain: str, rows: list[AuditRow], report: VerifyReport, *, partial: bool) -> None:
    rows.sort(key=lambda r: (r.seq or 0, r.entry_id))
    prev, expected = GENESIS, 1
    if partial and rows:  # an export from a point on: the chain's start is taken on trust
        prev, expected = rows[0].prev or GENESIS, rows[0].seq or 1
    for row in rows:
        where = f"entry {row.entry_id} (chain {chain!r}, seq {row.seq})"
        if row.seq != expected:
            if row.seq is not None and row.seq < expected:
                report.problems.append(f"{where}: a second entry at this seq (inserted)")
            else:
                report.problems.append(
                    f"{where}: entries {expected}..{(row.seq or 0) - 1} of the chain are "
                    "missing (deleted)"
                )
            return
        if row.hash != row_hash(row):
            report.problems.append(f"{where}: its hash does not match its content (edited)")
            return
        if row.prev != prev:
            report.problems.append(
                f"{where}: does not link to the entry before it (inserted, reordered or "
                "the entry before it was rewritten)"
            )
            return
        prev, expected = row.hash, expected + 1


def verify_audit(
    rows: Iterable[AuditRow],
    manifests: Sequence[AuditManifest],
    keys: Iterable[PublicKey],
    *,
    partial: bool = False,
) -> VerifyReport:
    """Check every chain link, every manifest's signature and `prev`, every manifest's heads
    against the chains, and the legacy digest; see the module docstring.

    `partial`: the rows are the log from a point on (`interlock audit export --since`):
    each chain's first exported entry is taken on trust, manifest heads older than the
    export and chains with no exported entry are not checked (so neither is a deleted chain
    or the legacy digest)."""
    report = VerifyReport()
    by_id = {k.key_id: k for k in keys}
    chains: dict[str, list[AuditRow]] = {}
    legacy: list[AuditRow] = []
    for row in rows:
        report.entries += 1
        if row.seq is None:
            legacy.append(row)
        else:
            chains.setdefault(row.chain, []).append(row)
    report.chains, report.legacy = len(chains), len(legacy)
    bodies = _check_manifests(manifests, by_id, report)
    report.manifests = len(manifests)
    for chain in sorted(chains, key=lambda c: min(r.entry_id for r in chains[c])):
        _check_chain(chain, chains[chain], report, partial=partial)
    at_seq = {c: {r.seq: r.hash for r in rs} for c, rs in chains.items()}
    count, digest = legacy_digest(legacy)
    for body in bodies:
        for chain, (seq, head) in body["chains"].items():
            found = at_seq.get(chain)
            if partial and (not found or seq < min(s or 0 for s in found)):
                continue  # before the export began
            if not found:
                report.problems.append(
                    f"chain {chain!r}: deleted (manifest {body['manifest_id']} lists it at "
                    f"seq {seq})"
                )
            elif seq not in found:
                report.problems.append(
                    f"chain {chain!r}: ends at seq {max(s or 0 for s in found)}, manifest "
                    f"{body['manifest_id']} lists seq {seq} (its tail was deleted)"
                )
            elif found[seq] != head:
                report.problems.append(
                    f"chain {chain!r}: entry at seq {seq} is not the one manifest "
                    f"{body['manifest_id']} signed (rewritten)"
                )
        if not partial and body["legacy"] != {"count": count, "digest": digest}:
            report.problems.append(
                f"entries from before the chain: {count} now, manifest "
                f"{body['manifest_id']} anchored {body['legacy']['count']} with another "
                "digest (edited, deleted or inserted)"
            )
    sealed = bodies[-1]["chains"] if bodies else {}
    report.unsealed = sum(
        sum(1 for r in rs if (r.seq or 0) > sealed.get(c, [0])[0]) for c, rs in chains.items()
    )
    # one complaint per problem found by several manifests
    report.problems = list(dict.fromkeys(report.problems))
    return report


def store_rows(saver: AuditLog, *, page: int = 5000, after: str = "") -> Iterator[AuditRow]:
    """Every entry of a store (after the entry id `after`), oldest first, a page at a time."""
    while rows := saver.audit_rows(after=after, limit=page):
        yield from rows
        after = rows[-1].entry_id


def verify_store(saver: AuditLog, keys: Iterable[PublicKey]) -> VerifyReport:
    """`verify_audit` over everything a store holds (read a page at a time)."""
    manifests: list[AuditManifest] = []
    after = ""
    while page := saver.list_audit_manifests(after=after, limit=5000):
        manifests += page
        after = page[-1].manifest_id
    return verify_audit(store_rows(saver), manifests, keys)
