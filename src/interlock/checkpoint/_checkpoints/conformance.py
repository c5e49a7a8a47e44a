"""Checkpoints and task writes: the part of the store conformance suite for
the checkpoints room (`SaverConformance` includes every part).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from interlock._types import Interrupt, Send
from interlock.checkpoint._testkit import (
    StoreTests,
    fold,
    make_interrupt,
    make_record,
    new_id,
    record_fields,
    without_values,
)
from interlock.checkpoint.base import (
    BaseSaver,
    CheckpointRecord,
    SnapshotPolicy,
    TaskWrites,
    Write,
)
from interlock.errors import ResumeConflict, SerializationError

__all__ = ["CheckpointConformance"]


class CheckpointConformance(StoreTests):
    """Checkpoint and task-write tests every store passes. Subclasses provide a `saver` fixture."""

    def test_round_trip_and_fold(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 40)
        stored = saver.get_checkpoint("t")
        assert stored is not None
        assert stored.record.checkpoint_id == records[-1].checkpoint_id
        assert stored.record.writes == records[-1].writes
        assert stored.record.metadata == {"step": 38}
        assert fold(stored) == {"log": [f"m{i}" for i in range(40)], "n": 39}
        middle = saver.get_checkpoint("t", "", records[10].checkpoint_id)
        assert middle is not None and fold(middle) == {
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
            assert fold(stored)["n"] == 11

    def test_forks_fold_along_the_parent_chain(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 5)
        fork = make_record(
            "t", records[1], [("log", ["fork"])], {"log": ["m0", "m1", "fork"], "n": 1}
        )
        saver.put_checkpoint(fork, expected_head=records[-1].checkpoint_id)
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == fork.checkpoint_id
        assert fold(stored)["log"] == ["m0", "m1", "fork"]

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
        assert fold(stored)["log"] == [f"m{i}" for i in range(60)]

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

    def test_every_record_field_round_trips(self, saver: BaseSaver) -> None:
        when = datetime(2026, 3, 4, 5, 6, 7, 890, tzinfo=UTC)
        rec = CheckpointRecord(
            thread_id="t",
            checkpoint_ns="",
            checkpoint_id=new_id(),
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
        assert stored.record == without_values(rec)
        assert stored.base == {"pair": (1, "two"), "bytes": b"\x00", "ids": {1, 2}}
        assert stored.chain == ()  # the first checkpoint is its own snapshot
        assert stored.base_id == rec.checkpoint_id
        [listed] = saver.list_checkpoints("t")
        assert listed == without_values(rec)

    def test_stored_state_cannot_be_mutated_through_objects(self, saver: BaseSaver) -> None:
        meta: dict[str, Any] = {"tags": ["a"]}
        values: dict[str, Any] = {"log": ["m0"]}
        rec = make_record("t", None, [("log", ["m0"])], values)
        rec = CheckpointRecord(**{**record_fields(rec), "metadata": meta, "values": values})
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
            rec = CheckpointRecord(**{**record_fields(rec), "values": {"log": log, "n": 100 + i}})
            saver.put_checkpoint(rec, expected_head=head.checkpoint_id)
            branch.append(rec)
            parent = head = rec
        tip = saver.get_checkpoint("t")
        assert tip is not None and tip.record.checkpoint_id == branch[-1].checkpoint_id
        assert fold(tip) == {"log": log, "n": 119}
        assert len(tip.chain) <= 4
        middle = saver.get_checkpoint("t", "", branch[9].checkpoint_id)
        assert middle is not None
        assert fold(middle)["log"] == [f"m{i}" for i in range(4)] + [f"f{i}" for i in range(10)]
        old = saver.get_checkpoint("t", "", main[-1].checkpoint_id)
        assert old is not None and fold(old)["log"] == [f"m{i}" for i in range(30)]
        # `after` on the other branch is not on this chain: the store returns a full fold
        across = saver.get_checkpoint("t", after=main[-2].checkpoint_id)
        assert across is not None and across.base_id != main[-2].checkpoint_id
        assert fold(across) == {"log": log, "n": 119}

    def test_namespaces_have_their_own_heads(self, saver: BaseSaver) -> None:
        root = self._chain(saver, "t", 2)
        sub = make_record("t", None, [("n", 1)], {"n": 1})
        sub = CheckpointRecord(**{**record_fields(sub), "checkpoint_ns": "child:1"})
        saver.put_checkpoint(sub, expected_head=None)
        with pytest.raises(ResumeConflict):
            saver.put_checkpoint(
                CheckpointRecord(
                    **{**record_fields(make_record("t", None, [], {})), "checkpoint_ns": "child:1"}
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

    def test_async_twins(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 3)

        async def main() -> None:
            stored = await saver.aget_checkpoint("t")
            assert stored is not None and fold(stored)["n"] == 2
            listed = await saver.alist_checkpoints("t", limit=2)
            assert [r.checkpoint_id for r in listed] == [
                r.checkpoint_id for r in reversed(records[-2:])
            ]
            assert await saver.aacquire_thread("t", "me", ttl=60)
            await saver.arelease_thread("t", "me")
            assert (await saver.aget_thread("t")) is not None

        asyncio.run(main())
