"""Ported from langgraph: libs/langgraph/tests/test_pregel_async.py (its functional-API tests
on tasks and interrupts: test_imp_task, test_imp_task_cancel, test_imp_sync_from_async,
test_interrupt_functional, test_interrupt_task_functional, test_falsy_return_from_task,
test_multiple_interrupts_functional, test_async_streaming_with_functional_api,
test_async_entrypoint_without_checkpointer, test_handles_multiple_interrupts_from_tasks,
test_interrupts_in_tasks_surfaced_once).

DIFFERENCE (all tests): upstream's are `async def` tests run by its anyio plugin; here each
body is an inner coroutine run with asyncio.run (interlock's suite has no anyio plugin).
"""

import asyncio
import uuid
from typing import Any

from interlock.func import entrypoint, task
from interlock.graph import Durability
from interlock.types import Command, Interrupt, interrupt
from tests.ported.conftest import AnyStr


def test_imp_task(async_checkpointer, durability: Durability) -> None:
    async def body() -> None:
        mapper_calls = 0

        @task()
        async def mapper(input: int) -> str:
            nonlocal mapper_calls
            mapper_calls += 1
            await asyncio.sleep(0.1 * input)
            return str(input) * 2

        @entrypoint(checkpointer=async_checkpointer)
        async def graph(input: list[int]) -> list[str]:
            futures = [mapper(i) for i in input]
            mapped = await asyncio.gather(*futures)
            answer = interrupt("question")
            return [m + answer for m in mapped]

        # DIFFERENCE: no LangChain tracer callbacks (interlock has none); its assertions on
        # the traced runs are left out.
        thread1 = {"configurable": {"thread_id": "1"}}
        result = [c async for c in graph.astream([0, 1], thread1, durability=durability)]
        # mapper tasks run concurrently so output order is non-deterministic
        assert sorted(result[:-1], key=lambda d: str(d)) == [
            {"mapper": "00"},
            {"mapper": "11"},
        ]
        assert result[-1] == {
            "__interrupt__": (
                Interrupt(
                    value="question",
                    id=AnyStr(),
                ),
            )
        }
        assert mapper_calls == 2

        assert await graph.ainvoke(Command(resume="answer"), thread1, durability=durability) == [
            "00answer",
            "11answer",
        ]
        assert mapper_calls == 2

    asyncio.run(body())


def test_imp_task_cancel(async_checkpointer, durability: Durability) -> None:
    async def body() -> None:
        mapper_calls = 0
        mapper_cancels = 0

        @task()
        async def mapper(input: int) -> str:
            nonlocal mapper_calls, mapper_cancels
            mapper_calls += 1
            try:
                await asyncio.sleep(0.3)  # DIFFERENCE: 0.3 s instead of 1 s (a faster suite)
            except asyncio.CancelledError:
                mapper_cancels += 1
                raise
            return str(input) * 2

        @entrypoint(checkpointer=async_checkpointer)
        async def graph(input: list[int]) -> list[str]:
            futures = [mapper(i) for i in input]
            await asyncio.sleep(0.1)
            futures.pop().cancel()  # cancel one
            mapped = await asyncio.gather(*futures)
            answer = interrupt("question")
            return [m + answer for m in mapped]

        thread1 = {"configurable": {"thread_id": "1"}}
        assert [c async for c in graph.astream([0, 1], thread1, durability=durability)] == [
            {"mapper": "00"},
            {
                "__interrupt__": (
                    Interrupt(
                        value="question",
                        id=AnyStr(),
                    ),
                )
            },
        ]
        assert mapper_calls == 2
        assert mapper_cancels == 1

        assert await graph.ainvoke(Command(resume="answer"), thread1, durability=durability) == [
            "00answer",
        ]
        assert mapper_calls == 3
        assert mapper_cancels == 2

    asyncio.run(body())


