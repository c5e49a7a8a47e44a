"""A synchronous run on a SQLite file takes its lease in the transaction of its first write
(`acquire_and_get(hold=True)`): one commit where there were two, and nothing written by
another connection between the run's read and that write. The transaction is never left
open while anything but the run's own store calls runs — nodes, the caller's stream loop —
and a run refused before it wrote anything leaves no lease and no open transaction."""

from __future__ import annotations

import operator
import sqlite3
import threading
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from interlock import END, START, Command, StateGraph, interrupt
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.errors import ResumeError, SerializationError, StoreUnavailable, VersionChanged


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: Any


def _ask_graph(saver: SqliteSaver, node: str = "ask", before: Any = None) -> Any:
    def ask(state: State) -> dict[str, Any]:
        if before is not None:
            before()
        return {"answer": interrupt({"q": "approve?"}), "log": [node]}

    g = StateGraph(State)
    g.add_node(node, ask)
    g.add_edge(START, node)
    g.add_edge(node, END)
    return g.compile(checkpointer=saver)


def _commits(saver: SqliteSaver) -> list[str]:
    """The statements that end a transaction on this thread's connection, from now on."""
    seen: list[str] = []
    conn = saver._conn()
    conn.set_trace_callback(lambda sql: seen.append(sql) if sql in ("COMMIT", "ROLLBACK") else None)
    return seen


def _lease_owner(path: Path, thread_id: str) -> Any:
    with sqlite3.connect(path) as other:
        row = other.execute(
            "SELECT lease_owner FROM threads WHERE thread_id = ?", (thread_id,)
        ).fetchone()
    return row[0] if row else None


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "held.db"


def test_a_pause_and_a_decision_commit_twice_each(path: Path) -> None:
    saver = SqliteSaver(path)
    app = _ask_graph(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    app.invoke({"log": []}, {"configurable": {"thread_id": "first"}})  # stores the version
    ends = _commits(saver)
    app.invoke({"log": []}, cfg)
    # the lease with the input checkpoint, then the pause (which gives the lease back)
    assert ends == ["COMMIT", "COMMIT"]
    ends.clear()
    assert app.invoke(Command(resume="yes"), cfg)["answer"] == "yes"
    # the lease with the decision, then the last step
    assert ends == ["COMMIT", "COMMIT"]
    assert _lease_owner(path, "t") is None
    assert not saver._conn().in_transaction


def test_a_refused_resume_takes_no_lease_and_leaves_the_request_answerable(path: Path) -> None:
    saver = SqliteSaver(path)
    app = _ask_graph(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    (asked,) = app.invoke({"log": []}, cfg)["__interrupt__"]
    ends = _commits(saver)
    with pytest.raises(ResumeError):
        app.invoke(Command(resume={"0" * len(asked.id): "yes"}), cfg)
    assert ends == ["ROLLBACK"]  # the lease was never taken: nothing to give back
    assert not saver._conn().in_transaction
    assert _lease_owner(path, "t") is None
    assert saver.get_interrupt(asked.id).status == "pending"
    assert app.invoke(Command(resume="yes"), cfg)["answer"] == "yes"


def test_input_that_cannot_be_stored_takes_no_lease_and_writes_nothing(path: Path) -> None:
    saver = SqliteSaver(path)
    app = _ask_graph(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    with pytest.raises(SerializationError):
        app.invoke({"log": [object()]}, cfg)
    assert not saver._conn().in_transaction
    assert _lease_owner(path, "t") is None
    assert app.get_state(cfg).values == {}
    assert "__interrupt__" in app.invoke({"log": []}, cfg)


def test_a_version_refusal_after_the_load_takes_no_lease(path: Path) -> None:
    saver = SqliteSaver(path)
    cfg = {"configurable": {"thread_id": "t"}}
    (asked,) = _ask_graph(saver, "pay").invoke({"log": []}, cfg)["__interrupt__"]
    renamed = _ask_graph(saver, "charge")
    with pytest.raises(VersionChanged):
        renamed.invoke(Command(resume="yes"), cfg)
    assert not saver._conn().in_transaction
    assert _lease_owner(path, "t") is None
    assert saver.get_interrupt(asked.id).status == "pending"


def test_nodes_run_with_the_store_free_for_other_connections(path: Path) -> None:
    saver = SqliteSaver(path)
    other = SqliteSaver(path, busy_timeout=0.2)
    wrote: list[bool] = []

    def write_elsewhere() -> None:  # in another thread: another connection of the process
        box: list[BaseException | bool] = []

        def go() -> None:
            try:
                box.append(other.acquire_thread("elsewhere", "o", ttl=30))
            except BaseException as exc:
                box.append(exc)

        t = threading.Thread(target=go)
        t.start()
        t.join()
        assert box == [True], box  # a held transaction would make it time out
        other.release_thread("elsewhere", "o")
        wrote.append(True)

    app = _ask_graph(saver, before=write_elsewhere)
    cfg = {"configurable": {"thread_id": "t"}}
    app.invoke({"log": []}, cfg)
    assert wrote == [True]


def test_a_stream_is_read_with_the_store_free(path: Path) -> None:
    saver = SqliteSaver(path)
    other = SqliteSaver(path, busy_timeout=0.2)
    app = _ask_graph(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    results: list[bool] = []

    def take() -> None:
        results.append(other.acquire_thread("x", "o", ttl=30))
        other.release_thread("x", "o")

    for _ in app.stream({"log": []}, cfg, stream_mode="values"):
        assert not saver._conn().in_transaction
        t = threading.Thread(target=take)
        t.start()
        t.join()
    assert results and all(results), results  # a held transaction would make it time out
    for _ in app.stream(Command(resume="yes"), cfg, stream_mode="updates"):
        assert not saver._conn().in_transaction


def test_a_busy_thread_leaves_nothing_open(path: Path) -> None:
    saver = SqliteSaver(path)
    app = _ask_graph(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    app.invoke({"log": []}, cfg)
    assert saver.acquire_thread("t", "someone-else", ttl=30)
    with pytest.raises(Exception, match="being run by another caller"):
        app.invoke(Command(resume="yes"), cfg)
    assert not saver._conn().in_transaction
    assert _lease_owner(path, "t") == "someone-else"


def test_closing_the_store_fails_the_next_call_cleanly(path: Path) -> None:
    saver = SqliteSaver(path)
    app = _ask_graph(saver)
    cfg = {"configurable": {"thread_id": "t"}}
    app.invoke({"log": []}, cfg)
    taken, _ = saver.acquire_and_get("t", "me", ttl=30, hold=True)
    assert taken and saver._conn().in_transaction
    assert saver.end_hold(commit=False) is True
    assert saver.end_hold() is False  # nothing held any more
    assert _lease_owner(path, "t") is None  # rolled back: never taken
    saver.close()
    with pytest.raises(StoreUnavailable):
        saver.acquire_and_get("t", "me", ttl=30, hold=True)
