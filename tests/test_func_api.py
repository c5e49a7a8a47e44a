"""The functional API (`interlock.func`): tasks, futures, parallelism, `previous`,
`entrypoint.final`, inspection, and the loud failures; on every store, sync and async."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

import pytest

from interlock import (
    Command,
    GraphError,
    InMemorySaver,
    NonDeterministicTask,
    ResumeConflict,
    RetryPolicy,
    Runtime,
    SerializationError,
    get_runtime,
    get_stream_writer,
    interrupt,
    once,
)
from interlock.func import entrypoint, task
from tests.conftest import Runner


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


class Counter:
    """Counts calls per key, from any thread."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()

    def hit(self, key: str) -> None:
        with self.lock:
            self.calls[key] = self.calls.get(key, 0) + 1


def test_tasks_return_futures_and_the_result_is_the_return_value(saver: Any, run: Runner) -> None:
    @task
    def double(x: int) -> int:
        return 2 * x

    @entrypoint(checkpointer=saver)
    def flow(xs: list[int]) -> list[int]:
        futures = [double(x) for x in xs]
        return [f.result() for f in futures]

    assert run.invoke(flow, [1, 2, 3], cfg()) == [2, 4, 6]
    assert run.get_state(flow, cfg()).values == [2, 4, 6]
    assert flow.name == "flow"


def test_tasks_started_together_run_in_parallel(saver: Any, run: Runner) -> None:
    # each task waits for the other: run one after the other, the barrier would break
    barrier = threading.Barrier(2, timeout=10)

    @task
    def meet(x: int) -> int:
        barrier.wait()
        return x

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> list[int]:
        a, b = meet(1), meet(2)
        return [a.result(), b.result()]

    assert run.invoke(flow, {}, cfg()) == [1, 2]


def test_async_tasks_started_together_run_concurrently(saver: Any) -> None:
    seen: list[str] = []

    @task
    async def ping(other: str, me: str) -> str:
        events[me].set()
        await asyncio.wait_for(events[other].wait(), 10)  # needs the other to have started
        seen.append(me)
        return me

    @entrypoint(checkpointer=saver)
    async def flow(_: Any) -> list[str]:
        a, b = ping("b", "a"), ping("a", "b")
        return [await a, await b]

    async def main() -> Any:
        global events
        events = {"a": asyncio.Event(), "b": asyncio.Event()}
        return await flow.ainvoke({}, cfg())

    assert asyncio.run(main()) == ["a", "b"]
    assert sorted(seen) == ["a", "b"]


events: dict[str, asyncio.Event] = {}


def test_finished_tasks_are_not_run_again_on_resume(saver: Any, run: Runner) -> None:
    counter = Counter()

    @task
    def charge(amount: int) -> str:
        counter.hit("charge")
        return f"charged {amount}"

    @task
    def notify(text: str) -> str:
        counter.hit("notify")
        return text.upper()

    @entrypoint(checkpointer=saver)
    def flow(amount: int) -> dict:
        receipt = charge(amount).result()
        answer = interrupt({"receipt": receipt})
        return {"receipt": receipt, "answer": answer, "note": notify(answer).result()}

    paused = run.invoke(flow, 12, cfg())
    assert [i.value for i in paused["__interrupt__"]] == [{"receipt": "charged 12"}]
    assert counter.calls == {"charge": 1}
    done = run.invoke(flow, Command(resume="ok"), cfg())
    assert done == {"receipt": "charged 12", "answer": "ok", "note": "OK"}
    assert counter.calls == {"charge": 1, "notify": 1}


def test_interrupt_inside_a_task_pauses_with_an_inbox_entry(saver: Any, run: Runner) -> None:
    counter = Counter()

    @task
    def prepare(x: int) -> int:
        counter.hit("prepare")
        return x + 1

    @task
    def review(x: int) -> str:
        counter.hit("review")
        return f"{x}:{interrupt({'check': x})}"

    @entrypoint(checkpointer=saver)
    def flow(x: int) -> str:
        return review(prepare(x).result()).result()

    paused = run.invoke(flow, 1, cfg())
    (intr,) = paused["__interrupt__"]
    assert intr.value == {"check": 2}
    state = run.get_state(flow, cfg())
    assert [i.id for i in state.interrupts] == [intr.id]
    assert state.next == ("flow",)
    record = saver.get_interrupt(intr.id)
    assert record.status == "pending"
    assert record.task_name == "review"
    assert record.metadata["graph"] == "flow"
    assert [r.interrupt_id for r in saver.list_interrupts(status="pending").items] == [intr.id]

    assert run.invoke(flow, Command(resume="yes"), cfg()) == "2:yes"
    assert counter.calls == {"prepare": 1, "review": 2}  # the paused task runs again
    assert saver.get_interrupt(intr.id).status == "resolved"


