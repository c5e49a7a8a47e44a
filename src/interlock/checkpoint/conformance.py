"""The store conformance suite: what every `BaseSaver` must do, as pytest tests.

Use it for a store of your own::

    from interlock.checkpoint.conformance import SaverConformance

    class TestMyStore(SaverConformance):
        @pytest.fixture
        def saver(self):
            with MyStore(...) as s:
                yield s

The suite imports pytest only here; `import interlock` never imports this module.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.checkpoint.base import (
    BaseSaver,
    CheckpointRecord,
    InterruptRecord,
    SnapshotPolicy,
    TaskWrites,
    Write,
)
from interlock.errors import ResumeConflict, ResumeError, SerializationError

__all__ = ["SaverConformance", "make_record"]

_counter = iter(range(1, 10**9))


def _id() -> str:
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
        checkpoint_id=checkpoint_id or _id(),
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
        interrupt_id=kw.pop("interrupt_id", _id()),
        thread_id=thread,
        checkpoint_id=checkpoint_id,
        task_id=kw.pop("task_id", "task-1"),
        task_name="node",
        index=index,
        value=kw.pop("value", {"question": "ok?"}),
        created_at=kw.pop("created_at", datetime.now(UTC)),
        **kw,
    )


def _fold(stored: Any) -> dict[str, Any]:
    values = dict(stored.base)
    for writes in stored.chain:
        for w in writes:
            if w.channel == "log":
                values["log"] = [*values.get("log", []), *w.value]
            else:
                values[w.channel] = w.value
    return values


class SaverConformance:
    """Tests every store passes. Subclasses provide a `saver` fixture."""

    @pytest.fixture
    def saver(self) -> BaseSaver:  # pragma: no cover - overridden
        pytest.fail("a SaverConformance subclass must provide a `saver` fixture")

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

    # ---- checkpoints ---------------------------------------------------------------------

    def test_round_trip_and_fold(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 40)
        stored = saver.get_checkpoint("t")
        assert stored is not None
        assert stored.record.checkpoint_id == records[-1].checkpoint_id
        assert stored.record.writes == records[-1].writes
        assert stored.record.metadata == {"step": 38}
        assert _fold(stored) == {"log": [f"m{i}" for i in range(40)], "n": 39}
        middle = saver.get_checkpoint("t", "", records[10].checkpoint_id)
        assert middle is not None and _fold(middle) == {
            "log": [f"m{i}" for i in range(11)],
            "n": 10,
        }

    def test_incremental_read_after_a_known_checkpoint(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 12)
        stored = saver.get_checkpoint("t", after=records[9].checkpoint_id)
        assert stored is not None
        if stored.base_id == records[9].checkpoint_id:
            assert stored.base == {}
            assert [w[0].value for w in stored.chain] == [["m10"], ["m11"]]
        else:  # a store may ignore `after`, but must then return a full fold
            assert _fold(stored)["n"] == 11

    def test_forks_fold_along_the_parent_chain(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 5)
        fork = make_record(
            "t", records[1], [("log", ["fork"])], {"log": ["m0", "m1", "fork"], "n": 1}
        )
        saver.put_checkpoint(fork, expected_head=records[-1].checkpoint_id)
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == fork.checkpoint_id
        assert _fold(stored)["log"] == ["m0", "m1", "fork"]

    def test_compare_and_swap_on_the_head(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 2)
        stale = make_record("t", records[0], [("n", 99)], {"n": 99})
        with pytest.raises(ResumeConflict):
            saver.put_checkpoint(stale, expected_head=records[0].checkpoint_id)
        with pytest.raises(ResumeConflict):
            saver.put_checkpoint(make_record("t", None, [], {}), expected_head=None)
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == records[1].checkpoint_id

    def test_unserialisable_values_write_nothing(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 1)
        bad = make_record("t", records[0], [("n", {"x": object()})], {"n": 1})
        with pytest.raises(SerializationError, match="x"):
            saver.put_checkpoint(bad, expected_head=records[0].checkpoint_id)
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == records[0].checkpoint_id
        assert len(list(saver.list_checkpoints("t"))) == 1

    def test_list_checkpoints_newest_first_with_before_and_limit(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 6)
        ids = [r.checkpoint_id for r in saver.list_checkpoints("t")]
        assert ids == [r.checkpoint_id for r in reversed(records)]
        page = list(saver.list_checkpoints("t", before=ids[1], limit=2))
        assert [r.checkpoint_id for r in page] == ids[2:4]
        assert list(saver.list_checkpoints("nobody")) == []

    def test_snapshots_keep_storage_bounded(self, saver: BaseSaver) -> None:
        saver.policy = SnapshotPolicy(ratio=1.0, min_bytes=64, max_steps=8)  # type: ignore[attr-defined]
        self._chain(saver, "t", 60)
        stored = saver.get_checkpoint("t")
        assert stored is not None
        assert len(stored.chain) <= 8
        assert _fold(stored)["log"] == [f"m{i}" for i in range(60)]

    # ---- incomplete steps ----------------------------------------------------------------

    def test_task_writes_replace_per_task(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        first = TaskWrites(task_id="a", task_name="node", writes=(("n", 1),))
        saver.put_task_writes("t", "", rec.checkpoint_id, [first])
        saver.put_task_writes(
            "t",
            "",
            rec.checkpoint_id,
            [
                TaskWrites(task_id="a", task_name="node", writes=(("n", 2), ("__done__", True))),
                TaskWrites(task_id="b", task_name="other", writes=(("m", [1, 2]),)),
            ],
        )
        stored = saver.get_checkpoint("t")
        assert stored is not None
        by_id = {t.task_id: t for t in stored.task_writes}
        assert by_id["a"].writes == (("n", 2), ("__done__", True))
        assert by_id["b"].writes == (("m", [1, 2]),)

    # ---- interrupts ----------------------------------------------------------------------

    def test_interrupts_resolve_exactly_once(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        intr = make_interrupt("t", rec.checkpoint_id)
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [intr])
        with pytest.raises(ResumeError):
            saver.resolve_interrupts("t", {"missing": 1})
        with pytest.raises(ResumeError):
            saver.resolve_interrupts("other-thread", {intr.interrupt_id: 1})
        [done] = saver.resolve_interrupts("t", {intr.interrupt_id: {"ok": True}}, decided_by="ada")
        assert done.status == "resolved" and done.resume == {"ok": True}
        assert done.decided_by == "ada" and done.decided_at is not None
        with pytest.raises(ResumeConflict):
            saver.resolve_interrupts("t", {intr.interrupt_id: 2})
        assert saver.get_interrupt(intr.interrupt_id).resume == {"ok": True}  # type: ignore[union-attr]

    def test_resolve_is_all_or_nothing(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        a, b = make_interrupt("t", rec.checkpoint_id), make_interrupt("t", rec.checkpoint_id, 1)
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [a, b])
        saver.resolve_interrupts("t", {b.interrupt_id: 1})
        with pytest.raises(ResumeConflict):
            saver.resolve_interrupts("t", {a.interrupt_id: 1, b.interrupt_id: 2})
        assert saver.get_interrupt(a.interrupt_id).status == "pending"  # type: ignore[union-attr]

    def test_racing_resolves_have_one_winner(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        intr = make_interrupt("t", rec.checkpoint_id)
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [intr])
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def race(i: int) -> None:
            barrier.wait()
            try:
                saver.resolve_interrupts("t", {intr.interrupt_id: i})
                outcomes.append("won")
            except ResumeConflict:
                outcomes.append("lost")

        threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["lost"] * 7 + ["won"]

    def test_list_interrupts_pages_and_filters(self, saver: BaseSaver) -> None:
        base = datetime.now(UTC)
        for n in range(5):
            [rec] = self._chain(saver, f"t{n}", 1)
            saver.put_task_writes(
                f"t{n}",
                "",
                rec.checkpoint_id,
                [],
                [
                    make_interrupt(
                        f"t{n}", rec.checkpoint_id, created_at=base + timedelta(seconds=n)
                    )
                ],
            )
        first = saver.list_interrupts(limit=2)
        assert [i.thread_id for i in first.items] == ["t0", "t1"]
        assert first.next_cursor is not None
        second = saver.list_interrupts(limit=2, cursor=first.next_cursor)
        third = saver.list_interrupts(limit=2, cursor=second.next_cursor)
        assert [i.thread_id for i in second.items + third.items] == ["t2", "t3", "t4"]
        assert third.next_cursor is None
        only = saver.list_interrupts(thread_id="t3")
        assert [i.thread_id for i in only.items] == ["t3"]
        saver.resolve_interrupts("t3", {only.items[0].interrupt_id: 1})
        assert len(saver.list_interrupts().items) == 4
        assert [i.thread_id for i in saver.list_interrupts(status="resolved").items] == ["t3"]

    # ---- threads -------------------------------------------------------------------------

    def test_leases(self, saver: BaseSaver) -> None:
        assert saver.acquire_thread("t", "a", ttl=60)
        assert not saver.acquire_thread("t", "b", ttl=60)
        assert saver.acquire_thread("t", "a", ttl=60)  # renew
        saver.release_thread("t", "b")  # not the owner: no effect
        assert not saver.acquire_thread("t", "b", ttl=60)
        saver.release_thread("t", "a")
        assert saver.acquire_thread("t", "b", ttl=0.0)  # taken, and already expired
        assert saver.acquire_thread("t", "c", ttl=60)

    def test_thread_status_listing_and_delete(self, saver: BaseSaver) -> None:
        [done] = self._chain(saver, "done", 1)
        saver.put_checkpoint(
            make_record("done", done, [], {}, next_=()), expected_head=done.checkpoint_id
        )
        [waiting] = self._chain(saver, "waiting", 1)
        saver.put_task_writes(
            "waiting",
            "",
            waiting.checkpoint_id,
            [],
            [make_interrupt("waiting", waiting.checkpoint_id)],
        )
        self._chain(saver, "idle", 1)
        self._chain(saver, "busy", 1)
        assert saver.acquire_thread("busy", "me", ttl=60)
        status = {t.thread_id: t.status for t in saver.list_threads()}
        assert status == {
            "done": "finished",
            "waiting": "interrupted",
            "idle": "idle",
            "busy": "busy",
        }
        assert saver.get_thread("nobody") is None
        saver.delete_thread("waiting")
        assert saver.get_thread("waiting") is None
        assert saver.get_checkpoint("waiting") is None
        assert saver.list_interrupts(thread_id="waiting").items == ()

    def test_prune_finished_threads_and_old_checkpoints(self, saver: BaseSaver) -> None:
        saver.policy = SnapshotPolicy(ratio=1.0, min_bytes=64, max_steps=4)  # type: ignore[attr-defined]
        records = self._chain(saver, "long", 20)
        [done] = self._chain(saver, "done", 1)
        saver.put_checkpoint(
            make_record("done", done, [], {}, next_=()), expected_head=done.checkpoint_id
        )
        future = datetime.now(UTC) + timedelta(seconds=5)
        assert saver.prune(finished_before=future) == 2
        assert saver.get_thread("done") is None and saver.get_thread("long") is not None
        deleted = saver.prune(keep_last=3)
        assert deleted >= 10
        remaining = [r.checkpoint_id for r in saver.list_checkpoints("long")]
        assert remaining[:3] == [r.checkpoint_id for r in reversed(records[-3:])]
        for cid in remaining[:3]:
            stored = saver.get_checkpoint("long", "", cid)
            assert stored is not None and _fold(stored)["n"] == records.index(
                next(r for r in records if r.checkpoint_id == cid)
            )
