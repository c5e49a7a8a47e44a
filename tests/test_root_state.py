"""Root state schemas (LangGraph's root channel): `StateGraph(Annotated[list, operator.add])`
and `StateGraph(int)`, whose state is one value.

Every expected value here is what LangGraph 1.2.22 returns for the same graph and calls
(run with `langgraph` on this machine); where interlock differs on purpose, the comment
says DIFFERENCE and why."""

from __future__ import annotations

import operator
from typing import Annotated, Any

import pytest
from typing_extensions import TypedDict

from interlock import END, START, InvalidUpdate, StateGraph
from interlock.checkpoint.memory import InMemorySaver
from interlock.errors import InvalidGraph
from interlock.types import Command, Interrupt, Send, interrupt
from tests.conftest import Runner


class AnyId(str):
    """Equal to any interrupt id."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str)

    __hash__ = str.__hash__


def _asking_list_graph(saver: Any) -> Any:
    """START → a → b (asks) → c (returns None), state `Annotated[list, operator.add]`."""

    def a(state: list) -> list:
        return ["a"]

    def b(state: list) -> list:
        return [interrupt({"q": state})]

    def c(state: list) -> None:
        return None

    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", a).add_node("b", b).add_node("c", c)
    builder.add_edge(START, "a").add_edge("a", "b").add_edge("b", "c")
    return builder.compile(checkpointer=saver)


def test_list_root_pauses_resumes_and_reads_back(saver: Any, run: Runner) -> None:
    graph = _asking_list_graph(saver)
    config = {"configurable": {"thread_id": "t"}}

    # LangGraph: a paused root graph's output holds only the requests
    assert run.invoke(graph, ["0"], config) == {
        "__interrupt__": [Interrupt(value={"q": ["0", "a"]}, id=AnyId())]
    }
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (["0", "a"], ("b",))
    assert [i.value for i in state.interrupts] == [{"q": ["0", "a"]}]

    assert run.invoke(graph, Command(resume="r"), config) == ["0", "a", "r"]
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (["0", "a", "r"], ())

    # update_state folds the value through the reducer, as node "a" would have written it
    run.update_state(graph, config, ["u"], as_node="a")
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (["0", "a", "r", "u"], ("b",))

    # DIFFERENCE (docs/parity.md, "One input checkpoint"): LangGraph's history ends with
    # one more checkpoint, its input's, whose value is [].
    history = [s.values for s in run.history(graph, config)]
    assert history == [["0", "a", "r", "u"], ["0", "a", "r"], ["0", "a", "r"], ["0", "a"], ["0"]]


def test_a_finished_siblings_write_is_kept_across_the_pause(saver: Any, run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("a", lambda s: ["a"]).add_node("ask", lambda s: [interrupt("q")])
    builder.add_edge(START, "a").add_edge(START, "ask")
    graph = builder.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "t"}}
    assert run.stream(graph, ["s"], config, stream_mode="values") == [
        ["s"],
        {"__interrupt__": (Interrupt(value="q", id=AnyId()),)},
        ["s", "a"],
    ]
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (["s", "a"], ("ask",))
    assert [(t.name, t.result) for t in state.tasks] == [("a", ["a"]), ("ask", None)]
    assert run.invoke(graph, Command(resume="x"), config) == ["s", "a", "x"]


def test_list_root_streams_values_and_updates(saver: Any, run: Runner) -> None:
    graph = _asking_list_graph(saver)
    config = {"configurable": {"thread_id": "values"}}
    asked = (Interrupt(value={"q": ["0", "a"]}, id=AnyId()),)
    assert run.stream(graph, ["0"], config, stream_mode="values") == [
        ["0"],
        ["0", "a"],
        {"__interrupt__": asked},
    ]
    assert run.stream(graph, Command(resume="r"), config, stream_mode="values") == [
        ["0", "a"],
        ["0", "a", "r"],
    ]

    config = {"configurable": {"thread_id": "updates"}}
    assert run.stream(graph, ["0"], config, stream_mode="updates") == [
        {"a": ["a"]},
        {"__interrupt__": asked},
    ]
    assert run.stream(graph, Command(resume="r"), config, stream_mode="updates") == [
        {"b": ["r"]},
        {"c": None},  # a node returning None updates nothing
    ]


def test_list_root_tasks_and_checkpoints_chunks() -> None:
    graph = _asking_list_graph(InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    chunks = list(graph.stream(["0"], config, stream_mode=["tasks", "checkpoints"]))
    tasks = [c for mode, c in chunks if mode == "tasks"]
    # LangGraph: a task's input is the value; its result keeps the internal key
    assert [(t["name"], t.get("input"), t.get("result")) for t in tasks] == [
        ("a", ["0"], None),
        ("a", None, {"__root__": ["a"]}),
        ("b", ["0", "a"], None),
        ("b", None, {}),
    ]
    # a checkpoint's values are the value (LangGraph also has its [] input checkpoint)
    assert [c["values"] for mode, c in chunks if mode == "checkpoints"] == [["0"], ["0", "a"]]


def test_int_root_keeps_the_last_value_through_conditional_edges(saver: Any, run: Runner) -> None:
    builder = StateGraph(int)
    builder.add_node("inc", lambda s: s + 1)
    builder.add_node("dbl", lambda s: s * 2)
    builder.add_edge(START, "inc")
    builder.add_conditional_edges("inc", lambda s: "dbl" if s < 5 else END)
    builder.add_edge("dbl", "inc")
    graph = builder.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "1"}}
    assert run.invoke(graph, 1, config) == 5
    assert run.get_state(graph, config).values == 5
    # DIFFERENCE (docs/parity.md, "One input checkpoint"): LangGraph's ends with None
    assert [s.values for s in run.history(graph, config)] == [5, 4, 2, 1]
    assert run.stream(graph, 1, {"configurable": {"thread_id": "2"}}, stream_mode="values") == [
        1,
        2,
        4,
        5,
    ]
    run.update_state(graph, config, 100, as_node="dbl")
    state = run.get_state(graph, config)
    assert (state.values, state.next) == (100, ("inc",))
    assert run.get_state(graph, {"configurable": {"thread_id": "none"}}).values == {}


def test_a_conditional_entry_receives_the_value() -> None:
    builder = StateGraph(int)
    builder.add_node("big", lambda s: s * 10).add_node("small", lambda s: s - 1)
    builder.add_conditional_edges(START, lambda s: "big" if s > 3 else "small")
    graph = builder.compile()
    assert (graph.invoke(5), graph.invoke(2)) == (50, 1)


def test_a_send_arg_is_the_node_input() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: [f"n{s}"])
    builder.add_conditional_edges(START, lambda s: [Send("n", i) for i in s])
    assert builder.compile().invoke([1, 2]) == [1, 2, "n1", "n2"]


def test_command_update_and_goto() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: Command(update=["x"], goto="m"))
    builder.add_node("m", lambda s: ["m"])
    builder.add_edge(START, "n")
    assert builder.compile().invoke([]) == ["x", "m"]


def test_a_root_graph_called_inside_a_node(saver: Any) -> None:
    inner = StateGraph(Annotated[list, operator.add])
    inner.add_node("i", lambda s: [len(s)]).add_edge(START, "i")
    compiled_inner = inner.compile()

    class Outer(TypedDict):
        out: list

    outer = StateGraph(Outer)
    outer.add_node("call", lambda s: {"out": compiled_inner.invoke(["x", "y"])})
    outer.add_edge(START, "call")
    graph = outer.compile(checkpointer=saver)
    assert graph.invoke({"out": []}, {"configurable": {"thread_id": "1"}}) == {"out": ["x", "y", 2]}


def test_v2_output_and_multi_mode_stream() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: ["n"]).add_edge(START, "n")
    graph = builder.compile()
    out = graph.invoke(["a"], version="v2")
    assert (out.value, out.interrupts) == (["a", "n"], ())
    assert list(graph.stream(["a"], stream_mode=["values", "updates"])) == [
        ("values", ["a"]),
        ("updates", {"n": ["n"]}),
        ("values", ["a", "n"]),
    ]


def test_json_schemas_are_the_values() -> None:
    def schemas(state: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        graph = StateGraph(state).add_node("n", lambda s: s).add_edge(START, "n").compile()
        return graph.get_input_jsonschema(), graph.get_output_jsonschema()

    assert schemas(Annotated[list, operator.add]) == (
        {"default": None, "items": {}, "title": "LangGraphInput", "type": "array"},
        {"default": None, "items": {}, "title": "LangGraphOutput", "type": "array"},
    )
    assert schemas(int)[0] == {"default": None, "title": "LangGraphInput", "type": "integer"}


def test_root_input_and_output_schemas_share_the_value() -> None:
    builder = StateGraph(Annotated[list, operator.add], output_schema=list)
    builder.add_node("n", lambda s: ["q"]).add_edge(START, "n")
    assert builder.compile().invoke(["x"]) == ["x", "q"]


def test_a_version_migration_receives_and_returns_the_value(saver: Any) -> None:
    def ask(state: list) -> list:
        return [interrupt("q")]

    def v1_builder() -> StateGraph:
        builder = StateGraph(Annotated[list, operator.add])
        builder.add_node("ask", ask).add_edge(START, "ask")
        return builder

    v1 = v1_builder().compile(checkpointer=saver, version="1")
    config = {"configurable": {"thread_id": "t"}}
    v1.invoke(["a", "b"], config)

    builder = v1_builder()
    builder.add_node("done", lambda s: ["done"]).add_edge("ask", "done")

    @builder.migrate(from_version="1")
    def upper(value: list) -> list:
        return [v.upper() for v in value]

    v2 = builder.compile(checkpointer=saver, version="2", on_version_change="migrate")
    assert v2.invoke(Command(resume="x"), config) == ["A", "B", "x", "done"]


# ---- bad input -----------------------------------------------------------------------------


def test_a_last_value_root_takes_whatever_a_node_returns() -> None:
    # LangGraph does not check a last-value root's type: a dict returned to an int root
    # becomes the value
    builder = StateGraph(int)
    builder.add_node("n", lambda s: {"a": 1}).add_edge(START, "n")
    assert builder.compile().invoke(1) == {"a": 1}


def test_two_writes_to_a_last_value_root_in_one_step_are_refused() -> None:
    builder = StateGraph(int)
    builder.add_node("a", lambda s: 1).add_node("b", lambda s: 2)
    builder.add_edge(START, "a").add_edge(START, "b")
    with pytest.raises(InvalidUpdate, match="__root__"):  # LangGraph: InvalidUpdateError
        builder.compile().invoke(0)


def test_input_the_reducer_cannot_fold_raises_its_error() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: ["n"]).add_edge(START, "n")
    with pytest.raises(TypeError, match="can only concatenate list"):  # as in LangGraph
        builder.compile().invoke({"a": 1})


def test_a_command_with_a_dict_update_is_refused_and_the_pause_kept(run: Runner) -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("ask", lambda s: [interrupt("q")]).add_edge(START, "ask")
    graph = builder.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "t"}}
    run.invoke(graph, ["s"], config)
    # DIFFERENCE: LangGraph reads the dict's keys as channels, drops them with a warning and
    # resumes; interlock refuses the call before anything is decided
    with pytest.raises(InvalidUpdate, match="root schema"):
        run.invoke(graph, Command(update={"a": 1}, resume="x"), config)
    assert run.get_state(graph, config).next == ("ask",)
    assert run.invoke(graph, Command(resume="x"), config) == ["s", "x"]


def test_a_node_returning_a_command_with_a_dict_update_fails() -> None:
    builder = StateGraph(Annotated[list, operator.add])
    builder.add_node("n", lambda s: Command(update={"a": 1})).add_edge(START, "n")
    with pytest.raises(InvalidUpdate, match="returned by node 'n'"):
        builder.compile().invoke([])


class Keys(TypedDict):
    a: int


def test_mixing_root_and_keyed_schemas_is_refused() -> None:
    # DIFFERENCE: LangGraph builds these graphs, which cannot run sensibly (an input
    # schema with keys writes nothing to a root state: invoke returns None; an output
    # schema with keys refuses the run's input)
    with pytest.raises(InvalidGraph, match="input_schema"):
        StateGraph(int, input_schema=Keys)
    with pytest.raises(InvalidGraph, match="output_schema"):
        StateGraph(int, output_schema=Keys)
    with pytest.raises(InvalidGraph, match="input_schema"):
        StateGraph(Keys, input_schema=int)
    with pytest.raises(InvalidGraph, match="reads the state as"):
        StateGraph(Annotated[list, operator.add]).add_node("n", lambda s: s, input_schema=Keys)

    def keyed(state: Keys) -> list:
        return []

    with pytest.raises(InvalidGraph, match="reads the state as"):
        StateGraph(Annotated[list, operator.add]).add_node("n", keyed)


def test_a_root_subgraph_pauses_and_resumes(saver: Any, run: Runner) -> None:
    def ask(state: list) -> list:
        return [interrupt(f"child sees {state}")]

    child = StateGraph(Annotated[list, operator.add])
    child.add_node("c1", lambda s: ["c1"]).add_node("ask", ask)
    child.add_edge(START, "c1").add_edge("c1", "ask")
    parent = StateGraph(Annotated[list, operator.add])
    parent.add_node("p", lambda s: ["p"]).add_node("sub", child.compile())
    parent.add_node("after", lambda s: ["after"])
    parent.add_edge(START, "p").add_edge("p", "sub").add_edge("sub", "after")
    graph = parent.compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "1"}}

    assert run.invoke(graph, ["s"], config) == {
        "__interrupt__": [Interrupt(value="child sees ['s', 'p', 'c1']", id=AnyId())]
    }
    state = graph.get_state(config, subgraphs=True)
    assert (state.values, state.next) == (["s", "p"], ("sub",))
    assert state.tasks[0].state.values == ["s", "p", "c1"]
    chunks = run.stream(graph, Command(resume="R"), config, stream_mode="updates", subgraphs=True)
    assert [(len(ns), chunk) for ns, chunk in chunks] == [
        (1, {"ask": ["R"]}),
        (0, {"sub": ["s", "p", "c1", "R"]}),  # the child's whole value is the node's update
        (0, {"after": ["after"]}),
    ]
    assert run.get_state(graph, config).values == ["s", "p", "s", "p", "c1", "R", "after"]


def test_a_root_subgraph_of_a_keyed_graph_gets_the_state_as_its_value() -> None:
    child = StateGraph(int).add_node("x", lambda s: s).add_edge(START, "x").compile()
    parent = StateGraph(Keys).add_node("sub", child).add_edge(START, "sub").compile()
    assert parent.invoke({"a": 1}) == {"a": 1}  # as in LangGraph


def test_a_keyed_subgraph_is_no_node_of_a_root_graph() -> None:
    # LangGraph builds it and fails when the child gets the value as its input
    # ("Expected dict, got 1"); interlock refuses it when the node is added
    keyed = StateGraph(Keys).add_node("i", lambda s: s).add_edge(START, "i").compile()
    with pytest.raises(InvalidGraph, match="compiled graph with keys cannot be a node"):
        StateGraph(int).add_node("sub", keyed)


def test_the_server_refuses_a_root_graph_at_load() -> None:
    from interlock.server import create_app

    builder = StateGraph(Annotated[list, operator.add])
    graph = (
        builder.add_node("n", lambda s: ["n"])
        .add_edge(START, "n")
        .compile(checkpointer=InMemorySaver())
    )
    with pytest.raises(ValueError, match="root state schema"):
        create_app({"lister": graph})
