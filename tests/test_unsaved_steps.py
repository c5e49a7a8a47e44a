"""A step whose write the store could not take (`StepNotSaved`): the nodes ran, the write
failed, and the caller that is still alive writes the step later instead of running the
nodes again — only under the run's own lease, only on the head the step was built on.

The store goes away here as a SQLite file locked by another connection past the store's
`busy_timeout` (`StoreUnavailable`); the PostgreSQL link cut is in test_db_faults_http.py."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

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
    assert "the step is held" in str(unsaved) and "is busy" in str(unsaved)
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
    head = graph.get_state(config).config["configurable"]["checkpoint_id"]
    assert unsaved.save() is True  # written already: nothing is written twice
    assert graph.get_state(config).config["configurable"]["checkpoint_id"] == head


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


class DroppingSaver(SqliteSaver):
    """A SQLite store whose next `drop[name]` calls of a step write fail the way a terminated
    PostgreSQL backend fails one: `StoreUnavailable`, nothing written, and the store
    answers again at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.drop: dict[str, int] = {}

    def _dropped(self, name: str) -> None:
        if self.drop.get(name):
            self.drop[name] -= 1
            raise il.StoreUnavailable(f"{name}: the connection was terminated")

    def put_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        self._dropped("put_checkpoint")
        super().put_checkpoint(*args, **kwargs)

    def put_task_writes(self, *args: Any, **kwargs: Any) -> None:
        self._dropped("put_task_writes")
        super().put_task_writes(*args, **kwargs)


def fan_out(saver: SqliteSaver, effects: list[str], ship: Any = None) -> Any:
    """ship and ask in one step: ship finishes, ask pauses (the step's progress is written).
    `ship`: another node in ship's place."""

    def record(state: Order) -> dict:
        effects.append(state["item"])
        return {"shipped": True}

    def ask(state: Order) -> dict:
        return {"answer": il.interrupt({"ok?": state["item"]})}

    g = il.StateGraph(Order)
    g.add_node("ship", ship or record)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ship")
    g.add_edge(il.START, "ask")
    return g.compile(checkpointer=saver, name="orders")


def test_a_run_whose_owner_saves_keeps_the_lease_for_the_save(tmp_path: Path) -> None:
    """A run whose owner saves a held step (`hold_unsaved_steps`: the service's runs) keeps
    the thread's lease after `StepNotSaved`, so nobody runs the thread before the step is
    saved; any other call gives it back as usual (its caller may never call `save()`), a
    queued run of a library caller (`run_id` alone) too."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = orders(saver, effects, Lock(tmp_path / "store.db"), lock_in="nowhere")
    queued = {"configurable": {"thread_id": "q", "run_id": "run-1", "hold_unsaved_steps": True}}
    graph.invoke({"item": "book"}, queued)
    saver.drop["put_checkpoint"] = 1
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke(il.Command(resume="yes"), queued)
    assert lease_owner(saver, "q") is not None
    with pytest.raises(il.ThreadBusy):
        graph.invoke(None, {"configurable": {"thread_id": "q"}})
    assert caught.value.save() is True
    assert lease_owner(saver, "q") is None
    graph.invoke(None, {"configurable": {"thread_id": "q"}})
    assert effects == ["book"]

    for tid, extra in (("p", {}), ("r", {"run_id": "run-2"})):
        plain = {"configurable": {"thread_id": tid, **extra}}
        graph.invoke({"item": "pen"}, plain)
        saver.drop["put_checkpoint"] = 1
        with pytest.raises(StepNotSaved):
            graph.invoke(il.Command(resume="yes"), plain)
        assert lease_owner(saver, tid) is None
        assert graph.invoke(None, plain)["shipped"] is True  # goes on as before


def test_a_pause_is_saved_with_its_finished_sibling(tmp_path: Path) -> None:
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = fan_out(saver, effects)
    config = {"configurable": {"thread_id": "t"}}
    saver.drop["put_task_writes"] = 1
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config)
    assert saver.list_interrupts(status="pending", thread_id="t").items == ()
    assert caught.value.save() is True
    (pending,) = saver.list_interrupts(status="pending", thread_id="t").items
    out = graph.invoke(il.Command(resume="yes"), config)
    assert out["answer"] == "yes" and out["shipped"] is True
    assert effects == ["book"]  # ship's result was kept with the pause
    assert pending.status == "pending"


def test_a_pause_is_not_written_on_a_thread_that_moved_on(tmp_path: Path) -> None:
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = fan_out(saver, effects)
    config = {"configurable": {"thread_id": "t"}}
    saver.drop["put_task_writes"] = 1
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config)
    graph.update_state(config, {"answer": "by hand", "shipped": True}, as_node="ask")
    head = graph.get_state(config).config["configurable"]["checkpoint_id"]
    assert caught.value.save() is False
    assert graph.get_state(config).config["configurable"]["checkpoint_id"] == head
    assert saver.list_interrupts(status="pending", thread_id="t").items == ()


def test_exit_durability_keeps_the_steps_and_the_pause(tmp_path: Path) -> None:
    """Under exit durability the steps are written when the run stops: the flush, then the
    stopped step's progress. The flush failing keeps both."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = fan_out(saver, effects)
    config = {"configurable": {"thread_id": "t"}}
    saver.drop["put_checkpoint"] = 1
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config, durability="exit")
    assert graph.get_state(config).values == {}
    assert caught.value.save() is True
    state = graph.get_state(config)  # the finished sibling's write is kept (and shown)
    assert state.values == {"item": "book", "shipped": True} and len(state.interrupts) == 1
    out = graph.invoke(il.Command(resume="yes"), config)
    assert out["shipped"] is True and effects == ["book"]