def test_parallel_interrupts_are_answered_by_id_one_at_a_time(saver: Any, run: Runner) -> None:
    counter = Counter()

    @task
    def ask(question: str) -> str:
        counter.hit(question)
        return interrupt(question)

    @entrypoint(checkpointer=saver)
    def flow(questions: list[str]) -> list[str]:
        futures = [ask(q) for q in questions]
        return [f.result() for f in futures]

    paused = run.invoke(flow, ["a?", "b?", "c?"], cfg())
    ids = {i.value: i.id for i in paused["__interrupt__"]}
    assert sorted(ids) == ["a?", "b?", "c?"]
    assert len(set(ids.values())) == 3

    again = run.invoke(flow, Command(resume={ids["b?"]: "B"}), cfg())
    assert {i.value: i.id for i in again["__interrupt__"]} == {"a?": ids["a?"], "c?": ids["c?"]}
    final = run.invoke(flow, Command(resume={ids["a?"]: "A", ids["c?"]: "C"}), cfg())
    assert final == ["A", "B", "C"]
    with pytest.raises(ResumeConflict, match="already resolved"):
        run.invoke(flow, Command(resume={ids["a?"]: "again"}), cfg())


def test_entrypoint_interrupt_and_task_interrupt_together(saver: Any, run: Runner) -> None:
    release = threading.Event()

    @task
    def slow_question() -> str:
        release.wait(10)
        return interrupt("from the task")

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> list[str]:
        fut = slow_question()
        release.set()
        mine = interrupt("from the entrypoint")
        return [mine, fut.result()]

    paused = run.invoke(flow, {}, cfg())
    by_value = {i.value: i.id for i in paused["__interrupt__"]}
    assert sorted(by_value) == ["from the entrypoint", "from the task"]
    answers = {by_value["from the entrypoint"]: "E", by_value["from the task"]: "T"}
    assert run.invoke(flow, Command(resume=answers), cfg()) == ["E", "T"]


def test_previous_and_final(saver: Any, run: Runner) -> None:
    seen: list[Any] = []

    @entrypoint(checkpointer=saver)
    def chat(msg: str, *, previous: list[str] | None = None) -> entrypoint.final[int, list]:
        seen.append(previous)
        history = previous or []
        return entrypoint.final(value=len(history), save=[*history, msg])

    assert run.invoke(chat, "hello", cfg()) == 0
    assert run.invoke(chat, "again", cfg()) == 1
    assert seen == [None, ["hello"]]
    assert run.invoke(chat, "x", cfg("other")) == 0  # previous is per thread


def test_previous_is_the_return_value_and_update_state_sets_it(saver: Any, run: Runner) -> None:
    @entrypoint(checkpointer=saver)
    def foo(inputs: Any, *, previous: Any = None) -> Any:
        return {"previous": previous, "current": inputs}

    run.update_state(foo, cfg(), {"a": "-1"})
    assert run.invoke(foo, {"a": "1"}, cfg()) == {"current": {"a": "1"}, "previous": {"a": "-1"}}
    second = run.invoke(foo, {"a": "2"}, cfg())
    assert second["previous"] == {"current": {"a": "1"}, "previous": {"a": "-1"}}
    history = run.history(foo, cfg())
    assert history[0].values == second
    assert [h.metadata["source"] for h in history][:2] == ["loop", "input"]


def test_runtime_context_and_previous_reach_entrypoint_and_tasks(saver: Any, run: Runner) -> None:
    @dataclass
    class Ctx:
        user: str

    @task
    def greet() -> str:
        return f"hi {get_runtime().context.user}"

    @entrypoint(checkpointer=saver, context_schema=Ctx)
    def flow(_: Any, *, runtime: Runtime[Ctx]) -> dict:
        return {"greeting": greet().result(), "previous": runtime.previous}

    first = run.invoke(flow, {}, cfg(), context={"user": "ada"})
    assert first == {"greeting": "hi ada", "previous": None}
    second = run.invoke(flow, {}, cfg(), context=Ctx(user="bob"))
    assert second == {"greeting": "hi bob", "previous": first}


