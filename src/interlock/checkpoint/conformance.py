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

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.checkpoint.base import (
    AuditEntry,
    BaseSaver,
    CheckpointRecord,
    InterruptRecord,
    SnapshotPolicy,
    TaskWrites,
    Write,
)
from interlock.checkpoint.conformance_runs import RunQueueConformance
from interlock.errors import ResumeConflict, ResumeError, SerializationError
from interlock.types import Interrupt, Send

__all__ = ["SaverConformance", "make_interrupt", "make_record"]

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


class SaverConformance(RunQueueConformance):
    """Tests every store passes (the run queue's too). Subclasses provide a `saver` fixture."""

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

    def test_list_interrupts_due_before_a_deadline(self, saver: BaseSaver) -> None:
        base = datetime(2030, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
        deadlines = [None, base - timedelta(minutes=1), base, base + timedelta(minutes=1)]
        ids = []
        for n, deadline in enumerate(deadlines):
            [rec] = self._chain(saver, f"d{n}", 1)
            intr = make_interrupt(f"d{n}", rec.checkpoint_id, deadline=deadline)
            saver.put_task_writes(f"d{n}", "", rec.checkpoint_id, [], [intr])
            ids.append(intr.interrupt_id)
        due = saver.list_interrupts(due_before=base)
        assert sorted(i.interrupt_id for i in due.items) == sorted(ids[1:3])  # at or before
        assert {i.deadline for i in due.items} == {base - timedelta(minutes=1), base}
        saver.resolve_interrupts("d1", {ids[1]: "late but decided"})
        assert [i.interrupt_id for i in saver.list_interrupts(due_before=base).items] == [ids[2]]
        everything = saver.list_interrupts(status=None, due_before=base + timedelta(days=1))
        assert len(everything.items) == 3

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

    # ---- more checkpoint semantics -------------------------------------------------------

    def test_every_record_field_round_trips(self, saver: BaseSaver) -> None:
        when = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
        rec = CheckpointRecord(
            thread_id="t",
            checkpoint_ns="",
            checkpoint_id=_id(),
            parent_id=None,
            step=-1,
            created_at=when,
            source="input",
            writes=(
                Write(node="__input__", channel="pair", value=(1, "two")),
                Write(node="__input__", channel="when", value=when),
                Write(node="__input__", channel="ask", value=Interrupt(value={"q": 1}, id="i")),
            ),
            next=("a", "b"),
            sends=(("worker", {"job": (1, 2)}), ("worker", Send("x", 1))),
            barriers={"join": ("a",)},
            metadata={"source": "input", "tags": ["x"], "n": 1.5},
            values={"pair": (1, "two"), "bytes": b"\x00", "ids": {1, 2}},
        )
        saver.put_checkpoint(rec, expected_head=None)
        stored = saver.get_checkpoint("t", "", rec.checkpoint_id)
        assert stored is not None
        assert stored.record == _without_values(rec)
        assert stored.base == {"pair": (1, "two"), "bytes": b"\x00", "ids": {1, 2}}
        assert stored.chain == ()  # the first checkpoint is its own snapshot
        assert stored.base_id == rec.checkpoint_id
        [listed] = saver.list_checkpoints("t")
        assert listed == _without_values(rec)

    def test_stored_state_cannot_be_mutated_through_objects(self, saver: BaseSaver) -> None:
        meta: dict[str, Any] = {"tags": ["a"]}
        values: dict[str, Any] = {"log": ["m0"]}
        rec = make_record("t", None, [("log", ["m0"])], values)
        rec = CheckpointRecord(**{**_fields(rec), "metadata": meta, "values": values})
        saver.put_checkpoint(rec, expected_head=None)
        meta["tags"].append("changed")
        values["log"].append("changed")
        first = saver.get_checkpoint("t")
        assert first is not None
        first.record.metadata["tags"].append("reader")
        first.base["log"].append("reader")
        first.record.writes[0].value.append("reader")
        again = saver.get_checkpoint("t")
        assert again is not None
        assert again.record.metadata == {"tags": ["a"]}
        assert again.base == {"log": ["m0"]}
        assert again.record.writes[0].value == ["m0"]

    def test_unknown_ids_read_as_none(self, saver: BaseSaver) -> None:
        self._chain(saver, "t", 2)
        assert saver.get_checkpoint("t", "", "f" * 32) is None
        assert saver.get_checkpoint("t", "other-ns") is None
        assert saver.get_checkpoint("nobody") is None
        assert saver.get_interrupt("nope") is None

    def test_forks_before_a_snapshot_fold_on_their_own_branch(self, saver: BaseSaver) -> None:
        saver.policy = SnapshotPolicy(ratio=1.0, min_bytes=64, max_steps=4)  # type: ignore[attr-defined]
        main = self._chain(saver, "t", 30)
        head = main[-1]
        parent = main[3]
        branch: list[CheckpointRecord] = []
        log = [f"m{i}" for i in range(4)]
        for i in range(20):
            log = [*log, f"f{i}"]
            rec = make_record("t", parent, [("log", [f"f{i}"]), ("n", 100 + i)], {"log": log})
            rec = CheckpointRecord(**{**_fields(rec), "values": {"log": log, "n": 100 + i}})
            saver.put_checkpoint(rec, expected_head=head.checkpoint_id)
            branch.append(rec)
            parent = head = rec
        tip = saver.get_checkpoint("t")
        assert tip is not None and tip.record.checkpoint_id == branch[-1].checkpoint_id
        assert _fold(tip) == {"log": log, "n": 119}
        assert len(tip.chain) <= 4
        middle = saver.get_checkpoint("t", "", branch[9].checkpoint_id)
        assert middle is not None
        assert _fold(middle)["log"] == [f"m{i}" for i in range(4)] + [f"f{i}" for i in range(10)]
        old = saver.get_checkpoint("t", "", main[-1].checkpoint_id)
        assert old is not None and _fold(old)["log"] == [f"m{i}" for i in range(30)]
        # `after` on the other branch is not on this chain: the store returns a full fold
        across = saver.get_checkpoint("t", after=main[-2].checkpoint_id)
        assert across is not None and across.base_id != main[-2].checkpoint_id
        assert _fold(across) == {"log": log, "n": 119}

    def test_namespaces_have_their_own_heads(self, saver: BaseSaver) -> None:
        root = self._chain(saver, "t", 2)
        sub = make_record("t", None, [("n", 1)], {"n": 1})
        sub = CheckpointRecord(**{**_fields(sub), "checkpoint_ns": "child:1"})
        saver.put_checkpoint(sub, expected_head=None)
        with pytest.raises(ResumeConflict):
            saver.put_checkpoint(
                CheckpointRecord(
                    **{**_fields(make_record("t", None, [], {})), "checkpoint_ns": "child:1"}
                ),
                expected_head=None,
            )
        root_head = saver.get_checkpoint("t")
        sub_head = saver.get_checkpoint("t", "child:1")
        assert root_head is not None and root_head.record.checkpoint_id == root[-1].checkpoint_id
        assert sub_head is not None and sub_head.record.checkpoint_id == sub.checkpoint_id
        assert [r.checkpoint_id for r in saver.list_checkpoints("t", "child:1")] == [
            sub.checkpoint_id
        ]
        info = saver.get_thread("t")
        assert info is not None and info.head_id == root[-1].checkpoint_id
        saver.delete_thread("t")
        assert saver.get_checkpoint("t", "child:1") is None
        assert list(saver.list_checkpoints("t", "child:1")) == []
        fresh = make_record("t", None, [], {})
        saver.put_checkpoint(fresh, expected_head=None)  # a deleted thread starts afresh
        assert saver.get_checkpoint("t") is not None

    # ---- more on incomplete steps and interrupts -----------------------------------------

    def test_task_writes_belong_to_their_checkpoint(self, saver: BaseSaver) -> None:
        first, _second = self._chain(saver, "t", 2)
        saver.put_task_writes(
            "t", "", first.checkpoint_id, [TaskWrites(task_id="a", task_name="n", writes=())]
        )
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.task_writes == ()
        old = saver.get_checkpoint("t", "", first.checkpoint_id)
        assert old is not None and [t.task_id for t in old.task_writes] == ["a"]

    def test_unserialisable_task_writes_or_interrupts_write_nothing(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        good = TaskWrites(task_id="a", task_name="n", writes=(("x", 1),))
        bad = TaskWrites(task_id="b", task_name="n", writes=(("x", {"fn": object()}),))
        intr = make_interrupt("t", rec.checkpoint_id)
        with pytest.raises(SerializationError):
            saver.put_task_writes("t", "", rec.checkpoint_id, [good, bad], [intr])
        with pytest.raises(SerializationError, match="q"):
            saver.put_task_writes(
                "t",
                "",
                rec.checkpoint_id,
                [good],
                [make_interrupt("t", rec.checkpoint_id, value={"q": object()})],
            )
        nxt = make_record("t", rec, [("n", 1)], {"n": 1})
        with pytest.raises(SerializationError):
            saver.put_checkpoint(
                nxt,
                expected_head=rec.checkpoint_id,
                interrupts=[make_interrupt("t", nxt.checkpoint_id, value=object())],
            )
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == rec.checkpoint_id
        assert stored.task_writes == () and stored.interrupts == ()
        assert saver.list_interrupts(status=None).items == ()

    def test_interrupts_saved_with_a_checkpoint_read_back_in_order(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        nxt = make_record("t", rec, [("n", 1)], {"n": 1})
        deadline = datetime(2030, 1, 1, tzinfo=UTC)
        b0 = make_interrupt("t", nxt.checkpoint_id, 0, task_id="b", kind="breakpoint")
        a1 = make_interrupt("t", nxt.checkpoint_id, 1, task_id="a", value=("tuple", 1))
        a0 = make_interrupt(
            "t", nxt.checkpoint_id, 0, task_id="a", deadline=deadline, metadata={"who": "ops"}
        )
        saver.put_checkpoint(nxt, expected_head=rec.checkpoint_id, interrupts=[b0, a1, a0])
        stored = saver.get_checkpoint("t")
        assert stored is not None
        assert [i.interrupt_id for i in stored.interrupts] == [
            a0.interrupt_id,
            a1.interrupt_id,
            b0.interrupt_id,
        ]
        assert stored.interrupts[0] == a0
        assert stored.interrupts[1].value == ("tuple", 1)
        assert stored.interrupts[2].kind == "breakpoint"
        info = saver.get_thread("t")
        assert info is not None and info.status == "interrupted"
        decided = saver.resolve_interrupts(
            "t", {a0.interrupt_id: None, a1.interrupt_id: {"x": 1}}, status="expired"
        )
        assert [d.status for d in decided] == ["expired", "expired"]
        assert decided[1].resume == {"x": 1}
        saver.resolve_interrupts("t", {b0.interrupt_id: True})
        info = saver.get_thread("t")
        assert info is not None and info.status == "idle"
        again = saver.get_checkpoint("t")
        assert again is not None and [i.status for i in again.interrupts] == [
            "expired",
            "expired",
            "resolved",
        ]

    def test_list_interrupts_breaks_time_ties_by_id(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        at = datetime(2026, 1, 1, tzinfo=UTC)
        ids = [f"i{n}" for n in range(5)]
        saver.put_task_writes(
            "t",
            "",
            rec.checkpoint_id,
            [],
            [
                make_interrupt("t", rec.checkpoint_id, n, interrupt_id=iid, created_at=at)
                for n, iid in reversed(list(enumerate(ids)))
            ],
        )
        seen: list[str] = []
        cursor = None
        for _ in range(5):
            page = saver.list_interrupts(thread_id="t", limit=2, cursor=cursor)
            seen += [i.interrupt_id for i in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == ids
        assert saver.list_interrupts(status=None, thread_id="nobody").items == ()

    # ---- more on threads -----------------------------------------------------------------

    def test_leases_are_renewed_and_given_back_by_writes(self, saver: BaseSaver) -> None:
        assert saver.acquire_thread("t", "a", ttl=60)  # before the thread has a checkpoint
        assert saver.get_thread("t") is None
        first = make_record("t", None, [("n", 0)], {"n": 0})
        saver.put_checkpoint(first, expected_head=None, lease_owner="a")
        info = saver.get_thread("t")
        assert info is not None and info.status == "busy"
        saver.put_task_writes("t", "", first.checkpoint_id, [], lease_owner="b", release_lease=True)
        assert not saver.acquire_thread("t", "b", ttl=60)  # b never held it: a still does
        saver.put_task_writes("t", "", first.checkpoint_id, [], lease_owner="a", release_lease=True)
        assert saver.acquire_thread("t", "b", ttl=60)
        nxt = make_record("t", first, [("n", 1)], {"n": 1})
        saver.put_checkpoint(
            nxt, expected_head=first.checkpoint_id, lease_owner="b", release_lease=True
        )
        assert saver.acquire_thread("t", "c", ttl=60)
        saver.release_thread("t", "c")
        info = saver.get_thread("t")
        assert info is not None and info.status == "idle"

    def test_a_head_with_pending_sends_is_not_finished(self, saver: BaseSaver) -> None:
        [first] = self._chain(saver, "t", 1)
        rec = make_record("t", first, [], {}, next_=())
        rec = CheckpointRecord(**{**_fields(rec), "sends": (("worker", {"n": 1}),)})
        saver.put_checkpoint(rec, expected_head=first.checkpoint_id)
        info = saver.get_thread("t")
        assert info is not None and info.status == "idle"
        done = make_record("t", rec, [], {}, next_=())
        saver.put_checkpoint(done, expected_head=rec.checkpoint_id)
        info = saver.get_thread("t")
        assert info is not None and info.status == "finished"

    def test_list_threads_most_recent_first_with_paging(self, saver: BaseSaver) -> None:
        for name in ("a", "b", "c"):
            self._chain(saver, name, 1)
        [again] = list(saver.list_checkpoints("a"))
        saver.put_checkpoint(make_record("a", again, [], {}), expected_head=again.checkpoint_id)
        order = [t.thread_id for t in saver.list_threads()]
        assert order[0] == "a" and sorted(order) == ["a", "b", "c"]
        assert [t.thread_id for t in saver.list_threads(limit=2, offset=1)] == order[1:]
        info = saver.get_thread("a")
        assert info is not None and info.updated_at >= info.created_at

    def test_async_twins(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 3)

        async def main() -> None:
            stored = await saver.aget_checkpoint("t")
            assert stored is not None and _fold(stored)["n"] == 2
            listed = await saver.alist_checkpoints("t", limit=2)
            assert [r.checkpoint_id for r in listed] == [
                r.checkpoint_id for r in reversed(records[-2:])
            ]
            assert await saver.aacquire_thread("t", "me", ttl=60)
            await saver.arelease_thread("t", "me")
            assert (await saver.aget_thread("t")) is not None

        asyncio.run(main())

    def test_requests_and_decisions_are_in_the_audit_log(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        asked = make_interrupt(
            "t", rec.checkpoint_id, value={"pay": {"to", "bo"}}, metadata={"requested_by": "bob"}
        )
        other = make_interrupt("t", rec.checkpoint_id, 1)
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [asked, other])
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [asked])  # again: no new entry
        saver.resolve_interrupts("t", {asked.interrupt_id: {"ok": True}}, decided_by="ada")
        saver.resolve_interrupts("t", {other.interrupt_id: None}, status="expired")
        entries = list(reversed(saver.list_audit(thread_id="t").items))
        assert [(e.action, e.actor, e.interrupt_id) for e in entries] == [
            ("approval.requested", "bob", asked.interrupt_id),
            ("approval.requested", None, other.interrupt_id),
            ("approval.decided", "ada", asked.interrupt_id),
            ("approval.expired", None, other.interrupt_id),
        ]
        assert entries[0].detail == {"value": {"pay": {"to", "bo"}}}
        assert entries[2].detail == {"value": {"pay": {"to", "bo"}}, "decision": {"ok": True}}
        with pytest.raises(ResumeConflict):
            saver.resolve_interrupts("t", {asked.interrupt_id: 2}, decided_by="eve")
        assert len(saver.list_audit(thread_id="t").items) == 4  # a refused decision: no entry
        nxt = make_record("t", rec, [("n", 1)], {"n": 1})
        third = make_interrupt("t", nxt.checkpoint_id)
        saver.put_checkpoint(nxt, expected_head=rec.checkpoint_id, interrupts=[third])
        assert saver.list_audit(interrupt_id=third.interrupt_id).items[0].action == (
            "approval.requested"
        )

    def test_the_audit_log_can_be_tailed_with_a_leased_cursor(self, saver: BaseSaver) -> None:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        entries = saver.append_audit(
            [AuditEntry(at=at, actor="a", action=f"e{i}", thread_id="t") for i in range(5)]
        )
        ids = [e.entry_id for e in entries]
        first = saver.list_audit(after="", limit=2)
        assert [e.entry_id for e in first.items] == ids[:2]  # oldest first
        rest = saver.list_audit(after=first.next_cursor, limit=10)
        assert [e.entry_id for e in rest.items] == ids[2:] and rest.next_cursor is None
        assert saver.list_audit(after=ids[-1]).items == ()
        with pytest.raises(ValueError):
            saver.list_audit(after=ids[0], cursor=ids[1])

        assert saver.claim_cursor("hooks", "p1", ttl=60) == ""
        assert saver.claim_cursor("hooks", "p2", ttl=60) is None  # one tailer at a time
        assert saver.advance_cursor("hooks", "p1", ids[2], ttl=60)
        assert not saver.advance_cursor("hooks", "p2", ids[4], ttl=60)
        assert saver.claim_cursor("hooks", "p1", ttl=0) == ids[2]  # renewed, then expired
        assert saver.claim_cursor("hooks", "p2", ttl=60) == ids[2]  # taken over where it was
        assert not saver.advance_cursor("hooks", "p1", ids[4], ttl=60)
        assert saver.claim_cursor("other", "p1", ttl=60) == ""  # cursors are independent

    def test_task_writes_for_a_missing_checkpoint_write_nothing(self, saver: BaseSaver) -> None:
        # e.g. a mid-run checkpoint lost with a database restart: a pause must not be saved
        # against it (the request could never be answered)
        records = self._chain(saver, "t", 1)
        ghost = "f" * 32
        with pytest.raises(ResumeConflict, match="does not exist"):
            saver.put_task_writes(
                "t",
                "",
                ghost,
                [TaskWrites(task_id="k", task_name="n", writes=(("n", 1),))],
                [make_interrupt("t", ghost)],
                lease_owner="me",
                release_lease=True,
            )
        assert saver.list_interrupts(thread_id="t").items == ()
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == records[-1].checkpoint_id
        assert stored.task_writes == ()

    def test_a_fork_whose_base_was_pruned_is_stored_whole(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 40)
        old = records[3]
        assert saver.get_checkpoint("t", checkpoint_id=old.checkpoint_id) is not None
        saver.prune(keep_last=2)  # drops `old` and the snapshot it folds from
        child = make_record("t", old, [("n", 99)], {"n": 99})
        saver.put_checkpoint(child, expected_head=records[-1].checkpoint_id)
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == child.checkpoint_id
        assert _fold(stored)["n"] == 99

    def test_audit_log_appends_and_pages_newest_first(self, saver: BaseSaver) -> None:
        at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        first = saver.append_audit(
            [
                AuditEntry(at=at, actor="bob", action="thread.created", thread_id="t"),
                AuditEntry(
                    at=at,
                    actor="bob",
                    action="approval.requested",
                    thread_id="t",
                    interrupt_id="i1",
                    detail={"value": {"tool": "send", "to": {"ada", "bo"}}},
                ),
            ]
        )
        assert [len(e.entry_id) for e in first] == [32, 32]
        assert first[0].entry_id < first[1].entry_id  # time-ordered ids
        (decided,) = saver.append_audit(
            [
                AuditEntry(
                    at=at + timedelta(seconds=1),
                    actor="ada",
                    action="approval.decided",
                    thread_id="t",
                    interrupt_id="i1",
                    detail={"decision": {"type": "approve"}},
                )
            ]
        )
        saver.append_audit([AuditEntry(at=at, actor=None, action="thread.created", thread_id="u")])
        page = saver.list_audit(limit=3)
        assert [e.action for e in page.items] == [
            "thread.created",
            "approval.decided",
            "approval.requested",
        ]
        assert page.items[0].thread_id == "u" and page.items[0].actor is None
        assert page.items[1] == decided
        assert page.items[2].detail == {"value": {"tool": "send", "to": {"ada", "bo"}}}
        assert page.items[2].at == at
        rest = saver.list_audit(limit=3, cursor=page.next_cursor)
        assert [e.entry_id for e in rest.items] == [first[0].entry_id]
        assert rest.next_cursor is None
        assert [e.action for e in saver.list_audit(thread_id="t").items] == [
            "approval.decided",
            "approval.requested",
            "thread.created",
        ]
        assert len(saver.list_audit(interrupt_id="i1").items) == 2
        with pytest.raises(SerializationError):
            saver.append_audit(
                [
                    AuditEntry(at=at, actor="x", action="ok", thread_id="v"),
                    AuditEntry(at=at, actor="x", action="bad", detail={"f": object()}),
                ]
            )
        assert saver.list_audit(thread_id="v").items == ()  # all or nothing
        with pytest.raises(ValueError):
            saver.list_audit(cursor="not-a-cursor")
        saver.delete_thread("t")  # deleting a thread keeps its audit trail
        assert len(saver.list_audit(thread_id="t").items) == 3

        async def main() -> None:
            (entry,) = await saver.aappend_audit([AuditEntry(at=at, actor="a", action="x")])
            assert (await saver.alist_audit(limit=1)).items == (entry,)

        asyncio.run(main())


def _fields(record: CheckpointRecord) -> dict[str, Any]:
    return {name: getattr(record, name) for name in record.__dataclass_fields__}


def _without_values(record: CheckpointRecord) -> CheckpointRecord:
    return CheckpointRecord(**{**_fields(record), "values": None})
