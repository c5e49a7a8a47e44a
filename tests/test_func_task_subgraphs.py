"""Functional-API task calls that run a subgraph, side by side: each call's subgraph keeps
its own namespace (it used to share the entrypoint's, so one call read the other's state or
lost the race to commit), and when the store does not take their steps (`StepNotSaved`),
every call's held step is written before the entrypoint runs again, not only the first's."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path
from typing import Any, TypedDict

import pytest

import interlock as il
from interlock import Command, StepNotSaved
from interlock.func import entrypoint, task
from tests.conftest import Runner
from tests.test_unsaved_steps import DroppingSaver, fan_out, lease_owner


class Order(TypedDict, total=False):
    item: str
    answer: Any
    shipped: bool


def cfg(thread: str = "t") -> dict:
    return {"configurable": {"thread_id": thread}}


def line(*nodes: Any, kept: bool = False) -> Any:
    """A subgraph running `nodes` one after another (named after their functions); `kept`:
    compiled with `checkpointer=True` (one state kept under the caller's node name)."""
    g = il.StateGraph(Order)
    names = [node.__name__ for node in nodes]
    for name, node in zip(names, nodes, strict=True):
        g.add_node(name, node)
    for a, b in itertools.pairwise([il.START, *names]):
        g.add_edge(a, b)
    return g.compile(checkpointer=True) if kept else g.compile()


def ask(state: Order) -> dict:
    return {"answer": il.interrupt({"ok?": state["item"]})}


def asking() -> Any:
    """A subgraph whose one node asks about the item."""
    return line(ask)


def shipping(effects: list[str], gate: threading.Barrier | None = None) -> Any:
    """A subgraph with one node whose side effect is recorded in `effects`; with `gate`, the
    calls wait for each other inside it (so they run side by side)."""

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if gate is not None:
            gate.wait(timeout=10)
        return {"shipped": True}

    return line(ship)


def calling(child: Any) -> Any:
    """A task that runs `child` as its subgraph with the item."""

    @task
    def run_child(item: str) -> Any:
        return child.invoke({"item": item})

    return run_child


def flow_of(
    saver: Any, child: Any, *, ask: str | None = None, failing: set[str] | None = None
) -> Any:
    """An entrypoint that calls `run_child` for each item, side by side; the item named
    `ask` pauses in its task instead, and items in `failing` raise there."""

    @task
    def run_child(item: str) -> Any:
        if failing and item in failing:
            raise ValueError(f"{item} failed")
        if item == ask:
            return {"item": item, "answer": il.interrupt({"ok?": item})}
        return child.invoke({"item": item})

    @entrypoint(checkpointer=saver)
    def flow(items: list[str]) -> Any:
        futures = [run_child(i) for i in items]
        return [f.result() for f in futures]

    return flow


@pytest.mark.parametrize("together", [False, True])
def test_each_task_call_runs_its_own_subgraph(saver: Any, run: Runner, together: bool) -> None:
    effects: list[str] = []
    child = shipping(effects, threading.Barrier(2) if together else None)
    flow = flow_of(saver, child)
    out = run.invoke(flow, ["a", "b"], cfg())
    assert [o["item"] for o in out] == ["a", "b"]
    assert sorted(effects) == ["a", "b"]


def test_task_calls_paused_in_their_subgraphs_resume_each_with_its_answer(
    saver: Any, run: Runner
) -> None:
    flow = flow_of(saver, asking())
    paused = run.invoke(flow, ["a", "b"], cfg())
    asked = {i.value["ok?"]: i.id for i in paused["__interrupt__"]}
    assert set(asked) == {"a", "b"}
    out = run.invoke(flow, Command(resume={asked["a"]: "yes a", asked["b"]: "yes b"}), cfg())
    assert [(o["item"], o["answer"]) for o in out] == [("a", "yes a"), ("b", "yes b")]


def dropping(tmp_path: Path, calls: int) -> tuple[DroppingSaver, list[str], threading.Barrier]:
    """A store that fails the next `calls` checkpoint commits once every ship has run."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []
    gate = threading.Barrier(2, action=lambda: saver.drop.__setitem__("put_checkpoint", calls))
    return saver, effects, gate


@pytest.mark.parametrize("hold", [False, True])
def test_every_task_calls_held_step_is_saved(tmp_path: Path, hold: bool) -> None:
    saver, effects, gate = dropping(tmp_path, 2)
    flow = flow_of(saver, shipping(effects, gate))
    config = {"configurable": {"thread_id": "t", "hold_unsaved_steps": hold}}
    with pytest.raises(StepNotSaved) as caught:
        flow.invoke(["a", "b"], config)
    assert (lease_owner(saver, "t") is not None) is hold
    assert caught.value.save() is True
    assert lease_owner(saver, "t") is None
    out = flow.invoke(None, cfg())
    assert [o["item"] for o in out] == ["a", "b"]
    assert sorted(effects) == ["a", "b"]  # neither ship ran again


def test_every_task_calls_held_step_is_saved_async(tmp_path: Path) -> None:
    import asyncio

    saver, effects, gate = dropping(tmp_path, 2)
    flow = flow_of(saver, shipping(effects, gate))

    async def main() -> Any:
        with pytest.raises(StepNotSaved) as caught:
            await flow.ainvoke(["a", "b"], cfg())
        assert await asyncio.to_thread(caught.value.save) is True
        return await flow.ainvoke(None, cfg())

    assert [o["item"] for o in asyncio.run(main())] == ["a", "b"]
    assert sorted(effects) == ["a", "b"]


@pytest.mark.parametrize("items", [["a", "b"], ["b", "a"]])
def test_a_held_step_beside_a_pause_is_saved_and_the_pause_asked_again(
    tmp_path: Path, items: list[str]
) -> None:
    """Whichever the entrypoint meets first (the held step, or the pause)."""
    saver, effects, _ = dropping(tmp_path, 0)

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        saver.drop["put_checkpoint"] = 1  # this subgraph's commit fails
        return {"shipped": True}

    flow = flow_of(saver, line(ship), ask="b")
    with pytest.raises(StepNotSaved) as caught:  # not the pause: it would hide the step
        flow.invoke(items, cfg())
    assert caught.value.save() is True
    paused = flow.invoke(None, cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"ok?": "b"}]
    out = flow.invoke(Command(resume="sure"), cfg())
    answers = {"a": {"item": "a", "shipped": True}, "b": {"item": "b", "answer": "sure"}}
    assert out == [answers[i] for i in items]
    assert effects == ["a"]


def test_a_held_step_beside_another_calls_error_is_saved_at_once(tmp_path: Path) -> None:
    saver, effects, _ = dropping(tmp_path, 0)
    failing = {"b"}

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            saver.drop["put_checkpoint"] = 1
        return {"shipped": True}

    flow = flow_of(saver, line(ship), failing=failing)
    with pytest.raises(ValueError, match="b failed"):  # b's error is met first
        flow.invoke(["b", "a"], cfg())
    assert lease_owner(saver, "t") is None
    failing.clear()
    out = flow.invoke(None, cfg())
    assert [o["item"] for o in out] == ["b", "a"]
    assert effects == ["a", "b"]  # a's ship ran once


def test_async_task_calls_paused_in_their_subgraphs_are_asked_together(saver: Any) -> None:
    import asyncio

    child = asking()

    @task
    async def run_child(item: str) -> Any:
        return await child.ainvoke({"item": item})

    @entrypoint(checkpointer=saver)
    async def flow(items: list[str]) -> Any:
        return list(await asyncio.gather(*(run_child(i) for i in items)))

    async def main() -> Any:
        paused = await flow.ainvoke(["a", "b"], cfg())
        asked = {i.value["ok?"]: i.id for i in paused["__interrupt__"]}
        assert set(asked) == {"a", "b"}
        return await flow.ainvoke(Command(resume={asked["a"]: 1, asked["b"]: 2}), cfg())

    out = asyncio.run(main())
    assert [(o["item"], o["answer"]) for o in out] == [("a", 1), ("b", 2)]


def test_a_task_calls_subgraph_paused_before_the_upgrade_goes_on_where_it_paused(
    saver: Any, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Task calls' subgraphs used to be kept under the entrypoint's namespace: a thread that
    paused in one then (one call running a subgraph, what worked) goes on from that state
    after the upgrade; its finished nodes do not run again."""
    from interlock.graph._func_scope import FuncContext

    effects: list[str] = []

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        return {"shipped": True}

    flow = flow_of(saver, line(ship, ask))

    with monkeypatch.context() as before:  # the namespaces of the earlier release
        before.setattr(FuncContext, "call_mark", lambda self: None)
        paused = run.invoke(flow, ["a"], cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"ok?": "a"}]
    out = run.invoke(flow, Command(resume="yes"), cfg())
    assert out == [{"item": "a", "shipped": True, "answer": "yes"}]
    assert effects == ["a"]


