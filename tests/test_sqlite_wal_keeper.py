"""The SQLite store copies its write-ahead log back into the database in a thread of its own
(`interlock.checkpoint._wal_keeper`), not in the commit of whichever run crosses the limit."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from interlock import END, START, Command, StateGraph, interrupt
from interlock.checkpoint._wal_keeper import BACKSTOP_PAGES
from interlock.checkpoint.sqlite import SqliteSaver


def _graph(saver: SqliteSaver):  # type: ignore[no-untyped-def]
    g = StateGraph(dict)
    g.add_node("ask", lambda s: {"answer": interrupt("ok?")})
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile(checkpointer=saver)


def test_writes_are_checkpointed_by_the_keeper_not_by_the_commit(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with SqliteSaver.from_conn_string(str(path)) as saver:
        keeper = saver._wal
        assert keeper is not None
        app = _graph(saver)
        config = {"configurable": {"thread_id": "t"}}
        app.invoke({}, config)
        # the writing connection leaves checkpoints to the keeper (its own is a backstop)
        conn = saver._conn()
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == BACKSTOP_PAGES
        assert keeper.wait_for(1, timeout=30), "the keeper never checkpointed"
        done = keeper.checkpoints
        assert app.invoke(Command(resume="yes"), config)["answer"] == "yes"
        assert keeper.wait_for(done + 1, timeout=30), "a later write was not checkpointed"
        # everything the keeper copied is in the database file: a reader that ignores the
        # log sees the thread's writes once the log is emptied
        other = sqlite3.connect(path)
        busy, log, copied = other.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0 and log == copied
        other.close()
        assert app.get_state(config).values["answer"] == "yes"
    assert not keeper.running  # close() stops it


def test_a_store_that_only_reads_starts_no_keeper(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteSaver(str(path)).close()
    with SqliteSaver.from_conn_string(str(path)) as saver:
        assert saver.get_checkpoint("nobody") is None
        assert saver._wal is not None and not saver._wal.running


def test_an_in_memory_store_has_no_keeper() -> None:
    with SqliteSaver.from_conn_string(":memory:") as saver:
        assert saver._wal is None
        _graph(saver).invoke({}, {"configurable": {"thread_id": "t"}})
