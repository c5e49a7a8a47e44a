"""The inbox's filters at scale are index ranges, on SQLite and PostgreSQL: `agent=`,
`requested_by=` and `mine` (the approvers' index) read one ordered range per page, never a
table or a page filtered afterwards (issue 13).

The stores are filled in bulk with SQL: 20,000 requests on 20,000 threads, one in ten
pending; seven agents; fifty-three requesters; one rule in a hundred names the approver `rare`,
the others let any approver decide.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint._sql_core import SqlCore
from interlock.checkpoint.sqlite import SqliteSaver
from tests.pg import plan_nodes

ROWS = 20_000
PAGE = 50


def _metadata_sql(g: str, concat: str) -> dict[str, str]:
    """SQL expressions of the bulk rows' fields, over the series value `g`."""
    return {
        "status": f"CASE WHEN {g} % 10 = 0 THEN 'pending' ELSE 'resolved' END",
        "graph": f"'agent' {concat} ({g} % 7)",
        "requester": f"'user' {concat} ({g} % 53)",
    }


def _captured(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...]]]:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    original = SqlCore._x

    def x(self: Any, conn: Any, text: str, params: Any = ()) -> Any:
        if "FROM interrupts" in text or "FROM (" in text:
            seen.append((self._q(text), tuple(params)))
        return original(self, conn, text, params)

    monkeypatch.setattr(SqlCore, "_x", x)
    return seen


def _pages(saver: Any, **filters: Any) -> list[Any]:
    first = saver.list_interrupts(limit=PAGE, **filters)
    second = saver.list_interrupts(limit=PAGE, cursor=first.next_cursor, **filters)
    return [first, second]


def _check_results(saver: Any) -> None:
    """What each filter returns (so that the plans below are of queries that work)."""
    [a, b] = _pages(saver, agent="agent3")
    assert len(a.items) == len(b.items) == PAGE
    assert {i.metadata["graph"] for i in a.items + b.items} == {"agent3"}
    assert a.items[-1].created_at <= b.items[0].created_at
    [c, _] = _pages(saver, requested_by="user20")
    assert {i.metadata["requested_by"] for i in c.items} == {"user20"}
    [rare, more] = _pages(saver, eligible=["rare"])
    assert len(rare.items) == PAGE and {tuple(i.metadata["approvers"]) for i in rare.items} == {
        ("rare",)
    }
    assert more.items  # 200 pending requests name `rare`: the second page has some too
    [anyone, _] = _pages(saver, eligible=["rare", "role:approver", "*"], not_requested_by="user0")
    assert len(anyone.items) == PAGE
    assert all(i.metadata.get("requested_by") != "user0" for i in anyone.items)


# ---- SQLite ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_crowded(tmp_path: Path) -> Iterator[SqliteSaver]:
    path = tmp_path / "crowded.db"
    SqliteSaver(path).close()  # the schema
    f = _metadata_sql("g", "||")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?) "
            "INSERT INTO interrupts (interrupt_id, thread_id, checkpoint_ns, checkpoint_id, "
            "task_id, task_name, idx, kind, status, value, created_at, metadata) "
            f"SELECT printf('%032x', g), 't' || g, '', 'c' || g, 'task', 'ask', 0, 'interrupt', "
            f"{f['status']}, '{{}}', strftime('%Y-%m-%dT%H:%M:%f000+00:00', 1700000000 + g, "
            f"'unixepoch'), json_object('graph', {f['graph']}, 'requested_by', "
            f"{f['requester']}, 'approvers', CASE WHEN g % 100 = 0 THEN json_array('rare') "
            "ELSE NULL END) FROM s",
            (ROWS,),
        )
        conn.execute(
            "INSERT INTO threads (thread_id, created_at, updated_at, head_id, owner) "
            "SELECT thread_id, created_at, created_at, checkpoint_id, "
            "json_extract(metadata, '$.requested_by') FROM interrupts"
        )
        conn.execute(
            "INSERT INTO pending_approvers SELECT CASE WHEN json_extract(metadata, "
            "'$.approvers') IS NULL THEN '*' ELSE 'rare' END, created_at, interrupt_id, "
            "thread_id FROM interrupts WHERE status = 'pending'"
        )
        conn.execute("ANALYZE")
    with SqliteSaver(path) as saver:
        yield saver


