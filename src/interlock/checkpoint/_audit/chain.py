"""The audit chain's records and its canonical encoding (pure: no I/O, no clock).

Every audit entry belongs to one chain: its thread's (`chain` = the thread id), or, for an
entry without a thread, the store's chain `""`. Within a chain, entries are numbered
`seq` = 1, 2, 3, ... and each carries `prev`, the hash of the entry before it (64 zeros
for the first), and `hash`, SHA-256 (hex) over the entry's canonical encoding:

    encode(x) = "-"                       if x is None
              = str(len(x)) + ":" + x     otherwise (len in Unicode code points)
    hash      = sha256(utf8(encode("interlock-audit-v1") + encode(chain) + encode(str(seq))
                 + encode(prev) + encode(entry_id) + encode(str(at_us)) + encode(actor)
                 + encode(action) + encode(thread_id) + encode(interrupt_id)
                 + encode(detail)))

`at_us` is the entry's time in whole microseconds since 1970-01-01 UTC and `detail` the
entry's detail exactly as the store keeps it (JSON text; on PostgreSQL JSONB's text form).
The length prefixes make the encoding unambiguous. PostgreSQL computes the same encoding
in SQL (`interlock_audit_chain`, migration 10); a verifier recomputes it from an export.

Entries written before migration 10 have no chain (`seq` is None): a signed manifest anchors
them with `legacy_digest`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "ENCODING",
    "GENESIS",
    "AuditManifest",
    "AuditRow",
    "at_micros",
    "canonical",
    "entry_hash",
    "field",
    "legacy_digest",
    "row_hash",
]

ENCODING = "interlock-audit-v1"
"""The name of the canonical encoding, its first field."""
GENESIS = "0" * 64
"""`prev` of a chain's first entry."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRow:
    """An audit entry as stored, with its place in its chain: what an export carries and
    what a verifier hashes."""

    entry_id: str
    at: datetime
    actor: str | None
    action: str
    thread_id: str | None
    interrupt_id: str | None
    detail: str
    """The detail as the store keeps it (JSON text)."""
    seq: int | None
    """Place in the chain, from 1; None for an entry written before chains existed."""
    prev: str | None
    """The hash of the chain's previous entry (`GENESIS` before the first)."""
    hash: str | None
    """SHA-256 (hex) of this entry's canonical encoding."""

    @property
    def chain(self) -> str:
        """The chain this entry belongs to: its thread id, or "" without a thread."""
        return self.thread_id or ""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditManifest:
    """A signed statement of every chain's head at one moment.

    `body` is canonical JSON (sorted keys, no spaces) kept verbatim: `{"v": 1,
    "manifest_id", "at", "prev" (SHA-256 of the previous manifest's body, or GENESIS),
    "key_id", "chains": {chain: [seq, head hash]}, "legacy": {"count", "digest"}}`.
    `signature` is the Ed25519 signature of the body's UTF-8 bytes (hex)."""

    manifest_id: str
    """Time-ordered id (as audit entry ids)."""
    body: str
    key_id: str
    """Which key signed it: the first 16 hex of SHA-256 over the raw public key."""
    signature: str


def field(value: str | None) -> str:
    """One field of the canonical encoding."""
    return "-" if value is None else f"{len(value)}:{value}"


def at_micros(at: datetime) -> int:
    """Whole microseconds since the epoch (naive times are UTC)."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return (at - _EPOCH) // _MICROSECOND


def canonical(
    *,
    chain: str | None,
    seq: int | None,
    prev: str | None,
    entry_id: str,
    at: datetime,
    actor: str | None,
    action: str,
    thread_id: str | None,
    interrupt_id: str | None,
    detail: str,
) -> bytes:
    """The canonical encoding of an entry (see the module docstring)."""
    parts = (
        ENCODING,
        chain,
        None if seq is None else str(seq),
        prev,
        entry_id,
        str(at_micros(at)),
        actor,
        action,
        thread_id,
        interrupt_id,
        detail,
    )
    # `field` inlined: this runs for every audit entry written
    return "".join(["-" if p is None else f"{len(p)}:{p}" for p in parts]).encode()


def entry_hash(
    *,
    chain: str,
    seq: int,
    prev: str,
    entry_id: str,
    at: datetime,
    actor: str | None,
    action: str,
    thread_id: str | None,
    interrupt_id: str | None,
    detail: str,
) -> str:
    """SHA-256 (hex) of an entry's canonical encoding."""
    return hashlib.sha256(
        canonical(
            chain=chain,
            seq=seq,
            prev=prev,
            entry_id=entry_id,
            at=at,
            actor=actor,
            action=action,
            thread_id=thread_id,
            interrupt_id=interrupt_id,
            detail=detail,
        )
    ).hexdigest()


def row_hash(row: AuditRow) -> str:
    """The hash `row` should carry, recomputed from its fields."""
    return entry_hash(
        chain=row.chain,
        seq=row.seq or 0,
        prev=row.prev or "",
        entry_id=row.entry_id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        thread_id=row.thread_id,
        interrupt_id=row.interrupt_id,
        detail=row.detail,
    )


def legacy_digest(rows: Iterable[AuditRow]) -> tuple[int, str]:
    """(count, SHA-256 hex) over the entries written before chains existed, in entry id
    order: each entry's canonical encoding (chain, seq and prev as None), length-prefixed."""
    digest = hashlib.sha256()
    count = 0
    for row in sorted(rows, key=lambda r: r.entry_id):
        raw = canonical(
            chain=None,
            seq=None,
            prev=None,
            entry_id=row.entry_id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            thread_id=row.thread_id,
            interrupt_id=row.interrupt_id,
            detail=row.detail,
        )
        digest.update(f"{len(raw)}:".encode() + raw)
        count += 1
    return count, digest.hexdigest()
