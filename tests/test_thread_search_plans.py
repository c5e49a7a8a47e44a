"""The Agent Server's thread search at scale is index ranges, on SQLite and PostgreSQL:
`search_threads` by metadata, status (a pending request, a live lease), owner and ids, sorted
by update or creation, reads a filter's index range and sorts at most `RANGE_CAP` rows, or
walks the sort order's index with index probes and stops at the page — never a table scan,
never a sort of every match (issue 13).

The stores are filled in bulk with SQL: 20,000 threads (updated in another order than
created), each with metadata `graph_id` (one of seven), `user_id` (one of fifty-three, also
the owner) and `tenant` (`rare` on one thread in a thousand); a decided request on every
thread and a pending one on every fourth; a live lease on one thread in 997.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from interlock.checkpoint._threads.search import RANGE_CAP, ThreadQuery, tag
from interlock.checkpoint.sqlite import SqliteSaver
from tests._statements import recorded_statements
from tests.pg import plan_nodes

ROWS = 20_000
PAGE = 10
EPOCH = 1_700_000_000

CHECKPOINTS = (
    "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_id, step, source, "
    "created_at, writes, snapshot, next, sends, barriers, metadata, base_id, bytes_since, "
    "steps_since, snapshot_bytes) SELECT thread_id, '', head_id, NULL, 0, 'loop', created_at, "
    "'[]', '{{}}', (CASE WHEN {waiting} THEN '[\"ask\"]' ELSE '[]' END){cast}, '[]', '[]', '{{}}', "
    "head_id, 0, 0, 2 FROM threads"
)
"""Each thread's head checkpoint (the one a summary reads)."""

WALKS = {
    # a filter matching more than RANGE_CAP threads: the sort order's index, walked
    "graph_id (1 in 7)": (ThreadQuery(metadata={"graph_id": "agent3"}), "threads_updated"),
    "graph_id by creation": (
        ThreadQuery(metadata={"graph_id": "agent3"}, sort_by="created_at", descending=False),
        "threads_created",
    ),
    "interrupted (1 in 4)": (ThreadQuery(pending=True), "threads_updated"),
    "idle": (ThreadQuery(pending=False, leased=False), "threads_idle"),
    "everything": (ThreadQuery(), "threads_updated"),
}
RANGES = {
    # a filter matching fewer: its range, then a sort of at most that many rows
    "tenant (1 in 1,000)": (ThreadQuery(metadata={"tenant": "rare"}), "thread_meta"),
    "user_id (1 in 53) and graph_id": (
        ThreadQuery(metadata={"user_id": "user20", "graph_id": "agent3"}),
        "thread_meta",
    ),
    "busy (1 in 997)": (ThreadQuery(pending=False, leased=True), "threads_leased"),
    "a requester's interrupted": (ThreadQuery(owner="user20", pending=True), "threads_owner"),
    "ids": (ThreadQuery(ids=tuple(f"t{g}" for g in range(1, 40))), "threads"),
}


def _check_results(saver: Any) -> None:
    """What each query returns (so that the plans below are of queries that work)."""
    assert tag("graph_id", "agent3") == ("graph_id", '"agent3"')  # what the fill wrote
    page = saver.search_threads(WALKS["graph_id (1 in 7)"][0], limit=PAGE, offset=PAGE)
    assert len(page) == PAGE and {t.metadata["graph_id"] for t in page} == {"agent3"}
    assert [t.updated_at for t in page] == sorted((t.updated_at for t in page), reverse=True)
    rare = saver.search_threads(RANGES["tenant (1 in 1,000)"][0], limit=100)
    assert sorted(t.thread_id for t in rare) == sorted(f"t{g}" for g in range(1000, 20_001, 1000))
    assert saver.count_threads(RANGES["tenant (1 in 1,000)"][0]) == 20
    busy = saver.search_threads(RANGES["busy (1 in 997)"][0], limit=100)
    assert {t.status for t in busy} == {"busy"} and len(busy) == 15  # 5 of 20 wait instead
    waiting = saver.search_threads(ThreadQuery(pending=True), limit=PAGE)
    assert {t.status for t in waiting} <= {"interrupted", "busy"} and len(waiting) == PAGE
    idle = saver.search_threads(WALKS["idle"][0], limit=PAGE)
    assert {t.status for t in idle} == {"finished"} and len(idle) == PAGE  # idle to the SDK
    mine = saver.search_threads(RANGES["a requester's interrupted"][0], limit=100)
    assert mine and {t.owner for t in mine} == {"user20"}


def _queries_of(saver: Any, monkeypatch: pytest.MonkeyPatch, query: ThreadQuery) -> list[Any]:
    """The statements `search_threads(query)` runs (SQLite: through `SqlCore._x`)."""
    page, seen = recorded_statements(
        monkeypatch, lambda: saver.search_threads(query, limit=PAGE, offset=PAGE)
    )
    assert page is not None
    return seen