def test_stream_modes(saver: Any, run: Runner) -> None:
    @task
    def shout(word: str) -> str:
        get_stream_writer()({"progress": word})
        return word.upper()

    @entrypoint(checkpointer=saver)
    def flow(word: str) -> str:
        return shout(word).result() + "!"

    assert run.stream(flow, "hi", cfg("u")) == [{"shout": "HI"}, {"flow": "HI!"}]
    assert run.stream(flow, "yo", cfg("v"), stream_mode="values") == ["YO!"]
    both = run.stream(flow, "ok", cfg("w"), stream_mode=["custom", "updates"])
    assert both == [
        ("custom", {"progress": "ok"}),
        ("updates", {"shout": "OK"}),
        ("updates", {"flow": "OK!"}),
    ]


def test_stream_shows_the_pause(saver: Any, run: Runner) -> None:
    @entrypoint(checkpointer=saver)
    def flow(x: int) -> int:
        return x + interrupt("more?")

    chunks = run.stream(flow, 1, cfg())
    assert [c["__interrupt__"][0].value for c in chunks] == ["more?"]
    assert run.stream(flow, Command(resume=2), cfg()) == [{"flow": 3}]


def test_task_retry_policy(saver: Any, run: Runner) -> None:
    counter = Counter()

    @task(retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.0, jitter=False))
    def flaky(x: int) -> int:
        counter.hit("flaky")
        if counter.calls["flaky"] < 3:
            raise ConnectionError("try again")
        return x

    @entrypoint(checkpointer=saver)
    def flow(x: int) -> int:
        return flaky(x).result()

    assert run.invoke(flow, 7, cfg()) == 7
    assert counter.calls == {"flaky": 3}


def test_task_error_fails_the_run_and_is_not_recorded(saver: Any, run: Runner) -> None:
    counter = Counter()

    @task
    def boom(x: int) -> int:
        counter.hit("boom")
        if counter.calls["boom"] == 1:
            raise ValueError("first time")
        return x

    @entrypoint(checkpointer=saver)
    def flow(x: int) -> int:
        return boom(x).result()

    with pytest.raises(ValueError, match="first time"):
        run.invoke(flow, 1, cfg())
    assert run.invoke(flow, None, cfg()) == 1  # continue the failed step: it runs again
    assert counter.calls == {"boom": 2}


def test_once_inside_a_task_runs_once_across_its_pause(saver: Any, run: Runner) -> None:
    counter = Counter()

    def side_effect() -> str:
        counter.hit("effect")
        return "ticket-1"

    @task
    def open_ticket() -> dict:
        ticket = once(side_effect)
        return {"ticket": ticket, "ok": interrupt({"ticket": ticket})}

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> dict:
        return open_ticket().result()

    run.invoke(flow, {}, cfg())
    assert run.invoke(flow, Command(resume=True), cfg()) == {"ticket": "ticket-1", "ok": True}
    assert counter.calls == {"effect": 1}


def test_unserialisable_task_arguments_are_refused_before_the_task_runs(
    saver: Any, run: Runner
) -> None:
    counter = Counter()

    @task
    def use(client: Any) -> str:
        counter.hit("use")
        return "used"

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> str:
        return use(threading.Lock()).result()

    with pytest.raises(SerializationError, match="task 'use' was called with arguments"):
        run.invoke(flow, {}, cfg())
    assert counter.calls == {}


def test_unserialisable_task_result_is_refused(saver: Any, run: Runner) -> None:
    @task
    def make() -> Any:
        return threading.Lock()

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> Any:
        return make().result()

    with pytest.raises(SerializationError, match="task 'make' returned"):
        run.invoke(flow, {}, cfg())


def test_non_deterministic_control_flow_is_reported(saver: Any, run: Runner) -> None:
    mode = {"branch": "a"}

    @task
    def step_a() -> str:
        return "a"

    @task
    def step_b() -> str:
        return "b"

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> list[str]:
        first = (step_a if mode["branch"] == "a" else step_b)().result()
        return [first, interrupt("go on?")]

    run.invoke(flow, {}, cfg())
    mode["branch"] = "b"  # e.g. a branch on the clock or on a random number
    with pytest.raises(NonDeterministicTask, match=r"'step_a' when it was recorded.*'step_b'"):
        run.invoke(flow, Command(resume="yes"), cfg())


