"""Node caching as LangGraph 1.2.22 does it: `add_node(..., cache_policy=CachePolicy(...))`
with `compile(cache=...)`. Each test runs sync and async, on `InMemoryCache` and on
`SqliteCache`; the expected outputs, stream chunks and call counts are what LangGraph
printed for the same programs (run under /tmp/benchvenv, see the parity page)."""

from __future__ import annotations

import asyncio
import logging
import operator
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from interlock import (
    END,
    START,
    AIMessage,
    CachePolicy,
    Command,
    HumanMessage,
    InMemorySaver,
    InvalidUpdate,
    MessagesState,
    RetryPolicy,
    Send,
    StateGraph,
)
from interlock.cache import BaseCache, InMemoryCache, SqliteCache
from interlock.types import default_cache_key

CACHED = {"__metadata__": {"cached": True}}


class S(TypedDict, total=False):
    x: int
    items: list[int]
    log: Annotated[list[str], operator.add]


class Calls(dict[str, int]):
    def hit(self, name: str) -> None:
        self[name] = self.get(name, 0) + 1


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite"])
def new_cache(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Makes caches of one kind (each SQLite one in a file of its own)."""
    made: list[SqliteCache[Any]] = []

    def build(clock: Clock | None = None) -> BaseCache[Any]:
        if request.param == "memory":
            return InMemoryCache(clock=clock)
        cache: SqliteCache[Any] = SqliteCache(path=tmp_path / f"c{len(made)}.db", clock=clock)
        made.append(cache)
        return cache

    yield build
    for cache in made:
        cache.close()


def clear(run: Any, graph: Any, nodes: Any = None) -> None:
    if run.mode == "sync":
        graph.clear_cache(nodes)
    else:
        asyncio.run(graph.aclear_cache(nodes))


def routed_graph(calls: Calls, cache: Any) -> Any:
    """LangGraph's shape in the probes: a cached node, a conditional edge, another node."""

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": [f"a{s['x']}"], "x": s["x"] + 1}

    def b(s: S) -> dict:
        calls.hit("b")
        return {"log": ["b"]}

    def route(s: S) -> str:
        calls.hit("route")
        return "b"

    g = StateGraph(S)
    g.add_node("a", a, cache_policy=CachePolicy())
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_conditional_edges("a", route, ["b", END])
    g.add_edge("b", END)
    return g.compile(cache=cache)


def test_a_hit_skips_the_node_and_its_update_is_marked(run: Any, new_cache: Any) -> None:
    calls = Calls()
    app = routed_graph(calls, new_cache())
    assert run.invoke(app, {"x": 1, "log": []}) == {"x": 2, "log": ["a1", "b"]}
    assert (calls["a"], calls["b"]) == (1, 1)
    assert run.stream(app, {"x": 1, "log": []}, stream_mode="updates") == [
        {"a": {"log": ["a1"], "x": 2}, **CACHED},
        {"b": {"log": ["b"]}},
    ]
    assert (calls["a"], calls["b"]) == (1, 2)  # LangGraph: {'a': 1, 'b': 2}
    # a different input is a different key: the node runs, unmarked
    assert run.stream(app, {"x": 2, "log": []}, stream_mode=["updates", "values"]) == [
        ("values", {"x": 2, "log": []}),
        ("updates", {"a": {"log": ["a2"], "x": 3}}),
        ("values", {"x": 3, "log": ["a2"]}),
        ("updates", {"b": {"log": ["b"]}}),
        ("values", {"x": 3, "log": ["a2", "b"]}),
    ]
    # the whole input is the key, not just the keys the node reads
    run.invoke(app, {"x": 2, "log": ["z"]})
    assert (calls["a"], calls["b"]) == (3, 4)  # LangGraph: {'a': 3, 'b': 4}


def test_a_hit_has_a_task_start_event_and_no_result_event(run: Any, new_cache: Any) -> None:
    calls = Calls()
    app = routed_graph(calls, new_cache())
    run.invoke(app, {"x": 2, "log": ["z"]})
    chunks = run.stream(app, {"x": 2, "log": ["z"]}, stream_mode="tasks")
    assert [(c["name"], "result" in c) for c in chunks] == [
        ("a", False),  # started: LangGraph announces it, then sends no result
        ("b", False),
        ("b", True),
    ]
    assert chunks[0]["input"] == {"x": 2, "log": ["z"]}
    assert calls["a"] == 1


def test_clear_cache_by_node(run: Any, new_cache: Any) -> None:
    calls = Calls()
    app = routed_graph(calls, new_cache())
    run.invoke(app, {"x": 1, "log": []})
    clear(run, app, ["b"])  # b keeps nothing: a's entry stays
    clear(run, app, ["not a node"])  # unknown names are ignored, as in LangGraph
    assert run.invoke(app, {"x": 1, "log": []}) == {"x": 2, "log": ["a1", "b"]}
    assert calls["a"] == 1
    clear(run, app, ["a"])
    run.invoke(app, {"x": 1, "log": []})
    assert calls["a"] == 2
    clear(run, app)  # every node
    run.invoke(app, {"x": 1, "log": []})
    run.invoke(app, {"x": 1, "log": []})
    assert (calls["a"], calls["b"]) == (3, 5)


def test_ttl_expires_on_the_cache_s_clock(run: Any, new_cache: Any) -> None:
    clock = Clock()
    calls = Calls()

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": ["a"]}

    g = StateGraph(S).add_node("a", a, cache_policy=CachePolicy(ttl=120)).add_edge(START, "a")
    app = g.compile(cache=new_cache(clock))
    run.invoke(app, {"x": 1})
    clock.now += 119
    run.invoke(app, {"x": 1})
    assert calls["a"] == 1
    clock.now += 1  # 120 s after it was kept: expired
    run.invoke(app, {"x": 1})
    assert calls["a"] == 2
    run.invoke(app, {"x": 1})
    assert calls["a"] == 2  # kept anew


def test_key_func_decides_which_inputs_share_a_result(run: Any, new_cache: Any) -> None:
    seen: list[Any] = []
    calls = Calls()

    def parity(state: Any) -> str:
        seen.append(state)
        return str(state["x"] % 2)

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": [f"a{s['x']}"]}

    g = StateGraph(S).add_node("a", a, cache_policy=CachePolicy(key_func=parity))
    app = g.add_edge(START, "a").compile(cache=new_cache())
    outs = [run.invoke(app, {"x": x, "log": [str(x)]}) for x in (1, 3, 2, 4, 5)]
    assert calls["a"] == 2  # LangGraph: {'a': 2}
    assert [o["log"][1] for o in outs] == ["a1", "a1", "a2", "a2", "a1"]  # 3 and 5 got 1's
    assert seen[0] == {"x": 1, "log": ["1"]}  # key_func gets the node's input


def test_default_key_ignores_dict_order() -> None:
    assert default_cache_key({"x": 1, "log": ["a"]}) == default_cache_key({"log": ["a"], "x": 1})
    assert default_cache_key({"x": 1}) != default_cache_key({"x": 2})


def test_sends_are_keyed_by_their_argument(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def fan(s: S) -> list[Send]:
        return [Send("w", {"x": i, "log": []}) for i in s["items"]]

    def w(s: S) -> dict:
        calls.hit("w")
        return {"log": [f"w{s['x']}"]}

    g = StateGraph(S).add_node("w", w, cache_policy=CachePolicy())
    app = g.add_conditional_edges(START, fan).compile(cache=new_cache())
    # within one step nothing is kept yet: both sends of 1 run (LangGraph: 3 calls)
    assert run.stream(app, {"x": 0, "items": [1, 2, 1], "log": []}, stream_mode="updates") == [
        {"w": {"log": ["w1"]}},
        {"w": {"log": ["w2"]}},
        {"w": {"log": ["w1"]}},
    ]
    assert calls["w"] == 3
    assert run.stream(app, {"x": 0, "items": [2, 3], "log": []}, stream_mode="updates") == [
        {"w": {"log": ["w2"]}, **CACHED},
        {"w": {"log": ["w3"]}},
    ]
    assert calls["w"] == 4


def test_a_command_s_goto_is_cached_with_its_update(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def c(s: S) -> Command:
        calls.hit("c")
        return Command(update={"log": ["c"]}, goto="d")

    def d(s: S) -> dict:
        calls.hit("d")
        return {"log": ["d"]}

    g = StateGraph(S).add_node("c", c, cache_policy=CachePolicy()).add_node("d", d)
    app = g.add_edge(START, "c").compile(cache=new_cache())
    assert run.invoke(app, {"x": 1, "log": []}) == {"x": 1, "log": ["c", "d"]}
    assert run.stream(app, {"x": 1, "log": []}, stream_mode="updates") == [
        {"c": {"log": ["c"]}, **CACHED},
        {"d": {"log": ["d"]}},
    ]
    assert (calls["c"], calls["d"]) == (1, 2)  # LangGraph: {'c': 1, 'd': 2}


def test_a_node_returning_nothing_is_cached(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def none(s: S) -> None:
        calls.hit("none")

    g = StateGraph(S).add_node("none", none, cache_policy=CachePolicy()).add_edge(START, "none")
    app = g.compile(cache=new_cache())
    assert run.stream(app, {"x": 1, "log": []}, stream_mode="updates") == [{"none": None}]
    assert run.stream(app, {"x": 1, "log": []}, stream_mode="updates") == [{"none": None, **CACHED}]
    assert calls["none"] == 1


def test_failures_are_not_cached(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def e(s: S) -> dict:
        calls.hit("e")
        if calls["e"] == 1:
            raise ValueError("boom")
        return {"log": ["e"]}

    def bad(s: S) -> Any:
        calls.hit("bad")
        return 5

    cache = new_cache()
    g = StateGraph(S).add_node("e", e, cache_policy=CachePolicy()).add_edge(START, "e")
    app = g.compile(cache=cache)
    with pytest.raises(ValueError, match="boom"):
        run.invoke(app, {"x": 1, "log": []})
    assert run.invoke(app, {"x": 1, "log": []}) == {"x": 1, "log": ["e"]}
    assert run.invoke(app, {"x": 1, "log": []}) == {"x": 1, "log": ["e"]}
    assert calls["e"] == 2  # LangGraph: {'e': 2}
    g2 = StateGraph(S).add_node("bad", bad, cache_policy=CachePolicy()).add_edge(START, "bad")
    app2 = g2.compile(cache=cache)
    for _ in range(2):
        with pytest.raises(InvalidUpdate):
            run.invoke(app2, {"x": 1, "log": []})
    assert calls["bad"] == 2  # LangGraph: {'bad': 2}


def test_a_retried_node_is_cached_once_it_succeeds(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def flaky(s: S) -> dict:
        calls.hit("flaky")
        if calls["flaky"] == 1:
            raise ConnectionError("once")
        return {"log": ["ok"]}

    policy = RetryPolicy(initial_interval=0.0, jitter=False)
    g = StateGraph(S).add_node("f", flaky, retry_policy=policy, cache_policy=CachePolicy())
    app = g.add_edge(START, "f").compile(cache=new_cache())
    assert run.invoke(app, {"x": 1}) == {"x": 1, "log": ["ok"]}
    assert run.invoke(app, {"x": 1}) == {"x": 1, "log": ["ok"]}
    assert calls["flaky"] == 2


def test_a_failing_key_func_fails_the_run_before_the_node(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def key(state: Any) -> str:
        raise KeyError("no key")

    def a(s: S) -> dict:
        calls.hit("a")
        return {}

    g = StateGraph(S).add_node("a", a, cache_policy=CachePolicy(key_func=key))
    app = g.add_edge(START, "a").compile(cache=new_cache(), checkpointer=InMemorySaver())
    cfg = {"configurable": {"thread_id": "t"}}
    with pytest.raises(KeyError, match="no key"):
        run.invoke(app, {"x": 1}, cfg)
    assert calls == {}
    assert run.get_state(app, cfg).next == ("a",)  # the thread waits at the step intact


def test_other_nodes_and_graphs_without_a_cache_are_untouched(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": ["a"]}

    g = StateGraph(S).add_node("a", a, cache_policy=CachePolicy()).add_edge(START, "a")
    no_cache = g.compile()
    run.invoke(no_cache, {"x": 1})
    run.invoke(no_cache, {"x": 1})
    assert calls["a"] == 2
    g2 = StateGraph(S).add_node("a", a).add_edge(START, "a")
    uncached = g2.compile(cache=new_cache())
    run.invoke(uncached, {"x": 1})
    run.invoke(uncached, {"x": 1})
    assert calls["a"] == 4


def test_graphs_sharing_a_cache_share_a_node_s_entries(run: Any, new_cache: Any) -> None:
    """The entry's namespace is the node's name and function (LangGraph's layout)."""
    calls = Calls()

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": ["a"]}

    cache = new_cache()
    one = StateGraph(S).add_node("a", a, cache_policy=CachePolicy()).add_edge(START, "a")
    two = StateGraph(S).add_node("a", a, cache_policy=CachePolicy()).add_edge(START, "a")
    three = StateGraph(S).add_node("other", a, cache_policy=CachePolicy())
    run.invoke(one.compile(cache=cache), {"x": 1})
    run.invoke(two.compile(cache=cache), {"x": 1})
    assert calls["a"] == 1
    run.invoke(three.add_edge(START, "other").compile(cache=cache), {"x": 1})
    assert calls["a"] == 2


def test_a_hit_sends_no_messages_chunk(run: Any, new_cache: Any) -> None:
    calls = Calls()

    def bot(s: Any) -> dict:
        calls.hit("bot")
        return {"messages": [AIMessage(content="hi there", id="m1")]}

    g = StateGraph(MessagesState).add_node("bot", bot, cache_policy=CachePolicy())
    app = g.add_edge(START, "bot").compile(cache=new_cache())
    inp = {"messages": [HumanMessage(content="hey", id="h1")]}
    first = run.stream(app, inp, stream_mode=["messages", "updates"])
    second = run.stream(app, inp, stream_mode=["messages", "updates"])
    assert [m for m, _ in first] == ["messages", "updates"]
    assert [m for m, _ in second] == ["updates"]  # LangGraph: the same
    assert second[0][1]["__metadata__"] == {"cached": True}
    assert second[0][1]["bot"]["messages"][0].content == "hi there"
    assert calls["bot"] == 1


def test_a_hit_s_writes_are_the_step_s_in_the_checkpoint(run: Any, saver: Any) -> None:
    """Durably a hit is the node's result arriving without the node: the step's
    checkpoint holds its writes, history and state read them back."""
    calls = Calls()

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": [f"a{s['x']}"]}

    g = StateGraph(S).add_node("a", a, cache_policy=CachePolicy()).add_edge(START, "a")
    app = g.compile(checkpointer=saver, cache=InMemoryCache())
    for thread in ("t1", "t2"):
        cfg = {"configurable": {"thread_id": thread}}
        assert run.invoke(app, {"x": 1, "log": []}, cfg) == {"x": 1, "log": ["a1"]}
        snap = run.get_state(app, cfg)
        assert snap.values == {"x": 1, "log": ["a1"]} and snap.next == ()
        assert [h.values["log"] for h in run.history(app, cfg)] == [["a1"], []]
    assert calls["a"] == 1
    cfg = {"configurable": {"thread_id": "t2"}}  # the next turn of t2 has another input
    assert run.invoke(app, {"x": 1}, cfg) == {"x": 1, "log": ["a1", "a1"]}
    assert calls["a"] == 2


def test_a_cache_that_fails_is_logged_and_the_node_runs(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(InMemoryCache[Any]):
        def get(self, keys: Any) -> Any:
            raise OSError("disk gone")

        def set(self, pairs: Any) -> None:
            raise OSError("disk full")

    calls = Calls()

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": ["a"]}

    g = StateGraph(S).add_node("a", a, cache_policy=CachePolicy()).add_edge(START, "a")
    app = g.compile(cache=Broken())
    with caplog.at_level(logging.WARNING, logger="interlock"):
        assert run.invoke(app, {"x": 1}) == {"x": 1, "log": ["a"]}
        assert run.invoke(app, {"x": 1}) == {"x": 1, "log": ["a"]}
    assert calls["a"] == 2
    text = caplog.text
    assert "OSError: disk gone" in text and "OSError: disk full" in text


def test_an_unstorable_result_runs_every_time(run: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Without a checkpointer a state may hold anything; what the cache's serializer
    cannot store is not cached (logged), and the run goes on."""
    calls = Calls()
    handle = object()

    def a(s: Any) -> dict:
        calls.hit("a")
        return {"handle": handle}

    g = StateGraph(dict).add_node("a", a, cache_policy=CachePolicy()).add_edge(START, "a")
    app = g.compile(cache=InMemoryCache())
    with caplog.at_level(logging.WARNING, logger="interlock"):
        assert run.invoke(app, {"x": 1})["handle"] is handle
        assert run.invoke(app, {"x": 1})["handle"] is handle
    assert calls["a"] == 2 and "SerializationError" in caplog.text


def test_an_entry_older_code_kept_is_read_as_the_graph_is_now(run: Any, new_cache: Any) -> None:
    """A cache (a SQLite file) outlives the code: writes to keys the state no longer has
    are left out, as they are from a node; an entry routing to a node the graph no longer
    has is a miss (the node runs)."""
    from interlock.graph._node_cache import cache_namespace, entry_key

    calls = Calls()

    def a(s: S) -> dict:
        calls.hit("a")
        return {"log": ["ran"]}

    cache = new_cache()
    g = StateGraph(S).add_node("a", a, cache_policy=CachePolicy()).add_edge(START, "a")
    app = g.compile(cache=cache)
    where = (cache_namespace("a", a), entry_key(CachePolicy(), {"x": 1, "log": []}))
    gone = {"writes": [["log", ["cached"]], ["dropped_key", 1]], "goto": []}
    cache.set({where: (gone, None)})
    assert run.invoke(app, {"x": 1, "log": []}) == {"x": 1, "log": ["cached"]}
    assert calls == {}  # the input is the key the entry was kept under: a hit
    cache.set({where: ({"writes": [["log", ["cached"]]], "goto": ["removed_node"]}, None)})
    assert run.invoke(app, {"x": 1, "log": []}) == {"x": 1, "log": ["ran"]}
    assert calls == {"a": 1}
