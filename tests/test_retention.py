"""Retention on every store: finished threads expire, running and waiting ones stay."""

from __future__ import annotations

import operator
from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypedDict

from interlock import START, StateGraph, interrupt
from interlock.checkpoint._migrations import MIGRATIONS


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


def test_expire_finished_keeps_waiting_threads(saver) -> None:
    g = StateGraph(S)
    g.add_node("work", lambda s: {"log": ["done"]})
    g.add_edge(START, "work")
    done = g.compile(checkpointer=saver)
    g2 = StateGraph(S)
    g2.add_node("ask", lambda s: {"log": [interrupt("ok?")]})
    g2.add_edge(START, "ask")
    waiting = g2.compile(checkpointer=saver)
    for i in range(3):
        done.invoke({"log": []}, {"configurable": {"thread_id": f"done-{i}"}})
    waiting.invoke({"log": []}, {"configurable": {"thread_id": "waiting"}})

    assert saver.expire_finished(timedelta(hours=1)) == 0  # nothing is that old yet
    deleted = saver.expire_finished(-1)  # a TTL in the past: every finished thread is due
    assert deleted == 6  # two checkpoints per finished thread
    assert [t.thread_id for t in saver.list_threads()] == ["waiting"]
    assert waiting.get_state({"configurable": {"thread_id": "waiting"}}).interrupts


def test_sqlite_migrations_are_recorded_once(tmp_path: Path) -> None:
    from interlock.checkpoint.sqlite import SqliteSaver

    path = tmp_path / "m.db"
    with SqliteSaver(path) as first:
        assert first.schema_versions() == [v for v, _, _ in MIGRATIONS]
    with SqliteSaver(path) as again:  # reopening applies nothing twice
        assert again.schema_versions() == [v for v, _, _ in MIGRATIONS]
        mode = again._conn().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