def test_changed_task_arguments_get_the_recorded_result(saver: Any, run: Runner) -> None:
    # arguments often carry fresh ids (messages): a call is matched by its place and task
    # name, as in LangGraph, and the recorded result is returned
    arg = {"n": 1}
    counter = Counter()

    @task
    def square(n: int) -> int:
        counter.hit("square")
        return n * n

    @entrypoint(checkpointer=saver)
    def flow(_: Any) -> list[int]:
        return [square(arg["n"]).result(), interrupt("ok?")]

    run.invoke(flow, {}, cfg())
    arg["n"] = 2
    assert run.invoke(flow, Command(resume="yes"), cfg()) == [1, "yes"]
    assert counter.calls == {"square": 1}


def test_tasks_outside_an_entrypoint_and_bad_options_are_refused() -> None:
    @task
    def lonely() -> int:
        return 1

    with pytest.raises(GraphError, match="called outside an entrypoint"):
        lonely()
    with pytest.raises(GraphError, match="cache"):
        entrypoint(cache=object())

    @task
    async def coro() -> int:
        return 1

    @entrypoint(checkpointer=InMemorySaver())
    def sync_flow(_: Any) -> int:
        return coro().result()

    with pytest.raises(GraphError, match="async; call it from an async entrypoint"):
        sync_flow.invoke({}, cfg())


def test_nested_tasks_are_recorded_too(saver: Any, run: Runner) -> None:
    counter = Counter()

    @task
    def inner(x: int) -> int:
        counter.hit(f"inner{x}")
        return x * 10

    @task
    def outer(x: int) -> int:
        return inner(x).result() + 1

    @entrypoint(checkpointer=saver)
    def flow(xs: list[int]) -> list[Any]:
        futures = [outer(x) for x in xs]
        return [*(f.result() for f in futures), interrupt("done?")]

    run.invoke(flow, [1, 2], cfg())
    assert run.invoke(flow, Command(resume="y"), cfg()) == [11, 21, "y"]
    assert counter.calls == {"inner1": 1, "inner2": 1}


def test_without_checkpointer_previous_is_none_and_interrupt_is_an_error() -> None:
    @entrypoint()
    def foo(inputs: Any, *, previous: Any = None) -> Any:
        return {"previous": previous, "current": inputs}

    assert foo.invoke({"a": "1"}) == {"current": {"a": "1"}, "previous": None}
    assert foo.invoke({"a": "1"}) == {"current": {"a": "1"}, "previous": None}

    @entrypoint()
    def asks(_: Any) -> Any:
        return interrupt("?")

    with pytest.raises(GraphError, match="checkpointer"):
        asks.invoke({})


def test_async_entrypoint_with_sync_tasks_calling_tasks(saver: Any) -> None:
    counter = Counter()

    @task
    async def leaf(x: int) -> int:
        counter.hit(f"leaf{x}")
        return x + 100

    @task
    def middle(x: int) -> int:  # a sync task (in a thread) calling an async one
        return leaf(x).result() * 2

    @entrypoint(checkpointer=saver)
    async def flow(xs: list[int]) -> list[Any]:
        futures = [middle(x) for x in xs]
        return [*[await f for f in futures], interrupt("done?")]

    async def main() -> Any:
        await flow.ainvoke([1, 2], cfg())
        return await flow.ainvoke(Command(resume="yes"), cfg())

    assert asyncio.run(main()) == [202, 204, "yes"]
    assert counter.calls == {"leaf1": 1, "leaf2": 1}


def test_a_graph_invoked_by_the_entrypoint_pauses_it(saver: Any, run: Runner) -> None:
    from typing import TypedDict

    from interlock import START, StateGraph

    class S(TypedDict, total=False):
        x: str

    def ask(state: S) -> dict:
        return {"x": state["x"] + interrupt("suffix?")}

    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    sub = g.compile()  # runs as the entrypoint's subgraph, in its store

    @task
    def upper(v: str) -> str:
        return v.upper()

    @entrypoint(checkpointer=saver)
    def flow(v: str) -> str:
        return sub.invoke({"x": upper(v).result()})["x"]

    paused = run.invoke(flow, "q", cfg())
    assert [i.value for i in paused["__interrupt__"]] == ["suffix?"]
    assert run.invoke(flow, Command(resume="!"), cfg()) == "Q!"
