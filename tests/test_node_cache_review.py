"""Node caching under review: what a cache entry may stand for, and what it never may.

- The default key tells apart inputs that differ (a dict and a list of its pairs, a list
  and a tuple), and is the same in every process for equal inputs (a set's order follows
  the process's hash seed).
- An input the default key cannot make (not picklable) leaves the node uncached, it does
  not fail the run.
- Entries are a node's own: two different subgraphs, or two nodes a factory made from
  different constants, under one node name in graphs sharing a cache, do not answer for
  each other.
- A node that has asked a person is never served from the cache again (nor kept in it):
  a cached result must not stand for a review another run would have had.
- A `SqliteCache` file is shared by processes.
"""

from __future__ import annotations

import functools
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, TypedDict

import pytest

from interlock import START, CachePolicy, Command, StateGraph, interrupt
from interlock.cache import InMemoryCache, SqliteCache
from interlock.func import entrypoint, task
from interlock.types import default_cache_key
from tests import _node_cache_child as child

ROOT = Path(__file__).resolve().parent.parent


class S(TypedDict, total=False):
    x: Any
    out: Any


class Calls(dict[str, int]):
    def hit(self, name: str) -> None:
        self[name] = self.get(name, 0) + 1


@pytest.fixture(params=["memory-cache", "sqlite-cache"])
def cache(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "memory-cache":
        yield InMemoryCache()
        return
    with SqliteCache(path=tmp_path / "node-cache.db") as made:
        yield made


def cfg(thread: str, **more: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, **more}}


# ---- the key ------------------------------------------------------------------------------


def test_the_default_key_tells_apart_inputs_that_differ(run: Any, cache: Any) -> None:
    """LangGraph's key (a plain pickle) tells these apart; a key that made dicts and lists
    into the same tuples gave a dict's result to a list of pairs."""
    calls = Calls()

    def kind(s: S) -> dict:
        calls.hit("kind")
        return {"out": type(s["x"]).__name__}

    app = StateGraph(S).add_node("n", kind, cache_policy=CachePolicy()).add_edge(START, "n")
    graph = app.compile(cache=cache)
    inputs = [{"a": 1}, [("a", 1)], [["a", 1]], (("a", 1),), [1, 2], (1, 2), frozenset({1, 2})]
    outs = [run.invoke(graph, {"x": x})["out"] for x in inputs]
    assert outs == ["dict", "list", "list", "tuple", "list", "tuple", "frozenset"]
    assert calls == {"kind": len(inputs)}
    assert run.invoke(graph, {"x": {"a": 1}})["out"] == "dict"  # still a hit
    assert calls == {"kind": len(inputs)}


