"""Caching in the functional API, as LangGraph 1.2.22's: `@task(cache_policy=...)` and
`@entrypoint(cache=..., cache_policy=...)`. Expected chunks and call counts are what
LangGraph printed for the same programs; sync and async entrypoints, memory and SQLite
caches, and the pause cases on every checkpointer."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from interlock import CachePolicy, Command, InvalidGraph, interrupt
from interlock.cache import InMemoryCache, SqliteCache
from interlock.func import entrypoint, task

CACHED = {"__metadata__": {"cached": True}}


@pytest.fixture(params=["memory-cache", "sqlite-cache"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory-cache":
        yield InMemoryCache()
        return
    with SqliteCache(path=tmp_path / "node-cache.db") as made:
        yield made


class Calls(dict[str, int]):
    def hit(self, name: str) -> None:
        self[name] = self.get(name, 0) + 1


def stream(graph: Any, inp: Any, is_async: bool, **kw: Any) -> list[Any]:
    """`graph.stream` (an async entrypoint: `astream`)."""

    async def collect() -> list[Any]:
        return [c async for c in graph.astream(inp, **kw)]

    return asyncio.run(collect()) if is_async else list(graph.stream(inp, **kw))


@pytest.mark.parametrize("flavour", ["sync", "async", "sync task in async entrypoint"])
def test_task_calls_hit_within_a_run_and_across_runs(flavour: str, cache: Any) -> None:
    calls = Calls()

    def double(x: int, *, y: int = 0) -> int:
        calls.hit("slow")
        return x * 2 + y

    async def adouble(x: int, *, y: int = 0) -> int:
        return double(x, y=y)

    slow = task(name="slow", cache_policy=CachePolicy())(adouble if flavour == "async" else double)

    @task
    def plain(x: int) -> int:
        calls.hit("plain")
        return x + 1

    if flavour == "sync":

        @entrypoint(cache=cache)
        def wf(n: int) -> list:
            return [slow(n).result(), slow(n, y=1).result(), plain(n).result(), slow(n).result()]

    else:

        @entrypoint(cache=cache)
        async def wf(n: int) -> list:
            return [await slow(n), await slow(n, y=1), await plain(n), await slow(n)]

    assert stream(wf, 3, flavour != "sync", stream_mode="updates") == [
        {"slow": 6},
        {"slow": 7},
        {"plain": 4},
        {"slow": 6, **CACHED},  # kept when the first call finished
        {"wf": [6, 7, 4, 6]},
    ]
    assert calls == {"slow": 2, "plain": 1}
    assert stream(wf, 3, flavour != "sync", stream_mode="updates") == [
        {"slow": 6, **CACHED},
        {"slow": 7, **CACHED},
        {"plain": 4},
        {"slow": 6, **CACHED},
        {"wf": [6, 7, 4, 6]},
    ]
    assert calls == {"slow": 2, "plain": 2}  # LangGraph: the same counts
    assert stream(wf, 4, flavour != "sync", stream_mode="values") == [[8, 9, 5, 8]]
    assert calls == {"slow": 4, "plain": 3}


def test_the_entrypoint_s_own_cache_policy(cache: Any) -> None:
    calls = Calls()

    @entrypoint(cache=cache, cache_policy=CachePolicy())
    def wf2(n: int) -> int:
        calls.hit("wf2")
        return n * 10

    assert list(wf2.stream(1, stream_mode="updates")) == [{"wf2": 10}]
    assert list(wf2.stream(1, stream_mode="updates")) == [{"wf2": 10, **CACHED}]
    assert wf2.invoke(2) == 20 and calls == {"wf2": 2}
    wf2.clear_cache()  # the entrypoint's entries (not its tasks', as in LangGraph)
    assert wf2.invoke(1) == 10 and calls == {"wf2": 3}


def test_without_a_cache_a_task_s_policy_does_nothing() -> None:
    calls = Calls()

    @task(cache_policy=CachePolicy())
    def slow(x: int) -> int:
        calls.hit("slow")
        return x

    @entrypoint()
    def wf(n: int) -> list:
        return [slow(n).result(), slow(n).result()]

    assert wf.invoke(1) == [1, 1] and calls == {"slow": 2}


def test_a_bad_task_cache_policy_is_refused() -> None:
    with pytest.raises(InvalidGraph, match="task 'f'"):
        task(name="f", cache_policy=CachePolicy(ttl=-5))(lambda: None)


def test_a_task_that_asked_a_person_is_not_cached(saver: Any, cache: Any) -> None:
    """LangGraph caches the task's result once its question is answered: thread 2's
    resume then returns thread 1's answer (`{'ask': '1', '__metadata__': ...}`) and thread
    3 is never asked. interlock runs a resumed call, and does not keep its result."""
    calls = Calls()

    @task(cache_policy=CachePolicy())
    def ask(x: int) -> str:
        calls.hit("ask")
        return interrupt({"q": x})

    @entrypoint(checkpointer=saver, cache=cache)
    def wf3(n: int) -> str:
        return ask(n).result()

    def cfg(t: str) -> dict:
        return {"configurable": {"thread_id": t}}

    for t in ("1", "2"):
        paused = list(wf3.stream(1, cfg(t), stream_mode="updates"))
        assert [i.value for i in paused[-1]["__interrupt__"]] == [{"q": 1}]
    for t in ("1", "2"):
        assert list(wf3.stream(Command(resume=t), cfg(t), stream_mode="updates")) == [
            {"ask": t},
            {"wf3": t},
        ]
    assert calls == {"ask": 4}
    third = wf3.invoke(1, cfg("3"))
    assert [i.value for i in third["__interrupt__"]] == [{"q": 1}] and calls == {"ask": 5}
