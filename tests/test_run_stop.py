"""A run asked to stop (the engine's `STOP` check, which the service's run cancel sets)
stops between two steps, after its first: its steps are saved, its lease is given back, and
the thread goes on from there. On every store, sync and async."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Annotated, Any, TypedDict

import pytest

from interlock import END, START, Command, RunStopped, StateGraph, interrupt
from interlock.graph._stop import STOP
from tests.conftest import Runner


class Trail(TypedDict, total=False):
    seen: Annotated[list[str], operator.add]
    answer: Any


def chain(ran: list[str], ask: bool = False, saw: list[dict] | None = None) -> StateGraph:
    """a -> b -> c (b asks a person when `ask`); each node notes that it ran."""

    def node(name: str) -> Callable[..., dict[str, Any]]:
        def body(state: Trail, config: Any = None) -> dict[str, Any]:
            if saw is not None:
                saw.append(dict(config["configurable"]))
            if ask and name == "b":
                answer = interrupt({"q": "go on?"})
                ran.append(name)
                return {"seen": [name], "answer": answer}
            ran.append(name)
            return {"seen": [name]}

        return body

    g = StateGraph(Trail)
    for name in "abc":
        g.add_node(name, node(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    g.add_edge("c", END)
    return g


def config(thread: str, stop: Callable[[], bool] | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": thread}
    if stop is not None:
        conf[STOP] = stop
    return {"configurable": conf}


def test_a_run_stops_between_steps_and_goes_on_later(saver: Any, run: Runner) -> None:
    ran: list[str] = []
    graph = chain(ran).compile(checkpointer=saver)
    asked: list[int] = []

    def stop() -> bool:
        asked.append(len(ran))
        return ran == ["a"]  # asked to stop once the first step ran

    with pytest.raises(RunStopped) as stopped:
        run.invoke(graph, {"seen": []}, config("t1", stop))
    assert "b still to run" in str(stopped.value)
    assert ran == ["a"]
    assert asked == [1]  # asked before the second step, never before the first
    state = run.get_state(graph, config("t1"))
    assert state.values["seen"] == ["a"] and state.next == ("b",)
    assert saver.acquire_thread("t1", "someone-else", ttl=60)  # the lease was given back
    saver.release_thread("t1", "someone-else")
    done = run.invoke(graph, None, config("t1"))  # goes on with the next nodes
    assert done["seen"] == ["a", "b", "c"] and ran == ["a", "b", "c"]
    assert run.get_state(graph, config("t1")).next == ()


def test_a_stopped_resume_carries_its_decision_out_first(saver: Any, run: Runner) -> None:
    ran: list[str] = []
    graph = chain(ran, ask=True).compile(checkpointer=saver)
    paused = run.invoke(graph, {"seen": []}, config("t2"))
    [request] = paused["__interrupt__"]
    with pytest.raises(RunStopped):  # stop at once: the paused node still runs first
        run.invoke(graph, Command(resume={request.id: "yes"}), config("t2", lambda: True))
    assert ran == ["a", "b"]
    state = run.get_state(graph, config("t2"))
    assert state.values["answer"] == "yes" and state.next == ("c",)
    assert state.interrupts == ()
    assert saver.get_interrupt(request.id).status == "resolved"
    done = run.invoke(graph, None, config("t2"))
    assert done["seen"] == ["a", "b", "c"] and ran == ["a", "b", "c"]


def test_a_stream_ends_with_the_stop_after_its_first_step(saver: Any, run: Runner) -> None:
    ran: list[str] = []
    graph = chain(ran).compile(checkpointer=saver)
    chunks: list[Any] = []

    def collect() -> None:
        if run.mode == "sync":
            for chunk in graph.stream({"seen": []}, config("t3", lambda: True)):
                chunks.append(chunk)
            return

        async def go() -> None:
            async for chunk in graph.astream({"seen": []}, config("t3", lambda: True)):
                chunks.append(chunk)

        run._run(go())

    with pytest.raises(RunStopped):
        collect()
    assert chunks == [{"a": {"seen": ["a"]}}] and ran == ["a"]


def test_a_run_that_is_never_asked_to_stop_runs_to_its_end(saver: Any, run: Runner) -> None:
    ran: list[str] = []
    saw: list[dict] = []
    graph = chain(ran, saw=saw).compile(checkpointer=saver)
    done = run.invoke(graph, {"seen": []}, config("t4", lambda: False))
    assert done["seen"] == ["a", "b", "c"]
    assert saw and all(STOP not in conf for conf in saw)  # the nodes never see the check


def test_exit_durability_saves_the_steps_before_stopping(saver: Any) -> None:
    ran: list[str] = []
    graph = chain(ran).compile(checkpointer=saver)
    with pytest.raises(RunStopped):
        graph.invoke({"seen": []}, config("t5", lambda: len(ran) == 2), durability="exit")
    assert ran == ["a", "b"]
    state = graph.get_state(config("t5"))
    assert state.values["seen"] == ["a", "b"] and state.next == ("c",)
