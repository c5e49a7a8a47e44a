"""Votes: the part of the store conformance suite for its room (`SaverConformance`
includes every part)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from interlock.checkpoint._testkit import StoreTests, make_interrupt
from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.errors import ResumeConflict, ResumeError

__all__ = ["VotesConformance"]

APPROVE = {"type": "approve"}


class VotesConformance(StoreTests):
    """Vote tests every store passes. Subclasses provide a `saver` fixture."""

    def _quorum(self, saver: BaseSaver, thread: str = "t", n: int = 2) -> InterruptRecord:
        [rec] = self._chain(saver, thread, 1)
        intr = make_interrupt(thread, rec.checkpoint_id, metadata={"quorum": n})
        saver.put_task_writes(thread, "", rec.checkpoint_id, [], [intr])
        return intr

    def test_the_nth_approval_resolves_the_request(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver)
        first = saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        assert first.record.status == "pending" and first.tally.approvals == 1
        assert first.required == 2 and not first.tally.decided
        binding = {"digest": "d" * 64, "rule": ["ada", "bob"]}
        second = saver.cast_vote(
            "t", intr.interrupt_id, APPROVE, voter="bob", vote="approve", binding=binding
        )
        assert second.tally.decided and second.tally.approvals == 2
        assert second.record.status == "resolved" and second.record.resume == APPROVE
        assert second.record.decided_by == "bob"
        assert second.record.metadata["decision"] == binding
        assert second.record.metadata["quorum"] == 2  # the rest of the metadata is kept
        votes = saver.list_votes(intr.interrupt_id)
        assert [(v.voter, v.vote, v.seq) for v in votes] == [
            ("ada", "approve", 1),
            ("bob", "approve", 2),
        ]
        assert votes[0].answer == APPROVE and votes[0].digest == votes[1].digest
        actions = [e.action for e in saver.list_audit(interrupt_id=intr.interrupt_id).items]
        assert actions == [
            "approval.decided",
            "approval.voted",
            "approval.voted",
            "approval.requested",
        ]
        with pytest.raises(ResumeConflict):  # decided: no more votes
            saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="cy", vote="approve")

    def test_one_vote_per_person(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver)
        saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        with pytest.raises(ResumeConflict, match="already voted"):
            saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        assert len(saver.list_votes(intr.interrupt_id)) == 1
        assert saver.get_interrupt(intr.interrupt_id).status == "pending"  # type: ignore[union-attr]

    def test_a_reject_vetoes(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver, n=3)
        saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        no = {"type": "reject", "message": "no"}
        out = saver.cast_vote("t", intr.interrupt_id, no, voter="bob", vote="reject")
        assert out.tally.decided and out.record.status == "resolved"
        assert out.record.resume == no and out.record.decided_by == "bob"

    def test_an_edit_restarts_the_count(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver)
        edit = {"type": "edit", "args": {"amount": 5}}
        saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        out = saver.cast_vote("t", intr.interrupt_id, edit, voter="bob", vote="edit")
        assert not out.tally.decided and out.tally.approvals == 1 and out.tally.proposal == 1
        other = {"type": "edit", "args": {"amount": 6}}
        out = saver.cast_vote("t", intr.interrupt_id, other, voter="cy", vote="edit")
        assert not out.tally.decided and out.tally.proposal == 2  # other arguments: restart
        out = saver.cast_vote("t", intr.interrupt_id, other, voter="ada", vote="edit")
        assert out.tally.decided and out.record.resume == other  # ada may vote again

    def test_votes_before_a_reopen_no_longer_count(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver)
        saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="bob", vote="approve")
        saver.reopen_interrupt(intr.interrupt_id, reason="the question changed", value={"q": 2})
        out = saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        assert out.tally.approvals == 1 and out.record.status == "pending"
        assert [v.epoch for v in saver.list_votes(intr.interrupt_id)] == [0, 0, 1]

    def test_unknown_requests_and_threads(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver)
        with pytest.raises(ResumeError):
            saver.cast_vote("t", "0" * 32, APPROVE, voter="ada", vote="approve")
        with pytest.raises(ResumeError):
            saver.cast_vote("other", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        assert saver.list_votes(intr.interrupt_id) == ()

    def test_racing_votes_decide_exactly_once(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver, n=2)
        barrier = threading.Barrier(6)
        outcomes: list[Any] = []

        def vote(name: str) -> None:
            barrier.wait()
            try:
                out = saver.cast_vote("t", intr.interrupt_id, APPROVE, voter=name, vote="approve")
                outcomes.append(out.tally.decided)
            except ResumeConflict:
                outcomes.append("late")

        threads = [threading.Thread(target=vote, args=(f"p{i}",)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(map(str, outcomes)) == ["False", "True"] + ["late"] * 4
        assert len(saver.list_votes(intr.interrupt_id)) == 2
        decided = [
            e
            for e in saver.list_audit(interrupt_id=intr.interrupt_id).items
            if e.action == "approval.decided"
        ]
        assert len(decided) == 1

    def test_deleting_a_thread_forgets_its_votes(self, saver: BaseSaver) -> None:
        intr = self._quorum(saver)
        saver.cast_vote("t", intr.interrupt_id, APPROVE, voter="ada", vote="approve")
        saver.delete_thread("t")
        assert saver.list_votes(intr.interrupt_id) == ()
