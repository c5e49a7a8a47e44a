"""Adversarial review of root state schemas, continued (see test_root_state_review.py):
version migrations between a keyed and a root state, and more shapes probed against
LangGraph 1.2.22. Expected values are LangGraph's unless a comment says otherwise."""

from __future__ import annotations

import operator
from typing import Annotated, Any, Literal

import pytest
from typing_extensions import TypedDict

from interlock import (
    START,
    AIMessage,
    CachePolicy,
    HumanMessage,
    InMemoryCache,
    Overwrite,
    StateGraph,
    add_messages,
)
from interlock.checkpoint.memory import InMemorySaver
from interlock.errors import InvalidGraph
from interlock.types import Command, Interrupt, Send, interrupt
from tests.conftest import Runner
from tests.test_root_state_review import AnyId, Point, _config

# ---- version migrations between a keyed and a root state ------------------------------------


class Logged(TypedDict):
    v: Annotated[list, operator.add]


def _ask_list(state: list) -> list:
    return [interrupt("q")]


def _ask_keyed(state: Logged) -> dict:
    return {"v": [interrupt("q")]}


def test_a_migration_from_a_root_version_to_a_keyed_one_receives_the_value(saver: Any) -> None:
    # docs/safe-deploys.md: a migration receives the stored state values, "for a root state
    # schema, the value" - never the internal "__root__" key (nor the new schema's empty
    # keys beside it)
    v1 = StateGraph(Annotated[list, operator.add]).add_node("ask", _ask_list)
    v1.add_edge(START, "ask")
    config = _config()
    v1.compile(checkpointer=saver, version="1").invoke(["a"], config)

    v2 = StateGraph(Logged).add_node("ask", _ask_keyed).add_edge(START, "ask")
    seen: list[Any] = []

    @v2.migrate(from_version="1")
    def to_keys(value: Any) -> dict:
        seen.append(value)
        return {"v": [*value, "migrated"]}

    graph = v2.compile(checkpointer=saver, version="2", on_version_change="migrate")
    assert graph.invoke(Command(resume="x"), config) == {"v": ["a", "migrated", "x"]}
    assert seen == [["a"]]


def test_a_migration_from_a_keyed_version_to_a_root_one_receives_the_keys(saver: Any) -> None:
    v1 = StateGraph(Logged).add_node("ask", _ask_keyed).add_edge(START, "ask")
    config = _config()
    v1.compile(checkpointer=saver, version="1").invoke({"v": ["a"]}, config)

    v2 = StateGraph(Annotated[list, operator.add]).add_node("ask", _ask_list)
    v2.add_edge(START, "ask")
    seen: list[Any] = []

    @v2.migrate(from_version="1")
    def to_value(values: Any) -> list:
        seen.append(values)
        return values["v"]

    graph = v2.compile(checkpointer=saver, version="2", on_version_change="migrate")
    assert graph.invoke(Command(resume="x"), config) == ["a", "x"]
    assert seen == [{"v": ["a"]}]  # not {"v": ["a"], "__root__": []}


# ---- more shapes that match LangGraph ------------------------------------------------------------


def test_a_dict_root_child_in_a_dict_root_parent_streams_each_level(run: Runner) -> None:
    child = StateGraph(dict | None)
    child.add_node("c", lambda s: {**s, "c": 1})
    child.add_node("ask", lambda s: {**s, "q": interrupt("q")})
    child.add_edge(START, "c").add_edge("c", "ask")
    parent = StateGraph(dict | None).add_node("sub", child.compile()).add_edge(START, "sub")
    graph = parent.compile(checkpointer=InMemorySaver())
    config = _config()
    modes = ["values", "updates"]
    chunks = run.stream(graph, {"a": 1}, config, stream_mode=modes, subgraphs=True)
    asked = (Interrupt(value="q", id=AnyId()),)
    assert [(len(ns), mode, data) for ns, mode, data in chunks] == [
        (0, "values", {"a": 1}),
        (1, "values", {"a": 1}),
        (1, "updates", {"c": {"a": 1, "c": 1}}),
        (1, "values", {"a": 1, "c": 1}),
        (1, "updates", {"__interrupt__": asked}),
        (1, "values", {"a": 1, "c": 1, "__interrupt__": asked}),
        (0, "updates", {"__interrupt__": asked}),
        (0, "values", {"a": 1, "__interrupt__": asked}),
    ]
    assert graph.get_state(config, subgraphs=True).tasks[0].state.values == {"a": 1, "c": 1}
    resumed = run.stream(graph, Command(resume=5), config, stream_mode=modes, subgraphs=True)
    assert [(len(ns), mode, data) for ns, mode, data in resumed] == [
        (0, "values", {"a": 1}),
        (1, "values", {"a": 1, "c": 1}),
        (1, "updates", {"ask": {"a": 1, "c": 1, "q": 5}}),
        (1, "values", {"a": 1, "c": 1, "q": 5}),
        (0, "updates", {"sub": {"a": 1, "c": 1, "q": 5}}),
        (0, "values", {"a": 1, "c": 1, "q": 5}),
    ]


