"""A released interlock's store, for upgrade tests: the rows that release wrote
(tests/fixtures/store-<date>.json, made by tests/fixtures/make_release_store.py with that
release's code) put back into a SQLite or PostgreSQL store built at that release's schema.

The schema is built by the migrations that release had (their statements never change once
released: `test_released_migrations_are_unchanged` holds us to it), then the rows are
inserted as they were; no code of this release writes to the store before it is upgraded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint import _sql_core
from interlock.checkpoint._migrations import MIGRATIONS

FIXTURES = Path(__file__).parent / "fixtures"
RELEASE_2026_12_06 = FIXTURES / "store-2026-12-06.json"
RELEASE_2026_12_07 = FIXTURES / "store-2026-12-07.json"
"""The store of main before long-term memory items (schema 19; commit 1335eef)."""
RELEASE_ITEMS = FIXTURES / "store-2026-12-07-items.json"
"""The store of main before this release's migrations 21 to 23 (schema 20, with long-term
memory items; commit 1d75025)."""
RELEASE_2026_12_08 = FIXTURES / "store-2026-12-08.json"
"""The store of main before crons (schema 20; commit 1d75025)."""


def release_dump(path: Path = RELEASE_2026_12_06) -> dict[str, Any]:
    """The fixture: `migrations` ([version, description]) and `tables` (columns, rows)."""
    return json.loads(path.read_text())


def build_release_store(
    open_store: Callable[[], Any], monkeypatch: pytest.MonkeyPatch, dump: dict[str, Any]
) -> None:
    """Create the release's schema through `open_store()` (with only its migrations known),
    then insert its rows with plain SQL."""
    known = {v for v, _ in dump["migrations"]}
    with monkeypatch.context() as m:
        m.setattr(_sql_core, "MIGRATIONS", [x for x in MIGRATIONS if x[0] in known])
        store = open_store()
    try:
        with store._write() as conn:
            for table, content in dump["tables"].items():
                if table == "interlock_migrations" or not content["rows"]:
                    continue
                cols = ", ".join(content["columns"])
                marks = ", ".join("?" * len(content["columns"]))
                for row in content["rows"]:
                    store._x(conn, f"INSERT INTO {table} ({cols}) VALUES ({marks})", row)
        assert store.schema_versions() == sorted(known)
    finally:
        store.close()


NEEDED_BY_EVERY_WRITE = (13, 14)
"""Migrations whose tables or columns this code reads or writes in every pause and thread
summary (`pending_approvers`, `threads.owner`): a test that fakes an older store by running
this code on fewer migrations keeps them (the store the previous release really wrote is
`build_release_store`'s)."""


def migrations_before(version: int) -> list[tuple[int, str, list[Any]]]:
    """The migrations of a store as it was before `version`, for tests that write it with
    this code (see `NEEDED_BY_EVERY_WRITE`)."""
    return [m for m in MIGRATIONS if m[0] < version or m[0] in NEEDED_BY_EVERY_WRITE]
