"""PostgreSQL reads stay one index lookup however long the thread is.

Each test captures the statements the saver sends, then asks the server how it ran them
(`EXPLAIN ANALYZE`): no scan of `checkpoints` may filter rows out, or return more than the
chain a snapshot bounds.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator
from typing import Annotated, Any, TypedDict

import pytest

import interlock as il
from tests.pg import DSN, fresh_postgres_saver, plan_nodes

pytestmark = pytest.mark.postgres


THREAD_TURNS = 100  # 200 checkpoints
CHAIN_BOUND = 40
"""A cold read may fold the checkpoints since the last snapshot: fewer than this (the
snapshot policy's step bound is 16 plus a little); a scan of the thread returns 200."""


class Counter(TypedDict, total=False):
    log: Annotated[list[int], operator.add]


def _graph(saver: Any) -> Any:
    g = il.StateGraph(Counter)
    g.add_node("tick", lambda state: {"log": [1]})
    g.add_edge(il.START, "tick")
    return g.compile(checkpointer=saver)


@pytest.fixture
def long_thread() -> Iterator[tuple[Any, Any, dict]]:
    saver = fresh_postgres_saver()
    app = _graph(saver)
    config = {"configurable": {"thread_id": "long"}}
    for _ in range(THREAD_TURNS):
        app.invoke({"log": [0]}, config)
    try:
        yield saver, app, config
    finally:
        saver.close()


def _captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    import psycopg

    seen: list[tuple[str, Any]] = []
    original = psycopg.Connection.execute

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        seen.append((str(query), params))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    return seen


def _visits(schema: str, query: str, params: Any) -> list[tuple[str, int, int]]:
    """(node type, rows returned, rows filtered out) of each scan of `checkpoints`."""
    import psycopg

    with psycopg.connect(DSN) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        (plan,) = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + query, params).fetchone()
        conn.rollback()  # EXPLAIN ANALYZE runs writes too: undo them
    if isinstance(plan, str):
        plan = json.loads(plan)
    out: list[tuple[str, int, int]] = []

    def walk(node: dict) -> None:
        if node.get("Relation Name") == "checkpoints":
            removed = int(node.get("Rows Removed by Filter", 0)) + int(
                node.get("Rows Removed by Index Recheck", 0)
            )
            out.append((node["Node Type"], int(node["Actual Rows"]), removed))
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return out


def _assert_point_reads(schema: str, statements: list[tuple[str, Any]]) -> None:
    checked = 0
    for query, params in statements:
        if "checkpoints" not in query or not query.lstrip().upper().startswith(("SELECT", "WITH")):
            continue
        for node, rows, removed in _visits(schema, query, params):
            checked += 1
            assert rows <= CHAIN_BOUND and removed == 0, (
                f"{node} on checkpoints returned {rows} rows and filtered {removed}: {query[:160]}"
            )
    assert checked, "no statement read the checkpoints table"