def test_a_deferred_node_of_a_root_graph() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("b1", lambda s: ["b1"])
    builder.add_node("b2", lambda s: ["b2"]).add_node("j", lambda s: [len(s)], defer=True)
    builder.add_edge(START, "a").add_edge("a", "b1").add_edge("b1", "b2")
    builder.add_edge("a", "j").add_edge("b2", "j")
    assert builder.compile().invoke(["s"]) == ["s", "a", "b1", "b2", 4]


def test_a_command_with_a_value_update_and_goto_as_input(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("b", lambda s: ["b"]).add_edge(START, "a")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, ["s"], _config())
    assert run.invoke(graph, Command(update=["x"], goto="b"), _config()) == ["s", "a", "x", "b"]
    assert run.get_state(graph, _config()).values == ["s", "a", "x", "b"]


def test_path_map_and_string_roots() -> None:
    builder = StateGraph(int)
    builder.add_node("x", lambda s: s + 100).add_node("y", lambda s: s - 100)
    builder.add_conditional_edges(START, lambda s: s > 0, {True: "x", False: "y"})
    graph = builder.compile()
    assert (graph.invoke(1), graph.invoke(-1)) == (101, -101)
    text = StateGraph(Annotated[str, operator.add])
    text.add_node("n", lambda s: "!" + s).add_edge(START, "n")
    assert text.compile().invoke("hi") == "hi!hi"


def test_an_empty_update_is_still_an_update() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: []).add_edge(START, "n")
    assert list(builder.compile().stream(["s"], stream_mode=["updates", "values"])) == [
        ("values", ["s"]),
        ("updates", {"n": []}),
        ("values", ["s"]),
    ]


def test_update_state_with_overwrite_replaces_the_value(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: ["n"]).add_edge(START, "n")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, ["s"], _config())
    run.update_state(graph, _config(), Overwrite(["o"]), as_node="n")
    assert run.get_state(graph, _config()).values == ["o"]


def test_get_state_at_a_checkpoint_id_leaves_out_finished_writes(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "a").add_edge(START, "ask")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, ["s"], _config())
    head = run.get_state(graph, _config())
    at = run.get_state(graph, head.config)
    assert (head.values, at.values) == (["s", "a"], ["s"])
    assert [(t.name, t.result) for t in at.tasks] == [("a", ["a"]), ("ask", None)]


def test_sends_that_ask_resume_by_id(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("w", lambda s: [f"{s}:{interrupt(s)}"])
    builder.add_conditional_edges(START, lambda s: [Send("w", x) for x in s])
    graph = builder.compile(checkpointer=saver)
    paused = run.invoke(graph, ["p", "q"], _config())
    ids = {i.value: i.id for i in paused["__interrupt__"]}
    state = run.get_state(graph, _config())
    assert (sorted(ids), state.values, [t.name for t in state.tasks]) == (
        ["p", "q"],
        ["p", "q"],
        ["w", "w"],
    )
    done = run.invoke(graph, Command(resume={ids["p"]: 1, ids["q"]: 2}), _config())
    assert done == ["p", "q", "p:1", "q:2"]


def test_a_command_goto_sends_from_a_root_node() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: Command(goto=[Send("w", 1), Send("w", 2)]))
    builder.add_node("w", lambda s: [s * 10]).add_edge(START, "a")
    graph = builder.compile()
    assert graph.invoke(["s"]) == ["s", 10, 20]
    assert list(graph.stream(["s"], stream_mode="updates")) == [
        {"a": None},
        {"w": [10]},
        {"w": [20]},
    ]


