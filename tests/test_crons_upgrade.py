"""A store written by the release before crons (main at 1d75025, schema 20:
tests/fixtures/store-2026-12-08.json, made by tests/fixtures/make_release_store.py with
that code) upgrades in place to migration 22 on SQLite and PostgreSQL: its threads, pauses,
decisions, audit rows (chains intact), queued run and events keep working, and it keeps
crons, which the scheduler fires. That release, meeting the upgraded store, refuses it and
changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._audit.verify import verify_store
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint.base import CronJob, CronQuery
from interlock.errors import SchemaTooNew
from tests._release_store import RELEASE_2026_12_08, build_release_store, release_dump
from tests.test_release_upgrade import _check

RELEASED = [m for m in MIGRATIONS if m[0] <= 20]
"""The migrations of the fixture's release."""
BEFORE_CRONS = [m for m in MIGRATIONS if m[0] < 22]
"""The migrations of an interlock without crons (any migration before 22 included)."""
T0 = datetime(2027, 1, 1, tzinfo=UTC)


def test_the_fixture_is_the_release_before_crons() -> None:
    dump = release_dump(RELEASE_2026_12_08)
    assert [v for v, _ in dump["migrations"]] == [v for v, _, _ in RELEASED]
    assert "crons" not in dump["tables"] and "store_items" in dump["tables"]
    ours = [[v, d] for v, d, _ in MIGRATIONS]
    assert ours[: len(dump["migrations"])] == dump["migrations"]


def _upgrade_and_check(
    open_store: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, *, verify: bool
) -> None:
    dump = release_dump(RELEASE_2026_12_08)
    build_release_store(open_store, monkeypatch, dump)
    store = open_store()  # this code: applies migration 22
    try:
        assert 22 in store.schema_versions()
        released = dump["tables"]["audit_log"]
        expected = sorted((r[0], r[3]) for r in released["rows"])  # entry_id, action
        found = sorted((e.entry_id, e.action) for e in store.list_audit(after="", limit=100).items)
        assert found == expected
        if verify:  # (PostgreSQL's chain trigger renumbers rows the loader inserts)
            assert verify_store(store, []).problems == []
        _check(store)  # threads, pauses, decisions, runs, events, owners, search
        cron = CronJob(
            cron_id="c1",
            agent="payer",
            thread_id="anyone",
            owner="bob",
            schedule="0 0 * * *",
            next_run_date=T0,
            created_at=T0,
            updated_at=T0,
        )
        store.add_cron(cron, actor="bob")
        assert [c.cron_id for c in store.due_crons(T0)] == ["c1"]
        assert store.advance_cron("c1", due=T0, next_run=None)
        assert store.count_crons(CronQuery(thread_id="anyone")) == 1
        if verify:
            assert verify_store(store, []).problems == []  # the cron's entry joined its chain
    finally:
        store.close()
    with monkeypatch.context() as m:  # the release before crons meets this store
        m.setattr(_sql_core, "MIGRATIONS", BEFORE_CRONS)
        with pytest.raises(SchemaTooNew, match=r"\[22(, \d+)*\]"):
            open_store()
    store = open_store()
    try:
        assert store.get_cron("c1") is not None  # nothing changed
    finally:
        store.close()


def test_the_sqlite_store_before_crons_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "released.db"
    _upgrade_and_check(lambda: SqliteSaver(path), monkeypatch, verify=True)


@pytest.mark.postgres
def test_the_postgres_store_before_crons_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _upgrade_and_check(lambda: PostgresSaver(DSN, schema=schema), monkeypatch, verify=False)
