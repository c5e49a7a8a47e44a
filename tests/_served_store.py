"""A store that `interlock serve` processes and the test share: the `--db` URL to give the
processes and a saver on the same store for the test's own reads (SQLite file or a fresh
PostgreSQL schema)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def served_store(kind: str, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """(`--db` URL, saver) for `kind` "sqlite" or "postgres"; the saver is closed after."""
    if kind == "sqlite":
        from interlock.checkpoint.sqlite import SqliteSaver

        path = tmp_path / "store.db"
        saver: Any = SqliteSaver(path)
        url = f"sqlite:///{path}"
    else:
        import psycopg

        from interlock.checkpoint.postgres import PostgresSaver
        from tests.pg import DSN, new_schema

        schema = new_schema()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        saver = PostgresSaver(DSN, schema=schema)
        url = f"{DSN}?options=-csearch_path%3D{schema}"
    try:
        yield url, saver
    finally:
        saver.close()
