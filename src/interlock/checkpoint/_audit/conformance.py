"""The audit log and its cursors: the part of the store conformance suite for its room
(`SaverConformance` includes every part).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from interlock.checkpoint._audit.chain import GENESIS, AuditManifest, row_hash
from interlock.checkpoint._testkit import (
    StoreTests,
    make_interrupt,
    make_record,
)
from interlock.checkpoint.base import (
    AuditEntry,
    BaseSaver,
)
from interlock.errors import ResumeConflict, SerializationError

__all__ = ["AuditLogConformance"]


class AuditLogConformance(StoreTests):
    """Audit-log tests every store passes. Subclasses provide a `saver` fixture."""

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

    def test_entries_are_chained_per_thread_and_manifests_are_kept(self, saver: BaseSaver) -> None:
        at = datetime(2026, 1, 1, tzinfo=UTC)
        saver.append_audit(
            [AuditEntry(at=at, actor="a", action=f"e{i}", thread_id="t") for i in range(3)]
            + [AuditEntry(at=at, actor=None, action="x", detail={"k": "é"})]
        )
        [rec] = self._chain(saver, "t", 1)
        asked = make_interrupt("t", rec.checkpoint_id)
        saver.put_task_writes("t", "", rec.checkpoint_id, [], [asked])
        saver.resolve_interrupts("t", {asked.interrupt_id: 1}, decided_by="ada")
        rows = saver.audit_rows()
        chain = sorted((r for r in rows if r.thread_id == "t"), key=lambda r: r.seq or 0)
        assert [r.seq for r in chain] == [1, 2, 3, 4, 5]
        assert chain[0].prev == GENESIS
        assert [r.prev for r in chain[1:]] == [r.hash for r in chain[:-1]]
        assert all(r.hash == row_hash(r) for r in rows)  # the canonical encoding
        assert saver.audit_heads() == {"t": (5, chain[-1].hash), "": (1, rows[3].hash)}
        assert saver.audit_rows(after=rows[0].entry_id, limit=2) == rows[1:3]
        assert saver.last_audit_manifest() is None
        first = AuditManifest(manifest_id="1" * 32, body="{}", key_id="k", signature="s")
        second = AuditManifest(manifest_id="2" * 32, body="{}", key_id="k", signature="s")
        saver.add_audit_manifest(second)
        saver.add_audit_manifest(first)
        assert saver.list_audit_manifests() == (first, second)
        assert saver.list_audit_manifests(after=first.manifest_id) == (second,)
        assert saver.last_audit_manifest() == second

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
