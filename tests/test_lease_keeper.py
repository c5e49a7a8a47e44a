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


def test_the_lease_is_free_as_soon_as_a_long_run_ends(saver: Any) -> None:
    gate, inside = threading.Event(), threading.Event()
    graph = slow_graph(saver, gate, inside)
    config = {"configurable": {"thread_id": "t"}}
    for n in range(5):  # each node outlasts a renewal period, so renewals race the end
        inside.clear()
        gate.clear()
        threading.Timer(TTL / 2, gate.set).start()
        assert graph.invoke({"n": n}, config) == {"n": n + 1}
        info = saver.get_thread("t")
        assert info is not None and info.status != "busy"  # no renewal took it back


class _SlowRenewals:
    """A store whose lease renewals block until told to go on (and count themselves)."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.go_on = threading.Event()
        self.calls = 0

    def acquire_thread(self, thread_id: str, owner: str, *, ttl: float) -> bool:
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
