"""The audit chain's schema (migration 10): a store created before it upgrades in place; its
old audit rows stay readable, are anchored by the first signed manifest, and verify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._audit.manifest import seal_audit
from interlock.checkpoint._audit.signing import generate_key
from interlock.checkpoint._audit.verify import verify_store
from interlock.checkpoint._testkit import make_interrupt, make_record
from tests._release_store import migrations_before


def _check_upgrade(open_store: Any, sql: Any, tmp_path: Path, mp: pytest.MonkeyPatch) -> None:
    with mp.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(10))
        old = open_store()
        try:
            assert 10 not in old.schema_versions()
            rec = make_record("t", None, [("n", 1)], {"n": 1})
            decided = make_interrupt("t", rec.checkpoint_id, metadata={"requested_by": "bob"})
            waiting = make_interrupt("t", rec.checkpoint_id, 1)
            old.put_checkpoint(rec, expected_head=None, interrupts=[decided, waiting])
            old.resolve_interrupts("t", {decided.interrupt_id: "yes"}, decided_by="ada")
        finally:
            old.close()
    new = open_store()
    signer = generate_key(tmp_path / "k")
    try:
        assert 10 in new.schema_versions()
        assert new.get_checkpoint("t") is not None
        [pending] = new.list_interrupts(status="pending").items  # the pause still waits
        assert pending.interrupt_id == waiting.interrupt_id
        legacy = new.audit_rows()
        assert [r.seq for r in legacy] == [None, None, None]
        first = seal_audit(new, signer)  # the first signed head anchors the old rows
        assert first is not None and '"legacy":{"count":3,' in first.body
        new.resolve_interrupts("t", {waiting.interrupt_id: "no"}, decided_by="ada")
        actions = [e.action for e in new.list_audit(thread_id="t").items]
        assert actions[0] == "approval.decided" and len(actions) == 4  # old and new rows
        assert [r.seq for r in new.audit_rows()][-1] == 1  # the thread's chain starts
        assert seal_audit(new, signer) is not None
        report = verify_store(new, [signer.public_key])
        assert report.ok and (report.legacy, report.entries) == (3, 4), report.problems
        sql("UPDATE audit_log SET actor = 'mallory' WHERE actor = 'ada' AND seq IS NULL")
        report = verify_store(new, [signer.public_key])
        assert "entries from before the chain" in report.problems[0]
    finally:
        new.close()


def test_a_sqlite_store_before_migration_10_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "old.db"

    def sql(text: str) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute(text)
        conn.close()

    _check_upgrade(lambda: SqliteSaver(path), sql, tmp_path, monkeypatch)


@pytest.mark.postgres
def test_a_postgres_store_before_migration_10_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()

    def sql(text: str) -> None:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{schema}"')
            conn.execute(text.encode())

    _check_upgrade(lambda: PostgresSaver(DSN, schema=schema), sql, tmp_path, monkeypatch)
