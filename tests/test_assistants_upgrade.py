"""A store written by the release before assistants (main at 1d75025, schema 20:
tests/fixtures/store-2026-12-07-items.json, made by tests/fixtures/make_release_store.py
with that code) upgrades in place to migration 21 on SQLite and PostgreSQL: its threads,
pauses, decisions, audit rows, queued run, events and long-term memory item keep working,
and it keeps assistants and their versions. That release, meeting the upgraded store,
refuses it and changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._audit.verify import verify_store
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.checkpoint.base import AssistantChange, AssistantQuery
from interlock.errors import SchemaTooNew
from interlock.store import store_of
from tests._release_store import RELEASE_ITEMS, build_release_store, release_dump
from tests.test_release_upgrade import _check

BEFORE_ASSISTANTS = [m for m in MIGRATIONS if m[0] < 21]


def test_the_fixture_is_the_release_before_assistants() -> None:
    dump = release_dump(RELEASE_ITEMS)
    assert [v for v, _ in dump["migrations"]] == [v for v, _, _ in BEFORE_ASSISTANTS]
    assert "assistants" not in dump["tables"] and dump["tables"]["store_items"]["rows"]
    ours = [[v, d] for v, d, _ in MIGRATIONS]
    assert ours[: len(dump["migrations"])] == dump["migrations"]


def _upgrade_and_check(
    open_store: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, *, verify: bool
) -> None:
    dump = release_dump(RELEASE_ITEMS)
    build_release_store(open_store, monkeypatch, dump)
    store = open_store()  # this code: applies migration 21
    try:
        assert store.schema_versions() == [m[0] for m in MIGRATIONS]  # 21 and any later
        released = sorted((r[0], r[3]) for r in dump["tables"]["audit_log"]["rows"])
        found = sorted((e.entry_id, e.action) for e in store.list_audit(after="", limit=100).items)
        assert found == released
        if verify:  # (PostgreSQL's chain trigger renumbers rows the loader inserts)
            assert verify_store(store, []).problems == []
        _check(store)  # threads, pauses, decisions, runs, events, owners, search
        assert store_of(store).get(("users", "ada", "memories"), "m1").value == {
            "text": "likes green tea",
            "n": 1,
        }
        made, created = store.create_assistant(
            "6f1c0d52-8a51-4c1e-9e63-1b3c1c7d2f10",
            graph_id="payer",
            name="Payer, strict",
            config={"configurable": {"limit": 100}},
            context={"limit": 100},
            metadata={"team": "finance"},
            actor="root",
        )
        assert created and made.version == 1
        change = AssistantChange(context={"limit": 50}, metadata={"v": 2})
        assert store.update_assistant(made.assistant_id, change, actor="root").version == 2
        assert [a.name for a in store.search_assistants(AssistantQuery(metadata={"v": 2}))] == [
            "Payer, strict"
        ]
        actions = [e.action for e in store.list_audit(after="", limit=100).items]
        assert actions[-2:] == ["assistant.created", "assistant.updated"]
        if verify:  # the new entries chain on after the released ones
            assert verify_store(store, []).problems == []
    finally:
        store.close()
    with monkeypatch.context() as m:  # the release before assistants meets this store
        m.setattr(_sql_core, "MIGRATIONS", BEFORE_ASSISTANTS)
        with pytest.raises(SchemaTooNew, match=r"\[21(, \d+)*\]"):
            open_store()
    store = open_store()
    try:  # nothing was changed
        found_again = store.get_assistant("6f1c0d52-8a51-4c1e-9e63-1b3c1c7d2f10")
        assert found_again is not None and found_again.version == 2
    finally:
        store.close()


def test_the_sqlite_store_before_assistants_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "released.db"
    _upgrade_and_check(lambda: SqliteSaver(path), monkeypatch, verify=True)


@pytest.mark.postgres
def test_the_postgres_store_before_assistants_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _upgrade_and_check(lambda: PostgresSaver(DSN, schema=schema), monkeypatch, verify=False)