def test_the_default_key_of_equal_inputs_is_the_same_in_every_process() -> None:
    """A set's iteration order depends on the process's hash seed (also the set of
    fields a pydantic model holds): processes sharing a `SqliteCache` file must still make
    one key of one input."""
    code = "from tests._node_cache_child import sample_key; print(sample_key())"
    keys = {
        subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env={"PYTHONHASHSEED": str(seed), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in range(6)
    }
    assert len(keys) == 1 and child.sample_key() in keys


def test_dict_order_still_does_not_matter() -> None:
    assert default_cache_key({"a": 1, "b": [{"c": 1, "d": 2}]}) == default_cache_key(
        {"b": [{"d": 2, "c": 1}], "a": 1}
    )
    assert default_cache_key({"a": 1}) != default_cache_key({"a": 2})
    # dataclasses and pydantic models: by type and fields
    assert default_cache_key(child.Tagged({"a", "b"})) == default_cache_key(
        child.Tagged({"b", "a"})
    )
    assert default_cache_key(child.Tagged({"a"})) != default_cache_key(child.Tagged({"b"}))
    assert default_cache_key(child.Tagged({"a"})) != default_cache_key({"tags": {"a"}})
    assert default_cache_key(child.Model(alpha=1)) == default_cache_key(child.Model(alpha=1))
    assert default_cache_key(child.Model(alpha=1)) != default_cache_key(child.Model(alpha=2))


def test_an_input_the_default_key_cannot_make_runs_the_node_uncached(
    run: Any, cache: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Without a checkpointer a state may hold a lock or a client: the node runs (every
    time, a warning says why), the run does not fail (LangGraph: `TypeError: cannot
    pickle '_thread.lock' object` out of the run)."""
    import threading

    calls = Calls()
    lock = threading.Lock()

    def n(s: S) -> dict:
        calls.hit("n")
        return {"out": 1}

    g = StateGraph(S).add_node("n", n, cache_policy=CachePolicy()).add_edge(START, "n")
    app = g.compile(cache=cache)
    with caplog.at_level(logging.WARNING, logger="interlock"):
        assert run.invoke(app, {"x": lock}) == {"x": lock, "out": 1}
        assert run.invoke(app, {"x": lock}) == {"x": lock, "out": 1}
    assert calls == {"n": 2}
    assert "node 'n'" in caplog.text and "not cached" in caplog.text


def test_a_key_func_of_your_own_that_raises_still_fails_the_run(run: Any, cache: Any) -> None:
    def key(s: Any) -> str:
        raise LookupError("no key for you")

    g = StateGraph(S).add_node("n", lambda s: {"out": 1}, cache_policy=CachePolicy(key_func=key))
    with pytest.raises(LookupError, match="no key for you"):
        run.invoke(g.add_edge(START, "n").compile(cache=cache), {"x": 1})


# ---- whose entries ------------------------------------------------------------------------


def test_two_different_subgraphs_under_one_name_do_not_share_entries(run: Any, cache: Any) -> None:
    """LangGraph names a subgraph node's entries `__dynamic__` + node name: graph B got
    graph A's subgraph's result."""

    def research(s: S) -> dict:
        return {"out": "research"}

    def write(s: S) -> dict:
        return {"out": "write"}

    def parent(fn: Any, name: str) -> Any:
        sub = StateGraph(S).add_node(name, fn).add_edge(START, name).compile()
        g = StateGraph(S).add_node("child", sub, cache_policy=CachePolicy())
        return g.add_edge(START, "child").compile(cache=cache)

    a, b = parent(research, "research"), parent(write, "write")
    assert run.invoke(a, {"x": 1})["out"] == "research"
    assert run.invoke(b, {"x": 1})["out"] == "write"
    again = parent(research, "research")  # the same subgraph again: shares a's entry
    assert run.stream(again, {"x": 1}, stream_mode="updates") == [
        {"child": {"x": 1, "out": "research"}, "__metadata__": {"cached": True}}
    ]


def test_nodes_a_factory_made_from_different_constants_do_not_share_entries(
    run: Any, cache: Any
) -> None:
    """A node made by `make(prompt)`, `partial(fn, prompt)`, `Agent(prompt)` or
    `Agent(prompt).run`: LangGraph names both nodes' entries alike (same qualname, or
    `__dynamic__`), so graph B got graph A's answer."""

    def make(prompt: str) -> Any:
        def node(s: S) -> dict:
            return {"out": f"{prompt} {s['x']}"}

        return node

    def answer(prompt: str, s: S) -> dict:
        return {"out": f"{prompt} {s['x']}"}

    class Agent:
        def __init__(self, prompt: str) -> None:
            self.prompt = prompt

        def __call__(self, s: S) -> dict:
            return answer(self.prompt, s)

        def run(self, s: S) -> dict:
            return answer(self.prompt, s)

    factories = (make, lambda p: functools.partial(answer, p), Agent, lambda p: Agent(p).run)
    for factory in factories:
        graphs = []
        for prompt in ("hello", "bye"):
            g = StateGraph(S).add_node("n", factory(prompt), cache_policy=CachePolicy())
            graphs.append(g.add_edge(START, "n").compile(cache=cache))
        assert [run.invoke(g, {"x": 1})["out"] for g in graphs] == ["hello 1", "bye 1"]


def test_a_node_whose_closure_holds_a_mutable_object_still_shares_its_entries(
    run: Any, cache: Any
) -> None:
    calls = Calls()

    def make() -> Any:
        def node(s: S) -> dict:
            calls.hit("n")
            return {"out": 1}

        return node

    for _ in range(2):
        g = StateGraph(S).add_node("n", make(), cache_policy=CachePolicy())
        run.invoke(g.add_edge(START, "n").compile(cache=cache), {"x": 1})
    assert calls == {"n": 1}


# ---- a node that asks a person ------------------------------------------------------------


def payment_graph(calls: Calls, cache: Any, saver: Any) -> Any:
    """A node that asks for a review unless the caller is an admin (something its input
    does not say), and pays."""

    def pay(s: S, config: Any) -> dict:
        calls.hit("pay")
        if config["configurable"].get("role") != "admin" and interrupt({"pay": s["x"]}) != "yes":
            return {"out": "refused"}
        return {"out": "paid"}

    g = StateGraph(S).add_node("pay", pay, cache_policy=CachePolicy()).add_edge(START, "pay")
    return g.compile(cache=cache, checkpointer=saver)


def test_once_a_node_asked_a_person_no_run_is_served_from_the_cache(
    run: Any, saver: Any, cache: Any
) -> None:
    calls = Calls()
    app = payment_graph(calls, cache, saver)
    paused = run.invoke(app, {"x": 5}, cfg("junior1", role="clerk"))
    assert [i.value for i in paused["__interrupt__"]] == [{"pay": 5}]
    # an admin's run is not asked; what it returned is not kept for the others
    assert run.invoke(app, {"x": 5}, cfg("admin", role="admin"))["out"] == "paid"
    again = run.invoke(app, {"x": 5}, cfg("junior2", role="clerk"))
    assert [i.value for i in again["__interrupt__"]] == [{"pay": 5}]
    assert calls == {"pay": 3}


def test_an_entry_kept_before_the_node_asked_is_not_served_after(
    run: Any, saver: Any, cache: Any
) -> None:
    calls = Calls()
    app = payment_graph(calls, cache, saver)
    assert run.invoke(app, {"x": 7}, cfg("admin1", role="admin"))["out"] == "paid"
    assert run.invoke(app, {"x": 7}, cfg("admin2", role="admin"))["out"] == "paid"
    assert calls == {"pay": 1}  # a hit: nothing has asked yet
    paused = run.invoke(app, {"x": 8}, cfg("clerk1", role="clerk"))
    assert [i.value for i in paused["__interrupt__"]] == [{"pay": 8}]
    paused = run.invoke(app, {"x": 7}, cfg("clerk2", role="clerk"))
    assert [i.value for i in paused["__interrupt__"]] == [{"pay": 7}]  # asked, not served
    assert run.invoke(app, Command(resume="no"), cfg("clerk2"))["out"] == "refused"
    assert calls == {"pay": 4}


def test_clear_cache_forgets_that_a_node_asked(run: Any, saver: Any, cache: Any) -> None:
    calls = Calls()
    app = payment_graph(calls, cache, saver)
    run.invoke(app, {"x": 1}, cfg("c", role="clerk"))
    app.clear_cache(["pay"])
    for thread in ("a1", "a2"):
        assert run.invoke(app, {"x": 1}, cfg(thread, role="admin"))["out"] == "paid"
    assert calls == {"pay": 2}


def test_a_subgraph_node_that_asked_is_not_served_from_the_cache(
    run: Any, saver: Any, cache: Any
) -> None:
    calls = Calls()

    def inner(s: S, config: Any) -> dict:
        calls.hit("inner")
        if config["configurable"].get("role") != "admin":
            return {"out": interrupt({"q": s["x"]})}
        return {"out": "admin"}

    sub = StateGraph(S).add_node("inner", inner).add_edge(START, "inner").compile()
    g = StateGraph(S).add_node("child", sub, cache_policy=CachePolicy()).add_edge(START, "child")
    app = g.compile(cache=cache, checkpointer=saver)
    assert "__interrupt__" in run.invoke(app, {"x": 1}, cfg("c1", role="clerk"))
    assert run.invoke(app, {"x": 1}, cfg("a1", role="admin"))["out"] == "admin"
    assert "__interrupt__" in run.invoke(app, {"x": 1}, cfg("c2", role="clerk"))
    assert calls == {"inner": 3}


def test_graphs_sharing_a_cache_share_what_a_node_asked(saver: Any, tmp_path: Path) -> None:
    calls = Calls()
    with (
        SqliteCache(path=tmp_path / "shared.db") as one,
        SqliteCache(path=tmp_path / "shared.db") as two,
    ):
        first, second = payment_graph(calls, one, saver), payment_graph(calls, two, saver)
        second.invoke({"x": 3}, cfg("a0", role="admin"))  # kept before anyone asked
        assert "__interrupt__" in first.invoke({"x": 4}, cfg("c1", role="clerk"))
        assert "__interrupt__" in second.invoke({"x": 3}, cfg("c2", role="clerk"))
    assert calls == {"pay": 3}


def test_a_task_that_asked_a_person_is_not_served_from_the_cache(saver: Any, cache: Any) -> None:
    calls = Calls()

    @task(cache_policy=CachePolicy())
    def pay(x: int, admin: bool) -> str:
        calls.hit("pay")
        if not admin and interrupt({"pay": x}) != "yes":
            return "refused"
        return "paid"

    @entrypoint(checkpointer=saver, cache=cache)
    def wf(inp: dict) -> str:
        # the key is the task's arguments; `admin` stands for what the caller knows
        return pay(inp["x"], inp["admin"]).result()

    admin_says = wf.invoke({"x": 1, "admin": True}, cfg("a0"))
    assert admin_says == "paid" and calls == {"pay": 1}
    assert "__interrupt__" in wf.invoke({"x": 2, "admin": False}, cfg("c1"))
    assert wf.invoke({"x": 1, "admin": True}, cfg("a1")) == "paid"
    assert calls == {"pay": 3}  # after the task asked, the admin's entry is not served


# ---- processes ----------------------------------------------------------------------------


def test_processes_share_a_sqlite_cache_file(tmp_path: Path) -> None:
    """Another process, with another hash seed, finds the first one's entry (its input
    holds a set) and sends the `cached` chunk."""
    path = tmp_path / "procs.db"
    first = child.run_in_process(ROOT, path, seed=1)
    second = child.run_in_process(ROOT, path, seed=2)
    assert first == {"calls": 1, "cached": False}
    assert second == {"calls": 0, "cached": True}


def test_a_cache_of_your_own_that_answers_get_with_no_mapping_is_a_miss(
    run: Any, caplog: pytest.LogCaptureFixture
) -> None:
    class Odd(InMemoryCache[Any]):
        def get(self, keys: Any) -> Any:
            return [None for _ in keys]

    calls = Calls()

    def n(s: S) -> dict:
        calls.hit("n")
        return {"out": 1}

    app = StateGraph(S).add_node("n", n, cache_policy=CachePolicy()).add_edge(START, "n")
    graph = app.compile(cache=Odd())
    with caplog.at_level(logging.WARNING, logger="interlock"):
        assert run.invoke(graph, {"x": 1}) == {"x": 1, "out": 1}
        assert run.invoke(graph, {"x": 1}) == {"x": 1, "out": 1}
    assert calls == {"n": 2} and "where a dict was due" in caplog.text


def test_an_entrypoint_s_key_func_gets_its_input_and_previous_is_part_of_the_key(
    saver: Any, cache: Any
) -> None:
    """LangGraph calls the entrypoint's `key_func` with the entrypoint's input (interlock
    gave it its internal state, `{'input': 1, 'ran': False, ...}`, so a ported
    `key_func=lambda x: x["id"]` failed). The key also holds `previous`: LangGraph's second
    call on a thread returns the first call's result (2) though the function, given
    `previous=2`, returns 4."""
    calls: list[Any] = []
    got: list[Any] = []

    def key(x: Any) -> str:
        got.append(x)
        return str(x["id"])

    @entrypoint(checkpointer=saver, cache=cache, cache_policy=CachePolicy(key_func=key))
    def wf(x: dict, *, previous: Any = None) -> int:
        calls.append(x["id"])
        return x["id"] * 2 + (previous or 0)

    assert wf.invoke({"id": 1}, cfg("1")) == 2
    assert wf.invoke({"id": 1}, cfg("1")) == 4  # previous=2: another key, it runs
    assert wf.invoke({"id": 1}, cfg("2")) == 2  # a first call elsewhere: a hit
    assert calls == [1, 1] and got == [{"id": 1}] * 3


def test_a_cached_node_s_approval_is_decided_once_and_its_effect_runs_once(
    saver: Any, tmp_path: Path
) -> None:
    """Eight concurrent resumes of one request of a node with a cache policy, on two
    graphs sharing a `SqliteCache` file: one succeeds, seven are `ResumeConflict`, the
    effect after the approval runs once; a later thread with the same input is asked
    again (nothing of the approved run was kept) and its own answer decides."""
    import threading

    from interlock import ResumeConflict

    effects: list[str] = []

    def pay(s: S) -> dict:
        answer = interrupt({"pay": s["x"]})
        if answer == "yes":
            effects.append(f"paid {s['x']}")
        return {"out": answer}

    def build(cache: Any) -> Any:
        g = StateGraph(S).add_node("pay", pay, cache_policy=CachePolicy()).add_edge(START, "pay")
        return g.compile(checkpointer=saver, cache=cache)

    with SqliteCache(path=tmp_path / "c.db") as one, SqliteCache(path=tmp_path / "c.db") as two:
        graphs = [build(one), build(two)]
        graphs[0].invoke({"x": 9}, cfg("t"))
        barrier = threading.Barrier(8)
        outcomes: list[str] = []

        def resume(i: int) -> None:
            barrier.wait()
            try:
                graphs[i % 2].invoke(Command(resume="yes"), cfg("t"))
                outcomes.append("ok")
            except ResumeConflict:
                outcomes.append("conflict")

        threads = [threading.Thread(target=resume, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["conflict"] * 7 + ["ok"]
        assert effects == ["paid 9"]
        later = graphs[1].invoke({"x": 9}, cfg("t2"))
        assert [i.value for i in later["__interrupt__"]] == [{"pay": 9}]
        assert graphs[0].invoke(Command(resume="no"), cfg("t2"))["out"] == "no"
    assert effects == ["paid 9"]


@pytest.mark.parametrize("flavour", ["async task", "sync task"])
def test_an_async_entrypoint_s_task_that_asked_is_not_served(
    flavour: str, saver: Any, cache: Any
) -> None:
    import asyncio

    calls = Calls()

    def decide(x: int, admin: bool) -> str:
        calls.hit("pay")
        if not admin and interrupt({"pay": x}) != "yes":
            return "refused"
        return "paid"

    async def adecide(x: int, admin: bool) -> str:
        return decide(x, admin)

    pay = task(name="pay", cache_policy=CachePolicy())(
        adecide if flavour == "async task" else decide
    )

    @entrypoint(checkpointer=saver, cache=cache)
    async def wf(inp: dict) -> str:
        return await pay(inp["x"], inp["admin"])

    async def go() -> list[Any]:
        return [
            await wf.ainvoke({"x": 1, "admin": True}, cfg("a0")),
            await wf.ainvoke({"x": 1, "admin": True}, cfg("a1")),
            await wf.ainvoke({"x": 2, "admin": False}, cfg("c1")),
            await wf.ainvoke({"x": 1, "admin": True}, cfg("a2")),
        ]

    outs = asyncio.run(go())
    assert outs[0] == outs[1] == outs[3] == "paid" and "__interrupt__" in outs[2]
    assert calls == {"pay": 3}  # a1 was a hit; a2, after the task asked, ran