def test_head_read_is_one_lookup(
    long_thread: tuple[Any, Any, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    saver, _, _ = long_thread
    seen = _captured(monkeypatch)
    newest = next(iter(saver.list_checkpoints("long", limit=1)))
    seen.clear()
    stored = saver.get_checkpoint("long")
    assert stored is not None and stored.record.checkpoint_id == newest.checkpoint_id
    _assert_point_reads(saver.schema, seen)


def test_lease_and_head_read_is_one_lookup(
    long_thread: tuple[Any, Any, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    saver, _, _ = long_thread
    head = saver.get_checkpoint("long")
    assert head is not None
    seen = _captured(monkeypatch)
    taken, stored = saver.acquire_and_get(
        "long", "reader", ttl=5.0, after=head.record.checkpoint_id
    )
    assert taken and stored is not None
    assert stored.record.checkpoint_id == head.record.checkpoint_id
    saver.release_thread("long", "reader")
    _assert_point_reads(saver.schema, seen)


def test_next_turn_reads_point_rows(
    long_thread: tuple[Any, Any, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A whole turn on a long thread (lease, read, commits) never scans the thread."""
    saver, app, config = long_thread
    seen = _captured(monkeypatch)
    out = app.invoke({"log": [0]}, config)
    assert len(out["log"]) == 2 * THREAD_TURNS + 2
    _assert_point_reads(saver.schema, seen)


# ---- the inbox and the thread list at scale ------------------------------------------------

INBOX_ROWS = 20_000


@pytest.fixture
def crowded() -> Iterator[Any]:
    """A store with 20,000 interrupts (one in ten pending) on 20,000 threads, written in
    bulk with SQL, then analysed, as a busy deployment's tables would be."""
    import psycopg

    saver = fresh_postgres_saver()
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{saver.schema}"')
        conn.execute(
            "INSERT INTO threads (thread_id, created_at, updated_at, head_id) "
            "SELECT 't' || g, now(), now() - g * interval '1 second', 'c' || g "
            "FROM generate_series(1, %s) g",
            (INBOX_ROWS,),
        )
        conn.execute(
            "INSERT INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, parent_id, step, "
            "source, created_at, writes, snapshot, next, sends, barriers, metadata, base_id, "
            "bytes_since, steps_since, snapshot_bytes) SELECT 't' || g, '', 'c' || g, NULL, 0, "
            "'loop', now(), '[]', '{}', '[]', '[]', '{}', '{}', 'c' || g, 0, 0, 2 "
            "FROM generate_series(1, %s) g",
            (INBOX_ROWS,),
        )
        conn.execute(
            "INSERT INTO interrupts (interrupt_id, thread_id, checkpoint_ns, checkpoint_id, "
            "task_id, task_name, idx, kind, status, value, created_at, metadata) "
            "SELECT md5(g::text), 't' || g, '', 'c' || g, 'task', 'ask', 0, 'interrupt', "
            "CASE WHEN g %% 10 = 0 THEN 'pending' ELSE 'resolved' END, '{\"q\": 1}', "
            "now() - g * interval '1 second', '{}' FROM generate_series(1, %s) g",
            (INBOX_ROWS,),
        )
        for table in ("threads", "checkpoints", "interrupts"):
            conn.execute(f"ANALYZE {table}")
    try:
        yield saver
    finally:
        saver.close()


def _no_sort_and_few_rows(nodes: list[dict], table: str, bound: int) -> None:
    assert not [n for n in nodes if n["Node Type"] == "Sort"], "the page was sorted, not read"
    scans = [n for n in nodes if n.get("Relation Name") == table]
    assert scans, f"no scan of {table}"
    for scan in scans:
        assert "Seq Scan" not in scan["Node Type"], f"{table} was read whole"
        assert int(scan["Actual Rows"]) * int(scan.get("Actual Loops", 1)) <= bound


def test_inbox_pages_are_index_ranges(crowded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _captured(monkeypatch)
    first = crowded.list_interrupts(status="pending", limit=50)
    second = crowded.list_interrupts(status="pending", limit=50, cursor=first.next_cursor)
    assert len(first.items) == len(second.items) == 50
    assert {i.status for i in first.items + second.items} == {"pending"}
    assert first.items[-1].created_at <= second.items[0].created_at  # oldest first
    pages = [(q, p) for q, p in seen if "FROM interrupts" in q]
    assert len(pages) == 2
    for query, params in pages:
        _no_sort_and_few_rows(plan_nodes(crowded.schema, query, params), "interrupts", 51)


def test_thread_list_page_is_an_index_range(crowded: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _captured(monkeypatch)
    threads = crowded.list_threads(limit=20, offset=40)
    assert len(threads) == 20
    assert [t.thread_id for t in threads] == [f"t{g}" for g in range(41, 61)]  # newest first
    statuses = {t.thread_id: t.status for t in threads}
    assert statuses["t50"] == statuses["t60"] == "interrupted"  # every tenth one waits
    assert statuses["t41"] == "finished"  # nothing next, nothing pending
    (query, params) = next((q, p) for q, p in seen if "FROM threads t" in q)
    nodes = plan_nodes(crowded.schema, query, params)
    _no_sort_and_few_rows(nodes, "threads", 60)
