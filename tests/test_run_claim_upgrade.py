"""Migration 19 (a front is not claimed while another run of its thread runs): a store
written before it upgrades in place on SQLite and PostgreSQL. The state that let two runs
of one thread run at once — an older run queued as the thread's front while a younger one
runs under a live lease — is in the old store; after the upgrade the claim passes that
front while the younger run's lease is live, and takes it once that run ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from tests._release_store import migrations_before
from tests._run_fronts import check_fronts


def _write_before_19(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(19))
        old = open_store()
        try:
            assert 18 in old.schema_versions() and 19 not in old.schema_versions()
            old.enqueue_run(thread_id="a", agent="g", input={}, run_id="a1")  # the front
            old.enqueue_run(thread_id="a", agent="g", input={}, run_id="a2", owner="w", ttl=60)
            old.enqueue_run(thread_id="b", agent="g", input={}, run_id="b1")
            assert check_fronts(old) == [("a", "a1"), ("b", "b1")]
        finally:
            old.close()


def _check(store: Any) -> None:
    assert 19 in store.schema_versions()
    assert check_fronts(store) == [("a", "a1"), ("b", "b1")]
    claimed = store.claim_run("w2", ttl=60)
    assert claimed is not None and claimed.run_id == "b1"  # a1 waits: a2 runs
    assert store.claim_run("w2", ttl=60) is None
    assert store.finish_run("a2", "w", status="done")
    claimed = store.claim_run("w2", ttl=60)
    assert claimed is not None and claimed.run_id == "a1"


def test_a_sqlite_store_before_migration_19_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "old.db"
    _write_before_19(lambda: SqliteSaver(path), monkeypatch)
    with SqliteSaver(path) as store:
        _check(store)


@pytest.mark.postgres
def test_a_postgres_store_before_migration_19_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _write_before_19(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
    store = PostgresSaver(DSN, schema=schema)
    try:
        _check(store)
    finally:
        store.close()
