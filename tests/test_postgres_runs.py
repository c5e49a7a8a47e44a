"""The PostgreSQL run queue: a claim is one statement, and claimers skip locked rows instead
of queueing behind them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.pg import DSN, fresh_postgres_saver
from tests.test_postgres_statements import _spy

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg() -> Iterator[Any]:
    s = fresh_postgres_saver()
    try:
        yield s
    finally:
        s.close()


def test_a_claim_is_one_statement_that_skips_locked_rows(pg: Any, monkeypatch: Any) -> None:
    first = pg.enqueue_run(thread_id="a", agent="x", input={})
    log = _spy(pg, monkeypatch)
    claimed = pg.claim_run("w1", ttl=60)
    assert claimed is not None and claimed.run_id == first.run_id
    assert len(log) == 1 and "FOR UPDATE SKIP LOCKED" in log[0]


def test_a_claimer_does_not_wait_for_a_row_another_transaction_holds(pg: Any) -> None:
    import psycopg

    held = pg.enqueue_run(thread_id="a", agent="x", input={})
    free = pg.enqueue_run(thread_id="b", agent="x", input={})
    with psycopg.connect(DSN) as other:  # a claimer in the middle of its transaction
        other.execute(f'SET search_path TO "{pg.schema}"')
        other.execute("SET lock_timeout = '5s'")
        locked = other.execute(
            "SELECT run_id FROM runs WHERE run_id = %s FOR UPDATE", (held.run_id,)
        ).fetchone()
        assert locked is not None
        claimed = pg.claim_run("w1", ttl=60)  # does not block on `held`: takes the next
        assert claimed is not None and claimed.run_id == free.run_id
        other.rollback()
    again = pg.claim_run("w2", ttl=60)
    assert again is not None and again.run_id == held.run_id
