"""What the store conformance suite's parts share: record builders and a base class with the
`saver` fixture every part needs. Imports pytest; `import interlock` never imports it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from interlock.checkpoint.base import (
    BaseSaver,
    CheckpointRecord,
    InterruptRecord,
    Write,
)

__all__ = [
    "StoreTests",
    "fold",
    "make_interrupt",
    "make_record",
    "new_id",
    "record_fields",
    "without_values",
]


_counter = iter(range(1, 10**9))


def new_id() -> str:
    """A fresh 32-hex id, increasing within the process."""
    return f"{next(_counter):032x}"


def make_record(
    thread: str,
    parent: CheckpointRecord | None,
    writes: list[tuple[str, Any]],
    values: dict[str, Any],
    *,
    next_: tuple[str, ...] = ("node",),
    checkpoint_id: str | None = None,
) -> CheckpointRecord:
    """A checkpoint record after `parent` (test helper)."""
    return CheckpointRecord(
        thread_id=thread,
        checkpoint_id=checkpoint_id or new_id(),
        parent_id=parent.checkpoint_id if parent else None,
        step=(parent.step + 1) if parent else -1,
        created_at=datetime.now(UTC),
        source="loop" if parent else "input",
        writes=tuple(Write(node="node", channel=c, value=v) for c, v in writes),
        next=next_,
        metadata={"step": (parent.step + 1) if parent else -1},
        values=dict(values),
    )


def make_interrupt(thread: str, checkpoint_id: str, index: int = 0, **kw: Any) -> InterruptRecord:
    """A pending interrupt record (test helper)."""
    return InterruptRecord(
        interrupt_id=kw.pop("interrupt_id", new_id()),
        thread_id=thread,
        checkpoint_id=checkpoint_id,
        task_id=kw.pop("task_id", "task-1"),
        task_name="node",
        index=index,
        value=kw.pop("value", {"question": "ok?"}),
        created_at=kw.pop("created_at", datetime.now(UTC)),
        **kw,
    )


def fold(stored: Any) -> dict[str, Any]:
    values = dict(stored.base)
    for writes in stored.chain:
        for w in writes:
            if w.channel == "log":
                values["log"] = [*values.get("log", []), *w.value]
            else:
                values[w.channel] = w.value
    return values


def record_fields(record: CheckpointRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def without_values(record: CheckpointRecord) -> CheckpointRecord:
    return CheckpointRecord(**{**record_fields(record), "values": None})


class StoreTests:
    """The base of every part of the conformance suite: a `saver` fixture (overridden by
    the store's test class) and a helper that commits a chain of checkpoints."""

    @pytest.fixture
    def saver(self) -> BaseSaver:  # pragma: no cover - overridden
        pytest.fail("a conformance subclass must provide a `saver` fixture")

    def _chain(self, saver: BaseSaver, thread: str, steps: int) -> list[CheckpointRecord]:
        records: list[CheckpointRecord] = []
        log: list[str] = []
        parent = None
        for i in range(steps):
            log = [*log, f"m{i}"]
            rec = make_record(thread, parent, [("log", [f"m{i}"]), ("n", i)], {"log": log, "n": i})
            saver.put_checkpoint(rec, expected_head=parent.checkpoint_id if parent else None)
            records.append(rec)
            parent = rec
        return records
