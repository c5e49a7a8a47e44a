"""A claim reads the fronts of the threads' queues, not every open run, on SQLite and
PostgreSQL, before the tables have statistics and after `ANALYZE` (bench/claim_scale.py
times it).

The stores are filled with SQL: 3,000 open runs round-robin on 100 threads (each thread's
first run is its front; the others wait behind it), one in four given back for a version a
live process advertises (a claimer not running it may not take them; 25 fronts are so
marked). Each test asks the database how it ran the claim statement the store sends, in
two states: every front free (the claim takes the oldest unmarked one) and every claimable
front held by another worker (the claim finds nothing, having looked at each front once).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint.base import WorkerVersion
from tests._statements import recorded_statements
from tests.pg import plan_nodes

RUNS, THREADS = 3000, 100
EPOCH = 1_700_000_000
OTHER = "v-other"


def _fill(store: Any, generate: str, ts: str) -> None:
    """`generate`: SQL giving the numbers 1..RUNS as `g`; `ts`: a timestamp of `g` seconds."""
    store.advertise_versions(
        [WorkerVersion(owner="elsewhere", agent="g", graph="g", version_id=OTHER)], ttl=86400
    )
    with store._write() as conn:
        conn.execute(
            f"{generate} INSERT INTO runs (run_id, thread_id, agent, input, status, created_at, "
            "updated_at, attempts, for_graph, for_version) "
            f"SELECT 'run-' || g, 'thread-' || (g % {THREADS}), 'g', '{{}}', 'queued', "
            f"{ts}, {ts}, 0, CASE WHEN g % 4 = 0 THEN 'g' END, "
            f"CASE WHEN g % 4 = 0 THEN '{OTHER}' END FROM s"
        )


def _hold_every_front(store: Any, held: bool) -> None:
    """Other workers run every claimable front (long leases), or none."""
    with store._write() as conn:
        if held:
            conn.execute(
                "UPDATE runs SET status = 'running', owner = 'other', "
                "lease_until = 4102444800.0, attempts = 1 "
                "WHERE run_id IN (SELECT run_id FROM run_fronts) AND for_version IS NULL"
            )
        else:
            conn.execute(
                "UPDATE runs SET status = 'queued', owner = NULL, lease_until = NULL, "
                "attempts = 0 WHERE owner = 'other'"
            )


def _claim(store: Any) -> Any:
    """Claim once, then give the run back."""
    run = store.claim_run("me", ttl=60)
    if run is not None:
        assert store.release_run(run.run_id, "me")
    return run


ANALYSED = ("", "ANALYZE runs", "ANALYZE runs; ANALYZE run_fronts; ANALYZE worker_versions")
"""The statistics the planner has: none (fresh tables), of `runs` only (its table had rows
when last analysed, `run_fronts` none: SQLite then took a join for one whose `run_fronts`
has a million rows, and built a Bloom filter of every run first), of every table."""


def _states(store: Any) -> Iterator[tuple[str, bool]]:
    """(statistics, held): each state the claim's plan is checked in."""
    for analysed in ANALYSED:
        with store._write() as conn:
            for statement in filter(None, analysed.split("; ")):
                conn.execute(statement)
        for held in (False, True):
            _hold_every_front(store, held)
            yield analysed, held
        _hold_every_front(store, False)


# ---- SQLite ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_queue(tmp_path: Path) -> Iterator[Any]:
    from interlock.checkpoint.sqlite import SqliteSaver

    store = SqliteSaver(tmp_path / "queue.db")
    generate = f"WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {RUNS})"
    ts = f"strftime('%Y-%m-%dT%H:%M:%f000+00:00', {EPOCH} + g, 'unixepoch')"
    _fill(store, generate, ts)
    try:
        yield store
    finally:
        store.close()


