"""The run event log's schema: a store created before it (migration 6) upgrades in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint._testkit import make_interrupt, make_record


def _at_migration_6(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_sql_core, "MIGRATIONS", [m for m in MIGRATIONS if m[0] <= 6])


def _check_upgrade(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        _at_migration_6(m)
        old = open_store()
        try:
            assert old.schema_versions() == [1, 2, 3, 4, 5, 6]
            rec = make_record("t", None, [("n", 1)], {"n": 1})
            pause = make_interrupt("t", rec.checkpoint_id, metadata={"requested_by": "bob"})
            old.put_checkpoint(rec, expected_head=None, interrupts=[pause])
            run = old.enqueue_run(thread_id="t", agent="a", input={"x": 1})
        finally:
            old.close()
    new = open_store()
    try:
        assert new.schema_versions() == [v for v, _, _ in MIGRATIONS]
        assert 7 in new.schema_versions()
        assert new.get_checkpoint("t") is not None  # the old data is intact
        [pending] = new.list_interrupts(status="pending").items  # the pause still waits
        assert pending.interrupt_id == pause.interrupt_id
        new.resolve_interrupts("t", {pause.interrupt_id: "yes"}, decided_by="ada")
        actions = [e.action for e in new.list_audit(interrupt_id=pause.interrupt_id).items]
        assert actions == ["approval.decided", "approval.requested"]  # old and new audit rows
        got = new.get_run(run.run_id)
        assert got is not None and got.input == {"x": 1}
        assert new.append_events("t", run.run_id, [("metadata", {"run_id": run.run_id})]) == (1,)
        assert [e.event for e in new.read_events("t")] == ["metadata"]
    finally:
        new.close()


def test_a_sqlite_store_at_migration_6_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    _check_upgrade(lambda: SqliteSaver(tmp_path / "old.db"), monkeypatch)


@pytest.mark.postgres
def test_a_postgres_store_at_migration_6_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _check_upgrade(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
