"""Node caching around pauses, on every checkpointer (memory, SQLite, PostgreSQL), sync and
async: a cached node before an `interrupt()` node and beside one, a subgraph node with a
cache policy, and the `"cached"` marker LangGraph puts on the updates of tasks whose
writes a resumed step restored.

Where interlock differs from LangGraph on purpose it is said at the test: a node that ran
on a person's answer is not cached (LangGraph caches it, and hands that answer to other
threads: their own person's answer is ignored, or never asked for)."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from interlock import START, CachePolicy, Command, StateGraph, interrupt
from interlock.cache import InMemoryCache, SqliteCache

CACHED = {"__metadata__": {"cached": True}}


class S(TypedDict, total=False):
    x: int
    answer: str
    log: Annotated[list[str], operator.add]


class Q(TypedDict, total=False):
    x: int
    answer: str


class Calls(dict[str, int]):
    def hit(self, name: str) -> None:
        self[name] = self.get(name, 0) + 1


def cfg(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


@pytest.fixture(params=["memory-cache", "sqlite-cache"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory-cache":
        yield InMemoryCache()
        return
    with SqliteCache(path=tmp_path / "node-cache.db") as made:
        yield made


def nodes(calls: Calls) -> tuple[Any, Any, Any]:
    def prep(s: S) -> dict:
        calls.hit("prep")
        return {"log": [f"prep{s['x']}"]}

    def ask(s: S) -> dict:
        calls.hit("ask")
        return {"answer": interrupt({"q": s["x"]})}

    def zed(s: S) -> dict:
        calls.hit("zed")
        return {"log": ["zed"]}

    return prep, ask, zed


def ids(chunks: list[Any]) -> list[Any]:
    """Stream chunks with the interrupts' ids (random per thread) left out."""
    out = []
    for c in chunks:
        mode, chunk = c if isinstance(c, tuple) else (None, c)
        if isinstance(chunk, dict) and "__interrupt__" in chunk:
            chunk = {**chunk, "__interrupt__": [i.value for i in chunk["__interrupt__"]]}
        out.append(chunk if mode is None else (mode, chunk))
    return out


def test_a_cached_node_before_a_question(run: Any, saver: Any, cache: Any) -> None:
    calls = Calls()
    prep, ask, _ = nodes(calls)
    g = StateGraph(S).add_node("prep", prep, cache_policy=CachePolicy())
    g.add_node("ask", ask, cache_policy=CachePolicy())
    g.add_edge(START, "prep").add_edge("prep", "ask")
    app = g.compile(checkpointer=saver, cache=cache)
    # LangGraph printed the same two streams
    assert ids(run.stream(app, {"x": 1, "log": []}, cfg("1"), stream_mode="updates")) == [
        {"prep": {"log": ["prep1"]}},
        {"__interrupt__": [{"q": 1}]},
    ]
    assert ids(run.stream(app, {"x": 1, "log": []}, cfg("2"), stream_mode="updates")) == [
        {"prep": {"log": ["prep1"]}, **CACHED},
        {"__interrupt__": [{"q": 1}]},
    ]
    assert calls == {"prep": 1, "ask": 2}
    assert run.stream(app, Command(resume="yes"), cfg("1"), stream_mode="updates") == [
        {"ask": {"answer": "yes"}}
    ]
    # LangGraph: thread 2's resume replays thread 1's answer from the cache,
    # `{'ask': {'answer': 'yes'}, '__metadata__': {'cached': True}}`; here its own is used
    assert run.stream(app, Command(resume="no"), cfg("2"), stream_mode="updates") == [
        {"ask": {"answer": "no"}}
    ]
    assert run.get_state(app, cfg("2")).values == {"x": 1, "answer": "no", "log": ["prep1"]}
    # and a third thread is asked (LangGraph answers it with "yes" without asking)
    third = run.stream(app, {"x": 1, "log": []}, cfg("3"), stream_mode="updates")
    assert ids(third) == [{"prep": {"log": ["prep1"]}, **CACHED}, {"__interrupt__": [{"q": 1}]}]
    assert calls == {"prep": 1, "ask": 5}
    assert run.get_state(app, cfg("1")).values == {"x": 1, "answer": "yes", "log": ["prep1"]}


