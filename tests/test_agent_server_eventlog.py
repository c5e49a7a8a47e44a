"""The run event log's schema: a store created before it (migration 6) upgrades in place."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core, serde
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint._testkit import make_interrupt, make_record
from tests._release_store import migrations_before

RUN_ID = "0" * 31 + "1"


def _at_migration_6(monkeypatch: pytest.MonkeyPatch) -> None:
    # (with the later tables this code writes whenever it pauses, which the upgrade from a
    # released store, tests/test_release_upgrade.py, covers without any code of ours)
    monkeypatch.setattr(_sql_core, "MIGRATIONS", migrations_before(7))


def _check_upgrade(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        _at_migration_6(m)
        old = open_store()
        try:
            assert old.schema_versions()[:6] == [1, 2, 3, 4, 5, 6]
            assert 7 not in old.schema_versions()
            rec = make_record("t", None, [("n", 1)], {"n": 1})
            pause = make_interrupt("t", rec.checkpoint_id, metadata={"requested_by": "bob"})
            old.put_checkpoint(rec, expected_head=None, interrupts=[pause])
            now = old.dialect.ts(datetime.now(UTC))
            with old._write() as conn:  # a run queued by the interlock of migration 6
                old._x(
                    conn,
                    "INSERT INTO runs (run_id, thread_id, agent, input, status, created_at, "
                    "updated_at, attempts) VALUES (?, 't', 'a', ?J, 'queued', ?, ?, 0)",
                    (RUN_ID, serde.dumps({"x": 1}), now, now),
                )
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
        got = new.get_run(RUN_ID)
        assert got is not None and got.input == {"x": 1}
        assert new.append_events("t", RUN_ID, [("metadata", {"run_id": RUN_ID})]) == (1,)
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
