"""Adversarial review of root state schemas (`StateGraph(Annotated[list, operator.add])`,
`StateGraph(int)`), probe by probe against LangGraph 1.2.22.

Every expected value is what LangGraph returns for the same graph and calls (run on this
machine); where interlock differs on purpose (documented in docs/parity.md), the comment says
DIFFERENCE. LangGraph's extra input checkpoint ("One input checkpoint" in docs/parity.md)
is left out of the history comparisons."""

from __future__ import annotations

import datetime
import decimal
import operator
from typing import Annotated, Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from interlock import (
    END,
    START,
    AIMessage,
    CachePolicy,
    HumanMessage,
    InMemoryCache,
    InvalidUpdate,
    Overwrite,
    RetryPolicy,
    StateGraph,
    add_messages,
    get_stream_writer,
)
from interlock.checkpoint.memory import InMemorySaver
from interlock.errors import InvalidGraph
from interlock.types import Command, Interrupt, Send, interrupt
from tests.conftest import Runner


class AnyId(str):
    """Equal to any interrupt id."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    __hash__ = str.__hash__


def _config(thread: str = "t") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def _list_graph() -> StateGraph:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("b", lambda s: ["b"])
    builder.add_edge(START, "a").add_edge("a", "b")
    return builder


# ---- interrupts ------------------------------------------------------------------------------


def test_several_interrupts_in_one_node_resume_in_turn(saver: Any, run: Runner) -> None:
    def both(state: list) -> list:
        first = interrupt("first")
        second = interrupt("second")
        return [first, second]

    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", both).add_edge(START, "n")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    assert run.invoke(graph, ["s"], config) == {
        "__interrupt__": [Interrupt(value="first", id=AnyId())]
    }
    assert run.invoke(graph, Command(resume="A"), config) == {
        "__interrupt__": [Interrupt(value="second", id=AnyId())]
    }
    assert run.get_state(graph, config).values == ["s"]
    assert run.invoke(graph, Command(resume="B"), config) == ["s", "A", "B"]


def test_parallel_nodes_ask_and_resume_by_id_map(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("x", lambda s: [interrupt("qx")]).add_node("y", lambda s: [interrupt("qy")])
    builder.add_edge(START, "x").add_edge(START, "y")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    paused = run.invoke(graph, ["s"], config)
    ids = {i.value: i.id for i in paused["__interrupt__"]}
    assert set(ids) == {"qx", "qy"}
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (["s"], ("x", "y"))
    assert sorted(i.value for i in state.interrupts) == ["qx", "qy"]
    done = run.invoke(graph, Command(resume={ids["qx"]: "X", ids["qy"]: "Y"}), config)
    assert sorted(done) == ["X", "Y", "s"]  # the order of parallel writes is LangGraph's too
    assert done[0] == "s"


def test_resume_one_of_two_by_id_keeps_the_other_waiting(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("x", lambda s: [interrupt("qx")]).add_node("y", lambda s: [interrupt("qy")])
    builder.add_edge(START, "x").add_edge(START, "y")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    paused = run.invoke(graph, ["s"], config)
    ids = {i.value: i.id for i in paused["__interrupt__"]}
    again = run.invoke(graph, Command(resume={ids["qx"]: "X"}), config)
    assert again == {"__interrupt__": [Interrupt(value="qy", id=ids["qy"])]}
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (["s", "X"], ("y",))  # x's write is kept
    assert run.invoke(graph, Command(resume={ids["qy"]: "Y"}), config) == ["s", "X", "Y"]


def test_interrupt_before_and_after(saver: Any, run: Runner) -> None:
    builder = _list_graph()
    before = builder.compile(checkpointer=saver, interrupt_before=["b"])
    config = _config("before")
    # DIFFERENCE (docs/parity.md, root state schemas): LangGraph returns the value ["s",
    # "a"] with no sign of the pause; interlock marks every pause
    paused = run.invoke(before, ["s"], config)
    assert list(paused) == ["__interrupt__"]
    assert paused["__interrupt__"][0].value["when"] == "before"
    state = run.get_state(before, config)
    assert (state.values, state.next) == (["s", "a"], ("b",))
    assert run.invoke(before, None, config) == ["s", "a", "b"]

    after = builder.compile(checkpointer=saver, interrupt_after=["a"])
    config = _config("after")
    assert run.stream(after, ["s"], config, stream_mode="values") == [["s"], ["s", "a"]]
    assert run.stream(after, None, config, stream_mode="values") == [["s", "a"], ["s", "a", "b"]]


# ---- streams -----------------------------------------------------------------------------------


def _shown(chunk: tuple[Any, str, Any]) -> tuple[int, str, Any]:
    """(depth, mode, the part that carries the value) of a subgraphs=True stream chunk."""
    ns, mode, data = chunk
    if mode == "checkpoints":
        data = data["values"]
    elif mode == "debug":
        payload = data["payload"]
        if data["type"] == "checkpoint":
            data = ("checkpoint", payload["values"])
        else:
            data = (data["type"], payload.get("result", payload.get("input")))
    elif mode == "tasks":
        data = (data.get("input"), data.get("result"))
    return (len(ns), mode, data)


def test_root_child_in_a_root_parent_streams_every_mode_with_subgraphs(run: Runner) -> None:
    child = StateGraph(Annotated[list, operator.add])
    child.add_node("c", lambda s: ["c"]).add_node("ask", lambda s: [interrupt("q")])
    child.add_edge(START, "c").add_edge("c", "ask")
    parent = StateGraph(Annotated[list, operator.add])
    parent.add_node("sub", child.compile()).add_edge(START, "sub")
    graph = parent.compile(checkpointer=InMemorySaver())
    modes = ["values", "checkpoints", "tasks", "debug"]
    chunks = run.stream(graph, ["s"], _config(), stream_mode=modes, subgraphs=True)
    shown = [_shown(c) for c in chunks]
    asked = {"__interrupt__": (Interrupt(value="q", id=AnyId()),)}
    # LangGraph's, less its two input checkpoints ([]) and with a task's `result` chunk
    # before the step's values (interlock's order of a step's chunks)
    assert shown == [
        (0, "values", ["s"]),
        (0, "checkpoints", ["s"]),
        (0, "debug", ("checkpoint", ["s"])),
        (0, "tasks", (["s"], None)),
        (0, "debug", ("task", ["s"])),
        (1, "values", ["s"]),
        (1, "checkpoints", ["s"]),
        (1, "debug", ("checkpoint", ["s"])),
        (1, "tasks", (["s"], None)),
        (1, "debug", ("task", ["s"])),
        (1, "tasks", (None, {"__root__": ["c"]})),
        (1, "debug", ("task_result", {"__root__": ["c"]})),
        (1, "values", ["s", "c"]),
        (1, "checkpoints", ["s", "c"]),
        (1, "debug", ("checkpoint", ["s", "c"])),
        (1, "tasks", (["s", "c"], None)),
        (1, "debug", ("task", ["s", "c"])),
        (1, "tasks", (None, {})),
        (1, "debug", ("task_result", {})),
        (1, "values", asked),
        (0, "tasks", (None, {})),
        (0, "debug", ("task_result", {})),
        (0, "values", asked),
    ]
    state = run.get_state(graph, _config())
    assert state.values == ["s"]
    nested = graph.get_state(_config(), subgraphs=True)
    assert nested.tasks[0].state.values == ["s", "c"]
    assert [s.values for s in run.history(graph, _config())] == [["s"]]


def test_root_child_called_from_a_keyed_parent_streams_its_value(run: Runner) -> None:
    class Keyed(TypedDict):
        a: int

    child = StateGraph(int)
    child.add_node("c", lambda s: s + 1).add_node("ask", lambda s: s + interrupt("q"))
    child.add_edge(START, "c").add_edge("c", "ask")
    compiled_child = child.compile()

    def call(state: Keyed) -> Keyed:
        return {"a": compiled_child.invoke(state["a"])}

    parent = StateGraph(Keyed)
    parent.add_node("call", call).add_edge(START, "call")
    graph = parent.compile(checkpointer=InMemorySaver())
    config = _config()
    chunks = run.stream(
        graph, {"a": 1}, config, stream_mode=["values", "updates", "checkpoints"], subgraphs=True
    )
    child_chunks = [_shown(c) for c in chunks if c[0]]
    asked = {"__interrupt__": (Interrupt(value="q", id=AnyId()),)}
    assert child_chunks == [
        (1, "values", 1),
        (1, "checkpoints", 1),
        (1, "updates", {"c": 2}),
        (1, "values", 2),
        (1, "checkpoints", 2),
        (1, "updates", asked),
        (1, "values", asked),
    ]
    nested = graph.get_state(config, subgraphs=True)
    assert (nested.values, nested.tasks[0].state.values) == ({"a": 1}, 2)
    resumed = run.stream(
        graph, Command(resume=10), config, stream_mode=["values", "updates"], subgraphs=True
    )
    assert [(len(ns), mode, data) for ns, mode, data in resumed] == [
        (0, "values", {"a": 1}),
        (1, "values", 2),
        (1, "updates", {"ask": 12}),
        (1, "values", 12),
        (0, "updates", {"call": {"a": 12}}),
        (0, "values", {"a": 12}),
    ]


def test_custom_stream_from_a_root_node(run: Runner) -> None:
    def n(state: int) -> int:
        get_stream_writer()({"saw": state})
        return state + 1

    graph = StateGraph(int).add_node("n", n).add_edge(START, "n").compile()
    assert run.stream(graph, 1, stream_mode=["custom", "values"]) == [
        ("values", 1),
        ("custom", {"saw": 1}),
        ("values", 2),
    ]


def test_a_node_returning_several_commands_streams_each_update() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: [Command(update=["x"]), Command(update=["y"])])
    builder.add_edge(START, "a")
    assert list(builder.compile().stream(["s"], stream_mode=["updates", "values"])) == [
        ("values", ["s"]),
        ("updates", {"a": [["x"], ["y"]]}),
        ("values", ["s", "x", "y"]),
    ]


# ---- history, forks, update_state ------------------------------------------------------------


def test_update_state_forks_an_older_checkpoint(saver: Any, run: Runner) -> None:
    graph = _list_graph().compile(checkpointer=saver)
    config = _config()
    run.invoke(graph, ["s"], config)
    old = next(h for h in run.history(graph, config) if h.values == ["s", "a"])
    forked = run.update_state(graph, old.config, ["u"], as_node="a")
    state = run.get_state(graph, forked)
    assert (state.values, state.next) == (["s", "a", "u"], ("b",))
    assert run.invoke(graph, None, forked) == ["s", "a", "u", "b"]
    run.update_state(graph, config, None)  # no values: a new checkpoint, the value kept
    assert run.get_state(graph, config).values == ["s", "a", "u", "b"]
    assert [h.values for h in run.history(graph, config)][:4] == [
        ["s", "a", "u", "b"],
        ["s", "a", "u", "b"],
        ["s", "a", "u"],
        ["s", "a", "b"],
    ]


def test_replaying_from_an_older_checkpoint(saver: Any, run: Runner) -> None:
    graph = _list_graph().compile(checkpointer=saver)
    config = _config()
    run.invoke(graph, ["s"], config)
    old = next(h for h in run.history(graph, config) if h.values == ["s", "a"])
    assert run.stream(graph, None, old.config, stream_mode="values") == [
        ["s", "a"],
        ["s", "a", "b"],
    ]
    assert run.invoke(graph, None, old.config) == ["s", "a", "b"]


def test_update_state_of_a_last_value_root(saver: Any, run: Runner) -> None:
    builder = StateGraph(int)
    builder.add_node("a", lambda s: s + 1).add_edge(START, "a")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, 1, _config())
    run.update_state(graph, _config(), 10)
    state = run.get_state(graph, _config())
    assert (state.values, state.next) == (10, ())
    # a thread that never ran: the value goes in as the input would (LangGraph's next is a)
    run.update_state(graph, _config("fresh"), 7)
    state = run.get_state(graph, _config("fresh"))
    assert (state.values, state.next) == (7, ("a",))


def test_update_state_that_the_reducer_refuses_raises_its_error(saver: Any, run: Runner) -> None:
    graph = _list_graph().compile(checkpointer=saver, interrupt_before=["b"])
    config = _config()
    run.invoke(graph, ["s"], config)
    with pytest.raises(TypeError, match="can only concatenate list"):  # as LangGraph's
        run.update_state(graph, config, {"x": 1}, as_node="a")
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (["s", "a"], ("b",))
    assert run.invoke(graph, None, config) == ["s", "a", "b"]


def test_update_state_with_a_command_is_refused_not_stored(saver: Any, run: Runner) -> None:
    # LangGraph applies Command(update=5, goto="b") given to update_state (value 5, next
    # b); interlock's update_state takes no Command for any graph (a keyed graph refuses it
    # with InvalidUpdate). A root graph must refuse it too, not store the Command object
    # as its value (a last-value root) or fail inside the reducer (a list root).
    builder = StateGraph(int)
    builder.add_node("a", lambda s: s + 1).add_node("b", lambda s: s * 10)
    builder.add_edge(START, "a")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    run.invoke(graph, 1, config)
    with pytest.raises(InvalidUpdate, match="Command"):
        run.update_state(graph, config, Command(update=5, goto="b"), as_node="a")
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (2, ())

    listed = _list_graph().compile(checkpointer=saver)
    run.invoke(listed, ["s"], _config("list"))
    with pytest.raises(InvalidUpdate, match="Command"):
        run.update_state(listed, _config("list"), Command(update=["x"]), as_node="a")
    assert run.get_state(listed, _config("list")).values == ["s", "a", "b"]


def test_finished_tasks_in_history(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "a").add_edge(START, "ask")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, ["s"], _config())
    history = run.history(graph, _config())
    # LangGraph's also has its input checkpoint's task: [("__start__", ["s"])]
    assert [[(t.name, t.result) for t in s.tasks] for s in history] == [
        [("a", ["a"]), ("ask", None)]
    ]


# ---- Send, retries, caching, durability --------------------------------------------------------


def test_send_carries_its_own_value() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: [s * 2])
    builder.add_conditional_edges(START, lambda s: [Send("n", 5), Send("n", [7])])
    assert builder.compile().invoke([1]) == [1, 10, [7, 7]]


def test_a_node_with_a_retry_policy_retries_on_a_root_graph(run: Runner) -> None:
    calls: list[int] = []

    def flaky(state: list) -> list:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return [*state, "ok"]

    policy = RetryPolicy(initial_interval=0.001, jitter=False, retry_on=ConnectionError)
    builder = StateGraph(list).add_node("f", flaky, retry_policy=policy).add_edge(START, "f")
    assert run.invoke(builder.compile(), ["s"]) == ["s", "ok"]
    assert len(calls) == 3


def test_node_caching_keys_on_the_value(run: Runner) -> None:
    calls: list[list] = []

    def f(state: list) -> list:
        calls.append(state)
        return [len(state)]

    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("f", f, cache_policy=CachePolicy()).add_edge(START, "f")
    graph = builder.compile(cache=InMemoryCache())
    assert run.invoke(graph, ["x"]) == ["x", 1]
    assert run.invoke(graph, ["x"]) == ["x", 1]
    assert run.invoke(graph, ["y", "z"]) == ["y", "z", 2]
    assert calls == [["x"], ["y", "z"]]
    assert run.stream(graph, ["x"], stream_mode="updates") == [
        {"f": [1], "__metadata__": {"cached": True}}
    ]


@pytest.mark.parametrize("durability", ["exit", "async", "sync"])
def test_durability_modes(saver: Any, run: Runner, durability: str) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "a").add_edge("a", "ask")
    graph = builder.compile(checkpointer=saver)
    config = _config()
    run.invoke(graph, ["s"], config, durability=durability)
    assert run.get_state(graph, config).values == ["s", "a"]
    assert run.invoke(graph, Command(resume="r"), config, durability=durability) == [
        "s",
        "a",
        "r",
    ]
    assert run.get_state(graph, config).values == ["s", "a", "r"]
    # LangGraph: 2 for exit, 4 (with its input checkpoint) otherwise
    assert len(run.history(graph, config)) == (2 if durability == "exit" else 3)


# ---- values of many kinds --------------------------------------------------------------------


def test_a_dict_valued_root_merges_with_its_reducer(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[dict, operator.or_])
    builder.add_node("n", lambda s: {"k": len(s)}).add_edge(START, "n")
    graph = builder.compile(checkpointer=saver)
    assert run.invoke(graph, {"a": 0}, _config()) == {"a": 0, "k": 1}
    assert run.get_state(graph, _config()).values == {"a": 0, "k": 1}
    assert [h.values for h in run.history(graph, _config())] == [{"a": 0, "k": 1}, {"a": 0}]
    assert run.stream(graph, {"z": 1}, _config("2"), stream_mode="updates") == [{"n": {"k": 1}}]


def test_a_dict_valued_root_with_the_internal_key_inside(saver: Any, run: Runner) -> None:
    # the value is a dict whose own key is "__root__" (and "__interrupt__"): shown as is
    builder = StateGraph(Annotated[dict, operator.or_])
    builder.add_node("n", lambda s: {"__root__": 1}).add_edge(START, "n")
    graph = builder.compile(checkpointer=saver)
    assert run.invoke(graph, {"__interrupt__": 0}, _config()) == {"__interrupt__": 0, "__root__": 1}
    assert run.stream(graph, {"x": 0}, _config("2"), stream_mode="updates") == [
        {"n": {"__root__": 1}}
    ]
    assert run.get_state(graph, _config()).values == {"__interrupt__": 0, "__root__": 1}


def test_a_last_value_root_set_to_an_empty_dict(saver: Any, run: Runner) -> None:
    builder = StateGraph(dict | None)
    builder.add_node("n", lambda s: {}).add_edge(START, "n")
    graph = builder.compile(checkpointer=saver)
    assert run.invoke(graph, {"a": 1}, _config()) == {}
    assert run.get_state(graph, _config()).values == {}
    assert [h.values for h in run.history(graph, _config())] == [{}, {"a": 1}]


def test_a_root_graph_refuses_none_as_its_first_input(saver: Any, run: Runner) -> None:
    graph = _list_graph().compile(checkpointer=saver)
    # LangGraph: EmptyInputError; interlock: nothing to resume (as for any graph)
    with pytest.raises(Exception, match="no checkpoint"):
        run.invoke(graph, None, _config())


class Point(BaseModel):
    """A pydantic value for a root graph (at module level, so stores can load it)."""

    x: int


def test_a_pydantic_value_survives_the_store(saver: Any, run: Runner) -> None:
    # LangGraph's InMemorySaver returns a dict for a model defined in a function and the
    # node fails; a module-level model comes back as the model in both
    builder = StateGraph(Point | None)
    builder.add_node("n", lambda s: Point(x=s.x + 1))
    builder.add_node("ask", lambda s: Point(x=s.x + interrupt("q")))
    builder.add_edge(START, "n").add_edge("n", "ask")
    graph = builder.compile(checkpointer=saver)
    paused = run.invoke(graph, Point(x=1), _config())
    assert list(paused) == ["__interrupt__"]
    assert run.get_state(graph, _config()).values == Point(x=2)
    assert run.invoke(graph, Command(resume=5), _config()) == Point(x=7)


def test_values_that_are_not_json_survive_the_store(saver: Any, run: Runner) -> None:
    stored = [datetime.date(2020, 1, 2), {1, 2}, b"by", decimal.Decimal("1.5")]
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: list(stored)).add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "a").add_edge("a", "ask")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, [datetime.datetime(2021, 5, 6, 7, 8)], _config())
    assert run.get_state(graph, _config()).values == [datetime.datetime(2021, 5, 6, 7, 8), *stored]
    done = run.invoke(graph, Command(resume="r"), _config())
    assert done == [datetime.datetime(2021, 5, 6, 7, 8), *stored, "r"]


def test_a_tuple_value_comes_back_the_same_from_every_store(saver: Any, run: Runner) -> None:
    # LangGraph's savers give a tuple back as a list; interlock keeps it a tuple, and must
    # do so on each store alike (the value is the same whichever store holds it)
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: [(1, 2)]).add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "a").add_edge("a", "ask")
    graph = builder.compile(checkpointer=saver)
    run.invoke(graph, [], _config())
    assert run.invoke(graph, Command(resume="r"), _config()) == [(1, 2), "r"]


# ---- messages ---------------------------------------------------------------------------------


def test_a_messages_root_with_add_messages(saver: Any, run: Runner) -> None:
    def bot(state: list) -> AIMessage:
        return AIMessage(content=f"saw {len(state)}", id="ai1")

    builder = StateGraph(Annotated[list, add_messages])
    builder.add_node("bot", bot).add_edge(START, "bot")
    graph = builder.compile(checkpointer=saver)
    first = run.invoke(graph, [("user", "hi")], _config())
    assert [(type(m).__name__, m.content) for m in first] == [
        ("HumanMessage", "hi"),
        ("AIMessage", "saw 1"),
    ]
    # the same id replaces the message in place, as add_messages does in LangGraph
    second = run.invoke(graph, [HumanMessage(content="again", id="h2")], _config())
    assert [(type(m).__name__, m.content) for m in second] == [
        ("HumanMessage", "hi"),
        ("AIMessage", "saw 3"),
        ("HumanMessage", "again"),
    ]
    assert run.get_state(graph, _config()).values == second


def test_a_messages_root_streams_node_messages(run: Runner) -> None:
    builder = StateGraph(Annotated[list, add_messages])
    builder.add_node("bot", lambda s: [AIMessage(content="yo", id="ai1")])
    builder.add_node("one", lambda s: AIMessage(content="one", id="ai2"))
    builder.add_edge(START, "bot").add_edge("bot", "one").add_edge("one", END)
    chunks = run.stream(builder.compile(), [("user", "hi")], stream_mode="messages")
    assert [(m.content, meta["langgraph_node"]) for m, meta in chunks] == [
        ("yo", "bot"),
        ("one", "one"),
    ]


# ---- keyed graphs and the internal key ----------------------------------------------------------


class RootKey(TypedDict):
    __root__: list


class RootKeyAndMore(TypedDict):
    __root__: int
    b: int


def test_a_keyed_state_with_a_key_named_root_is_not_silently_dropped() -> None:
    # LangGraph treats such a key as any key: {"__root__": [1]} and {"__root__": 1, "b": 2}.
    # interlock skips every TypedDict key starting with "__", so the key's writes were
    # dropped with no word ({} and {"b": 2}); it now refuses the schema when built.
    with pytest.raises(InvalidGraph, match="__root__"):
        StateGraph(RootKey)
    with pytest.raises(InvalidGraph, match="__root__"):
        StateGraph(RootKeyAndMore)


def test_keyed_graphs_keep_their_keys_beside_a_root_subgraph(saver: Any, run: Runner) -> None:
    class Keyed(TypedDict):
        a: int
        log: Annotated[list, operator.add]

    child = StateGraph(int).add_node("x", lambda s: s).add_edge(START, "x").compile()

    def call(state: Keyed) -> dict:
        return {"a": child.invoke(state["a"]) + 1, "log": ["called"]}

    graph = StateGraph(Keyed).add_node("n", call).add_edge(START, "n").compile(checkpointer=saver)
    assert run.invoke(graph, {"a": 1, "log": []}, _config()) == {"a": 2, "log": ["called"]}
    assert run.get_state(graph, _config()).values == {"a": 2, "log": ["called"]}


def test_overwrite_replaces_a_reduced_root() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: Overwrite(["only"])).add_edge(START, "n")
    assert builder.compile().invoke(["s"]) == ["only"]


def _dict_root_asking(saver: Any) -> Any:
    builder = StateGraph(dict | None)
    builder.add_node("a", lambda s: {**s, "a2": 1})
    builder.add_node("x", lambda s: {**s, "b": interrupt("q")})
    builder.add_edge(START, "a").add_edge("a", "x")
    return builder.compile(checkpointer=saver)


def test_a_paused_dict_valued_root_shows_its_value_with_the_requests(
    saver: Any, run: Runner
) -> None:
    # LangGraph: a root value that is a dict gets "__interrupt__" beside its keys when the
    # run pauses (`{**value, "__interrupt__": [...]}`), in invoke's result and in the pause's
    # `values` chunk; v2's GraphOutput.value is the value. (Only a value that is not a dict
    # has no key to go under and shows `{"__interrupt__": ...}` alone.)
    graph = _dict_root_asking(saver)
    asked = [Interrupt(value="q", id=AnyId())]
    assert run.invoke(graph, {"a": 1}, _config()) == {"a": 1, "a2": 1, "__interrupt__": asked}
    assert run.get_state(graph, _config()).values == {"a": 1, "a2": 1}  # the state is clean
    assert run.invoke(graph, Command(resume=2), _config()) == {"a": 1, "a2": 1, "b": 2}

    chunks = run.stream(graph, {"a": 1}, _config("values"), stream_mode=["values", "updates"])
    # (LangGraph's own chunks here also show "__interrupt__" inside the earlier `values`
    # chunk and the `updates` chunk of node a: it adds the key to the stored dict in place)
    assert chunks == [
        ("values", {"a": 1}),
        ("updates", {"a": {"a": 1, "a2": 1}}),
        ("values", {"a": 1, "a2": 1}),
        ("updates", {"__interrupt__": tuple(asked)}),
        ("values", {"a": 1, "a2": 1, "__interrupt__": tuple(asked)}),
    ]
    assert run.get_state(graph, _config("values")).values == {"a": 1, "a2": 1}

    out = run.invoke(graph, {"a": 1}, _config("v2"), version="v2")
    assert (out.value, out.interrupts) == ({"a": 1, "a2": 1}, tuple(asked))
    parts = run.stream(graph, {"a": 1}, _config("v2s"), stream_mode="values", version="v2")
    assert [(p["data"], p["interrupts"]) for p in parts][-1] == ({"a": 1, "a2": 1}, tuple(asked))


def test_a_paused_dict_valued_root_child_streams_its_keys_with_the_requests(
    run: Runner,
) -> None:
    class Keyed(TypedDict):
        v: Annotated[list, operator.add]

    child = StateGraph(dict | None)
    child.add_node("x", lambda s: {**s, "v": [*s["v"], interrupt("q")]}).add_edge(START, "x")
    parent = StateGraph(Keyed).add_node("sub", child.compile()).add_edge(START, "sub")
    graph = parent.compile(checkpointer=InMemorySaver())
    chunks = run.stream(graph, {"v": ["s"]}, _config(), stream_mode="values", subgraphs=True)
    asked = (Interrupt(value="q", id=AnyId()),)
    # LangGraph's (whose child also shows "__interrupt__" in its first chunk: it adds the
    # key to the stored dict in place)
    assert [(len(ns), data) for ns, data in chunks] == [
        (0, {"v": ["s"]}),
        (1, {"v": ["s"]}),
        (1, {"v": ["s"], "__interrupt__": asked}),
        (0, {"v": ["s"], "__interrupt__": asked}),
    ]
    # the child's whole value is the node's update: v folds ["s", "r"] onto ["s"]
    assert run.invoke(graph, Command(resume="r"), _config()) == {"v": ["s", "s", "r"]}


def test_a_root_child_commands_its_root_parent() -> None:
    child = StateGraph(Annotated[list, operator.add])
    child.add_node("c", lambda s: Command(graph=Command.PARENT, update=["up"], goto="after"))
    child.add_edge(START, "c")
    parent = StateGraph(Annotated[list, operator.add])
    parent.add_node("sub", child.compile()).add_node("after", lambda s: ["after"])
    parent.add_edge(START, "sub")
    assert parent.compile().invoke(["s"]) == ["s", "up", "after"]


def test_a_failed_node_of_a_root_graph_runs_again(saver: Any, run: Runner) -> None:
    calls: list[int] = []

    def bad(state: list) -> list:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return ["ok"]

    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("bad", bad)
    builder.add_edge(START, "a").add_edge("a", "bad")
    graph = builder.compile(checkpointer=saver)
    with pytest.raises(RuntimeError, match="boom"):
        run.invoke(graph, ["s"], _config())
    state = run.get_state(graph, _config())
    assert (state.values, state.next) == (["s", "a"], ("bad",))
    assert [t.error for t in state.tasks] == ["RuntimeError('boom')"]
    assert run.invoke(graph, None, _config()) == ["s", "a", "ok"]


def test_a_chat_model_node_of_a_messages_root(run: Runner) -> None:
    from interlock import ScriptedChatModel

    model = ScriptedChatModel([AIMessage(content="hello there", id="m1")])
    builder = StateGraph(Annotated[list, add_messages])
    builder.add_node("bot", lambda s: model.invoke(s)).add_edge(START, "bot")
    graph = builder.compile(checkpointer=InMemorySaver())
    chunks = run.stream(graph, [("user", "hi")], _config(), stream_mode="messages")
    # LangGraph's fake model streams "hello", " ", "there" as chunks; a model that does
    # not stream gives its one message, in both
    assert [(m.content, meta["langgraph_node"]) for m, meta in chunks] == [("hello there", "bot")]
    assert [m.content for m in run.get_state(graph, _config()).values] == ["hi", "hello there"]


def test_state_graph_of_dict_stays_an_open_keyed_schema() -> None:
    # DIFFERENCE (docs/parity.md, root state schemas): in LangGraph `StateGraph(dict)` is a
    # last-value root (a node's dict replaces the whole value: {"k": 1}); interlock keeps it
    # its open keyed schema (any key, last value per key), which its docs use throughout.
    # `StateGraph(dict | None)` is the last-value root in both.
    builder = StateGraph(dict).add_node("n", lambda s: {"k": 1}).add_edge(START, "n")
    assert builder.compile().invoke({"a": 0}) == {"a": 0, "k": 1}
    root = StateGraph(dict | None).add_node("n", lambda s: {"k": 1}).add_edge(START, "n")
    assert root.compile().invoke({"a": 0}) == {"k": 1}
