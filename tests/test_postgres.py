"""PostgreSQL-specific guarantees: exactly once across 8 processes, a lost connection, pool
recovery, operator-readable JSONB."""

from __future__ import annotations

import operator
import time
from pathlib import Path
from typing import Annotated, TypedDict

import pytest

from interlock import START, Command, StateGraph, StoreUnavailable, interrupt
from interlock.checkpoint._migrations import MIGRATIONS
from tests._tcpproxy import TcpProxy
from tests.pg import DSN, new_schema, postgres_spec

pytestmark = pytest.mark.postgres


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: str


def graph_for(saver, hook=None):
    def work(state: S) -> dict:
        if hook is not None:
            hook()
        return {"log": ["work"]}

    g = StateGraph(S)
    g.add_node("ask", lambda s: {"answer": interrupt({"q": "approve?"})})
    g.add_node("work", work)
    g.add_edge(START, "ask")
    g.add_edge("ask", "work")
    return g.compile(checkpointer=saver)


@pytest.mark.slow
def test_eight_processes_fifty_rounds_exactly_once(tmp_path: Path) -> None:
    from tests.test_multiprocess import race

    race(postgres_spec(), tmp_path / "effects.log", processes=8, rounds=50)


def test_lost_connection_is_store_unavailable_and_the_pool_recovers() -> None:
    from interlock.checkpoint.postgres import PostgresSaver

    proxy = TcpProxy("127.0.0.1", 5432)
    url = DSN.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
    saver = PostgresSaver(url, schema=new_schema(), timeout=2.0)
    try:
        graph = graph_for(saver, hook=proxy.cut)  # the database vanishes mid-run
        graph.lease_ttl = 0.5
        config = {"configurable": {"thread_id": "t"}}
        paused = graph.invoke({"log": []}, config)
        iid = paused["__interrupt__"][0].id
        with pytest.raises(StoreUnavailable):
            graph.invoke(Command(resume={iid: "yes"}), config)
        with pytest.raises(StoreUnavailable):
            graph.get_state(config)
        proxy.restore()
        state = _eventually(lambda: graph.get_state(config))  # the pool reconnects by itself
        assert state.next == ("work",)  # the decision committed; the failed step did not
        assert state.values == {"log": [], "answer": "yes"}
        # the failed run could not release its lease: let it expire (the behaviour under test)
        time.sleep(0.6)
        assert graph_for(saver).invoke(None, config) == {"log": ["work"], "answer": "yes"}
    finally:
        saver.close()
        proxy.close()


def _eventually(fn, seconds: float = 20.0):
    """Retry `fn` while the store is unavailable (the pool reconnects with backoff)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return fn()
        except StoreUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_terminated_backends_are_replaced() -> None:
    import psycopg

    from interlock.checkpoint.postgres import PostgresSaver

    schema = new_schema()
    saver = PostgresSaver(DSN + "?application_name=interlock_kill_test", schema=schema)
    try:
        graph = graph_for(saver)
        config = {"configurable": {"thread_id": "t"}}
        graph.invoke({"log": []}, config)
        with psycopg.connect(DSN, autocommit=True) as admin:
            killed = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'interlock_kill_test'"
            ).fetchone()[0]
        assert killed >= 1
        # the dead connection may fail one call with StoreUnavailable; nothing is lost, and
        # the pool replaces it
        graph.lease_ttl = 0.2
        assert _eventually(lambda: graph.invoke(Command(resume="ok"), config))["log"] == ["work"]
    finally:
        saver.close()


def test_operators_can_query_pending_approvals_with_plain_sql() -> None:
    import psycopg

    from interlock.checkpoint.postgres import PostgresSaver

    schema = new_schema()
    saver = PostgresSaver(DSN, schema=schema)
    try:
        graph = graph_for(saver)
        for i in range(3):
            graph.invoke({"log": []}, {"configurable": {"thread_id": f"t{i}"}})
        with psycopg.connect(DSN, autocommit=True) as conn:
            rows = conn.execute(
                f"SELECT thread_id, value->>'q' FROM \"{schema}\".interrupts "
                "WHERE status = 'pending' ORDER BY thread_id"
            ).fetchall()
            types = conn.execute(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = %s "
                "AND table_name = 'checkpoints' AND column_name = 'writes'",
                (schema,),
            ).fetchone()
            compression = conn.execute(
                "SELECT attname, attcompression FROM pg_attribute WHERE attrelid = "
                "format('%%I.checkpoints', %s::text)::regclass "
                "AND attname IN ('writes', 'snapshot') ORDER BY attname",
                (schema,),
            ).fetchall()
        assert rows == [("t0", "approve?"), ("t1", "approve?"), ("t2", "approve?")]
        assert types == ("jsonb",)
        assert compression == [("snapshot", "l"), ("writes", "l")]  # migration 2: LZ4
    finally:
        saver.close()


def test_processes_starting_together_create_the_schema_once() -> None:
    import subprocess
    import sys

    schema = new_schema()
    code = (
        "import sys\n"
        "from interlock.checkpoint.postgres import PostgresSaver\n"
        f"PostgresSaver({DSN!r}, schema={schema!r}).close()\n"
        "print('ok')\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert outs == ["ok"] * 4
    from interlock.checkpoint.postgres import PostgresSaver

    with PostgresSaver(DSN, schema=schema) as saver:
        assert saver.schema_versions() == [v for v, _, _ in MIGRATIONS]