def test_imp_sync_from_async(async_checkpointer, durability: Durability) -> None:
    async def body() -> None:
        @task()
        def foo(state: dict) -> dict:
            return {"a": state["a"] + "foo", "b": "bar"}

        @task
        def bar(a: str, b: str, c: str | None = None) -> dict:
            return {"a": a + b, "c": (c or "") + "bark"}

        @task()
        def baz(state: dict) -> dict:
            return {"a": state["a"] + "baz", "c": "something else"}

        @entrypoint(checkpointer=async_checkpointer)
        def graph(state: dict) -> dict:
            foo_result = foo(state).result()
            fut_bar = bar(foo_result["a"], foo_result["b"])
            fut_baz = baz(fut_bar.result())
            return fut_baz.result()

        thread1 = {"configurable": {"thread_id": "1"}}
        assert [c async for c in graph.astream({"a": "0"}, thread1, durability=durability)] == [
            {"foo": {"a": "0foo", "b": "bar"}},
            {"bar": {"a": "0foobar", "c": "bark"}},
            {"baz": {"a": "0foobarbaz", "c": "something else"}},
            {"graph": {"a": "0foobarbaz", "c": "something else"}},
        ]

    asyncio.run(body())


def test_interrupt_functional(async_checkpointer) -> None:
    async def body() -> None:
        @task
        async def foo(state: dict) -> dict:
            return {"a": state["a"] + "foo"}

        @task
        async def bar(state: dict) -> dict:
            return {"a": state["a"] + "bar", "b": state["b"]}

        @entrypoint(checkpointer=async_checkpointer)
        async def graph(inputs: dict) -> dict:
            foo_result = await foo(inputs)
            value = interrupt("Provide value for bar:")
            bar_input = {**foo_result, "b": value}
            bar_result = await bar(bar_input)
            return bar_result

        config = {"configurable": {"thread_id": "1"}}
        # First run, interrupted at bar
        await graph.ainvoke({"a": ""}, config)
        # Resume with an answer
        res = await graph.ainvoke(Command(resume="bar"), config)
        assert res == {"a": "foobar", "b": "bar"}

    asyncio.run(body())


def test_interrupt_task_functional(async_checkpointer) -> None:
    async def body() -> None:
        @task
        async def foo(state: dict) -> dict:
            return {"a": state["a"] + "foo"}

        @task
        async def bar(state: dict) -> dict:
            value = interrupt("Provide value for bar:")
            return {"a": state["a"] + value}

        @entrypoint(checkpointer=async_checkpointer)
        async def graph(inputs: dict) -> dict:
            foo_result = await foo(inputs)
            bar_result = await bar(foo_result)
            return bar_result

        config = {"configurable": {"thread_id": "1"}}
        # First run, interrupted at bar
        assert await graph.ainvoke({"a": ""}, config) == {
            "__interrupt__": [
                Interrupt(
                    value="Provide value for bar:",
                    id=AnyStr(),
                ),
            ]
        }
        # Resume with an answer
        res = await graph.ainvoke(Command(resume="bar"), config)
        assert res == {"a": "foobar"}

    asyncio.run(body())


def test_falsy_return_from_task(async_checkpointer) -> None:
    async def body() -> None:
        @task
        async def falsy_task() -> bool:
            return False

        @entrypoint(checkpointer=async_checkpointer)
        async def graph(state: dict) -> dict:
            """React tool."""
            await falsy_task()
            interrupt("test")

        configurable = {"configurable": {"thread_id": str(uuid.uuid4())}}
        await graph.ainvoke({"a": 5}, configurable)
        await graph.ainvoke(Command(resume="123"), configurable)

    asyncio.run(body())


def test_multiple_interrupts_functional(async_checkpointer) -> None:
    async def body() -> None:
        counter = 0

        @task
        async def double(x: int) -> int:
            """Increment the counter."""
            nonlocal counter
            counter += 1
            return 2 * x

        @entrypoint(checkpointer=async_checkpointer)
        async def graph(state: dict) -> dict:
            """React tool."""

            values = []

            for idx in [1, 2, 3]:
                values.extend([await double(idx), interrupt({"a": "boo"})])

            return {"values": values}

        configurable = {"configurable": {"thread_id": str(uuid.uuid4())}}
        await graph.ainvoke({}, configurable)
        await graph.ainvoke(Command(resume="a"), configurable)
        await graph.ainvoke(Command(resume="b"), configurable)
        result = await graph.ainvoke(Command(resume="c"), configurable)
        # `double` value should be cached appropriately when used w/ `interrupt`
        assert result == {
            "values": [2, "a", 4, "b", 6, "c"],
        }
        assert counter == 3

    asyncio.run(body())