@pytest.mark.parametrize("items", [["direct", "sub"], ["sub", "direct"]])
def test_a_calls_own_request_and_another_calls_subgraph_are_asked_together(
    saver: Any, run: Runner, items: list[str]
) -> None:
    """One call asks with `interrupt()`, the other's subgraph asks: one pause with both,
    whichever the entrypoint meets first; each answer reaches its asker."""
    flow = flow_of(saver, asking(), ask="direct")
    paused = run.invoke(flow, items, cfg())
    asked = {i.value["ok?"]: i.id for i in paused["__interrupt__"]}
    assert set(asked) == {"direct", "sub"}
    assert {i.id for i in run.get_state(flow, cfg()).interrupts} == set(asked.values())
    out = run.invoke(flow, Command(resume={asked["sub"]: 1, asked["direct"]: 2}), cfg())
    answers = {"direct": {"item": "direct", "answer": 2}, "sub": {"item": "sub", "answer": 1}}
    assert out == [answers[i] for i in items]


def test_the_entrypoints_own_subgraph_and_a_calls_are_kept_apart(saver: Any, run: Runner) -> None:
    """The entrypoint runs the subgraph itself (unmarked namespace) while a call runs it
    too: the call never goes on with the entrypoint's (it is no earlier release's)."""
    child = asking()

    run_child = calling(child)

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> Any:
        future = run_child("call")
        own = child.invoke({"item": "own"})
        return {"own": own["answer"], "call": future.result()["answer"]}

    paused = run.invoke(flow, "go", cfg())
    asked = {i.value["ok?"]: i.id for i in paused["__interrupt__"]}
    assert sorted(asked) == ["call", "own"]
    paused = run.invoke(flow, Command(resume={asked["own"]: "o"}), cfg())
    assert [i.id for i in paused["__interrupt__"]] == [asked["call"]]
    assert run.invoke(flow, Command(resume={asked["call"]: "c"}), cfg()) == {
        "own": "o",
        "call": "c",
    }


