"""An older interlock meeting a store written by a newer one refuses to start, clearly, and
changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from interlock import InMemorySaver, SchemaTooNew, SqliteSaver, StateGraph
from interlock.checkpoint._migrations import MIGRATIONS

FUTURE = MIGRATIONS[-1][0] + 1


def _graph(saver: Any) -> Any:
    graph = StateGraph(dict)
    graph.add_node("a", lambda state: {"n": state.get("n", 0) + 1})
    graph.set_entry_point("a")
    return graph.compile(checkpointer=saver)


def test_sqlite_written_by_a_newer_interlock_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with SqliteSaver(path) as saver:
        _graph(saver).invoke({"n": 1}, {"configurable": {"thread_id": "t"}})
    with sqlite3.connect(path) as conn:  # what a newer interlock would leave behind
        conn.execute(
            "INSERT INTO interlock_migrations VALUES (?, 'from the future', '2030-01-01')",
            (FUTURE,),
        )
        conn.execute("CREATE TABLE future_things (x TEXT)")
    before = path.read_bytes()
    with pytest.raises(SchemaTooNew, match=rf"\[{FUTURE}\].*Upgrade interlock"):
        SqliteSaver(path)
    with sqlite3.connect(path) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM interlock_migrations")]
        (n,) = conn.execute("SELECT COUNT(*) FROM checkpoints").fetchone()
    assert versions == [v for v, _, _ in MIGRATIONS] + [FUTURE]
    assert n > 0
    assert path.read_bytes() == before


def test_schema_too_new_is_a_store_error() -> None:
    from interlock import StoreError

    assert issubclass(SchemaTooNew, StoreError)
    assert InMemorySaver().get_thread("x") is None  # no schema: nothing to refuse


@pytest.mark.postgres
def test_postgres_written_by_a_newer_interlock_is_refused() -> None:
    import psycopg

    from tests.pg import DSN, fresh_postgres_saver

    saver = fresh_postgres_saver()
    schema = saver.schema
    saver.close()
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(
            f'INSERT INTO "{schema}".interlock_migrations VALUES (%s, %s, %s)',
            (FUTURE, "from the future", "2030-01-01"),
        )
    from interlock.checkpoint.postgres import PostgresSaver

    with pytest.raises(SchemaTooNew, match=str(FUTURE)):
        PostgresSaver(DSN, schema=schema)
    with psycopg.connect(DSN, autocommit=True) as conn:
        rows = conn.execute(f'SELECT version FROM "{schema}".interlock_migrations').fetchall()
    assert sorted(r[0] for r in rows) == [v for v, _, _ in MIGRATIONS] + [FUTURE]