def test_async_streaming_with_functional_api() -> None:
    async def body() -> None:
        time_delay = 0.01

        @task()
        async def slow() -> dict:
            await asyncio.sleep(time_delay)  # Simulate a delay of 10 ms
            return {"tic": asyncio.get_running_loop().time()}

        @entrypoint()
        async def graph(inputs: dict) -> list:
            first = await slow()
            second = await slow()
            return [first, second]

        arrival_times = []

        async for chunk in graph.astream({}):
            if "slow" not in chunk:  # We'll just look at the updates from `slow`
                continue
            arrival_times.append(asyncio.get_running_loop().time())

        assert len(arrival_times) == 2
        delta = arrival_times[1] - arrival_times[0]
        # Delta cannot be less than 10 ms if it is streaming as results are generated.
        assert delta > time_delay

    asyncio.run(body())


def test_async_entrypoint_without_checkpointer() -> None:
    async def body() -> None:
        states = []
        config = {"configurable": {"thread_id": "1"}}

        # Test without previous
        @entrypoint()
        async def foo(inputs: Any) -> Any:
            states.append(inputs)
            return inputs

        assert (await foo.ainvoke({"a": "1"}, config)) == {"a": "1"}

        @entrypoint()
        async def foo(inputs: Any, *, previous: Any) -> Any:
            states.append(previous)
            return {"previous": previous, "current": inputs}

        assert (await foo.ainvoke({"a": "1"}, config)) == {
            "current": {"a": "1"},
            "previous": None,
        }
        assert (await foo.ainvoke({"a": "1"}, config)) == {
            "current": {"a": "1"},
            "previous": None,
        }

    asyncio.run(body())


def _participants(checkpointer: Any) -> Any:
    @task
    async def add_participant(name: str) -> str:
        feedback = interrupt(f"Hey do you want to add {name}?")

        if feedback is False:
            return f"The user changed their mind and doesn't want to add {name}!"

        if feedback is True:
            return f"Added {name}!"

        raise ValueError("Invalid feedback")

    @entrypoint(checkpointer=checkpointer)
    async def program(_state: Any) -> list[str]:
        first = await add_participant("James")
        second = await add_participant("Will")
        return [first, second]

    return program


def test_handles_multiple_interrupts_from_tasks(async_checkpointer) -> None:
    async def body() -> None:
        program = _participants(async_checkpointer)
        config = {"configurable": {"thread_id": "1"}}

        result = await program.ainvoke("this is ignored", config=config)
        assert result == {
            "__interrupt__": [
                Interrupt(
                    value="Hey do you want to add James?",
                    id=AnyStr(),
                ),
            ]
        }

        state = await program.aget_state(config=config)
        assert len(state.tasks[0].interrupts) == 1
        task_interrupt = state.tasks[0].interrupts[0]
        assert task_interrupt.value == "Hey do you want to add James?"

        result = await program.ainvoke(Command(resume=True), config=config)
        assert result == {
            "__interrupt__": [
                Interrupt(
                    value="Hey do you want to add Will?",
                    id=AnyStr(),
                ),
            ]
        }

        state = await program.aget_state(config=config)
        assert len(state.tasks[0].interrupts) == 1
        task_interrupt = state.tasks[0].interrupts[0]
        assert task_interrupt.value == "Hey do you want to add Will?"

        result = await program.ainvoke(Command(resume=True), config=config)
        assert result is not None
        assert len(result) == 2
        assert result[0] == "Added James!"
        assert result[1] == "Added Will!"

    asyncio.run(body())


def test_interrupts_in_tasks_surfaced_once(async_checkpointer) -> None:
    async def body() -> None:
        program = _participants(async_checkpointer)
        config = {"configurable": {"thread_id": "1"}}

        interrupts = [
            e
            async for e in program.astream("this is ignored", config=config)
            if "__interrupt__" in e
        ]
        assert len(interrupts) == 1

        state = await program.aget_state(config=config)
        assert len(state.tasks[0].interrupts) == 1
        task_interrupt = state.tasks[0].interrupts[0]
        assert task_interrupt.value == "Hey do you want to add James?"

        interrupts = [
            e
            async for e in program.astream(Command(resume=True), config=config)
            if "__interrupt__" in e
        ]
        assert len(interrupts) == 1

        state = await program.aget_state(config=config)
        assert len(state.tasks[0].interrupts) == 1
        task_interrupt = state.tasks[0].interrupts[0]
        assert task_interrupt.value == "Hey do you want to add Will?"

        result = await program.ainvoke(Command(resume=True), config=config)
        assert result is not None
        assert len(result) == 2
        assert result[0] == "Added James!"
        assert result[1] == "Added Will!"

    asyncio.run(body())