def _last(old: Any, new: Any) -> Any:
    return new


class Outer(TypedDict, total=False):
    """Several subgraphs write back the same keys in one step."""

    item: Annotated[str, _last]
    shipped: Annotated[bool, _last]


def subgraphs(saver: SqliteSaver, effects: list[str], lock: Lock, n: int) -> Any:
    """`n` subgraphs side by side, each shipping once; the first to ship locks the store
    (every subgraph's step, and the parent's progress, then fail)."""

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            lock.take()
        return {"shipped": True}

    c = il.StateGraph(Order)
    c.add_node("ship", ship)
    c.add_edge(il.START, "ship")
    child = c.compile()
    g = il.StateGraph(Outer)
    for i in range(n):
        g.add_node(f"sub{i}", child)
        g.add_edge(il.START, f"sub{i}")
    return g.compile(checkpointer=saver, name="outer")


@pytest.mark.parametrize("n", [1, 2])
def test_subgraphs_steps_are_saved_first(store: tuple[SqliteSaver, Lock], n: int) -> None:
    saver, lock = store
    effects: list[str] = []
    graph = subgraphs(saver, effects, lock, n)
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config)
    lock.release()
    assert caught.value.save() is True
    out = graph.invoke(None, config)
    assert out["shipped"] is True
    assert effects == ["book"] * n  # each subgraph's ship ran once


# ---- the service's part: `save_later` ---------------------------------------------------------


class Attempts:
    """A `save()` that finds the store away `away` times, then answers `answer`."""

    def __init__(self, away: int, answer: bool = True) -> None:
        self.away, self.answer, self.calls = away, answer, 0

    def __call__(self) -> bool:
        self.calls += 1
        if self.calls <= self.away:
            raise il.StoreUnavailable("away")
        return self.answer


def test_save_later_writes_then_gives_the_run_back(tmp_path: Path) -> None:
    from interlock.server import _durable

    saver = SqliteSaver(tmp_path / "store.db")
    try:
        run = saver.enqueue_run(thread_id="t", agent="g", input={}, owner="me", ttl=60)
        attempts = Attempts(away=2)
        unsaved = StepNotSaved("away", thread_id="t", save=attempts)
        _durable.save_later(saver, unsaved, run.run_id, "me")
        assert _durable.finish_saves(saver, 30.0) == 0  # it was written within the wait
        assert attempts.calls == 3
        again = saver.get_run(run.run_id)
        assert again is not None and again.status == "queued"  # the workers go on with it
    finally:
        saver.close()


def test_shutdown_stops_a_save_the_store_never_took(tmp_path: Path) -> None:
    from interlock.server import _durable

    saver = SqliteSaver(tmp_path / "store.db")
    try:
        run = saver.enqueue_run(thread_id="t", agent="g", input={}, owner="me", ttl=60)
        unsaved = StepNotSaved("away", thread_id="t", save=Attempts(away=10**9))
        _durable.save_later(saver, unsaved, run.run_id, "me")
        (thread,) = [t for t in threading.enumerate() if t.name == f"interlock-save-{run.run_id}"]
        assert _durable.finish_saves(saver, 0.2) == 1
        thread.join(10)
        assert not thread.is_alive()  # it stopped trying
        again = saver.get_run(run.run_id)
        assert again is not None and again.status == "running"  # left to its lease
    finally:
        saver.close()


