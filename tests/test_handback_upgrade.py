"""Migration 15 (worker versions, the run queue's version mark): a store created at
migration 14 upgrades in place — its queued and running runs read back unmarked and are
claimed as before, and runs can be given back for a version and adverts made on it."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core, serde
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint.base import WorkerVersion
from tests._release_store import migrations_before

QUEUED, RUNNING = "0" * 31 + "1", "0" * 31 + "2"


def _check_upgrade(open_store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", migrations_before(15))
        old = open_store()
        try:
            assert 14 in old.schema_versions() and 15 not in old.schema_versions()
            now = old.dialect.ts(datetime.now(UTC))
            with old._write() as conn:  # runs queued by the interlock of migration 14
                for run_id, thread, status in ((QUEUED, "q", "queued"), (RUNNING, "r", "running")):
                    old._x(
                        conn,
                        "INSERT INTO runs (run_id, thread_id, agent, input, status, created_at, "
                        "updated_at, owner, lease_until, attempts, kind) "
                        "VALUES (?, ?, 'a', ?J, ?, ?, ?, 'dead', 0, 1, 'resume')",
                        (run_id, thread, serde.dumps({"interrupt_ids": []}), status, now, now),
                    )
        finally:
            old.close()
    new = open_store()
    try:
        assert new.schema_versions() == [v for v, _, _ in MIGRATIONS]
        got = new.get_run(QUEUED)
        assert got is not None and (got.for_graph, got.for_version) == (None, None)
        first = new.claim_run("w", ttl=60, versions=[("g", "v2")])
        second = new.claim_run("w", ttl=60)  # the dead worker's run, taken over
        assert {first.run_id, second.run_id} == {QUEUED, RUNNING}  # type: ignore[union-attr]
        new.advertise_versions(
            [WorkerVersion(owner="p1", agent="a", graph="g", version_id="v1")], ttl=60
        )
        assert new.release_run(RUNNING, "w", for_version=("g", "v1"))
        assert new.claim_run("w2", ttl=60, versions=[("g", "v2")]) is None
        mine = new.claim_run("w3", ttl=60, versions=[("g", "v1")])
        assert mine is not None and (mine.run_id, mine.for_version) == (RUNNING, "v1")
    finally:
        new.close()


def test_a_sqlite_store_at_migration_14_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    _check_upgrade(lambda: SqliteSaver(tmp_path / "old.db"), monkeypatch)


@pytest.mark.postgres
def test_a_postgres_store_at_migration_14_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _check_upgrade(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
