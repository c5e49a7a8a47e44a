"""A run's lease taken by its first write (`defers_lease`, SQLite): one commit fewer per
run, and the same guarantees — the run holds the thread before any node runs, a thread
held by another run is refused with nothing written, and a lease taken by someone else
between the run's read and its first write is caught by that write."""

from __future__ import annotations

import asyncio
import operator
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from interlock import END, START, Command, StateGraph, interrupt
from interlock.checkpoint.sqlite import SqliteSaver
from interlock.errors import ResumeBusy, ThreadBusy

INTRUDER = "another-process"


class State(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    answer: Any


class Racing(SqliteSaver):
    """A store where something happens right after a run read its thread without taking
    the lease (between the run's read and its first write): another process takes the
    thread's lease (while `racing` is set), or `meanwhile()` runs once."""

    racing: str | None = None
    meanwhile: Callable[[], None] | None = None

    def read_unleased(self, thread_id: str, owner: str, **kw: Any) -> Any:
        out = super().read_unleased(thread_id, owner, **kw)
        if self.racing == thread_id:
            assert self.acquire_thread(thread_id, INTRUDER, ttl=60)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return out


@pytest.fixture
def saver(tmp_path: Path) -> Iterator[Racing]:
    s = Racing(tmp_path / "lease.db")
    yield s
    s.close()


def ask_graph(saver: SqliteSaver, ran: list[str], held: list[bool]) -> Any:
    """`ask` pauses for an answer; every time a node runs it records whether another
    owner could take the thread right now (it must not: the run holds it)."""

    def check(state: State, config: Any) -> None:
        thread = config["configurable"]["thread_id"]
        taken = saver.acquire_thread(thread, INTRUDER, ttl=60)
        if taken:
            saver.release_thread(thread, INTRUDER)
        held.append(not taken)

    def ask(state: State, config: Any) -> dict[str, Any]:
        check(state, config)
        ran.append("ask")
        return {"answer": interrupt({"q": "ok?"}), "log": ["ask"]}

    def after(state: State, config: Any) -> dict[str, Any]:
        check(state, config)
        ran.append("after")
        return {"log": ["after"]}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_node("after", after)
    g.add_edge(START, "ask")
    g.add_edge("ask", "after")
    g.add_edge("after", END)
    return g.compile(checkpointer=saver)


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def write_transactions(saver: SqliteSaver, fn: Any) -> list[list[str]]:
    """The statements of each write transaction `fn()` ran on this thread's connection."""
    txs: list[list[str]] = []
    current: list[str] | None = None

    def trace(sql: str) -> None:
        nonlocal current
        if sql.startswith("BEGIN IMMEDIATE"):
            current = []
        elif sql == "COMMIT" and current is not None:
            txs.append(current)
            current = None
        elif current is not None and (not current or current[-1] != sql):
            current.append(sql)  # (a trigger's statements are traced as their statement's)

    conn = saver._conn()
    conn.set_trace_callback(trace)
    try:
        fn()
    finally:
        conn.set_trace_callback(None)
    return txs


def test_a_round_trip_takes_each_lease_in_the_runs_first_write(saver: Racing) -> None:
    ran: list[str] = []
    held: list[bool] = []
    app = ask_graph(saver, ran, held)

    def round_trip(thread: str) -> None:
        app.invoke({"log": []}, cfg(thread))
        app.invoke(Command(resume="yes"), cfg(thread))

    round_trip("warm")  # (the graph's version is stored by the first run)
    ran.clear()
    held.clear()
    txs = write_transactions(saver, lambda: round_trip("t"))
    # the input checkpoint, the pause, the decision, then the steps of `ask` and `after`:
    # no commit for a lease alone (there were two more before leases were deferred)
    assert len(txs) == 5, txs
    input_cp, pause, decision, *steps = txs

    def takes(sql: str) -> bool:  # takes the lease (and records the commit on `threads`)
        return sql.startswith("INSERT INTO threads") and "lease_ttl) VALUES" in sql

    def checks_head(sql: str) -> bool:  # nothing wrote to the thread since the run read it
        return sql.startswith("SELECT revision FROM threads WHERE thread_id = 't'")

    assert checks_head(input_cp[0]) and takes(input_cp[1])
    assert any(s.startswith("INSERT INTO checkpoints") for s in input_cp)
    # the lease's upsert records the commit too: `threads` is written once
    assert [s.startswith("INSERT INTO threads") for s in input_cp].count(True) == 1
    assert checks_head(decision[0]) and takes(decision[1])
    assert decision[2].startswith("UPDATE interrupts SET status")
    assert not any(takes(s) for s in pause + steps[0] + steps[1])
    assert ran == ["ask", "ask", "after"] and held == [True, True, True]
    # and the thread is free again: the last write gave the lease back
    assert saver.acquire_thread("t", INTRUDER, ttl=60)


def test_a_thread_held_by_another_run_is_refused_with_nothing_written(saver: Racing) -> None:
    ran: list[str] = []
    app = ask_graph(saver, ran, [])
    assert saver.acquire_thread("busy", INTRUDER, ttl=60)
    with pytest.raises(ThreadBusy):
        app.invoke({"log": []}, cfg("busy"))
    assert ran == [] and saver.get_checkpoint("busy") is None
    saver.release_thread("busy", INTRUDER)
    app.invoke({"log": []}, cfg("busy"))
    [pending] = app.get_state(cfg("busy")).interrupts
    assert saver.acquire_thread("busy", INTRUDER, ttl=60)
    with pytest.raises(ResumeBusy):
        app.invoke(Command(resume="yes"), cfg("busy"))
    record = saver.get_interrupt(pending.id)
    assert record is not None and record.status == "pending" and ran == ["ask"]


def test_a_lease_taken_after_the_read_is_caught_by_the_first_write(saver: Racing) -> None:
    ran: list[str] = []
    held: list[bool] = []
    app = ask_graph(saver, ran, held)
    saver.racing = "r"
    with pytest.raises(ThreadBusy):  # the input checkpoint's transaction finds it taken
        app.invoke({"log": []}, cfg("r"))
    assert ran == [] and saver.get_checkpoint("r") is None
    saver.racing = None
    saver.release_thread("r", INTRUDER)
    app.invoke({"log": []}, cfg("r"))
    [pending] = app.get_state(cfg("r")).interrupts

    saver.racing = "r"
    with pytest.raises(ResumeBusy):  # the decision's transaction finds it taken
        app.invoke(Command(resume="yes"), cfg("r"))
    record = saver.get_interrupt(pending.id)
    assert record is not None and record.status == "pending"
    assert ran == ["ask"]
    # the intruder still holds it: the refused run gave back nothing that was not its own
    assert not saver.acquire_thread("r", "third", ttl=60)

    saver.racing = None
    saver.release_thread("r", INTRUDER)
    out = app.invoke(Command(resume="yes"), cfg("r"))
    assert out["log"] == ["ask", "after"] and ran == ["ask", "ask", "after"]
    assert all(held)


def test_a_run_with_no_write_before_its_nodes_takes_the_lease_first(saver: Racing) -> None:
    """Going on from a breakpoint (`invoke(None)`) writes nothing before `after` runs: the
    lease is taken on its own, before the node."""
    ran: list[str] = []
    held: list[bool] = []
    app = ask_graph(saver, ran, held)
    app.invoke({"log": []}, cfg("b"))
    app.invoke(Command(resume="yes"), cfg("b"), interrupt_before=["after"])
    assert app.get_state(cfg("b")).next == ("after",)
    app.invoke(None, cfg("b"))
    assert ran == ["ask", "ask", "after"] and held == [True, True, True]


def test_the_async_run_takes_its_lease_the_same_way(saver: Racing) -> None:
    ran: list[str] = []
    held: list[bool] = []
    app = ask_graph(saver, ran, held)

    async def main() -> None:
        saver.racing = "a"
        with pytest.raises(ThreadBusy):
            await app.ainvoke({"log": []}, cfg("a"))
        assert saver.get_checkpoint("a") is None
        saver.racing = None
        saver.release_thread("a", INTRUDER)
        await app.ainvoke({"log": []}, cfg("a"))
        saver.racing = "a"
        with pytest.raises(ResumeBusy):
            await app.ainvoke(Command(resume="yes"), cfg("a"))
        saver.racing = None
        saver.release_thread("a", INTRUDER)
        out = await app.ainvoke(Command(resume="yes"), cfg("a"))
        assert out["log"] == ["ask", "after"]

    asyncio.run(main())
    assert ran == ["ask", "ask", "after"] and all(held)


def work_graph(saver: SqliteSaver, effects: list[str], fail: list[bool]) -> Any:
    """`work` charges a card (an effect that must happen once); while `fail[0]` it fails
    first, leaving the thread to go on from its input with `invoke(None)`."""

    def work(state: State) -> dict[str, Any]:
        if fail[0]:
            raise RuntimeError("the card service is down")
        effects.append("charged")
        return {"log": ["work"]}

    g = StateGraph(State)
    g.add_node("work", work)
    g.add_edge(START, "work")
    g.add_edge("work", END)
    return g.compile(checkpointer=saver)


def test_a_run_whose_thread_moved_on_after_its_read_runs_no_node(saver: Racing) -> None:
    """Going on after an error writes nothing before its node: the run takes its lease on
    its own, and finds that another run carried the thread on meanwhile."""
    effects: list[str] = []
    fail = [True]
    app = work_graph(saver, effects, fail)
    with pytest.raises(RuntimeError):
        app.invoke({"log": []}, cfg("m"))
    assert app.get_state(cfg("m")).next == ("work",)
    fail[0] = False
    saver.meanwhile = lambda: app.invoke(None, cfg("m"))  # another caller finishes it
    with pytest.raises(ThreadBusy):
        app.invoke(None, cfg("m"))
    assert effects == ["charged"]  # once: the stale run ran nothing
    assert saver.acquire_thread("m", INTRUDER, ttl=60)  # nor kept the thread


def test_a_deferred_input_checkpoint_does_not_let_a_stale_run_go_on(saver: Racing) -> None:
    """Under exit durability the input is not written before the nodes run: the run takes
    its lease on its own, and finds the thread another run started meanwhile."""
    effects: list[str] = []
    app = work_graph(saver, effects, [False])
    saver.meanwhile = lambda: app.invoke({"log": []}, cfg("x"))
    with pytest.raises(ThreadBusy):
        app.invoke({"log": []}, cfg("x"), durability="exit")
    assert effects == ["charged"]
    assert app.get_state(cfg("x")).values["log"] == ["work"]


def test_a_lease_taken_and_given_back_meanwhile_does_not_refuse_the_run(saver: Racing) -> None:
    effects: list[str] = []
    fail = [True]
    app = work_graph(saver, effects, fail)
    with pytest.raises(RuntimeError):
        app.invoke({"log": []}, cfg("k"))
    fail[0] = False

    def blip() -> None:  # another process held the thread for a moment, and wrote nothing
        assert saver.acquire_thread("k", INTRUDER, ttl=60)
        saver.release_thread("k", INTRUDER)

    saver.meanwhile = blip
    assert app.invoke(None, cfg("k"))["log"] == ["work"]
    assert effects == ["charged"]


def test_the_async_run_checks_its_read_the_same_way(saver: Racing) -> None:
    effects: list[str] = []
    fail = [True]
    app = work_graph(saver, effects, fail)

    async def main() -> None:
        with pytest.raises(RuntimeError):
            await app.ainvoke({"log": []}, cfg("am"))
        fail[0] = False
        saver.meanwhile = lambda: app.invoke(None, cfg("am"))
        with pytest.raises(ThreadBusy):
            await app.ainvoke(None, cfg("am"))
        saver.meanwhile = lambda: app.invoke({"log": []}, cfg("ax"))
        with pytest.raises(ThreadBusy):
            await app.ainvoke({"log": []}, cfg("ax"), durability="exit")

    asyncio.run(main())
    assert effects == ["charged", "charged"]  # one per thread


def quietly(fn: Callable[[], Any]) -> Callable[[], None]:
    """`fn()`, whose error (another caller's run failing) is not this test's concern."""

    def run() -> None:
        with pytest.raises(RuntimeError):
            fn()

    return run


def test_a_write_that_leaves_the_head_where_it_was_still_refuses_a_stale_run(
    saver: Racing,
) -> None:
    """Another run's progress inside a step (a finished branch of a failed step, a pause)
    does not move the head: the run that read before it is refused all the same."""
    effects: list[str] = []
    fail = {"a": True, "b": True}

    def node(name: str) -> Any:
        def run(state: State) -> dict[str, Any]:
            if fail[name]:
                raise RuntimeError(f"{name} failed")
            effects.append(name)
            return {"log": [name]}

        return run

    g = StateGraph(State)
    g.add_node("a", node("a"))
    g.add_node("b", node("b"))
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    app = g.compile(checkpointer=saver)
    with pytest.raises(RuntimeError):
        app.invoke({"log": []}, cfg("p"))
    fail["a"] = False
    # meanwhile another caller retries: `a` finishes (its write is kept), `b` fails again
    saver.meanwhile = quietly(lambda: app.invoke(None, cfg("p")))
    with pytest.raises(ThreadBusy):
        app.invoke(None, cfg("p"))
    assert effects == ["a"]  # not run again by the run that read before it finished
    fail["b"] = False
    assert sorted(app.invoke(None, cfg("p"))["log"]) == ["a", "b"]
    assert effects == ["a", "b"]


def test_a_pause_made_meanwhile_is_not_overwritten_by_a_stale_input(saver: Racing) -> None:
    ran: list[str] = []
    fail = [True]

    def ask(state: State) -> dict[str, Any]:
        if fail[0]:
            raise RuntimeError("not yet")
        ran.append("ask")
        return {"answer": interrupt({"q": "ok?"})}

    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    app = g.compile(checkpointer=saver)
    with pytest.raises(RuntimeError):
        app.invoke({"log": []}, cfg("q"))
    fail[0] = False
    saver.meanwhile = lambda: app.invoke(None, cfg("q"))  # pauses, asking someone
    with pytest.raises(ThreadBusy):
        app.invoke({"log": ["new"]}, cfg("q"))
    [pending] = app.get_state(cfg("q")).interrupts  # the request stands
    record = saver.get_interrupt(pending.id)
    assert record is not None and record.status == "pending" and ran == ["ask"]


def test_any_write_recorded_on_the_thread_is_a_new_revision(saver: Racing) -> None:
    """The revision is counted by the database (a trigger on `threads.updated_at`), not by
    the code that writes: a write of another program, or one made in the same tick of a
    coarse clock (here: the very same updated time), still refuses a stale run."""
    import sqlite3

    app = work_graph(saver, [], [False])
    app.invoke({"log": []}, cfg("r"))
    free, seen, _ = saver.read_unleased("r", "me")
    assert free and seen is not None
    with sqlite3.connect(saver.path) as raw:
        raw.execute("UPDATE threads SET updated_at = updated_at WHERE thread_id = 'r'")
    assert not saver.acquire_unchanged("r", "me", ttl=60, revision=seen)
    free, again, _ = saver.read_unleased("r", "me")
    assert again == seen + 1 and saver.acquire_unchanged("r", "me", ttl=60, revision=again)


def test_a_request_changed_by_other_code_is_a_new_revision(saver: Racing) -> None:
    """A request escalated by a process that does not record it on the thread (an older
    interlock still running during an upgrade) still refuses a decision read before."""
    import sqlite3

    app = ask_graph(saver, [], [])
    app.invoke({"log": []}, cfg("o"))
    [pending] = app.get_state(cfg("o")).interrupts
    free, seen, _ = saver.read_unleased("o", "me")
    assert free
    with sqlite3.connect(saver.path) as raw:
        raw.execute(
            "UPDATE interrupts SET metadata = json_set(metadata, '$.approvers', "
            "json('[\"boss\"]')) WHERE interrupt_id = ?",
            (pending.id,),
        )
    with pytest.raises(ThreadBusy):
        saver.resolve_interrupts(
            "o", {pending.id: "yes"}, lease_owner="me", take_lease=60, lease_revision=seen
        )
    record = saver.get_interrupt(pending.id)
    assert record is not None and record.status == "pending"


def test_a_thread_deleted_and_made_again_is_a_new_revision(saver: Racing) -> None:
    app = work_graph(saver, [], [False])
    app.invoke({"log": []}, cfg("d"))
    free, seen, _ = saver.read_unleased("d", "me")
    assert free
    saver.delete_thread("d")
    app.invoke({"log": []}, cfg("d"))  # the same id, a new thread
    assert not saver.acquire_unchanged("d", "me", ttl=60, revision=seen)
