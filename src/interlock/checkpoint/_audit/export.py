"""The audit export: JSON Lines that a verifier checks offline, without the store and
without any secret.

One object per line, `type` first: a `header` (`format`, `encoding`, `exported_at`, the
public keys the exporter knew, `since`: the entry id the export starts after, "" for the
whole log), then every `entry` (oldest first: `entry_id`, `at` ISO-8601
UTC, `at_us`, `actor`, `action`, `thread_id`, `interrupt_id`, `detail` as the JSON text the
hash covers, `seq`, `prev`, `hash`), then every `manifest` (`manifest_id`, `body`, `key_id`,
`signature`). The public keys in the header are informative: a verifier checks signatures
with keys it got elsewhere (`--public-key`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from interlock.checkpoint._audit.chain import AuditManifest, AuditRow, at_micros
from interlock.checkpoint._audit.protocol import AuditLog
from interlock.checkpoint._audit.signing import PublicKey
from interlock.checkpoint._audit.verify import store_rows

__all__ = ["FORMAT", "Export", "read_export", "since_position", "write_export"]

FORMAT = "interlock-audit-export-v1"


def _entry(row: AuditRow) -> dict[str, Any]:
    return {
        "type": "entry",
        "entry_id": row.entry_id,
        "at": row.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "at_us": at_micros(row.at),
        "actor": row.actor,
        "action": row.action,
        "thread_id": row.thread_id,
        "interrupt_id": row.interrupt_id,
        "detail": row.detail,
        "seq": row.seq,
        "prev": row.prev,
        "hash": row.hash,
    }


@dataclass(frozen=True, slots=True)
class Export:
    """What an export holds."""

    rows: list[AuditRow]
    manifests: list[AuditManifest]
    since: str
    """The entry id it starts after ("" for the whole log: then `partial` is False)."""

    @property
    def partial(self) -> bool:
        """Whether it holds the log from a point on, not all of it."""
        return bool(self.since)


def since_position(since: str) -> str:
    """An `--since` value as an entry id to start after: an entry id as is, or an ISO-8601
    time (entry ids begin with their time in nanoseconds). ValueError otherwise."""
    if len(since) == 32 and all(c in "0123456789abcdef" for c in since):
        return since
    at = datetime.fromisoformat(since)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    return f"{at_micros(at) * 1000 - 1:016x}" + "f" * 16


def write_export(
    saver: AuditLog,
    out: IO[str],
    *,
    keys: Iterable[PublicKey] = (),
    since: str = "",
    page: int = 5000,
) -> int:
    """Write the log (the entries after the entry id `since`, or all) and every manifest to
    `out`; returns the number of entries."""
    header = {
        "type": "header",
        "format": FORMAT,
        "encoding": "interlock-audit-v1",
        "exported_at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "public_keys": [{"key_id": k.key_id, "pem": k.pem()} for k in keys],
        "since": since,
    }
    out.write(json.dumps(header) + "\n")
    count = 0
    for row in store_rows(saver, page=page, after=since):
        out.write(json.dumps(_entry(row), ensure_ascii=False) + "\n")
        count += 1
    after = ""
    while manifests := saver.list_audit_manifests(after=after, limit=page):
        for m in manifests:
            line = {"type": "manifest", "manifest_id": m.manifest_id, "body": m.body}
            line |= {"key_id": m.key_id, "signature": m.signature}
            out.write(json.dumps(line) + "\n")
        after = manifests[-1].manifest_id
    return count


def read_export(lines: Iterable[str]) -> Export:
    """The entries and manifests of an export. Raises ValueError, naming the line, for a
    line that is not part of an export."""
    rows: list[AuditRow] = []
    manifests: list[AuditManifest] = []
    since = ""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            kind = obj["type"]
            if kind == "header":
                if obj.get("format") != FORMAT:
                    raise ValueError(f"not an interlock audit export ({obj.get('format')!r})")
                since = str(obj.get("since") or "")
            elif kind == "entry":
                at = datetime.fromisoformat(obj["at"])
                if at_micros(at) != obj["at_us"]:
                    raise ValueError("at and at_us differ")
                rows.append(
                    AuditRow(
                        entry_id=obj["entry_id"],
                        at=at,
                        actor=obj["actor"],
                        action=obj["action"],
                        thread_id=obj["thread_id"],
                        interrupt_id=obj["interrupt_id"],
                        detail=obj["detail"],
                        seq=obj["seq"],
                        prev=obj["prev"],
                        hash=obj["hash"],
                    )
                )
            elif kind == "manifest":
                manifests.append(
                    AuditManifest(
                        manifest_id=obj["manifest_id"],
                        body=obj["body"],
                        key_id=obj["key_id"],
                        signature=obj["signature"],
                    )
                )
            else:
                raise ValueError(f"unknown line type {kind!r}")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"line {n} of the export: {exc}") from exc
    return Export(rows, manifests, since)