def test_a_cached_node_beside_a_question(run: Any, saver: Any, cache: Any) -> None:
    """In one step with a node that pauses: the hit's writes wait with the step's progress,
    and on resume they are restored (marked, first), not looked up or run again."""
    calls = Calls()
    prep, ask, zed = nodes(calls)
    g = StateGraph(S).add_node("prep", prep, cache_policy=CachePolicy())
    g.add_node("ask", ask).add_node("zed", zed)
    g.add_edge(START, "prep").add_edge(START, "ask").add_edge(START, "zed")
    app = g.compile(checkpointer=saver, cache=cache)
    modes = ["updates", "values"]
    run.stream(app, {"x": 1, "log": []}, cfg("1"), stream_mode=modes)
    second = run.stream(app, {"x": 1, "log": []}, cfg("2"), stream_mode=modes)
    assert ids(second) == [
        ("values", {"x": 1, "log": []}),
        ("updates", {"prep": {"log": ["prep1"]}, **CACHED}),
        ("updates", {"zed": {"log": ["zed"]}}),
        ("updates", {"__interrupt__": [{"q": 1}]}),
        ("values", {"x": 1, "log": [], "__interrupt__": [{"q": 1}]}),
        ("values", {"x": 1, "log": ["prep1", "zed"]}),  # the finished tasks' writes
    ]  # LangGraph's
    assert calls == {"prep": 1, "ask": 2, "zed": 2}
    for thread in ("1", "2"):  # LangGraph printed the same
        assert run.stream(app, Command(resume=thread), cfg(thread), stream_mode=modes) == [
            ("values", {"x": 1, "log": []}),
            ("updates", {"prep": {"log": ["prep1"]}, **CACHED}),
            ("updates", {"zed": {"log": ["zed"]}, **CACHED}),
            ("updates", {"ask": {"answer": thread}}),
            ("values", {"x": 1, "answer": thread, "log": ["prep1", "zed"]}),
        ]
    assert calls == {"prep": 1, "ask": 4, "zed": 2}


def test_restored_updates_are_marked_also_when_the_step_pauses_again(run: Any, saver: Any) -> None:
    """No cache at all: LangGraph marks the updates of the tasks whose writes a resumed
    step restored `cached`, and sends them first, on every resume of the step."""
    calls = Calls()
    prep, _, zed = nodes(calls)

    def ask_twice(s: S) -> dict:
        calls.hit("ask")
        return {"answer": interrupt({"q": 1}) + interrupt({"q2": 1})}

    g = StateGraph(S).add_node("prep", prep).add_node("zed", zed).add_node("ask", ask_twice)
    g.add_edge(START, "prep").add_edge(START, "ask").add_edge(START, "zed")
    app = g.compile(checkpointer=saver)
    run.stream(app, {"x": 1, "log": []}, cfg("1"), stream_mode="updates")
    again = run.stream(app, Command(resume="yes"), cfg("1"), stream_mode="updates")
    assert ids(again) == [  # LangGraph printed these
        {"prep": {"log": ["prep1"]}, **CACHED},
        {"zed": {"log": ["zed"]}, **CACHED},
        {"__interrupt__": [{"q2": 1}]},
    ]
    assert run.stream(app, Command(resume="no"), cfg("1"), stream_mode="updates") == [
        {"prep": {"log": ["prep1"]}, **CACHED},
        {"zed": {"log": ["zed"]}, **CACHED},
        {"ask": {"answer": "yesno"}},
    ]
    assert calls == {"prep": 1, "zed": 1, "ask": 3}