def test_calls_the_entrypoint_did_not_wait_for_still_pause_it(saver: Any, run: Runner) -> None:
    child = asking()

    run_child = calling(child)

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> str:
        run_child("forgotten")  # never waited for
        return "done"

    paused = run.invoke(flow, "go", cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"ok?": "forgotten"}]
    assert run.invoke(flow, Command(resume="fine"), cfg()) == "done"


def test_a_held_step_of_a_call_not_waited_for_is_held_too(tmp_path: Path) -> None:
    saver, effects, _ = dropping(tmp_path, 0)

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        if len(effects) == 1:
            saver.drop["put_checkpoint"] = 1
        return {"shipped": True}

    child = line(ship)

    run_child = calling(child)

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> str:
        run_child("a")  # never waited for
        return "done"

    with pytest.raises(StepNotSaved) as caught:
        flow.invoke("go", cfg())
    assert caught.value.save() is True
    assert flow.invoke(None, cfg()) == "done"
    assert effects == ["a"]


def test_saving_a_calls_held_step_at_once_keeps_the_runs_lease(tmp_path: Path) -> None:
    """Another call's error ends the entrypoint and the held step is written at once, from
    inside the run: the run still holds its lease while it writes its step's progress."""
    seen: list[str | None] = []

    class Watching(DroppingSaver):
        def put_task_writes(self, *args: Any, **kwargs: Any) -> None:
            seen.append(lease_owner(self, "t"))
            super().put_task_writes(*args, **kwargs)

    saver = Watching(tmp_path / "store.db")
    effects: list[str] = []

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        saver.drop["put_checkpoint"] = 1
        return {"shipped": True}

    flow = flow_of(saver, line(ship), failing={"b"})
    with pytest.raises(ValueError, match="b failed"):
        flow.invoke(["b", "a"], cfg())
    assert seen and all(owner is not None for owner in seen)  # the step's progress, leased
    assert lease_owner(saver, "t") is None  # given back when the run ended