def test_a_messages_root_removes_and_replays_on_every_store(saver: Any, run: Runner) -> None:
    from interlock import REMOVE_ALL_MESSAGES, RemoveMessage

    builder = StateGraph(Annotated[list, add_messages])
    builder.add_node("bot", lambda s: [AIMessage(content="a1", id="a1")])
    builder.add_node("ask", lambda s: [AIMessage(content=str(interrupt("q")), id="a2")])
    builder.add_node("trim", lambda s: [RemoveMessage(id="a1")])
    builder.add_edge(START, "bot").add_edge("bot", "ask").add_edge("ask", "trim")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    run.invoke(graph, [HumanMessage(content="hi", id="h1")], config)
    edit = [RemoveMessage(id="h1"), ("user", "edited")]
    run.update_state(graph, config, edit, as_node="bot")
    assert [m.content for m in run.get_state(graph, config).values] == ["a1", "edited"]
    # interlock: the edit cancelled the pending request (docs/parity.md); the node asks again
    assert list(run.invoke(graph, None, config)) == ["__interrupt__"]
    done = run.invoke(graph, Command(resume="yes"), config)
    assert [m.content for m in done] == ["edited", "yes"]
    # LangGraph's, less its input checkpoint ([])
    assert [[m.content for m in h.values] for h in run.history(graph, config)] == [
        ["edited", "yes"],
        ["a1", "edited", "yes"],
        ["a1", "edited"],
        ["hi", "a1"],
        ["hi"],
    ]
    run.update_state(graph, config, [RemoveMessage(id=REMOVE_ALL_MESSAGES), ("ai", "fresh")])
    assert [m.content for m in run.get_state(graph, config).values] == ["fresh"]


def test_an_entrypoint_calls_a_root_graph_that_pauses() -> None:
    from interlock import entrypoint

    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "a").add_edge("a", "ask")
    inner = builder.compile()

    @entrypoint(checkpointer=InMemorySaver())
    def workflow(value: list) -> list:
        return [*inner.invoke(value), "wf"]

    assert workflow.invoke(["s"], _config()) == {
        "__interrupt__": [Interrupt(value="q", id=AnyId())]
    }
    assert workflow.invoke(Command(resume="r"), _config()) == ["s", "a", "r", "wf"]


def test_update_state_as_start_reruns_from_the_entry(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_edge(START, "a")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, ["s"], _config())
    run.update_state(graph, _config(), ["x"], as_node=START)
    state = run.get_state(graph, _config())
    assert (state.values, state.next) == (["s", "a", "x"], ("a",))
    assert run.invoke(graph, None, _config()) == ["s", "a", "x", "a"]