def test_a_cached_subgraph_node(run: Any, saver: Any, cache: Any) -> None:
    """A hit skips the whole subgraph (LangGraph: the same chunks); a subgraph that paused
    is continued on resume, never replaced by a cache entry, and what it returned on a
    person's answer is not cached (LangGraph reuses thread 1's answer for thread 2 and
    thread 3 here)."""
    calls = Calls()

    def inner(s: S) -> dict:
        calls.hit("inner")
        return {"log": [f"inner{s['x']}"]}

    def ask(s: Q) -> dict:
        calls.hit("ask")
        return {"answer": interrupt({"q": s["x"]})}

    quiet = StateGraph(S).add_node("inner", inner).add_edge(START, "inner").compile()
    asking = StateGraph(Q).add_node("ask", ask).add_edge(START, "ask").compile()
    g = StateGraph(S).add_node("child", quiet, cache_policy=CachePolicy())
    g.add_node("asker", asking, cache_policy=CachePolicy())
    g.add_edge(START, "child").add_edge("child", "asker")
    app = g.compile(checkpointer=saver, cache=cache)

    first = run.stream(app, {"x": 1, "log": []}, cfg("1"), stream_mode="updates", subgraphs=True)
    assert [(bool(ns), chunk) for ns, chunk in ids(first)][:2] == [
        (True, {"inner": {"log": ["inner1"]}}),
        (False, {"child": {"x": 1, "log": ["inner1"]}}),
    ]
    second = run.stream(app, {"x": 1, "log": []}, cfg("2"), stream_mode="updates", subgraphs=True)
    assert [(bool(ns), chunk) for ns, chunk in ids(second)][:1] == [
        (False, {"child": {"x": 1, "log": ["inner1"]}, **CACHED}),
    ]
    assert calls == {"inner": 1, "ask": 2}
    for thread in ("1", "2"):
        out = run.invoke(app, Command(resume=f"answer {thread}"), cfg(thread))
        assert out == {"x": 1, "answer": f"answer {thread}", "log": ["inner1"]}
    assert calls == {"inner": 1, "ask": 4}
    third = run.invoke(app, {"x": 1, "log": []}, cfg("3"))
    assert [i.value for i in third["__interrupt__"]] == [{"q": 1}]
    assert calls == {"inner": 1, "ask": 5}


def test_a_subgraph_caches_in_its_own_cache_only(run: Any, saver: Any) -> None:
    """LangGraph: a node of a subgraph is cached in the cache the subgraph was compiled
    with, not in its parent's."""
    calls = Calls()

    def inner(s: S) -> dict:
        calls.hit("inner")
        return {"log": ["inner"]}

    def parent(sub_cache: Any) -> Any:
        sub = StateGraph(S).add_node("inner", inner, cache_policy=CachePolicy())
        compiled = sub.add_edge(START, "inner").compile(cache=sub_cache)
        g = StateGraph(S).add_node("child", compiled).add_edge(START, "child")
        return g.compile(checkpointer=saver, cache=InMemoryCache())

    app = parent(None)
    for thread in ("a1", "a2"):
        run.invoke(app, {"x": 1, "log": []}, cfg(thread))
    assert calls["inner"] == 2
    app = parent(InMemoryCache())
    chunks = []
    for thread in ("b1", "b2"):
        chunks = run.stream(
            app, {"x": 1, "log": []}, cfg(thread), stream_mode="updates", subgraphs=True
        )
    assert calls["inner"] == 3
    assert [chunk for ns, chunk in chunks] == [  # LangGraph printed these
        {"inner": {"log": ["inner"]}, **CACHED},
        {"child": {"x": 1, "log": ["inner"]}},
    ]


def test_a_breakpoint_before_a_cached_node(run: Any, saver: Any, cache: Any) -> None:
    """A breakpoint is no answer: continuing past it looks the node up as usual."""
    calls = Calls()
    prep, _, _ = nodes(calls)
    g = StateGraph(S).add_node("prep", prep, cache_policy=CachePolicy()).add_edge(START, "prep")
    app = g.compile(checkpointer=saver, cache=cache, interrupt_before=["prep"])
    for thread in ("1", "2"):
        run.invoke(app, {"x": 1, "log": []}, cfg(thread))
        assert run.get_state(app, cfg(thread)).next == ("prep",)
        assert run.invoke(app, None, cfg(thread)) == {"x": 1, "log": ["prep1"]}
    assert calls == {"prep": 1}
