"""Migration 8 (durable runs): a store created at migration 7 upgrades in place — its
threads, pauses, audit rows and queued runs keep working, and the new run fields and the
sweep's query work on it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core, serde
from interlock.checkpoint._testkit import make_interrupt, make_record
from tests._release_store import migrations_before

RUN_ID = "0" * 31 + "1"


def _check_upgrade(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(8))
        old = open_store()
        try:
            assert old.schema_versions()[:7] == [1, 2, 3, 4, 5, 6, 7]
            assert 8 not in old.schema_versions()
            rec = make_record("t", None, [("n", 1)], {"n": 1})
            pause = make_interrupt("t", rec.checkpoint_id, metadata={"graph": "g"})
            old.put_checkpoint(rec, expected_head=None, interrupts=[pause])
            now = old.dialect.ts(datetime.now(UTC))
            with old._write() as conn:  # a run queued by the interlock of migration 7
                old._x(
                    conn,
                    "INSERT INTO runs (run_id, thread_id, agent, input, status, created_at, "
                    "updated_at, attempts) VALUES (?, 'q', 'a', ?J, 'queued', ?, ?, 0)",
                    (RUN_ID, serde.dumps({"x": 1}), now, now),
                )
        finally:
            old.close()
    new = open_store()
    try:
        assert 8 in new.schema_versions()
        assert new.get_checkpoint("t") is not None  # the old data is intact
        got = new.get_run(RUN_ID)  # an old run reads back as an input run
        assert got is not None and (got.input, got.kind, got.options) == ({"x": 1}, "input", None)
        claimed = new.claim_run("w", ttl=60)
        assert claimed is not None and claimed.run_id == RUN_ID
        since = datetime.now(UTC) - timedelta(minutes=1)
        assert new.stranded_threads(since=since) == ()  # the old pause still waits
        new.resolve_interrupts("t", {pause.interrupt_id: "yes"}, decided_by="ada")
        actions = [e.action for e in new.list_audit(interrupt_id=pause.interrupt_id).items]
        assert actions == ["approval.decided", "approval.requested"]  # old and new audit rows
        [stranded] = new.stranded_threads(since=since)  # decided, never carried out
        assert (stranded.thread_id, stranded.interrupt_ids) == ("t", (pause.interrupt_id,))
        resume = new.enqueue_run(
            thread_id="t", agent="g", input={}, kind="resume", options={"a": 1}, owner="me", ttl=60
        )
        assert (resume.kind, resume.options, resume.status) == ("resume", {"a": 1}, "running")
    finally:
        new.close()


def test_a_sqlite_store_at_migration_7_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    _check_upgrade(lambda: SqliteSaver(tmp_path / "old.db"), monkeypatch)


@pytest.mark.postgres
def test_a_postgres_store_at_migration_7_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _check_upgrade(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