def _sqlite_plan(saver: SqliteSaver, query: str, params: tuple[Any, ...]) -> list[str]:
    rows = saver._conn().execute("EXPLAIN QUERY PLAN " + query, params).fetchall()
    return [str(row[-1]) for row in rows]


def test_sqlite_inbox_filters_are_index_ranges(
    sqlite_crowded: SqliteSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _check_results(sqlite_crowded)
    seen = _captured(monkeypatch)
    mine = {"eligible": ["rare", "role:approver", "*"]}
    expected = {
        "no filter": ({}, "interrupts_inbox"),
        "agent": ({"agent": "agent3"}, "interrupts_agent"),
        "requested_by": ({"requested_by": "user20"}, "interrupts_requester"),
        # the table is its primary key (WITHOUT ROWID, migration 17)
        "eligible": (mine, "SEARCH p USING PRIMARY KEY (principal=?)"),
        "eligible, not mine": (
            {**mine, "not_requested_by": "user0"},
            "SEARCH p USING PRIMARY KEY (principal=?)",
        ),
    }
    for name, (kwargs, index) in expected.items():
        seen.clear()
        _pages(sqlite_crowded, **kwargs)
        assert len(seen) == 2
        for query, params in seen:
            plan = _sqlite_plan(sqlite_crowded, query, params)
            scans = [line for line in plan if line.startswith("SCAN")]
            assert not [s for s in scans if "interrupts" in s or s.startswith("SCAN i")], plan
            assert any(index in line for line in plan), (name, plan)
            if "eligible" not in name:  # one range read in order: no sort at all
                assert not [line for line in plan if "TEMP B-TREE" in line], plan


# ---- PostgreSQL --------------------------------------------------------------------------


@pytest.fixture
def pg_crowded() -> Iterator[Any]:
    import psycopg

    from tests.pg import DSN, fresh_postgres_saver

    saver = fresh_postgres_saver()
    f = _metadata_sql("g", "||")
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{saver.schema}"')
        conn.execute(
            "INSERT INTO interrupts (interrupt_id, thread_id, checkpoint_ns, checkpoint_id, "
            "task_id, task_name, idx, kind, status, value, created_at, metadata) "
            "SELECT md5(g::text), 't' || g, '', 'c' || g, 'task', 'ask', 0, 'interrupt', "
            f"{f['status'].replace('%', '%%')}, '{{}}', "
            "timestamptz '2026-01-01' + g * interval '1 second', "
            f"jsonb_build_object('graph', {f['graph'].replace('%', '%%')}, 'requested_by', "
            f"{f['requester'].replace('%', '%%')}, 'approvers', "
            "CASE WHEN g %% 100 = 0 THEN jsonb_build_array('rare') ELSE NULL END) "
            "FROM generate_series(1, %s) g",
            (ROWS,),
        )
        # in an order of their own: a store's rows are not laid out in the order of their
        # last update, which would make walking `threads_updated` look as cheap as a range
        conn.execute(
            "INSERT INTO threads (thread_id, created_at, updated_at, head_id, owner) "
            "SELECT thread_id, created_at, created_at, checkpoint_id, "
            "metadata->>'requested_by' FROM interrupts ORDER BY md5(thread_id)"
        )
        conn.execute("ANALYZE threads")
        conn.execute(
            "INSERT INTO pending_approvers SELECT CASE WHEN metadata->'approvers' = 'null' "
            "THEN '*' ELSE 'rare' END, created_at, interrupt_id, thread_id FROM interrupts "
            "WHERE status = 'pending'"
        )
        conn.execute("ANALYZE interrupts")
        conn.execute("ANALYZE pending_approvers")
    try:
        yield saver
    finally:
        saver.close()


@pytest.mark.postgres
def test_postgres_inbox_filters_are_index_ranges(
    pg_crowded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    _check_results(pg_crowded)
    seen: list[tuple[str, Any]] = []
    original = psycopg.Connection.execute

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        text = str(query)
        if ("FROM interrupts" in text or "FROM (" in text) and not text.startswith("EXPLAIN"):
            seen.append((text, params))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    mine = {"eligible": ["rare", "role:approver", "*"]}
    filters = {
        "no filter": ({}, "interrupts_inbox"),
        "agent": ({"agent": "agent3"}, "interrupts_agent"),
        "requested_by": ({"requested_by": "user20"}, "interrupts_requester"),
        "eligible": (mine, "pending_approvers_pkey"),
        "eligible, not mine": ({**mine, "not_requested_by": "user0"}, "pending_approvers_pkey"),
    }
    for name, (kwargs, index) in filters.items():
        seen.clear()
        _pages(pg_crowded, **kwargs)
        assert len(seen) == 2
        principals = len(kwargs.get("eligible", [None]))
        for query, params in seen:
            nodes = plan_nodes(pg_crowded.schema, query, params)
            scans = [n for n in nodes if "Relation Name" in n]
            assert not [n for n in scans if "Seq Scan" in n["Node Type"]], (name, scans)
            assert any(n.get("Index Name") == index for n in scans), (name, scans)
            for scan in scans:  # each range stops at its page: at most a page per principal
                read = int(scan["Actual Rows"]) * int(scan.get("Actual Loops", 1))
                assert read <= principals * (PAGE + 1), (name, scan["Node Type"], read)
            sorts = [n for n in nodes if n["Node Type"] == "Sort"]
            if "eligible" not in name:
                assert not sorts, "the page was sorted, not read in order"
            for sort in sorts:  # merging the principals' pages sorts at most those pages
                assert int(sort["Actual Rows"]) <= principals * (PAGE + 1)


def test_sqlite_a_persons_thread_list_is_an_index_range(sqlite_crowded: SqliteSaver) -> None:
    seen: list[tuple[str, tuple[Any, ...]]] = []
    original = SqlCore._x

    def x(self: Any, conn: Any, text: str, params: Any = ()) -> Any:
        if "FROM threads t" in text:
            seen.append((self._q(text), tuple(params)))
        return original(self, conn, text, params)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(SqlCore, "_x", x)
        page = sqlite_crowded.list_threads(owner="user20", limit=PAGE, offset=PAGE)
    assert len(page) == PAGE and {t.owner for t in page} == {"user20"}
    assert [t.updated_at for t in page] == sorted((t.updated_at for t in page), reverse=True)
    [(query, params)] = seen
    plan = _sqlite_plan(sqlite_crowded, query, params)
    assert any("threads_owner" in line for line in plan), plan
    assert not [line for line in plan if "TEMP B-TREE" in line or line.startswith("SCAN t")]


@pytest.mark.postgres
def test_postgres_a_persons_thread_list_is_an_index_range(
    pg_crowded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    seen: list[tuple[str, Any]] = []
    original = psycopg.Connection.execute

    def execute(self: Any, query: Any, params: Any = None, **kwargs: Any) -> Any:
        if "FROM threads t" in str(query):
            seen.append((str(query), params))
        return original(self, query, params, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "execute", execute)
    page = pg_crowded.list_threads(owner="user20", limit=PAGE, offset=PAGE)
    monkeypatch.undo()
    assert len(page) == PAGE and {t.owner for t in page} == {"user20"}
    [(query, params)] = seen
    nodes = plan_nodes(pg_crowded.schema, query, params)
    scans = [n for n in nodes if n.get("Relation Name") == "threads"]
    assert [n.get("Index Name") for n in scans] == ["threads_owner"], scans
    assert not [n for n in nodes if n["Node Type"] == "Sort"]
    assert int(scans[0]["Actual Rows"]) <= 2 * PAGE  # the range up to the page, no more