def test_an_agent_server_run_logs_on_after_its_step_is_saved(tmp_path: Path) -> None:
    """Over the Agent Server API the run whose step the store dropped is not logged as
    ended with an error: its process writes the step, gives the run back, and a worker
    logs on under the same run id up to its one end."""
    from fastapi.testclient import TestClient

    from interlock.server import create_app
    from tests.test_db_faults import poll

    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            saver.drop["put_checkpoint"] = 1  # this step's write is dropped
        return {"shipped": True}

    def ask(state: Order) -> dict:
        return {"answer": il.interrupt({"ok?": state["item"]})}

    g = il.StateGraph(Order)
    g.add_node("ship", ship)
    g.add_node("ask", ask)
    g.add_edge(il.START, "ship")
    g.add_edge("ship", "ask")
    graph = g.compile(checkpointer=saver, name="orders")
    with TestClient(create_app({"orders": graph}, workers=1)) as http:
        assert http.post("/threads", json={"thread_id": "a"}).status_code == 200
        http.post("/threads/a/runs/wait", json={"assistant_id": "orders", "input": {"item": "pen"}})

        def ended() -> list[Any]:
            runs = saver.list_runs(thread_id="a")
            return [r for r in runs if r.status not in ("queued", "running")]

        (run,) = poll("the run to end", ended, 30, every=0.05)
        assert run.status == "interrupted"
        ends = [e.event for e in saver.read_events("a") if e.event in ("end", "error")]
        assert ends == ["end"]
        assert len(saver.list_interrupts(status="pending", thread_id="a").items) == 1
    assert effects == ["pen"]


class LosingSaver(DroppingSaver):
    """... and whose next `lose[name]` step writes reach the store but lose their reply
    (`StoreUnavailable` after the write: a connection that died after the commit)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lose: dict[str, int] = {}

    def put_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        super().put_checkpoint(*args, **kwargs)
        if self.lose.get("put_checkpoint"):
            self.lose["put_checkpoint"] -= 1
            raise il.StoreUnavailable("put_checkpoint: the reply was lost")


def test_a_save_cut_short_goes_on_from_where_it_stopped(tmp_path: Path) -> None:
    """Exit durability holds two writes (the flushed steps, then the pause): a save whose
    second write fails goes on from it the next time, not from the start."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = fan_out(saver, effects)
    config = {"configurable": {"thread_id": "t"}}
    saver.drop["put_checkpoint"] = 1
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config, durability="exit")
    saver.drop["put_task_writes"] = 1
    with pytest.raises(il.StoreUnavailable):
        caught.value.save()  # the steps are written, the pause is not
    assert caught.value.save() is True
    assert len(graph.get_state(config).interrupts) == 1
    assert graph.invoke(il.Command(resume="yes"), config)["shipped"] is True
    assert effects == ["book"]


def test_a_write_whose_reply_was_lost_counts_as_written(tmp_path: Path) -> None:
    saver = LosingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = fan_out(saver, effects)
    config = {"configurable": {"thread_id": "t"}}
    saver.lose["put_checkpoint"] = 1  # the flush reaches the store; its reply does not
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config, durability="exit")
    assert caught.value.save() is True  # the flush is there: the pause is written after it
    assert len(graph.get_state(config).interrupts) == 1
    assert graph.invoke(il.Command(resume="yes"), config)["shipped"] is True
    assert effects == ["book"]


def one_subgraph(saver: DroppingSaver, effects: list[str], **node: Any) -> Any:
    """A subgraph whose step's write is dropped once (the parent's own writes go through)."""

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            saver.drop["put_checkpoint"] = 1
        return {"shipped": True}

    c = il.StateGraph(Order)
    c.add_node("ship", ship)
    c.add_edge(il.START, "ship")
    g = il.StateGraph(Order)
    g.add_node("sub", c.compile(), **node)
    g.add_edge(il.START, "sub")
    return g.compile(checkpointer=saver, name="outer")