def test_an_unstorable_update_state_keeps_the_pause(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("ask", lambda s: [interrupt("q")]).add_edge(START, "ask")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    run.invoke(graph, ["s"], config)
    with pytest.raises(Exception, match="not serialisable"):
        run.update_state(graph, config, [object()], as_node="ask")
    state = run.get_state(graph, config)
    assert (state.values, state.next, len(state.interrupts)) == (["s"], ("ask",), 1)
    assert run.invoke(graph, Command(resume="ok"), config) == ["s", "ok"]


def test_an_unstorable_resume_or_command_update_keeps_the_pause(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("ask", lambda s: [interrupt("q")]).add_edge(START, "ask")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    run.invoke(graph, ["s"], config)
    with pytest.raises(Exception, match="not serialisable"):
        run.invoke(graph, Command(resume=object()), config)
    with pytest.raises(Exception, match="not serialisable"):
        run.invoke(graph, Command(update=[object()], resume="x"), config)
    state = run.get_state(graph, config)
    assert (state.values, state.next, len(state.interrupts)) == (["s"], ("ask",), 1)
    assert run.invoke(graph, Command(resume="ok"), config) == ["s", "ok"]


def _keep_max(current: int | None, new: int) -> int:
    return new if current is None else max(current, new)


@pytest.mark.parametrize(
    ("schema", "first", "update", "after_input", "after_run", "after_edit"),
    [
        (Annotated[int, operator.add], 5, 1, 5, 6, 7),
        (Annotated[set, operator.or_], {1}, {2}, {1}, {1, 2}, {1, 2}),
        (Annotated[tuple, operator.add], (1,), (2,), (1,), (1, 2), (1, 2, 2)),  # LangGraph: list
        (Annotated[int | None, _keep_max], 3, 7, 3, 7, 7),
        # as in LangGraph: a reducer root starts at its type's empty value (0.0), and the
        # input folds into it
        (Annotated[float, operator.mul], 2.0, 3.0, 0.0, 0.0, 0.0),
    ],
)
def test_reducer_roots_of_several_types(
    saver: Any,
    schema: Any,
    first: Any,
    update: Any,
    after_input: Any,
    after_run: Any,
    after_edit: Any,
) -> None:
    builder = StateGraph(schema).add_node("n", lambda s: update).add_edge(START, "n")
    graph = builder.compile(checkpointer=saver)
    assert graph.invoke(first, _config()) == after_run
    graph.update_state(_config(), update, as_node="n")
    assert graph.get_state(_config()).values == after_edit
    history = [h.values for h in graph.get_state_history(_config())]
    assert history == [after_edit, after_run, after_input]


def test_a_fresh_thread_of_a_reducer_root_takes_update_state_as_input(saver: Any) -> None:
    builder = StateGraph(Annotated[int, operator.add])
    graph = builder.add_node("n", lambda s: 1).add_edge(START, "n").compile(checkpointer=saver)
    graph.update_state(_config(), 4)
    assert graph.get_state(_config()).values == 4
    assert graph.invoke(None, _config()) == 5


def test_a_command_resume_with_a_value_update(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("ask", lambda s: [interrupt("q")]).add_edge(START, "ask")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, ["s"], _config())
    assert run.invoke(graph, Command(update=["u"], resume="x"), _config()) == ["s", "u", "x"]


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        (Literal["x", "y"], "x"),
        (int | str, 1),
        (object, 3),
        (str, "hi"),
        (bytes, b"x"),
        (tuple, (1,)),
    ],
)
def test_other_types_without_keys_are_last_value_roots(schema: Any, value: Any) -> None:
    graph = StateGraph(schema).add_node("n", lambda s: s).add_edge(START, "n").compile()
    assert graph.invoke(value) == value


def test_schemas_langgraph_builds_but_cannot_carry_a_value_are_refused() -> None:
    # LangGraph: StateGraph(Any) runs and returns None (it reads Any as keys, none);
    # a plain class is keyed with no keys and fails its input ("Expected dict")
    class Plain:
        pass

    for schema in (Any, Plain):
        with pytest.raises(InvalidGraph, match="must be a TypedDict"):
            StateGraph(schema)


def test_node_caching_keys_on_values_that_are_not_json(run: Runner) -> None:
    calls: list[Any] = []

    def f(state: Any) -> Any:
        calls.append(state)
        return state

    for schema, value in ((set | None, {1, 2}), (Point | None, Point(x=1))):
        calls.clear()
        builder = StateGraph(schema).add_node("f", f, cache_policy=CachePolicy())
        graph = builder.add_edge(START, "f").compile(cache=InMemoryCache())
        assert (run.invoke(graph, value), run.invoke(graph, value)) == (value, value)
        assert calls == [value]


def test_a_finished_task_that_wrote_twice_shows_both_writes(saver: Any, run: Runner) -> None:
    # LangGraph's get_state().tasks[i].result folds a channel written twice into
    # {"$writes": [...]}, as interlock's `tasks` stream chunk already does; get_state kept
    # the last write only
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("two", lambda s: [Command(update=["x"]), Command(update=["y"])])
    builder.add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "two").add_edge(START, "ask")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, ["s"], _config())
    state = run.get_state(graph, _config())
    assert state.values == ["s", "x", "y"]
    both = {"$writes": [["x"], ["y"]]}
    assert [(t.name, t.result) for t in state.tasks] == [("two", both), ("ask", None)]
    history = run.history(graph, _config())
    assert [(t.name, t.result) for t in history[0].tasks] == [("two", both), ("ask", None)]

    keyed = StateGraph(Logged)
    keyed.add_node("two", lambda s: [Command(update={"v": ["x"]}), Command(update={"v": ["y"]})])
    keyed.add_node("ask", _ask_keyed).add_edge(START, "two").add_edge(START, "ask")
    graph = keyed.compile(checkpointer=saver)
    run.invoke(graph, {"v": ["s"]}, _config("keyed"))
    state = run.get_state(graph, _config("keyed"))
    assert [(t.name, t.result) for t in state.tasks] == [("two", {"v": both}), ("ask", None)]