@pytest.mark.parametrize("together", [False, True])
def test_a_subgraph_kept_by_name_is_run_by_one_call_per_run(saver: Any, together: bool) -> None:
    """`checkpointer=True` keeps one state under the entrypoint's name: a second call of
    the same run gets a clear error (LangGraph refuses it too), not the first's result."""
    ran: list[str] = []

    def step(state: Order) -> dict:
        ran.append(state["item"])
        return {"shipped": True}

    kept = line(step, kept=True)

    @task
    def run_kept(item: str) -> Any:
        return kept.invoke({"item": item})

    @entrypoint(checkpointer=saver)
    def flow(items: list[str]) -> Any:
        if together:
            futures = [run_kept(i) for i in items]
            return [f.result() for f in futures]
        return [run_kept(i).result() for i in items]

    with pytest.raises(il.GraphError, match="another call of this run already ran"):
        flow.invoke(["a", "b"], cfg())
    assert "b" not in ran or together  # side by side, b may have started first
    assert flow.invoke(["c"], cfg("one")) == [{"item": "c", "shipped": True}]


def test_a_kept_subgraph_goes_on_turn_after_turn_from_one_call(saver: Any) -> None:
    def step(state: Order) -> dict:
        return {"answer": (state.get("answer") or "") + state["item"]}

    kept = line(step, kept=True)

    @task
    def run_kept(item: str) -> Any:
        return kept.invoke({"item": item})["answer"]

    @entrypoint(checkpointer=saver)
    def flow(item: str) -> Any:
        return run_kept(item).result()

    assert flow.invoke("a", cfg()) == "a"
    assert flow.invoke("b", cfg()) == "ab"  # the state kept from the last turn


def test_a_task_waiting_for_a_task_that_paused_does_not_hang(saver: Any, run: Runner) -> None:
    @task
    def inner(item: str) -> Any:
        return il.interrupt({"ok?": item})

    @task
    def outer(item: str) -> Any:
        return inner(item).result()

    @entrypoint(checkpointer=saver)
    def flow(item: str) -> Any:
        return outer(item).result()

    paused = run.invoke(flow, "x", cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"ok?": "x"}]
    assert run.invoke(flow, Command(resume="yes"), cfg()) == "yes"


def test_a_retried_task_goes_on_with_its_subgraph_not_a_new_one(saver: Any) -> None:
    effects: list[str] = []
    child = shipping(effects)
    attempts: list[int] = []

    @task(retry_policy=il.RetryPolicy(max_attempts=2, initial_interval=0.01, jitter=False))
    def charge(item: str) -> Any:
        out = child.invoke({"item": item})
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("the card network hung up")
        return out

    @entrypoint(checkpointer=saver)
    def flow(item: str) -> Any:
        return charge(item).result()

    assert flow.invoke("a", cfg()) == {"item": "a", "shipped": True}
    assert len(attempts) == 2
    assert effects == ["a"]  # the subgraph finished in the first attempt: not run again


def test_a_graph_with_its_own_store_keeps_its_held_step_beside_a_calls(tmp_path: Path) -> None:
    """One call runs a graph with a store of its own (a root run on another thread, not a
    subgraph) whose step is held; another call's subgraph holds a step too. The graph's
    held step is its caller's to save (it is raised as it is); the subgraph's is written at
    once, so going on does not run its node again."""
    saver = DroppingSaver(tmp_path / "store.db")
    effects: list[str] = []

    def drop_both() -> None:  # once both ships ran: the inner pause's and the commit fail
        saver.drop.update(put_task_writes=1, put_checkpoint=1)

    gate = threading.Barrier(2, action=drop_both)
    first = [True]

    def ship(state: Order) -> dict:
        effects.append(state["item"])
        gate.wait(timeout=10)
        return {"shipped": True}

    inner = fan_out(saver, effects, ship)  # ship and ask side by side, in a store of its own

    child = line(ship)

    @task
    def run_inner(item: str) -> Any:
        if not first[0]:
            return "inner done"
        return inner.invoke({"item": item}, {"configurable": {"thread_id": "inner-t"}})

    run_child = calling(child)

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> Any:
        a, b = run_inner("i"), run_child("c")
        return [a.result(), b.result()]

    with pytest.raises(StepNotSaved) as caught:
        flow.invoke("go", cfg())
    assert caught.value.thread_id == "inner-t"  # the inner graph's own, raised as it is
    first[0] = False
    assert flow.invoke(None, cfg()) == ["inner done", {"item": "c", "shipped": True}]
    assert effects.count("c") == 1  # the subgraph's step was written at once


