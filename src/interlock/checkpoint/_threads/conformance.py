"""Threads (leases, summaries, retention, metadata and search): the part of the store
conformance suite for its room (`SaverConformance` includes every part).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from interlock.checkpoint._testkit import (
    StoreTests,
    fold,
    make_interrupt,
    make_record,
    record_fields,
)
from interlock.checkpoint._threads.search_conformance import ThreadSearchConformance
from interlock.checkpoint.base import (
    BaseSaver,
    CheckpointRecord,
    SnapshotPolicy,
    ThreadAudit,
)
from interlock.errors import SerializationError

__all__ = ["ThreadsConformance"]


class ThreadsConformance(ThreadSearchConformance, StoreTests):
    """Thread tests every store passes. Subclasses provide a `saver` fixture."""

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
            assert stored is not None and fold(stored)["n"] == records.index(
                next(r for r in records if r.checkpoint_id == cid)
            )

    def test_prune_old_checkpoints_of_some_threads_only(self, saver: BaseSaver) -> None:
        saver.policy = SnapshotPolicy(ratio=1.0, min_bytes=64, max_steps=4)  # type: ignore[attr-defined]
        trimmed = self._chain(saver, "trimmed", 12)
        self._chain(saver, "kept", 12)
        assert saver.prune(keep_last=1, thread_ids=[]) == 0
        assert saver.prune(keep_last=1, thread_ids=["trimmed", "nobody"]) > 0
        assert len(list(saver.list_checkpoints("kept"))) == 12
        remaining = [r.checkpoint_id for r in saver.list_checkpoints("trimmed")]
        assert 1 <= len(remaining) < 12 and remaining[0] == trimmed[-1].checkpoint_id
        stored = saver.get_checkpoint("trimmed")
        assert stored is not None and fold(stored)["n"] == 11

    def test_unknown_ids_read_as_none(self, saver: BaseSaver) -> None:
        self._chain(saver, "t", 2)
        assert saver.get_checkpoint("t", "", "f" * 32) is None
        assert saver.get_checkpoint("t", "other-ns") is None
        assert saver.get_checkpoint("nobody") is None
        assert saver.get_interrupt("nope") is None

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
        rec = CheckpointRecord(**{**record_fields(rec), "sends": (("worker", {"n": 1}),)})
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

    def test_a_fork_whose_base_was_pruned_is_stored_whole(self, saver: BaseSaver) -> None:
        records = self._chain(saver, "t", 40)
        old = records[3]
        assert saver.get_checkpoint("t", checkpoint_id=old.checkpoint_id) is not None
        saver.prune(keep_last=2)  # drops `old` and the snapshot it folds from
        child = make_record("t", old, [("n", 99)], {"n": 99})
        saver.put_checkpoint(child, expected_head=records[-1].checkpoint_id)
        stored = saver.get_checkpoint("t")
        assert stored is not None and stored.record.checkpoint_id == child.checkpoint_id
        assert fold(stored)["n"] == 99

    def test_thread_owners_and_a_persons_thread_list(self, saver: BaseSaver) -> None:
        assert saver.thread_owner("nobody") is None
        saver.set_thread_owner("new", "bob")  # before its first checkpoint
        assert saver.thread_owner("new") == "bob"
        assert saver.get_thread("new") is None  # no checkpoint yet: not listed
        saver.set_thread_owner("new", "eve")  # the first owner stays
        assert saver.thread_owner("new") == "bob"
        for thread in ("new", "mine", "theirs"):
            self._chain(saver, thread, 1)
        saver.set_thread_owner("mine", "bob")
        saver.set_thread_owner("theirs", "eve")
        bobs = [t.thread_id for t in saver.list_threads(owner="bob")]
        assert sorted(bobs) == ["mine", "new"]
        assert [t.thread_id for t in saver.list_threads(owner="bob", limit=1, offset=1)] == [
            bobs[1]
        ]
        assert [t.owner for t in saver.list_threads(owner="eve")] == ["eve"]
        assert saver.get_thread("mine").owner == "bob"  # type: ignore[union-attr]
        assert {t.thread_id for t in saver.list_threads()} >= {"new", "mine", "theirs"}
        saver.delete_thread("mine")
        assert saver.thread_owner("mine") is None
        assert [t.thread_id for t in saver.list_threads(owner="bob")] == ["new"]

    def test_a_deletion_writes_its_audit_entry_with_it(self, saver: BaseSaver) -> None:
        self._chain(saver, "gone", 1)
        self._chain(saver, "kept", 1)
        why = {"reason": "asked", "pending": []}
        saver.delete_thread("gone", audit=ThreadAudit(actor="bob", detail=why))
        saver.delete_thread("never")  # no entry asked: none written
        assert saver.get_thread("gone") is None
        (entry,) = saver.list_audit(thread_id="gone", limit=10).items
        assert (entry.action, entry.actor, entry.detail) == ("thread.deleted", "bob", why)
        assert not saver.list_audit(thread_id="never", limit=10).items
        assert saver.get_thread("kept") is not None

    def test_an_audit_entry_that_cannot_be_stored_deletes_nothing(self, saver: BaseSaver) -> None:
        self._chain(saver, "t", 1)
        with pytest.raises(SerializationError):
            saver.delete_thread("t", audit=ThreadAudit(actor="bob", detail={"x": object()}))
        assert saver.get_thread("t") is not None
        assert not saver.list_audit(thread_id="t", limit=10).items