@pytest.mark.parametrize("durability", ["exit", "async", "sync"])
def test_a_root_child_pauses_under_each_durability(
    saver: Any, run: Runner, durability: str
) -> None:
    child = StateGraph(Annotated[list, operator.add])
    child.add_node("c", lambda s: ["c"]).add_node("ask", lambda s: [interrupt("q")])
    child.add_edge(START, "c").add_edge("c", "ask")
    parent = StateGraph(Annotated[list, operator.add])
    parent.add_node("p", lambda s: ["p"]).add_node("sub", child.compile())
    parent.add_edge(START, "p").add_edge("p", "sub")
    graph = parent.compile(checkpointer=saver)
    config = _config()
    paused = run.invoke(graph, ["s"], config, durability=durability)
    assert list(paused) == ["__interrupt__"]
    nested = graph.get_state(config, subgraphs=True)
    assert (nested.values, nested.tasks[0].state.values) == (["s", "p"], ["s", "p", "c"])
    done = run.invoke(graph, Command(resume="r"), config, durability=durability)
    assert done == ["s", "p", "s", "p", "c", "r"]
    # LangGraph: 2 for exit, 4 (with its input checkpoint) otherwise
    assert len(run.history(graph, config)) == (2 if durability == "exit" else 3)


def test_a_breakpoint_inside_a_root_child(saver: Any, run: Runner) -> None:
    child = StateGraph(Annotated[list, operator.add])
    child.add_node("c1", lambda s: ["c1"]).add_node("c2", lambda s: ["c2"])
    child.add_edge(START, "c1").add_edge("c1", "c2")
    parent = StateGraph(Annotated[list, operator.add])
    parent.add_node("sub", child.compile(interrupt_before=["c2"])).add_edge(START, "sub")
    graph = parent.compile(checkpointer=saver)
    config = _config()
    chunks = run.stream(graph, ["s"], config, stream_mode="values", subgraphs=True)
    # LangGraph's values chunks (interlock adds the pause's own chunks, which mark it)
    assert [(len(ns), data) for ns, data in chunks if "__interrupt__" not in data] == [
        (0, ["s"]),
        (1, ["s"]),
        (1, ["s", "c1"]),
    ]
    nested = graph.get_state(config, subgraphs=True)
    assert (nested.next, nested.tasks[0].state.values, nested.tasks[0].state.next) == (
        ("sub",),
        ["s", "c1"],
        ("c2",),
    )
    assert run.invoke(graph, None, config) == ["s", "s", "c1", "c2"]


def test_history_of_a_root_child_under_a_keyed_parent_shows_its_value(
    saver: Any, run: Runner
) -> None:
    # get_state(child_config) reads the child's value; get_state_history(child_config)
    # showed the stored dict, internal key and all ({"__root__": {...}}): it read the
    # child's checkpoints with the parent's (keyed) schema
    class Keyed(TypedDict):
        a: int

    child = StateGraph(dict | None)
    child.add_node("c", lambda s: {**s, "c": 1})
    child.add_node("x", lambda s: {**s, "b": interrupt("q")})
    child.add_edge(START, "c").add_edge("c", "x")
    parent = StateGraph(Keyed).add_node("sub", child.compile()).add_edge(START, "sub")
    graph = parent.compile(checkpointer=saver)
    run.invoke(graph, {"a": 1}, _config())
    child_config = graph.get_state(_config(), subgraphs=True).tasks[0].state.config
    assert run.get_state(graph, child_config).values == {"a": 1, "c": 1}
    # LangGraph lists the newest only here: [{"a": 1, "c": 1}]
    history = run.history(graph, child_config)
    assert [h.values for h in history] == [{"a": 1, "c": 1}, {"a": 1}]
    assert [h.next for h in history] == [("x",), ("c",)]


