"""A run keeps its thread's lease while a node runs longer than the lease's TTL, and gives
it back when it ends: no second run starts the thread meanwhile, none is refused after."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock import ThreadBusy

TTL = 0.3


class S(TypedDict, total=False):
    n: int


def slow_graph(saver: Any, gate: threading.Event, inside: threading.Event) -> Any:
    def slow(state: S) -> dict:
        inside.set()
        assert gate.wait(30), "the test never let the node finish"
        return {"n": state.get("n", 0) + 1}

    g = il.StateGraph(S)
    g.add_node("slow", slow)
    g.add_edge(il.START, "slow")
    graph = g.compile(checkpointer=saver)
    graph.lease_ttl = TTL
    return graph


def _refused_throughout(graph: Any, config: dict, seconds: float) -> int:
    """Try to start the thread again and again for `seconds` (several TTLs); every try
    must be refused. Returns how many tries were made."""
    tries = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with pytest.raises(ThreadBusy):
            graph.invoke({"n": 100}, config)
        tries += 1
    return tries


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_node_longer_than_the_lease_keeps_its_thread(saver: Any, mode: str) -> None:
    gate, inside = threading.Event(), threading.Event()
    graph = slow_graph(saver, gate, inside)
    config = {"configurable": {"thread_id": "t"}}
    out: list[Any] = []

    def first() -> None:
        if mode == "sync":
            out.append(graph.invoke({"n": 1}, config))
        else:
            out.append(asyncio.run(graph.ainvoke({"n": 1}, config)))

    runner = threading.Thread(target=first)
    runner.start()
    assert inside.wait(10)
    assert _refused_throughout(graph, config, 4 * TTL) > 0  # the lease did not lapse
    gate.set()
    runner.join(10)
    assert out == [{"n": 2}]
    assert graph.invoke({"n": 10}, config) == {"n": 11}  # given back at the end


def test_a_renewal_extends_only_a_lease_still_held(saver: Any) -> None:
    assert saver.acquire_thread("t", "a", ttl=60)
    assert saver.renew_thread("t", "a", ttl=60)
    assert not saver.renew_thread("t", "b", ttl=60)  # not b's
    saver.release_thread("t", "a")
    assert not saver.renew_thread("t", "a", ttl=60)  # released: not taken back
    assert saver.acquire_thread("t", "b", ttl=60)  # so another run may start
    assert not saver.renew_thread("never", "a", ttl=60)
    assert saver.acquire_thread("lapsed", "a", ttl=0.0)
    assert not saver.renew_thread("lapsed", "a", ttl=60)  # lapsed: someone may have it


def test_a_slow_stream_reader_keeps_the_lease_between_steps(saver: Any) -> None:
    g = il.StateGraph(S)
    g.add_node("one", lambda s: {"n": 1})
    g.add_node("two", lambda s: {"n": 2})
    g.add_edge(il.START, "one")
    g.add_edge("one", "two")
    graph = g.compile(checkpointer=saver)
    graph.lease_ttl = TTL
    config = {"configurable": {"thread_id": "t"}}
    chunks = graph.stream({"n": 0}, config, stream_mode="updates")
    assert next(chunks) == {"one": {"n": 1}}  # the run is between its steps now
    assert _refused_throughout(graph, config, 4 * TTL) > 0
    assert list(chunks) == [{"two": {"n": 2}}]
    assert graph.invoke({"n": 5}, config) == {"n": 2}  # given back at the end: it runs


class _SlowRenewals:
    """A store whose lease renewals block until told to go on (and count themselves)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self.calls = 0

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        self.calls += 1
        self.entered.set()
        assert self.go_on.wait(10)
        return True


def test_a_step_ends_only_after_a_renewal_in_flight_and_none_comes_after() -> None:
    from interlock.graph._heartbeat import keep_lease

    store = _SlowRenewals()
    ended = threading.Event()

    def step() -> None:
        with keep_lease(store, "t", "me", 0.03):
            assert store.entered.wait(10)  # a renewal is in flight
        ended.set()

    runner = threading.Thread(target=step)
    runner.start()
    assert store.entered.wait(10)
    assert not ended.wait(0.2)  # the step waits for the renewal in flight...
    store.go_on.set()
    assert ended.wait(10)  # ...then ends
    runner.join()
    calls = store.calls
    with keep_lease(store, "u", "me", 3600):  # the keeper keeps going for others
        pass
    assert store.calls == calls  # and never renewed the ended step's lease again


def test_an_async_run_waits_for_a_renewal_in_flight_off_the_event_loop() -> None:
    from interlock.graph._heartbeat import keep_lease_async

    store = _SlowRenewals()
    ticks: list[float] = []

    async def main() -> None:
        async def ticker() -> None:  # the loop must stay free while the run ends
            while not store.go_on.is_set():
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        async def run() -> None:
            async with keep_lease_async(store, "t", "me", 0.03):
                await asyncio.to_thread(store.entered.wait, 10)  # a renewal is in flight
            # ends only after the renewal (released below, from the ticker's side)

        async def release_later() -> None:
            await asyncio.to_thread(store.entered.wait, 10)
            start = len(ticks)
            while len(ticks) < start + 5:  # the loop ticks while the run's end waits
                await asyncio.sleep(0.01)
            store.go_on.set()

        await asyncio.gather(ticker(), run(), release_later())

    asyncio.run(main())
    assert store.calls >= 1 and len(ticks) >= 5


class _BrokenOnce:
    """A store whose first renewal raises something that is not an Exception."""

    def __init__(self) -> None:
        self.calls = 0
        self.renewed = threading.Event()

    def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
        self.calls += 1
        if self.calls == 1:
            raise KeyboardInterrupt("not an Exception")
        self.renewed.set()
        return True


def test_the_keeper_survives_a_renewal_that_raises_anything() -> None:
    from interlock.graph._heartbeat import keep_lease

    store = _BrokenOnce()
    with keep_lease(store, "t", "me", 0.03):
        assert store.renewed.wait(10)  # it renewed again after the failure
    assert store.calls >= 2


def test_a_forked_child_has_a_keeper_of_its_own() -> None:
    import os

    from interlock.graph._heartbeat import keep_lease

    class Counting:
        def __init__(self) -> None:
            self.renewed = threading.Event()

        def renew_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
            self.renewed.set()
            return True

    with keep_lease(Counting(), "parent", "me", 3600):  # the parent's keeper is running
        pid = os.fork()
        if pid == 0:  # the child: its run's lease must be renewed by a keeper of its own
            store = Counting()
            with keep_lease(store, "child", "me", 0.03):
                ok = store.renewed.wait(10)
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
