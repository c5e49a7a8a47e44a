"""Storage grows linearly: a 400-message thread costs a few copies of its text, not 200."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated, TypedDict

from interlock import START, AIMessage, HumanMessage, SqliteSaver, StateGraph, add_messages


class Chat(TypedDict, total=False):
    messages: Annotated[list, add_messages]


def test_a_400_message_thread_is_at_most_5x_its_text_on_sqlite(tmp_path: Path) -> None:
    g = StateGraph(Chat)
    g.add_node("reply", lambda s: {"messages": [AIMessage(content="a" * 500)]})
    g.add_edge(START, "reply")
    path = tmp_path / "thread.db"
    saver = SqliteSaver(path)
    app = g.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "long"}}
    for _ in range(200):
        app.invoke({"messages": [HumanMessage(content="h" * 500)]}, config)
    assert len(app.get_state(config).values["messages"]) == 400
    saver.close()
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    raw = 400 * 500
    size = path.stat().st_size
    assert size <= 5 * raw, f"{size} bytes is {size / raw:.1f}x the raw text"
    # and a fresh process reads it back whole (no cache)
    with SqliteSaver(path) as again:
        state = g.compile(checkpointer=again).get_state(config)
    assert [m.content[0] for m in state.values["messages"]] == ["h", "a"] * 200