def test_a_subgraphs_held_step_keeps_the_owners_lease(tmp_path: Path) -> None:
    """Only the subgraph's write failed: the parent's progress went through without giving
    the lease back, so nobody runs the subgraph again before the owner saves its step."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = one_subgraph(saver, effects)
    held = {"configurable": {"thread_id": "t", "hold_unsaved_steps": True}}
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, held)
    assert lease_owner(saver, "t") is not None
    with pytest.raises(il.ThreadBusy):
        graph.invoke(None, {"configurable": {"thread_id": "t"}})
    assert caught.value.save() is True
    assert lease_owner(saver, "t") is None
    assert graph.invoke(None, {"configurable": {"thread_id": "t"}})["shipped"] is True
    assert effects == ["book"]


def test_a_retry_policy_does_not_run_a_subgraph_whose_step_is_held(tmp_path: Path) -> None:
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = one_subgraph(saver, effects, retry_policy=il.RetryPolicy(max_attempts=3))
    config = {"configurable": {"thread_id": "t"}}
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config)
    assert effects == ["book"]  # not retried
    assert caught.value.save() is True
    assert graph.invoke(None, config)["shipped"] is True
    assert effects == ["book"]


def test_a_tool_passes_a_held_step_on() -> None:
    """A tool that ran a graph whose step is held is not the tool's error: it is raised, not
    reported to the model as an error result (the model would call the tool again)."""
    from interlock.agent.tools import tool

    @tool
    def ship(item: str) -> str:
        """Ship an item."""
        raise StepNotSaved("away", thread_id="t", save=lambda: True)

    with pytest.raises(StepNotSaved):
        ship.run_safely({"item": "book"})
    with pytest.raises(StepNotSaved):
        asyncio.run(ship.arun_safely({"item": "book"}))


def test_an_agent_server_decision_logs_on_after_its_step_is_saved(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from interlock.server import create_app
    from tests.test_db_faults import poll
    from tests.test_db_faults_http import order_graph

    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            saver.drop["put_checkpoint"] = 1  # the decision's step is dropped
        return {}

    graph = order_graph(saver, ship)
    with TestClient(create_app({"orders": graph}, workers=1)) as http:
        assert http.post("/threads", json={"thread_id": "a"}).status_code == 200
        body = {"assistant_id": "orders", "input": {"item": "pen"}}
        assert http.post("/threads/a/runs/wait", json=body).status_code == 200
        body = {"assistant_id": "orders", "command": {"resume": "yes"}}
        http.post("/threads/a/runs/wait", json=body)

        def ended() -> list[Any]:
            runs = saver.list_runs(thread_id="a")
            return [r for r in runs if r.status not in ("queued", "running")]

        poll("both runs to end", lambda: len(ended()) == 2, 30, every=0.05)
        for run in saver.list_runs(thread_id="a"):
            ends = [
                e.event
                for e in saver.read_events("a", run_id=run.run_id)
                if e.event in ("end", "error")
            ]
            assert ends == ["end"], (run.kind, ends)
        assert graph.get_state({"configurable": {"thread_id": "a"}}).next == ()
    assert effects == ["pen"]


@pytest.mark.parametrize("hold", [False, True])
def test_a_subgraphs_held_step_is_written_when_a_sibling_fails_first(
    tmp_path: Path, hold: bool
) -> None:
    """A sibling task's own error ends the run: the subgraph's held step is written at
    once (the store answered the step's progress), so going on does not run it again."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    failing = [True]

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            saver.drop["put_checkpoint"] = 1
        return {"shipped": True}

    def a_boom(state: Order) -> dict:
        if failing[0]:
            raise ValueError("boom")
        return {}

    c = il.StateGraph(Order)
    c.add_node("ship", ship)
    c.add_edge(il.START, "ship")
    g = il.StateGraph(Order)
    g.add_node("a_boom", a_boom)  # first in the step's order: its error is the one raised
    g.add_node("sub", c.compile())
    g.add_edge(il.START, "a_boom")
    g.add_edge(il.START, "sub")
    graph = g.compile(checkpointer=saver, name="outer")
    config = {"configurable": {"thread_id": "t", "hold_unsaved_steps": hold}}
    with pytest.raises(ValueError, match="boom"):
        graph.invoke({"item": "book"}, config)
    assert lease_owner(saver, "t") is None
    failing[0] = False
    assert graph.invoke(None, {"configurable": {"thread_id": "t"}})["shipped"] is True
    assert effects == ["book"]


def test_a_graph_a_node_runs_on_its_own_thread_keeps_its_own_held_step(tmp_path: Path) -> None:
    """A node that runs another graph on another thread (a graph with its store, not a
    subgraph): that graph's held step is its own; its `save()` writes it on its thread."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    inner = fan_out(saver, effects)

    def call_inner(state: Order) -> dict:
        inner.invoke({"item": state["item"]}, {"configurable": {"thread_id": "inner-t"}})
        return {}

    g = il.StateGraph(Order)
    g.add_node("call_inner", call_inner)
    g.add_edge(il.START, "call_inner")
    outer = g.compile(checkpointer=saver, name="outer")
    saver.drop["put_task_writes"] = 1  # the inner pause's write
    with pytest.raises(StepNotSaved) as caught:
        outer.invoke({"item": "book"}, {"configurable": {"thread_id": "outer-t"}})
    assert caught.value.thread_id == "inner-t"
    assert caught.value.save() is True
    inner_config = {"configurable": {"thread_id": "inner-t"}}
    assert len(inner.get_state(inner_config).interrupts) == 1
    assert inner.invoke(il.Command(resume="yes"), inner_config)["shipped"] is True
    assert effects == ["book"]


def test_nodes_do_not_see_the_owners_hold(tmp_path: Path) -> None:
    saver = SqliteSaver(tmp_path / "store.db")
    seen: list[dict[str, Any]] = []

    def node(state: Order) -> dict:
        seen.append(dict(il.get_config()["configurable"]))
        return {}

    g = il.StateGraph(Order)
    g.add_node("node", node)
    g.add_edge(il.START, "node")
    graph = g.compile(checkpointer=saver)
    graph.invoke({"item": "x"}, {"configurable": {"thread_id": "t", "hold_unsaved_steps": True}})
    assert "hold_unsaved_steps" not in seen[0] and seen[0]["thread_id"] == "t"
    saver.close()


def test_a_save_cut_short_keeps_the_owners_lease(tmp_path: Path) -> None:
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    graph = fan_out(saver, effects)
    config = {"configurable": {"thread_id": "t", "hold_unsaved_steps": True}}
    saver.drop["put_checkpoint"] = 1
    with pytest.raises(StepNotSaved) as caught:
        graph.invoke({"item": "book"}, config, durability="exit")
    saver.drop["put_task_writes"] = 1
    with pytest.raises(il.StoreUnavailable):
        caught.value.save()
    assert lease_owner(saver, "t") is not None  # still the owner's, for its next try
    with pytest.raises(il.ThreadBusy):
        graph.invoke(None, {"configurable": {"thread_id": "t"}})
    assert caught.value.save() is True
    assert lease_owner(saver, "t") is None
    assert graph.invoke(il.Command(resume="yes"), {"configurable": {"thread_id": "t"}})["shipped"]
    assert effects == ["book"]


def test_a_nested_subgraphs_held_step_leaves_the_roots_lease_alone(tmp_path: Path) -> None:
    """A subgraph inside a subgraph holds its step while a sibling in the middle graph
    fails: its step is written at once, under the root's lease, which the root keeps while
    its other nodes run (nobody else can take the thread meanwhile)."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    seen: dict[str, Any] = {}
    middle_done = threading.Event()

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            saver.drop["put_checkpoint"] = 1  # the innermost graph's commit
        return {"shipped": True}

    def a_boom(state: Order) -> dict:
        raise ValueError("boom")

    inner = il.StateGraph(Order)
    inner.add_node("ship", ship)
    inner.add_edge(il.START, "ship")
    middle = il.StateGraph(Order)
    middle.add_node("a_boom", a_boom)
    middle.add_node("sub", inner.compile())
    middle.add_edge(il.START, "a_boom")
    middle.add_edge(il.START, "sub")
    middle_graph = middle.compile()

    def mid(state: Order) -> dict:
        try:
            return middle_graph.invoke(state)
        finally:
            middle_done.set()

    def watch(state: Order) -> dict:
        assert middle_done.wait(30)
        seen["owner"] = lease_owner(saver, "t")
        seen["taken"] = saver.acquire_thread("t", "intruder", ttl=60)
        return {}

    g = il.StateGraph(Order)
    g.add_node("mid", mid)
    g.add_node("watch", watch)
    g.add_edge(il.START, "mid")
    g.add_edge(il.START, "watch")
    root = g.compile(checkpointer=saver, name="root")
    with pytest.raises(ValueError, match="boom"):
        root.invoke({"item": "book"}, {"configurable": {"thread_id": "t"}})
    assert seen["owner"] is not None and seen["taken"] is False
    assert effects == ["book"]
