"""Storage planning shared by every store: when to keep a snapshot, and which rows a read
folds. Pure functions over small row summaries; the stores do the I/O."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from interlock.checkpoint import serde
from interlock.checkpoint._checkpoints.protocol import CheckpointRecord, SnapshotPolicy, Write

__all__ = [
    "EncodedRow",
    "RowStats",
    "chain_between",
    "decode_writes",
    "encode_record",
    "prunable",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RowStats:
    """What a store keeps per checkpoint to plan the next one."""

    base_id: str
    """The checkpoint holding the snapshot this one folds from (itself if it has one)."""
    bytes_since: int
    """Serialised bytes of writes since the base snapshot."""
    steps_since: int
    snapshot_bytes: int
    """Size of the base snapshot."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EncodedRow:
    """A checkpoint ready to insert."""

    writes: str
    snapshot: str | None
    stats: RowStats
    metadata: str
    next: str
    sends: str
    barriers: str


def encode_writes(writes: Iterable[Write]) -> str:
    """Writes as JSON: `[[node, channel, value], ...]`."""
    return serde.dumps([[w.node, w.channel, w.value] for w in writes], "writes")


def decode_writes(text: str) -> tuple[Write, ...]:
    """Inverse of `encode_writes`."""
    return tuple(Write(node=n, channel=c, value=v) for n, c, v in serde.loads(text))


def encode_record(
    record: CheckpointRecord, parent: RowStats | None, policy: SnapshotPolicy
) -> EncodedRow:
    """Serialise a record and decide whether it carries a snapshot.

    Raises `SerializationError` (with the key path) before the caller writes anything.
    """
    writes = serde.dumps([[w.node, w.channel, w.value] for w in record.writes], "writes")
    metadata = serde.dumps(dict(record.metadata), "metadata")
    nxt = serde.dumps(list(record.next), "next")
    sends = serde.dumps([[n, a] for n, a in record.sends], "sends")
    barriers = serde.dumps({k: list(v) for k, v in record.barriers.items()}, "barriers")
    snapshot: str | None = None
    if parent is None:
        take = True
    else:
        take = record.values is not None and policy.wants_snapshot(
            bytes_since=parent.bytes_since + len(writes),
            steps_since=parent.steps_since + 1,
            snapshot_bytes=parent.snapshot_bytes,
        )
    if take:
        snapshot = serde.dumps(dict(record.values or {}), "values")
        stats = RowStats(
            base_id=record.checkpoint_id, bytes_since=0, steps_since=0, snapshot_bytes=len(snapshot)
        )
    else:
        assert parent is not None
        stats = RowStats(
            base_id=parent.base_id,
            bytes_since=parent.bytes_since + len(writes),
            steps_since=parent.steps_since + 1,
            snapshot_bytes=parent.snapshot_bytes,
        )
    return EncodedRow(
        writes=writes,
        snapshot=snapshot,
        stats=stats,
        metadata=metadata,
        next=nxt,
        sends=sends,
        barriers=barriers,
    )


def chain_between(
    target_id: str,
    base_id: str,
    after: str | None,
    parent_of: Callable[[str], str | None],
) -> tuple[str, list[str]]:
    """Walk parents from `target_id` back to its base (or to `after` if met first).

    Returns `(start_id, ids)`: `start_id` is the checkpoint whose state the fold starts from
    (`after` or `base_id`), `ids` the checkpoints whose writes follow it, oldest first.
    """
    ids: list[str] = []
    current: str | None = target_id
    while current is not None:
        if current in (after, base_id):
            ids.reverse()
            return current, ids
        ids.append(current)
        current = parent_of(current)
    raise LookupError(f"checkpoint {target_id} does not reach its base {base_id}")


def decode_record(
    *,
    thread_id: str,
    checkpoint_ns: str,
    checkpoint_id: str,
    parent_id: str | None,
    step: int,
    created_at: Any,
    source: str,
    writes: str,
    next: str,
    sends: str,
    barriers: str,
    metadata: str,
) -> CheckpointRecord:
    """A record from its stored columns (`values` omitted)."""
    return CheckpointRecord(
        thread_id=thread_id,
        checkpoint_ns=checkpoint_ns,
        checkpoint_id=checkpoint_id,
        parent_id=parent_id,
        step=step,
        created_at=created_at,
        source=source,
        writes=decode_writes(writes),
        next=tuple(serde.loads(next)),
        sends=tuple((n, a) for n, a in serde.loads(sends)),
        barriers={k: tuple(v) for k, v in serde.loads(barriers).items()},
        metadata=serde.loads(metadata),
    )


def prunable(rows: Sequence[Sequence[Any]], keep_last: int) -> list[tuple[str, str, str]]:
    """The checkpoints to delete so that each chain keeps its last `keep_last` and what they
    need to be read; `rows` are (thread, namespace, id, parent, base) of every checkpoint."""
    by_chain: dict[tuple[str, str], dict[str, tuple[str | None, str]]] = {}
    for thread_id, ns, cid, parent, base in rows:
        by_chain.setdefault((thread_id, ns), {})[cid] = (parent, base)
    doomed = []
    for (thread_id, ns), items in by_chain.items():
        ids = sorted(items)
        keep = set(ids[-keep_last:]) if keep_last > 0 else set()
        for cid in list(keep):
            current: str | None = cid
            base = items[cid][1]
            while current is not None and current in items:
                keep.add(current)
                if current == base:
                    break
                current = items[current][0]
        doomed += [(thread_id, ns, cid) for cid in ids if cid not in keep]
    return doomed
