"""PostgreSQL for tests: each saver gets a fresh schema, dropped at the end of the session.

Under CI=true an unreachable server fails the tests; elsewhere they skip with the reason.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

DSN = os.environ.get("INTERLOCK_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
created: list[str] = []


def _require_server() -> None:
    import psycopg

    try:
        psycopg.connect(DSN, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        if os.environ.get("CI") == "true":
            raise RuntimeError(
                f"PostgreSQL is required under CI=true but unreachable at {DSN}: {exc}"
            ) from exc
        pytest.skip(f"PostgreSQL unreachable at {DSN}: {exc}")


def new_schema() -> str:
    """A unique schema name for one saver."""
    _require_server()
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    created.append(name)
    return name


def fresh_postgres_saver(**kwargs: Any) -> Any:
    """A `PostgresSaver` in its own new schema."""
    from interlock.checkpoint.postgres import PostgresSaver

    return PostgresSaver(DSN, schema=new_schema(), **kwargs)


def postgres_spec() -> str:
    """A spec string for `tests._race.open_saver`, with a fresh schema."""
    return f"postgres:{DSN}|{new_schema()}"


def drop_created_schemas() -> None:
    """Drop every schema this process created."""
    if not created:
        return
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute("SET synchronous_commit TO off")  # scratch data: no flush per commit
        for at in range(0, len(created), 8):  # a few per transaction (bounded lock table)
            names = ", ".join(f'"{name}"' for name in created[at : at + 8])
            conn.execute(f"DROP SCHEMA IF EXISTS {names} CASCADE")
    created.clear()


def plan_nodes(schema: str, query: str, params: Any) -> list[dict[str, Any]]:
    """Every node of the plan PostgreSQL ran for `query` in `schema` (`EXPLAIN (ANALYZE,
    FORMAT JSON)`, then rolled back: a write the query makes is undone), outermost first."""
    import psycopg

    with psycopg.connect(DSN) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        (plan,) = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
        conn.rollback()
    if isinstance(plan, str):
        plan = json.loads(plan)
    nodes: list[dict[str, Any]] = []

    def walk(node: dict[str, Any]) -> None:
        nodes.append(node)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return nodes


@contextmanager
def watched_saver(prefix: str) -> Iterator[tuple[Any, str]]:
    """A `PostgresSaver` in a new schema whose connections carry a unique
    `application_name` (returned with it), so a test can see them wait in
    `pg_stat_activity`."""
    from interlock.checkpoint.postgres import PostgresSaver

    app = f"{prefix}_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in DSN else "?"
    saver = PostgresSaver(f"{DSN}{sep}application_name={app}", schema=new_schema())
    try:
        yield saver, app
    finally:
        saver.close()