# ---- SQLite ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_threads(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqliteSaver]:
    path = tmp_path_factory.mktemp("search") / "threads.db"
    SqliteSaver(path).close()  # the schema
    ts = "strftime('%Y-%m-%dT%H:%M:%f000+00:00', {}, 'unixepoch')"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?) "
            "INSERT INTO threads (thread_id, created_at, updated_at, head_id, lease_owner, "
            "lease_until, lease_ttl, metadata, owner) "
            f"SELECT 't' || g, {ts.format(f'{EPOCH} + g')}, "
            f"{ts.format(f'{EPOCH} + {ROWS} + (g * 7919) % {ROWS}')}, 'c' || g, "
            "CASE WHEN g % 997 = 0 THEN 'runner' END, "
            "CASE WHEN g % 997 = 0 THEN 4102444800.0 END, 60.0, "
            "json_object('graph_id', 'agent' || (g % 7), 'user_id', 'user' || (g % 53), "
            "'tenant', CASE WHEN g % 1000 = 0 THEN 'rare' ELSE 'common' END), "
            "'user' || (g % 53) FROM s",
            (ROWS,),
        )
        conn.execute(
            "INSERT INTO thread_meta (key, value, thread_id) "
            "SELECT j.key, '\"' || j.value || '\"', t.thread_id FROM threads t, "
            "json_each(t.metadata) j"
        )
        for status, every in (("resolved", 1), ("pending", 4)):
            conn.execute(
                "INSERT INTO interrupts (interrupt_id, thread_id, checkpoint_ns, checkpoint_id, "
                "task_id, task_name, idx, kind, status, value, created_at, metadata) "
                f"SELECT '{status}' || thread_id, thread_id, '', head_id, 'task', 'ask', 0, "
                f"'interrupt', '{status}', '{{}}', created_at, '{{}}' FROM threads "
                f"WHERE CAST(substr(thread_id, 2) AS INTEGER) % {every} = 0"
            )
        conn.execute(
            CHECKPOINTS.format(waiting="CAST(substr(thread_id, 2) AS INTEGER) % 4 = 0", cast="")
        )
        conn.execute("ANALYZE")
    with SqliteSaver(path) as saver:
        yield saver


def _sqlite_plan(saver: SqliteSaver, query: str, params: tuple[Any, ...]) -> list[str]:
    rows = saver._conn().execute("EXPLAIN QUERY PLAN " + query, params).fetchall()
    return [str(row[-1]) for row in rows]


def _no_table_scan(plan: list[str], rows_of: int = 0) -> None:
    """Every SCAN is of an index ("SCAN t USING INDEX ..."), never of a table's rows, but
    those of the page (`t`: the outer query reads the page's rows once more to summarise
    them), of `rows_of` ranges' materialised rows (`found t`: at most RANGE_CAP rows) and of
    the capped counts' subqueries (`x`)."""
    scans = [line for line in plan if line.startswith("SCAN") and "USING" not in line]
    others = [s for s in scans if s not in ("SCAN t", "SCAN x", "SCAN CONSTANT ROW")]
    assert not others, plan
    assert len([s for s in scans if s == "SCAN t"]) <= 1 + rows_of, plan


