"""A store written by the previous release (2026-12-06, schema 7) upgrades in place on
SQLite and PostgreSQL: its threads, pauses, decisions, audit entries, queued run and events
keep working, and the pauses it left are found by the inbox's new filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint.base import ThreadQuery
from tests._release_store import build_release_store, release_dump


def test_released_migrations_are_unchanged() -> None:
    """A released migration is never edited: the fixture's list is a prefix of ours."""
    dump = release_dump()
    ours = [[v, d] for v, d, _ in MIGRATIONS]
    assert ours[: len(dump["migrations"])] == dump["migrations"]


def _check(store: Any) -> None:
    assert store.schema_versions() == [v for v, _, _ in MIGRATIONS]
    assert {t.thread_id for t in store.list_threads()} >= {"ruled", "anyone", "done"}
    pending = {i.thread_id: i for i in store.list_interrupts().items}
    assert set(pending) == {"ruled", "anyone"}
    mine = {i.thread_id for i in store.list_interrupts(eligible=["ada"]).items}
    assert mine == {"ruled"}  # the migration indexed the released pauses' rules
    anyone = {i.thread_id for i in store.list_interrupts(eligible=["eve", "*"]).items}
    assert anyone == {"anyone"}
    assert {i.thread_id for i in store.list_interrupts(agent="payer").items} == set(pending)
    [decided] = store.list_interrupts(status="resolved").items
    assert decided.thread_id == "done" and decided.resume == "approved"
    ruled = pending["ruled"]
    store.resolve_interrupts("ruled", {ruled.interrupt_id: "yes"}, decided_by="ada")
    assert store.list_interrupts(eligible=["ada"]).items == ()
    actions = [e.action for e in store.list_audit(interrupt_id=ruled.interrupt_id).items]
    assert actions == ["approval.decided", "approval.requested"]  # released and new rows
    [queued] = [r for r in store.list_runs(thread_id="queued")]
    assert queued.input == {"x": 1} and queued.status == "queued"
    assert [e.event for e in store.read_events("done")] == ["metadata"]
    # the owners of the threads made over the service, from their audit (migration 14)
    assert store.thread_owner("ruled") == store.thread_owner("anyone") == "bob"
    assert store.thread_owner("done") is None  # made by the library
    assert {t.thread_id for t in store.list_threads(owner="bob")} == {"ruled", "anyone"}
    # thread search (migration 16): every thread, by owner and status; no metadata yet
    found = store.search_threads(ThreadQuery(), limit=50)
    assert {t.thread_id for t in found} >= {"ruled", "anyone", "done"}
    assert {t.thread_id for t in store.search_threads(ThreadQuery(owner="bob", pending=True))} == {
        "anyone"  # ruled was decided above
    }
    assert store.search_threads(ThreadQuery(metadata={"agent": "payer"})) == ()


def test_the_released_sqlite_store_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "released.db"
    build_release_store(lambda: SqliteSaver(path), monkeypatch, release_dump())
    with SqliteSaver(path) as store:
        _check(store)


@pytest.mark.postgres
def test_the_released_postgres_store_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    build_release_store(lambda: PostgresSaver(DSN, schema=schema), monkeypatch, release_dump())
    store = PostgresSaver(DSN, schema=schema)
    try:
        _check(store)
    finally:
        store.close()
