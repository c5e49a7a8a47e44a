"""A step whose write the store could not take (`StepNotSaved`): the nodes ran, the write
failed, and the caller that is still alive writes the step later instead of running the
nodes again — only under the run's own lease, only on the head the step was built on.

The store goes away here as a SQLite file locked by another connection past the store's
`busy_timeout` (`StoreUnavailable`); the PostgreSQL link cut is in test_db_faults_http.py."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock import StepNotSaved
from interlock.checkpoint.sqlite import SqliteSaver


class Order(TypedDict, total=False):
    item: str
    answer: Any
    shipped: bool


class Lock:
    """Another connection's write lock on the store's file, taken from inside a node."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def take(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[tuple[SqliteSaver, Lock]]:
    saver = SqliteSaver(tmp_path / "store.db", busy_timeout=0.3)
    lock = Lock(tmp_path / "store.db")
    try:
        yield saver, lock
    finally:
        lock.conn.close()
        saver.close()


def lease_owner(saver: SqliteSaver, tid: str) -> str | None:
    """Who holds the thread's lease (read from the file: no API shows the owner)."""
    with sqlite3.connect(saver.path) as conn:
        row = conn.execute("SELECT lease_owner FROM threads WHERE thread_id = ?", (tid,)).fetchone()
    return row[0] if row else None


def orders(saver: SqliteSaver, effects: list[str], lock: Lock, *, lock_in: str = "ship") -> Any:
    """ask (pauses) -> ship (the side effect) -> done. The first call of `lock_in` locks the
    store after its effect: its step's write fails."""

    def ask(state: Order) -> dict:
        return {"answer": il.interrupt({"ship": state["item"]})}

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if lock_in == "ship" and len(effects) == 1:
            lock.take()
        return {"shipped": True}

    def done(state: Order) -> dict:
        if lock_in == "done" and effects.count("done") == 0:
            effects.append("done")
            lock.take()
        return {}

    g = il.StateGraph(Order)
    g.add_node("ask", ask)
    g.add_node("ship", ship)
    g.add_node("done", done)
    g.add_edge(il.START, "ask")
    g.add_edge("ask", "ship")
    g.add_edge("ship", "done")
    return g.compile(checkpointer=saver, name="orders")


def paused(graph: Any, tid: str) -> dict[str, Any]:
    config = {"configurable": {"thread_id": tid}}
    graph.invoke({"item": "book"}, config)
    return config


def test_the_step_is_written_later_and_the_node_does_not_run_again(
    store: tuple[SqliteSaver, Lock],
) -> None:
    saver, lock = store
    effects: list[str] = []
    graph = orders(saver, effects, lock)
    config = paused(graph, "t1")
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke(il.Command(resume="yes"), config)
    unsaved = caught.value
    assert isinstance(unsaved, il.StoreUnavailable)  # what callers caught before still holds
    assert unsaved.thread_id == "t1"
    assert effects == ["book"]
    assert graph.get_state(config).next == ("ship",)  # nothing of the step is stored yet

    with pytest.raises(il.StoreUnavailable):  # still locked: try again later
        unsaved.save()
    lock.release()
    assert unsaved.save() is True
    assert graph.get_state(config).next == ("done",)
    assert graph.get_state(config).values["shipped"] is True
    assert lease_owner(saver, "t1") is None  # the lease was given back

    assert graph.invoke(None, config)["shipped"] is True
    assert effects == ["book"]  # ship did not run again
    assert graph.get_state(config).next == ()
    assert unsaved.save() is False  # the thread moved on: never written twice


def test_a_final_step_is_written_and_its_lease_given_back(
    store: tuple[SqliteSaver, Lock],
) -> None:
    saver, lock = store
    effects: list[str] = []
    graph = orders(saver, effects, lock, lock_in="done")
    config = paused(graph, "t2")
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke(il.Command(resume="yes"), config)
    lock.release()
    assert caught.value.save() is True
    assert graph.get_state(config).next == ()  # ended
    assert lease_owner(saver, "t2") is None
    assert effects == ["book", "done"]


def test_a_run_that_went_on_without_the_step_is_never_written_over(
    store: tuple[SqliteSaver, Lock],
) -> None:
    saver, lock = store
    effects: list[str] = []
    graph = orders(saver, effects, lock)
    config = paused(graph, "t3")
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke(il.Command(resume="yes"), config)
    lock.release()
    saver.release_thread("t3", lease_owner(saver, "t3") or "")  # as after a lapse
    graph.invoke(None, config)  # another run goes on: ship runs again and commits
    assert effects == ["book", "book"]
    head = graph.get_state(config).config["configurable"]["checkpoint_id"]
    assert caught.value.save() is False
    assert graph.get_state(config).config["configurable"]["checkpoint_id"] == head


def test_a_thread_another_run_holds_is_not_written(store: tuple[SqliteSaver, Lock]) -> None:
    saver, lock = store
    effects: list[str] = []
    graph = orders(saver, effects, lock)
    config = paused(graph, "t4")
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke(il.Command(resume="yes"), config)
    lock.release()
    saver.release_thread("t4", lease_owner(saver, "t4") or "")
    assert saver.acquire_thread("t4", "someone-else", ttl=60)
    assert caught.value.save() is False
    assert graph.get_state(config).next == ("ship",)
    assert lease_owner(saver, "t4") == "someone-else"


def test_the_async_driver_holds_the_step_too(store: tuple[SqliteSaver, Lock]) -> None:
    saver, lock = store
    effects: list[str] = []
    graph = orders(saver, effects, lock)
    config = paused(graph, "t5")

    async def resume() -> BaseException | None:
        try:
            await graph.ainvoke(il.Command(resume="yes"), config)
        except BaseException as exc:
            return exc
        return None

    unsaved = asyncio.run(resume())
    assert isinstance(unsaved, StepNotSaved)
    lock.release()
    assert unsaved.save() is True
    assert graph.invoke(None, config)["shipped"] is True
    assert effects == ["book"]


def test_other_store_failures_stay_plain(store: tuple[SqliteSaver, Lock]) -> None:
    """A failure before any node ran (here: taking the thread to resume it) is a plain
    `StoreUnavailable`: there is nothing to keep."""
    saver, lock = store
    effects: list[str] = []
    graph = orders(saver, effects, lock, lock_in="nowhere")
    config = paused(graph, "t6")
    lock.take()
    try:
        with pytest.raises(il.StoreUnavailable) as caught:
            graph.invoke(il.Command(resume="yes"), config)
    finally:
        lock.release()
    assert not isinstance(caught.value, StepNotSaved)
    assert effects == []
    assert graph.invoke(il.Command(resume="yes"), config)["shipped"] is True
