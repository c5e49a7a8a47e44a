"""The scheduler's question — which enabled crons of its agents are due now? — is a range of
the partial index `crons_due` on SQLite and PostgreSQL, whatever the number of crons: 20,000
crons, of which 9 in 10 are disabled or ended (no next due time) and 30 are due; the due
query reads the due ones (PostgreSQL: at most those rows from the index), never the table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from interlock.checkpoint.sqlite import SqliteSaver
from tests._statements import recorded_statements
from tests.pg import plan_nodes

ROWS = 20_000
DUE = 30
NOW = datetime(2027, 1, 1, tzinfo=UTC)

FILL = (
    "INSERT INTO crons (cron_id, agent, thread_id, owner, schedule, timezone, payload, "
    "metadata, on_run_completed, end_time, enabled, next_run_date, created_at, updated_at) "
    "VALUES (?, 'counter', NULL, 'bob', '0 0 * * *', NULL, ?J, ?J, 'delete', NULL, ?, ?, ?, ?)"
)


def _rows() -> Iterator[tuple[Any, ...]]:
    """Crons `c00000`..: one in ten enabled with a next due time (the first `DUE` of those
    due at `NOW`, the others in the years after), the rest disabled or ended."""
    enabled = 0
    for i in range(ROWS):
        live = i % 10 == 0
        if live:
            enabled += 1
            year = 2026 if enabled <= DUE else 2028 + enabled % 50
            nxt: Any = datetime(year, 1 + i % 12, 1, tzinfo=UTC)
        else:
            nxt = None if i % 2 else datetime(2026, 1, 1, tzinfo=UTC)
        yield (f"c{i:05}", "{}", "{}", 1 if live else 0, nxt, NOW, NOW)


def _fill(saver: Any) -> None:
    ts = saver.dialect.ts
    rows = [(*row[:4], ts(row[4]), ts(row[5]), ts(row[6])) for row in _rows()]
    with saver.maintenance(), saver._write() as conn:
        conn.cursor().executemany(saver._q(FILL), rows)


def _due(saver: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[str, tuple[Any, ...]]:
    found, statements = recorded_statements(
        monkeypatch, lambda: saver.due_crons(NOW, limit=100, agents=["counter", "orders"])
    )
    assert len(found) == DUE and all(c.enabled for c in found)
    [statement] = [s for s in statements if "next_run_date <=" in s[0]]
    return statement


def test_sqlite_due_crons_read_the_due_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SqliteSaver(tmp_path / "crons.db") as saver:
        _fill(saver)
        saver._conn().execute("ANALYZE")
        query, params = _due(saver, monkeypatch)
        plan = [str(r[-1]) for r in saver._conn().execute("EXPLAIN QUERY PLAN " + query, params)]
        assert any("USING INDEX crons_due" in line for line in plan), plan
        assert not [line for line in plan if "TEMP B-TREE" in line], plan  # no sort


@pytest.mark.postgres
def test_postgres_due_crons_read_the_due_range(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.pg import fresh_postgres_saver

    saver = fresh_postgres_saver()
    try:
        _fill(saver)
        with saver._write() as conn:
            conn.execute("ANALYZE crons")
        query, params = _due(saver, monkeypatch)
        nodes = plan_nodes(saver.schema, query, params)
        scans = [n for n in nodes if "Relation Name" in n]
        assert not [n for n in scans if n["Node Type"] == "Seq Scan"], scans
        assert [n.get("Index Name") for n in scans] == ["crons_due"], scans
        assert int(scans[0]["Actual Rows"]) == DUE
        assert not [n for n in nodes if n["Node Type"] == "Sort"], nodes
    finally:
        saver.close()
