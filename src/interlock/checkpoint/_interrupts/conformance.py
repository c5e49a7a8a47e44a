"""The interrupt index: the part of the store conformance suite for its room
(`SaverConformance` includes every part). Requests are stored through checkpoint writes.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from interlock.checkpoint._testkit import (
    StoreTests,
    make_interrupt,
)
from interlock.checkpoint.base import BaseSaver, InterruptRecord
from interlock.errors import ResumeConflict, ResumeError

__all__ = ["InterruptIndexConformance"]


class InterruptIndexConformance(StoreTests):
    """Interrupt-index tests every store passes. Subclasses provide a `saver` fixture."""

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

    def test_reopen_withdraws_a_decision_once_and_audits_it(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        intr = make_interrupt("t", rec.checkpoint_id, metadata={"requested_by": "bob"})
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [intr])
        assert saver.reopen_interrupt(intr.interrupt_id, reason="not decided") is None
        saver.resolve_interrupts("t", {intr.interrupt_id: "yes"}, decided_by="ada")
        again = saver.reopen_interrupt(intr.interrupt_id, reason="question changed", by="w1")
        assert again is not None and again.status == "pending"
        assert again.resume is None and again.decided_by is None and again.decided_at is None
        assert again.value == intr.value and again.metadata["requested_by"] == "bob"
        note = again.metadata["reopened"]
        assert note["reason"] == "question changed" and note["by"] == "w1"
        assert note["decision"] == "yes" and note["decided_by"] == "ada"
        assert note["status"] == "resolved" and note["count"] == 1
        assert saver.reopen_interrupt(intr.interrupt_id, reason="twice") is None  # once
        assert [i.interrupt_id for i in saver.list_interrupts().items] == [intr.interrupt_id]
        [entry, *_] = saver.list_audit(interrupt_id=intr.interrupt_id).items
        assert entry.action == "approval.reopened" and entry.actor == "w1"
        assert entry.detail["reason"] == "question changed"
        assert entry.detail["withdrawn"] == {"status": "resolved", "decision": "yes"}
        [done] = saver.resolve_interrupts("t", {intr.interrupt_id: "no"}, decided_by="cy")
        assert done.resume == "no" and done.decided_by == "cy"  # answerable again, once
        with pytest.raises(ResumeConflict):
            saver.resolve_interrupts("t", {intr.interrupt_id: "again"})

    def test_reopen_may_replace_the_question_and_checks_the_status(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        intr = make_interrupt("t", rec.checkpoint_id)
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [intr])
        saver.resolve_interrupts("t", {intr.interrupt_id: None}, status="expired")
        assert saver.reopen_interrupt(intr.interrupt_id, reason="r") is None  # not resolved
        got = saver.reopen_interrupt(
            intr.interrupt_id, reason="late", expected_status="expired", value={"q": 2}
        )
        assert got is not None and got.value == {"q": 2}
        assert saver.get_interrupt(intr.interrupt_id).value == {"q": 2}  # type: ignore[union-attr]
        [entry, *_] = saver.list_audit(interrupt_id=intr.interrupt_id).items
        assert entry.detail["previous_value"] == intr.value and entry.detail["value"] == {"q": 2}
        assert saver.reopen_interrupt("unknown", reason="r") is None

    def test_racing_reopens_have_one_winner(self, saver: BaseSaver) -> None:
        [rec] = self._chain(saver, "t", 1)
        intr = make_interrupt("t", rec.checkpoint_id)
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [intr])
        saver.resolve_interrupts("t", {intr.interrupt_id: 1})
        barrier = threading.Barrier(6)
        won: list[bool] = []

        def race(i: int) -> None:
            barrier.wait()
            won.append(saver.reopen_interrupt(intr.interrupt_id, reason=f"r{i}") is not None)

        threads = [threading.Thread(target=race, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(won) == [False] * 5 + [True]

    def _ask(
        self, saver: BaseSaver, thread: str, n: int, at: datetime, **metadata: Any
    ) -> InterruptRecord:
        [rec] = self._chain(saver, thread, 1)
        intr = make_interrupt(
            thread, rec.checkpoint_id, created_at=at + timedelta(seconds=n), metadata=metadata
        )
        saver.put_task_writes(thread, "", rec.checkpoint_id, [], [intr])
        return intr

    def test_list_interrupts_filters_by_agent_requester_and_approvers(
        self, saver: BaseSaver
    ) -> None:
        at = datetime(2026, 3, 1, tzinfo=UTC)
        a = self._ask(saver, "a", 0, at, graph="pay", requested_by="bob", approvers=["ada"])
        b = self._ask(saver, "b", 1, at, graph="pay", requested_by="ada")  # no rule: anyone
        c = self._ask(saver, "c", 2, at, graph="ship", requested_by="bob", approvers=["role:ops"])
        d = self._ask(saver, "d", 3, at, graph="ship", approvers=["group:fin", "ada", "role:ops"])
        e = self._ask(saver, "e", 4, at, graph="pay", approvers="ada")  # odd shape: admins only

        def ids(**kw: Any) -> list[str]:
            return [i.interrupt_id for i in saver.list_interrupts(**kw).items]

        assert ids(agent="pay") == [a.interrupt_id, b.interrupt_id, e.interrupt_id]
        assert ids(agent="nobody") == []
        assert ids(requested_by="bob") == [a.interrupt_id, c.interrupt_id]
        assert ids(agent="ship", requested_by="bob") == [c.interrupt_id]
        ada = ["ada", "role:approver", "*"]
        assert ids(eligible=ada) == [a.interrupt_id, b.interrupt_id, d.interrupt_id]
        assert ids(eligible=ada, not_requested_by="ada") == [a.interrupt_id, d.interrupt_id]
        assert ids(eligible=["role:ops"]) == [c.interrupt_id, d.interrupt_id]
        assert ids(eligible=["group:fin", "role:ops"], agent="ship") == [
            c.interrupt_id,
            d.interrupt_id,
        ]  # two principals of one request: listed once
        assert ids(eligible=[]) == []
        with pytest.raises(ValueError, match="pending"):
            saver.list_interrupts(status="resolved", eligible=ada)
        first = saver.list_interrupts(eligible=ada, limit=2)  # pages follow each other
        assert [i.interrupt_id for i in first.items] == [a.interrupt_id, b.interrupt_id]
        rest = saver.list_interrupts(eligible=ada, limit=2, cursor=first.next_cursor)
        assert [i.interrupt_id for i in rest.items] == [d.interrupt_id]
        assert rest.next_cursor is None

    def test_the_approvers_filter_follows_decisions_escalations_reopens_and_deletes(
        self, saver: BaseSaver
    ) -> None:
        at = datetime(2026, 3, 1, tzinfo=UTC)
        deadline = at + timedelta(hours=1)
        [rec] = self._chain(saver, "t", 1)
        intr = make_interrupt(
            "t",
            rec.checkpoint_id,
            created_at=at,
            deadline=deadline,
            metadata={"approvers": ["ada"]},
        )
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [intr])
        self._ask(saver, "u", 5, at, approvers=["ada"])

        def mine(who: str) -> list[str]:
            return [i.thread_id for i in saver.list_interrupts(eligible=[who]).items]

        assert mine("ada") == ["t", "u"] and mine("cy") == []
        saver.escalate_interrupt(
            intr.interrupt_id,
            expected_deadline=deadline,
            deadline=deadline + timedelta(hours=1),
            metadata={"approvers": ["cy"]},
        )
        assert mine("ada") == ["u"] and mine("cy") == ["t"]
        saver.resolve_interrupts("t", {intr.interrupt_id: "ok"}, decided_by="cy")
        assert mine("cy") == []
        saver.reopen_interrupt(intr.interrupt_id, reason="again")
        assert mine("cy") == ["t"]
        saver.resolve_interrupts("t", {intr.interrupt_id: None}, status="cancelled")
        assert mine("cy") == []
        saver.delete_thread("u")
        assert mine("ada") == []
