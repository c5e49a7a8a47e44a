"""Building and running graphs: edges, reducers, routing, schemas, streaming."""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass, field
from typing import Annotated, TypedDict

import pytest

from interlock import (
    END,
    START,
    Command,
    GraphError,
    InvalidGraph,
    InvalidUpdate,
    RecursionLimit,
    Send,
    StateGraph,
    get_stream_writer,
)


class Log(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    value: int


def appender(name: str):
    def node(state: Log) -> dict:
        return {"log": [name]}

    node.__name__ = name
    return node


def chain(n: int) -> StateGraph:
    g = StateGraph(Log)
    names = [f"n{i}" for i in range(n)]
    g.add_sequence([appender(x) for x in names])
    g.add_edge(START, names[0])
    g.add_edge(names[-1], END)
    return g


def test_chain_runs_in_order_without_checkpointer(run) -> None:
    result = run.invoke(chain(4).compile(), {"log": ["start"]})
    assert result == {"log": ["start", "n0", "n1", "n2", "n3"]}


def test_fan_out_and_fan_in_join_waits_for_all_sources(run, saver) -> None:
    g = StateGraph(Log)
    for name in ("a", "b", "c", "d", "e"):
        g.add_node(name, appender(name))
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("a", "c")
    g.add_edge("c", "d")  # c → d makes the c branch one step longer than b
    g.add_edge(["b", "d"], "e")
    graph = g.compile(checkpointer=saver)
    result = run.invoke(graph, {"log": []}, {"configurable": {"thread_id": "t"}})
    assert result["log"][0] == "a"
    assert sorted(result["log"][1:3]) == ["b", "c"]
    assert result["log"][3:] == ["d", "e"]  # e ran once, after both b and d


def test_conditional_edges_with_path_map_and_end(run) -> None:
    g = StateGraph(Log)
    g.add_node("count", lambda s: {"value": s.get("value", 0) + 1})
    g.add_conditional_edges(
        "count", lambda s: "again" if s["value"] < 3 else "stop", {"again": "count", "stop": END}
    )
    g.add_edge(START, "count")
    assert run.invoke(g.compile(), {"value": 0}) == {
        "log": [],
        "value": 3,
    }  # the reducer key starts at []


def test_command_goto_and_update_from_node(run) -> None:
    g = StateGraph(Log)
    g.add_node("router", lambda s: Command(update={"log": ["router"]}, goto="target"))
    g.add_node("target", appender("target"))
    g.add_node("skipped", appender("skipped"))
    g.add_edge(START, "router")
    assert run.invoke(g.compile(), {"log": []}) == {"log": ["router", "target"]}


def test_send_fans_out_with_own_inputs(run) -> None:
    class S(TypedDict, total=False):
        items: list[int]
        out: Annotated[list[int], operator.add]

    g = StateGraph(S)
    g.add_node("square", lambda arg: {"out": [arg["x"] ** 2]})
    g.add_node("start", lambda s: {})
    g.add_edge(START, "start")
    g.add_conditional_edges("start", lambda s: [Send("square", {"x": i}) for i in s["items"]])
    result = run.invoke(g.compile(), {"items": [1, 2, 3]})
    assert sorted(result["out"]) == [1, 4, 9]


def test_compile_rejects_unknown_nodes_and_missing_entry() -> None:
    g = StateGraph(Log)
    g.add_node("a", appender("a"))
    g.add_edge("a", "nope")
    g.add_edge(START, "a")
    with pytest.raises(InvalidGraph, match="nope"):
        g.compile()
    g2 = StateGraph(Log)
    g2.add_node("a", appender("a"))
    with pytest.raises(InvalidGraph, match="entry point"):
        g2.compile()
    g3 = chain(2)
    with pytest.raises(InvalidGraph, match="interrupt_before"):
        g3.compile(interrupt_before=["ghost"])
    with pytest.raises(InvalidGraph):
        StateGraph(Log).add_node(START, appender("x"))


def test_two_values_for_a_last_value_key_in_one_step_is_an_error(run) -> None:
    g = StateGraph(Log)
    g.add_node("a", lambda s: {"value": 1})
    g.add_node("b", lambda s: {"value": 2})
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    with pytest.raises(InvalidUpdate, match="several values"):
        run.invoke(g.compile(), {"value": 0})


def test_unknown_keys_are_left_out_and_a_bad_return_type_is_a_clear_error(run) -> None:
    g = StateGraph(Log)
    g.add_node("a", lambda s: {"nope": 1, "log": ["a"]})
    g.add_edge(START, "a")
    assert run.invoke(g.compile(), {"other": 2}) == {"log": ["a"]}  # as LangGraph
    g2 = StateGraph(Log)
    g2.add_node("a", lambda s: 42)
    g2.add_edge(START, "a")
    with pytest.raises(InvalidUpdate, match="int"):
        run.invoke(g2.compile(), {})


def test_recursion_limit(run) -> None:
    g = StateGraph(Log)
    g.add_node("loop", appender("loop"))
    g.add_edge(START, "loop")
    g.add_edge("loop", "loop")
    with pytest.raises(RecursionLimit, match="recursion_limit=5"):
        run.invoke(g.compile(), {"log": []}, {"recursion_limit": 5})


def test_dataclass_state_with_defaults(run) -> None:
    @dataclass
    class S:
        items: Annotated[list[str], operator.add] = field(default_factory=list)
        count: int = 0

    g = StateGraph(S)
    g.add_node("a", lambda s: {"items": ["a"], "count": s.count + 1})
    g.add_edge(START, "a")
    assert run.invoke(g.compile(), {"items": ["x"]}) == {"items": ["x", "a"], "count": 1}


def test_pydantic_state(run) -> None:
    from pydantic import BaseModel

    class S(BaseModel):
        name: str = ""
        tags: Annotated[list[str], operator.add] = []

    g = StateGraph(S)
    g.add_node("greet", lambda s: {"name": s.name.upper(), "tags": ["greeted"]})
    g.add_edge(START, "greet")
    assert run.invoke(g.compile(), {"name": "ada"}) == {"name": "ADA", "tags": ["greeted"]}


def test_async_nodes_need_the_async_api() -> None:
    async def node(state: Log) -> dict:
        await asyncio.sleep(0)
        return {"log": ["async"]}

    g = StateGraph(Log)
    g.add_node("a", node)
    g.add_edge(START, "a")
    graph = g.compile()
    assert asyncio.run(graph.ainvoke({"log": []})) == {"log": ["async"]}
    with pytest.raises(GraphError, match="ainvoke"):
        graph.invoke({"log": []})


def test_parallel_async_branches_run_concurrently() -> None:
    started: list[str] = []
    gate = asyncio.Event()

    async def a(state: Log) -> dict:
        started.append("a")
        await gate.wait()  # released by b: proves a and b overlap
        return {"log": ["a"]}

    async def b(state: Log) -> dict:
        started.append("b")
        gate.set()
        return {"log": ["b"]}

    g = StateGraph(Log)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge(START, "b")
    result = asyncio.run(asyncio.wait_for(g.compile().ainvoke({"log": []}), 10))
    assert sorted(result["log"]) == ["a", "b"]


def test_node_receives_config(run, saver) -> None:
    seen = {}

    def node(state: Log, config) -> dict:
        seen.update(config["configurable"])
        return {}

    g = StateGraph(Log)
    g.add_node("a", node)
    g.add_edge(START, "a")
    run.invoke(g.compile(checkpointer=saver), {}, {"configurable": {"thread_id": "cfg"}})
    assert seen["thread_id"] == "cfg"


def test_stream_modes(run) -> None:
    def talker(state: Log) -> dict:
        get_stream_writer()({"progress": 50})
        return {"log": ["talker"]}

    g = StateGraph(Log)
    g.add_node("talker", talker)
    g.add_node("after", appender("after"))
    g.add_edge(START, "talker")
    g.add_edge("talker", "after")
    graph = g.compile()
    updates = run.stream(graph, {"log": []}, stream_mode="updates")
    assert updates == [{"talker": {"log": ["talker"]}}, {"after": {"log": ["after"]}}]
    values = run.stream(graph, {"log": []}, stream_mode="values")
    assert values[0] == {"log": []} and values[-1] == {"log": ["talker", "after"]}
    mixed = run.stream(graph, {"log": []}, stream_mode=["custom", "updates"])
    assert ("custom", {"progress": 50}) in mixed
    assert mixed.index(("custom", {"progress": 50})) < mixed.index(
        ("updates", {"talker": {"log": ["talker"]}})
    )


def test_checkpointer_requires_thread_id(saver) -> None:
    graph = chain(1).compile(checkpointer=saver)
    with pytest.raises(GraphError, match="thread_id"):
        graph.invoke({"log": []})
