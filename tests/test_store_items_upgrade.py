"""A store written by the release before long-term memory items (main at 1335eef, schema
19: tests/fixtures/store-2026-12-07.json, made by tests/fixtures/make_release_store.py with
that code) upgrades in place to migration 20 on SQLite and PostgreSQL: its threads, pauses,
decisions, audit rows (chains intact), queued run and events keep working, and it keeps
items. That release, meeting the upgraded store, refuses it and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._audit.verify import verify_store
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.errors import SchemaTooNew
from interlock.store import store_of
from tests._release_store import RELEASE_2026_12_07, build_release_store, release_dump
from tests.test_release_upgrade import _check

BEFORE_ITEMS = [m for m in MIGRATIONS if m[0] < 20]


def test_the_fixture_is_the_release_before_items() -> None:
    dump = release_dump(RELEASE_2026_12_07)
    assert [v for v, _ in dump["migrations"]] == [v for v, _, _ in BEFORE_ITEMS]
    assert "store_items" not in dump["tables"]
    ours = [[v, d] for v, d, _ in MIGRATIONS]
    assert ours[: len(dump["migrations"])] == dump["migrations"]


def _upgrade_and_check(
    open_store: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, *, verify: bool
) -> None:
    dump = release_dump(RELEASE_2026_12_07)
    build_release_store(open_store, monkeypatch, dump)
    store = open_store()  # this code: applies migration 20 (and the later ones)
    try:
        assert 20 in store.schema_versions()
        released = dump["tables"]["audit_log"]
        expected = sorted((r[0], r[3]) for r in released["rows"])  # entry_id, action
        audit_before = [e.entry_id for e in store.list_audit(after="", limit=100).items]
        found = sorted((e.entry_id, e.action) for e in store.list_audit(after="", limit=100).items)
        assert found == expected
        if verify:  # (PostgreSQL's chain trigger renumbers rows the loader inserts)
            assert verify_store(store, []).problems == []
        _check(store)  # threads, pauses, decisions, runs, events, owners, search
        memory = store_of(store)
        memory.put(("users", "ada"), "m1", {"text": "likes tea"})
        assert [i.value for i in memory.search(("users",))] == [{"text": "likes tea"}]
        audit_after = [e.entry_id for e in store.list_audit(after="", limit=100).items]
        assert audit_after[: len(audit_before)] == audit_before
    finally:
        store.close()
    with monkeypatch.context() as m:  # the release before items meets this store
        m.setattr(_sql_core, "MIGRATIONS", BEFORE_ITEMS)
        with pytest.raises(SchemaTooNew, match=r"\[20[,\]]"):
            open_store()
    store = open_store()
    try:
        assert store_of(store).get(("users", "ada"), "m1") is not None  # nothing changed
    finally:
        store.close()


def test_the_sqlite_store_before_items_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "released.db"
    _upgrade_and_check(lambda: SqliteSaver(path), monkeypatch, verify=True)


@pytest.mark.postgres
def test_the_postgres_store_before_items_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _upgrade_and_check(lambda: PostgresSaver(DSN, schema=schema), monkeypatch, verify=False)