def test_sqlite_thread_search_walks_the_sort_order_for_common_filters(
    sqlite_threads: SqliteSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_results(sqlite_threads)
    for name, (query, index) in WALKS.items():
        page, *counts = reversed(_queries_of(sqlite_threads, monkeypatch, query))
        plan = _sqlite_plan(sqlite_threads, *page)
        assert any(f"SCAN t USING INDEX {index}" in line for line in plan), (name, plan)
        # read in the index's order: the one sort is the page's own, once summarised
        sorts = [at for at, line in enumerate(plan) if "TEMP B-TREE" in line]
        assert sorts == [len(plan) - 1], (name, plan)
        assert "MATERIALIZED" not in page[0]
        _no_table_scan(plan)
        for probe in ("thread_meta", "interrupts"):
            if probe in page[0].split("ORDER BY")[0].split("WHERE", 1)[-1]:
                assert any(probe in line and "SEARCH" in line for line in plan), (name, plan)
        for statement in counts:  # the capped counts: index ranges too
            _no_table_scan(_sqlite_plan(sqlite_threads, *statement))


def test_sqlite_thread_search_reads_the_range_of_a_rare_filter(
    sqlite_threads: SqliteSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, (query, index) in RANGES.items():
        page, *counts = reversed(_queries_of(sqlite_threads, monkeypatch, query))
        assert "MATERIALIZED" in page[0], name
        plan = _sqlite_plan(sqlite_threads, *page)
        _no_table_scan(plan, rows_of=1)
        want = "sqlite_autoindex_threads_1" if index == "threads" else index
        if index == "thread_meta":
            want = "sqlite_autoindex_thread_meta_1"
        assert any(want in line for line in plan), (name, plan)
        for statement in counts:
            count_plan = _sqlite_plan(sqlite_threads, *statement)
            _no_table_scan(count_plan)


# ---- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_threads() -> Iterator[Any]:
    import psycopg

    from tests.pg import DSN, fresh_postgres_saver

    saver = fresh_postgres_saver()
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{saver.schema}"')
        conn.execute(
            "INSERT INTO threads (thread_id, created_at, updated_at, head_id, lease_owner, "
            "lease_until, lease_ttl, metadata, owner) "
            "SELECT 't' || g, to_timestamp(%s + g), to_timestamp(%s + %s + (g * 7919) %% %s), "
            "'c' || g, CASE WHEN g %% 997 = 0 THEN 'runner' END, "
            "CASE WHEN g %% 997 = 0 THEN 4102444800.0 END, 60.0, "
            "jsonb_build_object('graph_id', 'agent' || (g %% 7), 'user_id', "
            "'user' || (g %% 53), 'tenant', CASE WHEN g %% 1000 = 0 THEN 'rare' "
            "ELSE 'common' END), 'user' || (g %% 53) FROM generate_series(1, %s) g",
            (EPOCH, EPOCH, ROWS, ROWS, ROWS),
        )
        conn.execute(
            "INSERT INTO thread_meta (key, value, thread_id) "
            "SELECT j.key, '\"' || j.value || '\"', t.thread_id FROM threads t, "
            "jsonb_each_text(t.metadata) j"
        )
        for status, every in (("resolved", 1), ("pending", 4)):
            conn.execute(
                "INSERT INTO interrupts (interrupt_id, thread_id, checkpoint_ns, checkpoint_id, "
                "task_id, task_name, idx, kind, status, value, created_at, metadata) "
                f"SELECT '{status}' || thread_id, thread_id, '', head_id, 'task', 'ask', 0, "
                f"'interrupt', '{status}', '{{}}', created_at, '{{}}' FROM threads "
                f"WHERE substr(thread_id, 2)::int % {every} = 0"
            )
        conn.execute(
            CHECKPOINTS.format(waiting="substr(thread_id, 2)::int % 4 = 0", cast="::jsonb")
        )
        conn.execute("VACUUM ANALYZE checkpoints")
        conn.execute("VACUUM ANALYZE threads")
        conn.execute("VACUUM ANALYZE thread_meta")
        conn.execute("VACUUM ANALYZE interrupts")
    try:
        yield saver
    finally:
        saver.close()


def _pg_statements(saver: Any, monkeypatch: pytest.MonkeyPatch, query: ThreadQuery) -> list[Any]:
    import psycopg

    seen: list[tuple[str, Any]] = []
    original = psycopg.Connection.execute

    def execute(self: Any, sql: Any, params: Any = None, **kwargs: Any) -> Any:
        if not str(sql).startswith(("EXPLAIN", "SET", "BEGIN", "COMMIT", "ROLLBACK")):
            seen.append((str(sql), params))
        return original(self, sql, params, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(psycopg.Connection, "execute", execute)
        saver.search_threads(query, limit=PAGE, offset=PAGE)
    return [(q, p) for q, p in seen if "threads" in q or "thread_meta" in q]


def _read(node: dict[str, Any]) -> int:
    return int(node["Actual Rows"]) * int(node.get("Actual Loops", 1))


@pytest.mark.postgres
def test_postgres_thread_search_walks_the_sort_order_for_common_filters(
    pg_threads: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_results(pg_threads)
    for name, (query, index) in WALKS.items():
        page, *counts = reversed(_pg_statements(pg_threads, monkeypatch, query))
        nodes = plan_nodes(pg_threads.schema, *page)
        scans = [n for n in nodes if "Relation Name" in n]
        assert not [n for n in scans if n["Node Type"] == "Seq Scan"], (name, scans)
        assert not [n for n in nodes if n["Node Type"] == "Sort"], (name, nodes)
        [walked] = [n for n in scans if n.get("Relation Name") == "threads"]
        assert walked.get("Index Name") == index, (name, walked)
        # the walk stops at the page: (offset + limit) rows over the filter's share (1 in 7
        # for graph_id; 1 in 4 waiting; 3 in 4 idle), with room for chance
        assert _read(walked) <= 2 * PAGE * 8 + 50, (name, _read(walked))
        for statement in counts:
            for n in plan_nodes(pg_threads.schema, *statement):
                assert n["Node Type"] != "Seq Scan", (name, n)


@pytest.mark.postgres
def test_postgres_thread_search_reads_the_range_of_a_rare_filter(
    pg_threads: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, (query, index) in RANGES.items():
        page, *counts = reversed(_pg_statements(pg_threads, monkeypatch, query))
        assert "MATERIALIZED" in page[0], name
        nodes = plan_nodes(pg_threads.schema, *page)
        scans = [n for n in nodes if "Relation Name" in n or "Index Name" in n]
        assert not [n for n in scans if n["Node Type"] == "Seq Scan"], (name, scans)
        names = {n.get("Index Name") for n in scans}
        want = {"thread_meta": "thread_meta_pkey", "threads": "threads_pkey"}.get(index, index)
        assert want in names, (name, names)
        for n in scans:  # each range and probe reads at most the filter's threads
            assert _read(n) <= RANGE_CAP, (name, n.get("Index Name"), _read(n))
        for sort in [n for n in nodes if n["Node Type"] == "Sort"]:
            assert _read(sort) <= RANGE_CAP
        for statement in counts:
            for n in plan_nodes(pg_threads.schema, *statement):
                assert n["Node Type"] != "Seq Scan", (name, n)