def test_history_of_a_keyed_child_under_a_root_parent_shows_its_keys(
    saver: Any, run: Runner
) -> None:
    class Keyed(TypedDict):
        a: int

    inner = StateGraph(Keyed)
    inner.add_node("c", lambda s: {"a": s["a"] + 1}).add_node("x", lambda s: {"a": interrupt("q")})
    inner.add_edge(START, "c").add_edge("c", "x")
    compiled_inner = inner.compile()

    def call(state: int) -> int:
        return compiled_inner.invoke({"a": state})["a"]

    parent = StateGraph(int).add_node("call", call).add_edge(START, "call")
    graph = parent.compile(checkpointer=saver)
    run.invoke(graph, 1, _config())
    child_config = graph.get_state(_config(), subgraphs=True).tasks[0].state.config
    assert run.get_state(graph, child_config).values == {"a": 2}
    assert [h.values for h in run.history(graph, child_config)] == [{"a": 2}, {"a": 1}]
    assert run.invoke(graph, Command(resume=9), _config()) == 9


def test_requests_at_two_levels_resume_by_id_map(saver: Any, run: Runner) -> None:
    child = StateGraph(Annotated[list, operator.add])
    child.add_node("ca", lambda s: [interrupt("child-a")])
    child.add_node("cb", lambda s: [interrupt("child-b")])
    child.add_edge(START, "ca").add_edge(START, "cb")
    parent = StateGraph(Annotated[list, operator.add])
    parent.add_node("sub", child.compile()).add_node("pa", lambda s: [interrupt("parent")])
    parent.add_edge(START, "sub").add_edge(START, "pa")
    graph = parent.compile(checkpointer=saver)
    config = _config()
    paused = run.invoke(graph, ["s"], config)
    ids = {i.value: i.id for i in paused["__interrupt__"]}
    assert sorted(ids) == ["child-a", "child-b", "parent"]
    again = run.invoke(graph, Command(resume={ids["child-a"]: "A", ids["parent"]: "P"}), config)
    assert [i.value for i in again["__interrupt__"]] == ["child-b"]
    assert run.get_state(graph, config).values == ["s", "P"]
    done = run.invoke(graph, Command(resume={ids["child-b"]: "B"}), config)
    assert done == ["s", "P", "s", "A", "B"]


def test_batch_of_a_root_graph(run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    graph = builder.add_node("n", lambda s: [len(s)]).add_edge(START, "n").compile()
    assert graph.batch([["a"], ["a", "b"]]) == [["a", 1], ["a", "b", 2]]
    out = graph.batch([["a"], {"x": 1}], return_exceptions=True)
    assert out[0] == ["a", 1] and isinstance(out[1], TypeError)
    assert graph.with_config(recursion_limit=5).invoke(["q"]) == ["q", 1]


def test_a_node_annotated_with_the_value_class_is_refused_at_build() -> None:
    # LangGraph reads the annotation as the node's keyed input schema and fails when the
    # node runs (pydantic's ValidationError, a dataclass's TypeError); interlock refuses it
    # when the node is added (docs/parity.md). Annotate it with the root type, or not at all.
    def bump(state: Point) -> Point:
        return Point(x=state.x + 1)

    with pytest.raises(InvalidGraph, match="reads the state as"):
        StateGraph(Point | None).add_node("n", bump)


def test_root_nodes_take_a_runtime_and_a_config() -> None:
    from dataclasses import dataclass

    from interlock import Runtime

    @dataclass
    class Ctx:
        who: str

    def named(state: list, runtime: Runtime[Ctx]) -> list:
        return [runtime.context.who]

    def configured(state: list, config: Any) -> list:
        return [config["configurable"].get("x")]

    builder = StateGraph(Annotated[list, operator.add], context_schema=Ctx)
    builder.add_node("n", named).add_node("m", configured)
    builder.add_edge(START, "n").add_edge("n", "m")
    graph = builder.compile()
    assert graph.invoke(["s"], {"configurable": {"x": 7}}, context=Ctx(who="ada")) == [
        "s",
        "ada",
        7,
    ]
