"""Sealing: a signed manifest of every chain's head, chained to the manifest before it.

`seal_audit(saver, signer)` reads the heads, builds the body (see `AuditManifest`), signs
it and keeps it in the store. One sealer at a time: it holds the store's named cursor
`audit.seal` while it seals (two sealers reading the same previous manifest would fork the
manifest chain). The first manifest also anchors the entries written before chains existed
(`legacy`: their count and digest); later manifests carry the first one's.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from interlock.checkpoint._audit.chain import GENESIS, AuditManifest, legacy_digest
from interlock.checkpoint._audit.protocol import new_audit_id

if TYPE_CHECKING:
    from interlock.checkpoint._audit.protocol import AuditLog
    from interlock.checkpoint._audit.signing import AuditSigner

__all__ = ["SEAL_CURSOR", "body_hash", "manifest_body", "seal_audit"]

SEAL_CURSOR = "audit.seal"
"""The named cursor a sealer holds while it seals."""


def body_hash(body: str) -> str:
    """SHA-256 (hex) of a manifest body: the next manifest's `prev`."""
    return hashlib.sha256(body.encode()).hexdigest()


def manifest_body(manifest: AuditManifest) -> dict[str, Any]:
    """A manifest's body, parsed."""
    body: dict[str, Any] = json.loads(manifest.body)
    return body


def _legacy(saver: AuditLog, previous: AuditManifest | None) -> dict[str, Any]:
    if previous is not None:
        legacy: dict[str, Any] = manifest_body(previous)["legacy"]
        return legacy
    rows = []
    after = ""
    while page := saver.audit_rows(after=after, limit=5000):
        rows += [r for r in page if r.seq is None]
        after = page[-1].entry_id
    count, digest = legacy_digest(rows)
    return {"count": count, "digest": digest}


def seal_audit(
    saver: AuditLog, signer: AuditSigner, *, owner: str = "", ttl: float = 300.0
) -> AuditManifest | None:
    """Sign and keep a manifest of every chain's head now; None if another sealer holds
    the `audit.seal` cursor (it is sealing)."""
    owner = owner or f"sealer-{new_audit_id()}"
    if saver.claim_cursor(SEAL_CURSOR, owner, ttl=ttl) is None:
        return None
    previous = saver.last_audit_manifest()
    manifest_id = new_audit_id()
    body = {
        "v": 1,
        "manifest_id": manifest_id,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "prev": GENESIS if previous is None else body_hash(previous.body),
        "key_id": signer.key_id,
        "chains": {c: [s, h] for c, (s, h) in sorted(saver.audit_heads().items())},
        "legacy": _legacy(saver, previous),
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    manifest = AuditManifest(
        manifest_id=manifest_id,
        body=text,
        key_id=signer.key_id,
        signature=signer.sign(text.encode()),
    )
    saver.add_audit_manifest(manifest)
    saver.advance_cursor(SEAL_CURSOR, owner, manifest_id, ttl=0)
    return manifest
