"""One thread never runs twice at once: a second run on a busy thread gets ThreadBusy."""

from __future__ import annotations

import threading
from typing import TypedDict

import pytest

from interlock import START, StateGraph, ThreadBusy


class S(TypedDict, total=False):
    n: int


def test_a_second_run_on_a_busy_thread_is_refused(saver) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(state: S) -> dict:
        entered.set()
        assert release.wait(30)
        return {"n": state.get("n", 0) + 1}

    g = StateGraph(S)
    g.add_node("slow", slow)
    g.add_edge(START, "slow")
    graph = g.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "busy"}}
    results: list[dict] = []
    first = threading.Thread(target=lambda: results.append(graph.invoke({"n": 0}, config)))
    first.start()
    assert entered.wait(30)
    with pytest.raises(ThreadBusy, match="busy"):
        graph.invoke({"n": 10}, config)
    assert saver.get_thread("busy").status == "busy"
    release.set()
    first.join(30)
    assert results == [{"n": 1}]
    assert saver.get_thread("busy").status == "finished"
    assert graph.invoke({"n": 10}, config) == {"n": 11}  # free again once the first run ended
