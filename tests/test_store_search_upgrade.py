"""A store holding long-term memory items written by the release before semantic search and
expiry (main at 1d75025, schema 20: tests/fixtures/store-2026-12-07-items.json, made by
tests/fixtures/make_release_store.py with that code) upgrades in place to migration 23 on
SQLite and PostgreSQL: its items read, search and list as before, never expire, are found
by a query once written again with an index, and may be given a TTL. That release, meeting
the upgraded store, refuses it and changes nothing.

(Migrations 21 and 22 belong to other branches: this code knows 20 then 23, and a store
applies whichever it lacks, so their order of arrival does not matter.)"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._migrations import MIGRATIONS
from interlock.errors import SchemaTooNew
from interlock.store import store_of
from tests._release_store import FIXTURES, build_release_store, release_dump
from tests.fakes.openai_server import bag_of_words

RELEASE_ITEMS = FIXTURES / "store-2026-12-07-items.json"
BEFORE_SEARCH = [m for m in MIGRATIONS if m[0] <= 20]
ADA = ("users", "ada", "memories")
INDEX = {"embed": lambda ts: [bag_of_words(t, 32) for t in ts], "dims": 32, "fields": ["text"]}


def test_the_fixture_is_the_release_before_search() -> None:
    dump = release_dump(RELEASE_ITEMS)
    assert [v for v, _ in dump["migrations"]] == [v for v, _, _ in BEFORE_SEARCH]
    assert dump["tables"]["store_items"]["columns"] == [
        "prefix",
        "key",
        "namespace",
        "value",
        "created_at",
        "updated_at",
    ]
    assert len(dump["tables"]["store_items"]["rows"]) == 3
    assert "store_vectors" not in dump["tables"]


def _upgrade_and_check(open_saver: Callable[[], Any], monkeypatch: pytest.MonkeyPatch) -> None:
    dump = release_dump(RELEASE_ITEMS)
    build_release_store(open_saver, monkeypatch, dump)
    released = {r[1]: r for r in dump["tables"]["store_items"]["rows"]}
    saver = open_saver()  # this code: applies migration 23
    try:
        assert saver.schema_versions() == [v for v, _, _ in MIGRATIONS]
        memory = store_of(saver, index=INDEX, ttl={"refresh_on_read": True})
        m1 = memory.get(ADA, "m1")
        assert m1 is not None and m1.value == {"text": "likes green tea", "n": 1}
        assert m1.created_at == datetime.fromisoformat(released["m1"][4])
        assert saver.get_item(ADA, "m1").expires_at is None  # released items never expire
        assert {i.key for i in memory.search(("users",))} == {"m1", "m2", "prefs"}
        assert memory.search(("users",), filter={"n": 2})[0].key == "m2"
        assert memory.list_namespaces() == [ADA, ("users", "bo.b")]
        assert memory.search(("users",), query="green tea") == []  # no vectors yet
        memory.put(ADA, "m1", m1.value)  # written again: embedded
        memory.put(ADA, "m3", {"text": "drinks tea at noon"}, ttl=60)
        found = memory.search(("users",), query="green tea")
        assert [i.key for i in found] == ["m1", "m3"] and found[0].score == pytest.approx(
            0.8165, abs=1e-4
        )
        assert memory.get(ADA, "m1").created_at == m1.created_at  # kept
        assert saver.get_item(ADA, "m3").ttl == 60
    finally:
        saver.close()
    with monkeypatch.context() as m:  # the release before search meets this store
        m.setattr(_sql_core, "MIGRATIONS", BEFORE_SEARCH)
        with pytest.raises(SchemaTooNew, match=r"\[(\d+, )*23\].*nothing was changed"):
            open_saver()
    saver = open_saver()
    try:
        assert saver.schema_versions() == [v for v, _, _ in MIGRATIONS]
        again = store_of(saver, index=INDEX).search(ADA, query="tea")
        assert [i.key for i in again] == ["m1", "m3"]
    finally:
        saver.close()


def test_the_sqlite_store_before_search_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "released.db"
    _upgrade_and_check(lambda: SqliteSaver(path), monkeypatch)


@pytest.mark.postgres
def test_the_postgres_store_before_search_upgrades(monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests.pg import DSN, new_schema

    schema = new_schema()
    _upgrade_and_check(lambda: PostgresSaver(DSN, schema=schema), monkeypatch)