def test_a_subgraph_taken_over_after_the_upgrade_gives_its_output_once_finished(
    saver: Any, run: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call goes on with the earlier release's paused subgraph, which finishes; the
    call then pauses itself: when it runs again, the subgraph gives its output (it does
    not start over under the call's own namespace and ask again)."""
    from interlock.graph._func_scope import FuncContext

    asked: list[str] = []

    def ask(state: Order) -> dict:
        asked.append(state["item"])
        return {"answer": il.interrupt({"ok?": state["item"]})}

    child = line(ask)

    @task
    def run_child(item: str) -> Any:
        answer = child.invoke({"item": item})["answer"]
        return [answer, il.interrupt({"and then?": item})]

    @entrypoint(checkpointer=saver)
    def flow(item: str) -> Any:
        return run_child(item).result()

    with monkeypatch.context() as before:  # the namespaces of the earlier release
        before.setattr(FuncContext, "call_mark", lambda self: None)
        paused = run.invoke(flow, "a", cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"ok?": "a"}]
    paused = run.invoke(flow, Command(resume="child-answer"), cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"and then?": "a"}]
    assert run.invoke(flow, Command(resume="after"), cfg()) == ["child-answer", "after"]
    assert asked == ["a", "a"]  # asked, then answered: never asked again


def test_a_kept_subgraph_is_refused_to_a_second_call_after_a_pause(saver: Any) -> None:
    """The first call's result comes back from its record after the pause (it claims
    nothing again): the second call is still refused, not handed the first's state."""

    def step(state: Order) -> dict:
        return {"answer": state["item"]}

    kept = line(step, kept=True)

    @task
    def run_kept(item: str) -> Any:
        return kept.invoke({"item": item})["answer"]

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> Any:
        first = run_kept("a").result()
        il.interrupt("go on?")
        return [first, run_kept("b").result()]

    assert "__interrupt__" in flow.invoke("go", cfg())
    with pytest.raises(il.GraphError, match="another call of this run already ran"):
        flow.invoke(Command(resume="yes"), cfg())


def test_an_async_task_waiting_for_a_task_that_paused_does_not_hang(saver: Any) -> None:
    import asyncio

    @task
    async def inner(item: str) -> Any:
        return il.interrupt({"ok?": item})

    @task
    async def outer(item: str) -> Any:
        return await inner(item)

    @entrypoint(checkpointer=saver)
    async def flow(item: str) -> Any:
        return await outer(item)

    async def main() -> Any:
        paused = await asyncio.wait_for(flow.ainvoke("x", cfg()), 30)
        assert [i.value for i in paused["__interrupt__"]] == [{"ok?": "x"}]
        return await asyncio.wait_for(flow.ainvoke(Command(resume="yes"), cfg()), 30)

    assert asyncio.run(main()) == "yes"


def test_a_retry_goes_on_with_the_subgraph_taken_over_after_the_upgrade(
    saver: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock.graph._func_scope import FuncContext

    ran: list[str] = []
    flaky = [False]

    def before_ask(state: Order) -> dict:
        ran.append("before")
        return {}

    def after_ask(state: Order) -> dict:
        ran.append("after")
        if flaky[0]:
            flaky[0] = False
            raise ConnectionError("hung up")
        return {"shipped": True}

    child = line(before_ask, ask, after_ask)

    @task(retry_policy=il.RetryPolicy(max_attempts=3, initial_interval=0.01, jitter=False))
    def run_child(item: str) -> Any:
        return child.invoke({"item": item})

    @entrypoint(checkpointer=saver)
    def flow(item: str) -> Any:
        return run_child(item).result()

    with monkeypatch.context() as before:  # the namespaces of the earlier release
        before.setattr(FuncContext, "call_mark", lambda self: None)
        assert "__interrupt__" in flow.invoke("a", cfg())
    flaky[0] = True
    out = flow.invoke(Command(resume="yes"), cfg())
    assert out == {"item": "a", "answer": "yes", "shipped": True}
    assert ran == ["before", "after", "after"]  # the retry did not start the subgraph over
