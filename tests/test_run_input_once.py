"""A queued run's input is applied once: `configurable.run_id` tags its checkpoints, and a
second invocation with the same run id (a worker taking over a dead one's run) continues
from the thread's head instead of applying the input again."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

import pytest

import interlock as il
from interlock import RunSuperseded
from tests.conftest import Runner


class Counter(TypedDict, total=False):
    n: Annotated[int, operator.add]
    steps: Annotated[list[str], operator.add]
    answer: Any


def graph(saver: Any, *, fail: list[bool] | None = None, ask: bool = False) -> Any:
    def first(state: Counter) -> dict:
        return {"steps": ["first"]}

    def second(state: Counter) -> dict:
        if fail and fail[0]:
            raise RuntimeError("the worker died here")
        if ask:
            return {"steps": ["second"], "answer": il.interrupt({"n": state["n"]})}
        return {"steps": ["second"]}

    g = il.StateGraph(Counter)
    g.add_node("first", first)
    g.add_node("second", second)
    g.add_edge(il.START, "first")
    g.add_edge("first", "second")
    return g.compile(checkpointer=saver, name="counter")


def config(run_id: str | None = None, after: str | None = None) -> dict[str, Any]:
    conf: dict[str, Any] = {"thread_id": "t"}
    if run_id:
        conf["run_id"] = run_id
    if after:
        conf["run_after"] = after
    return {"configurable": conf}


def test_the_same_run_applies_its_input_once(saver: Any, run: Runner) -> None:
    g = graph(saver)
    assert run.invoke(g, {"n": 1}, config("r1")) == {"n": 1, "steps": ["first", "second"]}
    again = run.invoke(g, {"n": 1}, config("r1"))
    assert again == {"n": 1, "steps": ["first", "second"]}  # finished: reported, not re-run
    records = list(saver.list_checkpoints("t"))
    assert {r.metadata.get("run_id") for r in records} == {"r1"}
    assert run.invoke(g, {"n": 1}, config("r2"))["n"] == 2  # another run: applied


def test_a_run_that_died_after_its_input_continues_from_the_head(saver: Any, run: Runner) -> None:
    fail = [True]
    g = graph(saver, fail=fail)
    with pytest.raises(RuntimeError, match="died"):
        run.invoke(g, {"n": 5}, config("r1"))
    fail[0] = False
    result = run.invoke(g, {"n": 5}, config("r1"))  # taken over: no second +5
    assert result == {"n": 5, "steps": ["first", "second"]}
    sources = [r.source for r in saver.list_checkpoints("t")]
    assert sources.count("input") == 1


def test_a_paused_run_reports_its_pause(saver: Any, run: Runner) -> None:
    g = graph(saver, ask=True)
    paused = run.invoke(g, {"n": 2}, config("r1"))
    [intr] = paused["__interrupt__"]
    again = run.invoke(g, {"n": 2}, config("r1"))  # not InputRejected, not applied twice
    assert again["__interrupt__"] == [intr] and again["n"] == 2
    with pytest.raises(il.InputRejected):
        run.invoke(g, {"n": 2}, config("r2"))


def test_only_checkpoints_after_the_queued_head_are_searched(saver: Any, run: Runner) -> None:
    g = graph(saver)
    run.invoke(g, {"n": 1}, config("r1"))
    head = next(iter(saver.list_checkpoints("t"))).checkpoint_id
    # a run id seen only before `run_after` is not this run's: the input is applied
    assert run.invoke(g, {"n": 1}, config("r1", after=head))["n"] == 2


def test_the_search_pages_back_through_later_runs(saver: Any, run: Runner) -> None:
    g = graph(saver)
    run.invoke(g, {"n": 1}, config("r0"))
    before = next(iter(saver.list_checkpoints("t"))).checkpoint_id
    run.invoke(g, {"n": 1}, config("r1"))
    for i in range(12):  # 36 checkpoints of other runs after r1's
        run.invoke(g, {"n": 1}, config(f"other{i}"))
    # found (not applied again); the thread moved on since r1, so r1 cannot go on
    with pytest.raises(RunSuperseded):
        run.invoke(g, {"n": 1}, config("r1", after=before))
    with pytest.raises(RunSuperseded):
        run.invoke(g, {"n": 1}, config("r1"))  # no bound: the whole history
    assert run.invoke(g, {"n": 1}, config("r2", after=before))["n"] == 15
