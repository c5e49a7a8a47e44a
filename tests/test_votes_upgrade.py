"""Migration 9 (votes): a store created at the previous migration upgrades in place — its
threads, pauses and audit rows keep working, and its requests take votes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._testkit import make_interrupt, make_record
from tests._release_store import migrations_before


def _check_upgrade(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(9))
        old = open_store()
        try:
            assert 9 not in old.schema_versions()
            rec = make_record("t", None, [("n", 1)], {"n": 1})
            plain = make_interrupt("t", rec.checkpoint_id, metadata={"requested_by": "bob"})
            voted = make_interrupt("t", rec.checkpoint_id, 1, metadata={"quorum": 2})
            old.put_checkpoint(rec, expected_head=None, interrupts=[plain, voted])
        finally:
            old.close()
    new = open_store()
    try:
        assert 9 in new.schema_versions()
        assert new.get_checkpoint("t") is not None  # the old data is intact
        pending = new.list_interrupts(status="pending").items
        assert {p.interrupt_id for p in pending} == {plain.interrupt_id, voted.interrupt_id}
        new.resolve_interrupts("t", {plain.interrupt_id: "yes"}, decided_by="ada")
        actions = [e.action for e in new.list_audit(interrupt_id=plain.interrupt_id).items]
        assert actions == ["approval.decided", "approval.requested"]  # old and new audit rows
        first = new.cast_vote("t", voted.interrupt_id, "yes", voter="ada", vote="approve")
        assert first.record.status == "pending"
        second = new.cast_vote("t", voted.interrupt_id, "yes", voter="cy", vote="approve")
        assert second.record.status == "resolved" and second.record.decided_by == "cy"
    finally:
        new.close()


def test_a_sqlite_store_at_migration_8_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    _check_upgrade(lambda: SqliteSaver(tmp_path / "old.db"), monkeypatch)


@pytest.mark.postgres
def test_a_postgres_store_at_migration_8_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _check_upgrade(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