def _sqlite_claim_plan(store: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[str]]:
    run, seen = recorded_statements(monkeypatch, lambda: _claim(store))
    [(query, params)] = [(q, p) for q, p in seen if "FROM run_fronts" in q]
    rows = store._conn().execute("EXPLAIN QUERY PLAN " + query, params).fetchall()
    return run, [str(row[-1]) for row in rows]


def _assert_sqlite_walks_the_fronts(plan: list[str]) -> None:
    assert any("SCAN f USING" in line and "INDEX run_fronts_order" in line for line in plan)
    assert "SEARCH r USING INDEX sqlite_autoindex_runs_1 (run_id=?)" in plan, plan
    assert not [line for line in plan if line.startswith("SCAN r")], plan  # no table scan
    assert not [line for line in plan if "TEMP B-TREE" in line or "BLOOM" in line], plan


def test_sqlite_claim_walks_the_fronts(sqlite_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for analysed, held in _states(sqlite_queue):
        run, plan = _sqlite_claim_plan(sqlite_queue, monkeypatch)
        if held:
            assert run is None, analysed
        else:  # the oldest front not marked for the other version
            assert run is not None and run.run_id == "run-1", analysed
        _assert_sqlite_walks_the_fronts(plan)


# ---- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def pg_queue() -> Iterator[Any]:
    from tests.pg import fresh_postgres_saver

    store = fresh_postgres_saver()
    with store._write() as conn:  # fresh tables: no statistics unless the test asks
        for table in ("runs", "run_fronts", "worker_versions"):
            conn.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    _fill(
        store, f"WITH s AS (SELECT generate_series(1, {RUNS}) AS g)", f"to_timestamp({EPOCH} + g)"
    )
    try:
        yield store
    finally:
        store.close()


def _pg_claim_plan(store: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[dict]]:
    import psycopg

    seen: list[tuple[str, tuple[Any, ...]]] = []
    original = psycopg.Connection.execute

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        seen.append((str(query), tuple(params or ())))
        return original(self, query, params, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(psycopg.Connection, "execute", execute)
        run = _claim(store)
    [(query, params)] = [(q, p) for q, p in seen if "FROM run_fronts" in q]
    return run, plan_nodes(store.schema, query, params)  # the claim's update: rolled back


def _assert_pg_walks_the_fronts(nodes: list[dict], fronts_read: int) -> None:
    def read(node: dict) -> int:
        return int(node["Actual Rows"]) * int(node.get("Actual Loops", 1))

    runs = [
        n for n in nodes if n.get("Relation Name") == "runs" and n["Node Type"] != "ModifyTable"
    ]
    assert runs and not [n for n in runs if n["Node Type"] == "Seq Scan"], runs
    lookups = [n for n in runs if n.get("Index Name") == "runs_pkey" and "Index Cond" in n]
    walk = [
        n for n in lookups if int(n.get("Actual Loops", 1)) > 0 and "f.run_id" in n["Index Cond"]
    ]
    assert walk, lookups  # each front's run, looked up by its id
    assert sum(int(n.get("Actual Loops", 1)) for n in walk) <= fronts_read
    for n in runs:  # no range of runs: one row per lookup at most
        assert n["Node Type"] in ("Index Scan", "Index Only Scan") and read(n) <= fronts_read
    for n in nodes:
        if n["Node Type"] == "Sort":  # the fronts at most, never the open runs
            assert read(n) <= THREADS, n
        if n.get("Relation Name") == "run_fronts":
            assert read(n) <= THREADS


@pytest.mark.postgres
def test_postgres_claim_walks_the_fronts(pg_queue: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    for analysed, held in _states(pg_queue):
        run, nodes = _pg_claim_plan(pg_queue, monkeypatch)
        if held:
            assert run is None, analysed
            _assert_pg_walks_the_fronts(nodes, fronts_read=THREADS)
        else:
            assert run is not None and run.run_id == "run-1", analysed
            _assert_pg_walks_the_fronts(nodes, fronts_read=1)
