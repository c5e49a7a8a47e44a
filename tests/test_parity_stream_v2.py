"""`stream(..., version="v2")` and `invoke(..., version="v2")`: LangGraph 1.2's typed stream
parts (`{"type", "ns", "data"}`, values parts with `"interrupts"`) and `GraphOutput`.

Every expected value here was read from LangGraph 1.2.22 running the same program with
only the imports switched (`langgraph.graph`, `langgraph.types`, `langgraph.func`,
`langgraph.checkpoint.memory`), except where a test says `DIFFERENCE:` and why. Runs that
pause and resume go over memory/SQLite/PostgreSQL x sync/async.
"""

from __future__ import annotations

import asyncio
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

from interlock import (
    START,
    AIMessage,
    Command,
    HumanMessage,
    InMemorySaver,
    MessagesState,
    StateGraph,
    entrypoint,
    get_stream_writer,
    interrupt,
    task,
)
from interlock.errors import GraphError
from interlock.types import GraphOutput, Interrupt, StreamPart, ValuesStreamPart


class S(TypedDict, total=False):
    log: Annotated[list[str], operator.add]


class P(BaseModel):
    log: Annotated[list[str], operator.add] = []
    n: int = 0


@dataclass
class D:
    log: Annotated[list[str], operator.add] = field(default_factory=list)
    n: int = 0


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


def asks(saver: Any, schema: Any = S, **compile_kw: Any) -> Any:
    """`a` writes (and says hi on the custom stream), then `b` asks `ok?`."""

    def a(state: Any) -> dict:
        get_stream_writer()({"hi": "a"})
        n = state.n if not isinstance(state, dict) else 0
        return {"log": ["a"], "n": n + 1} if schema is not S else {"log": ["a"]}

    g = StateGraph(schema)
    g.add_node("a", a)
    g.add_node("b", lambda s: {"log": [f"b:{interrupt('ok?')}"]})
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=saver, **compile_kw)


def pending(run: Any, graph: Any, config: Any) -> Interrupt:
    [only] = run.get_state(graph, config).interrupts
    return only


def test_values_and_updates_parts_across_a_pause_and_its_resume(run, saver) -> None:
    graph = asks(saver)
    parts = run.stream(graph, {"log": []}, cfg(), stream_mode=["values", "updates"], version="v2")
    asked = pending(run, graph, cfg())
    assert asked.value == "ok?"
    assert parts == [
        {"type": "values", "ns": (), "data": {"log": []}, "interrupts": ()},
        {"type": "updates", "ns": (), "data": {"a": {"log": ["a"]}}},
        {"type": "values", "ns": (), "data": {"log": ["a"]}, "interrupts": ()},
        {"type": "updates", "ns": (), "data": {"__interrupt__": (asked,)}},
        {"type": "values", "ns": (), "data": {"log": ["a"]}, "interrupts": (asked,)},
    ]
    resumed = run.stream(
        graph, Command(resume="y"), cfg(), stream_mode=["values", "updates"], version="v2"
    )
    assert resumed == [
        {"type": "values", "ns": (), "data": {"log": ["a"]}, "interrupts": ()},
        {"type": "updates", "ns": (), "data": {"b": {"log": ["b:y"]}}},
        {"type": "values", "ns": (), "data": {"log": ["a", "b:y"]}, "interrupts": ()},
    ]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("updates", [("updates", {"a": {"log": ["a"]}}), ("updates", "pause")]),
        ("custom", [("custom", {"hi": "a"})]),
        (["custom", "updates"], [("custom", {"hi": "a"}), ("updates", {"a": {"log": ["a"]}})]),
    ],
)
def test_every_mode_and_mode_list_gives_the_same_part_shape(mode: Any, expected: Any) -> None:
    graph = asks(InMemorySaver())
    parts = list(graph.stream({"log": []}, cfg(), stream_mode=mode, version="v2"))
    if isinstance(mode, list):  # the pause's update closes the list
        expected = [*expected, ("updates", "pause")]
    asked = graph.get_state(cfg()).interrupts
    shown = [(p["type"], p["data"]) for p in parts]
    assert shown == [(t, {"__interrupt__": asked} if d == "pause" else d) for t, d in expected]
    assert all(set(p) == {"type", "ns", "data"} and p["ns"] == () for p in parts)


def test_the_default_mode_is_updates() -> None:
    graph = asks(InMemorySaver())
    parts = list(graph.stream({"log": []}, cfg(), version="v2"))
    assert [p["type"] for p in parts] == ["updates", "updates"]
    assert parts[0]["data"] == {"a": {"log": ["a"]}}


def test_invoke_returns_a_graph_output(run, saver) -> None:
    graph = asks(saver)
    out = run.invoke(graph, {"log": []}, cfg(), version="v2")
    asked = pending(run, graph, cfg())
    assert out == GraphOutput(value={"log": ["a"]}, interrupts=(asked,))
    assert isinstance(out.interrupts, tuple)
    done = run.invoke(graph, Command(resume="y"), cfg(), version="v2")
    assert done == GraphOutput(value={"log": ["a", "b:y"]}, interrupts=())
    assert run.invoke(graph, {"log": ["again"]}, cfg("t2"), version="v1") == {
        "log": ["again", "a"],
        "__interrupt__": [pending(run, graph, cfg("t2"))],
    }


def test_invoke_with_another_stream_mode_returns_the_parts(run, saver) -> None:
    graph = asks(saver)
    parts = run.invoke(graph, {"log": []}, cfg(), version="v2", stream_mode="updates")
    asked = pending(run, graph, cfg())
    assert parts == [
        {"type": "updates", "ns": (), "data": {"a": {"log": ["a"]}}},
        {"type": "updates", "ns": (), "data": {"__interrupt__": (asked,)}},
    ]


def test_graph_output_reads_as_the_old_dict_with_a_deprecation_warning() -> None:
    graph = asks(InMemorySaver())
    out = graph.invoke({"log": []}, cfg(), version="v2")
    with pytest.warns(DeprecationWarning, match=r"result\[key\]"):
        assert out["log"] == ["a"]
    with pytest.warns(DeprecationWarning, match=r"result\[key\]"):
        assert out["__interrupt__"] == out.interrupts
    with pytest.warns(DeprecationWarning, match="key in result"):
        assert "__interrupt__" in out
    with pytest.warns(DeprecationWarning, match="key in result"):
        assert "nope" not in out
    with pytest.warns(DeprecationWarning), pytest.raises(KeyError, match="nope"):
        out["nope"]
    with pytest.raises(AttributeError):
        out.value = {}  # type: ignore[misc]
    typed = GraphOutput(value=P(log=["x"]))
    with pytest.warns(DeprecationWarning):
        assert typed["log"] == ["x"] and "n" in typed and "__interrupt__" not in typed
    with pytest.warns(DeprecationWarning), pytest.raises(KeyError):
        typed["nope"]


def test_a_breakpoint_pause_is_a_request_in_the_parts(run, saver) -> None:
    """DIFFERENCE: interlock's breakpoint is a request with an id (see docs/parity.md), so
    v2 shows it in `interrupts`; LangGraph gives `{"__interrupt__": ()}` and
    `GraphOutput(value={"log": ["a"]}, interrupts=())`. The values are LangGraph's."""
    graph = asks(saver, interrupt_before=["b"])
    out = run.invoke(graph, {"log": []}, cfg(), version="v2")
    stop = pending(run, graph, cfg())
    assert stop.value == {"type": "breakpoint", "when": "before", "nodes": ["b"]}
    assert out == GraphOutput(value={"log": ["a"]}, interrupts=(stop,))
    parts = run.stream(graph, None, cfg(), stream_mode="values", version="v2")
    assert parts[0] == {"type": "values", "ns": (), "data": {"log": ["a"]}, "interrupts": ()}
    asked = pending(run, graph, cfg())
    assert asked.value == "ok?"
    assert parts[-1] == {"type": "values", "ns": (), "data": {"log": ["a"]}, "interrupts": (asked,)}
    done = run.invoke(graph, Command(resume="y"), cfg(), version="v2")
    assert done == GraphOutput(value={"log": ["a", "b:y"]})


def nested(saver: Any) -> Any:
    def i1(state: S) -> dict:
        get_stream_writer()("in-i1")
        return {"log": ["i1"]}

    inner = StateGraph(S)
    inner.add_node("i1", i1)
    inner.add_node("i2", lambda s: {"log": [f"i2:{interrupt('deep?')}"]})
    inner.add_edge(START, "i1")
    inner.add_edge("i1", "i2")
    g = StateGraph(S)
    g.add_node("pre", lambda s: {"log": ["pre"]})
    g.add_node("sub", inner.compile())
    g.add_edge(START, "pre")
    g.add_edge("pre", "sub")
    return g.compile(checkpointer=saver)


def test_subgraph_parts_carry_their_namespace(run, saver) -> None:
    graph = nested(saver)
    modes = ["values", "updates", "custom"]
    parts = run.stream(graph, {"log": []}, cfg(), stream_mode=modes, subgraphs=True, version="v2")
    asked = pending(run, graph, cfg())
    [sub] = {p["ns"] for p in parts if p["ns"]}
    assert len(sub) == 1 and sub[0].startswith("sub:")
    root: tuple[str, ...] = ()
    assert [(p["type"], p["ns"], p["data"], p.get("interrupts")) for p in parts] == [
        ("values", root, {"log": []}, ()),
        ("updates", root, {"pre": {"log": ["pre"]}}, None),
        ("values", root, {"log": ["pre"]}, ()),
        ("values", sub, {"log": ["pre"]}, ()),
        ("custom", sub, "in-i1", None),
        ("updates", sub, {"i1": {"log": ["i1"]}}, None),
        ("values", sub, {"log": ["pre", "i1"]}, ()),
        ("updates", sub, {"__interrupt__": (asked,)}, None),
        ("values", sub, {"log": ["pre", "i1"]}, (asked,)),
        ("updates", root, {"__interrupt__": (asked,)}, None),
        ("values", root, {"log": ["pre"]}, (asked,)),
    ]
    two = ["values", "updates"]
    resumed = run.stream(
        graph, Command(resume="y"), cfg(), stream_mode=two, subgraphs=True, version="v2"
    )
    assert [(p["type"], p["ns"], p["data"]) for p in resumed] == [
        ("values", root, {"log": ["pre"]}),
        ("values", sub, {"log": ["pre", "i1"]}),
        ("updates", sub, {"i2": {"log": ["i2:y"]}}),
        ("values", sub, {"log": ["pre", "i1", "i2:y"]}),
        ("updates", root, {"sub": {"log": ["pre", "i1", "i2:y"]}}),
        ("values", root, {"log": ["pre", "pre", "i1", "i2:y"]}),
    ]


@pytest.mark.parametrize("schema", [P, D], ids=["pydantic", "dataclass"])
def test_values_are_the_state_schema_s_type(run, saver, schema: Any) -> None:
    graph = asks(saver, schema)
    parts = run.stream(graph, {"log": []}, cfg(), stream_mode=["values", "updates"], version="v2")
    asked = pending(run, graph, cfg())
    assert parts == [
        {"type": "values", "ns": (), "data": schema(log=[], n=0), "interrupts": ()},
        {"type": "updates", "ns": (), "data": {"a": {"log": ["a"], "n": 1}}},
        {"type": "values", "ns": (), "data": schema(log=["a"], n=1), "interrupts": ()},
        {"type": "updates", "ns": (), "data": {"__interrupt__": (asked,)}},
        {"type": "values", "ns": (), "data": schema(log=["a"], n=1), "interrupts": (asked,)},
    ]
    assert all(type(p["data"]) is schema for p in parts if p["type"] == "values")
    done = run.invoke(graph, Command(resume="y"), cfg(), version="v2")
    assert done == GraphOutput(value=schema(log=["a", "b:y"], n=1))
    paused = run.invoke(graph, {"log": ["x"]}, cfg("t2"), version="v2")
    assert paused == GraphOutput(
        value=schema(log=["x", "a"], n=1), interrupts=(pending(run, graph, cfg("t2")),)
    )
    plain = run.invoke(graph, {"log": ["x"]}, cfg("t3"))
    assert plain["log"] == ["x", "a"] and plain["n"] == 1  # v1 stays a dict


def test_the_output_schema_shapes_invoke_s_value() -> None:
    class In(TypedDict):
        q: str

    class Out(BaseModel):
        answer: str

    class Full(TypedDict, total=False):
        q: str
        answer: str
        scratch: str

    g = StateGraph(Full, input_schema=In, output_schema=Out)
    g.add_node("a", lambda s: {"answer": s["q"] + "!", "scratch": "s"})
    g.add_edge(START, "a")
    assert g.compile().invoke({"q": "hi"}, version="v2") == GraphOutput(value=Out(answer="hi!"))


def test_a_subgraph_s_values_come_in_the_root_s_schema() -> None:
    """As in LangGraph, the root graph's output type shapes every values part, also a
    subgraph's (whose own key `extra` is then left out); the subgraph's own `invoke(...,
    version="v2")` uses its own."""

    class Q(BaseModel):
        log: Annotated[list[str], operator.add] = []
        extra: int = 0

    inner = StateGraph(Q)
    inner.add_node("i", lambda s: {"log": ["i"], "extra": 5})
    inner.add_edge(START, "i")
    sub = inner.compile()
    seen: list[Any] = []

    def node(state: P) -> dict:
        out = sub.invoke({"log": ["x"]}, version="v2")
        seen.append(out)
        return {"log": out.value.log}

    g = StateGraph(P)
    g.add_node("sub", sub)
    g.add_node("n", node)
    g.add_edge(START, "sub")
    g.add_edge("sub", "n")
    parts = list(
        g.compile().stream({"log": []}, stream_mode="values", subgraphs=True, version="v2")
    )
    assert [(bool(p["ns"]), p["data"]) for p in parts] == [
        (False, P(log=[])),
        (True, P(log=[])),
        (True, P(log=["i"])),
        (False, P(log=["i"])),
        (True, P(log=["x"])),
        (True, P(log=["x", "i"])),
        (False, P(log=["i", "x", "i"])),
    ]
    assert seen == [GraphOutput(value=Q(log=["x", "i"], extra=5))]


def test_checkpoints_and_debug_parts_carry_the_state_schema_s_type(run, saver) -> None:
    """DIFFERENCE: interlock has one input checkpoint (docs/parity.md), so LangGraph's
    `__start__` checkpoint is not there, and a resume does not first repeat the checkpoint
    it starts from (as in v1). As in LangGraph, the input checkpoint's values stay a dict
    (without the schema's defaults) and the others are the schema's type."""
    graph = asks(saver, P)
    parts = run.stream(graph, {"log": []}, cfg(), stream_mode="checkpoints", version="v2")
    assert [p["type"] for p in parts] == ["checkpoints", "checkpoints"]
    assert [p["data"]["metadata"]["source"] for p in parts] == ["input", "loop"]
    assert [p["data"]["values"] for p in parts] == [{"log": []}, P(log=["a"], n=1)]
    assert parts[1]["data"]["config"] == run.get_state(graph, cfg()).config
    debug = run.stream(graph, Command(resume="y"), cfg(), stream_mode="debug", version="v2")
    assert [(p["type"], p["data"]["type"]) for p in debug] == [
        ("debug", "task"),
        ("debug", "task_result"),
        ("debug", "checkpoint"),
    ]
    assert debug[-1]["data"]["payload"]["values"] == P(log=["a", "b:y"], n=1)
    assert debug[0]["data"]["payload"]["input"] == P(log=["a"], n=1)


def test_tasks_parts(run, saver) -> None:
    graph = asks(saver)
    parts = run.stream(graph, {"log": []}, cfg(), stream_mode="tasks", version="v2")
    asked = pending(run, graph, cfg())
    assert [(p["type"], p["ns"], p["data"]["name"]) for p in parts] == [
        ("tasks", (), "a"),
        ("tasks", (), "a"),
        ("tasks", (), "b"),
        ("tasks", (), "b"),
    ]
    assert parts[1]["data"]["result"] == {"log": ["a"]}
    assert parts[3]["data"]["interrupts"] == [{"value": "ok?", "id": asked.id}]


def test_messages_parts() -> None:
    g = StateGraph(MessagesState)
    g.add_node("reply", lambda s: {"messages": [AIMessage(content="hello", id="a1")]})
    g.add_edge(START, "reply")
    parts = list(
        g.compile().stream(
            {"messages": [HumanMessage("hi", id="h1")]}, stream_mode="messages", version="v2"
        )
    )
    [part] = parts
    assert part["type"] == "messages" and part["ns"] == ()
    message, metadata = part["data"]
    assert isinstance(part["data"], tuple)
    assert (message.type, message.content, message.id) == ("ai", "hello", "a1")
    assert metadata["langgraph_node"] == "reply"


def workflow(saver: Any) -> Any:
    @task
    def double(x: int) -> int:
        return x * 2

    @entrypoint(checkpointer=saver)
    def wf(x: int) -> dict:
        y = double(x).result()
        return {"y": y, "ans": interrupt(f"ok {y}?")}

    return wf


def test_an_entrypoint_s_parts_and_output(run, saver) -> None:
    """DIFFERENCE: on resume LangGraph's `values` stream first yields `None` (the empty
    result channel); interlock's entrypoints leave that chunk out (in v1 too)."""
    wf = workflow(saver)
    modes = ["values", "updates"]
    parts = run.stream(wf, 3, cfg(), stream_mode=modes, version="v2")
    asked = pending(run, wf, cfg())
    assert asked.value == "ok 6?"
    assert parts == [
        {"type": "updates", "ns": (), "data": {"double": 6}},
        {"type": "updates", "ns": (), "data": {"__interrupt__": (asked,)}},
        {"type": "values", "ns": (), "data": {}, "interrupts": (asked,)},
    ]
    resumed = run.stream(wf, Command(resume="ok"), cfg(), stream_mode=modes, version="v2")
    assert resumed == [
        {"type": "updates", "ns": (), "data": {"wf": {"y": 6, "ans": "ok"}}},
        {"type": "values", "ns": (), "data": {"y": 6, "ans": "ok"}, "interrupts": ()},
    ]
    out = run.invoke(wf, 3, cfg("t2"), version="v2")
    assert out == GraphOutput(value={}, interrupts=(pending(run, wf, cfg("t2")),))
    done = run.invoke(wf, Command(resume="ok"), cfg("t2"), version="v2")
    assert done == GraphOutput(value={"y": 6, "ans": "ok"})


def test_an_entrypoint_s_plain_result() -> None:
    @entrypoint()
    def plain(x: int) -> int:
        return x + 1

    assert plain.invoke(1, version="v2") == GraphOutput(value=2)
    values = [{"type": "values", "ns": (), "data": 2, "interrupts": ()}]
    assert list(plain.stream(1, stream_mode="values", version="v2")) == values
    assert plain.invoke(1, version="v2", stream_mode="values") == GraphOutput(value=2)

    async def both() -> tuple[Any, Any]:
        parts = [p async for p in plain.astream(1, stream_mode="values", version="v2")]
        return parts, await plain.ainvoke(1, version="v2")

    assert asyncio.run(both()) == (values, GraphOutput(value=2))


@pytest.mark.parametrize("version", ["v3", "V2", None, 2])
def test_an_unknown_version_is_refused_and_the_thread_still_waits(run, saver, version) -> None:
    """DIFFERENCE: LangGraph treats every value but "v2" as "v1"; interlock refuses it
    before the run starts (the paused run stays as it was)."""
    graph = asks(saver)
    run.invoke(graph, {"log": []}, cfg())
    asked = pending(run, graph, cfg())
    with pytest.raises(GraphError, match="version must be 'v1' or 'v2'"):
        run.invoke(graph, Command(resume="y"), cfg(), version=version)
    with pytest.raises(GraphError, match="version must be 'v1' or 'v2'"):
        run.stream(graph, Command(resume="y"), cfg(), version=version)
    assert pending(run, graph, cfg()) == asked
    done = run.invoke(graph, Command(resume="y"), cfg(), version="v1")
    assert done == {"log": ["a", "b:y"]}


def test_the_part_types_are_exported_as_in_langgraph() -> None:
    import interlock.types as types

    for name in (
        "StreamPart",
        "ValuesStreamPart",
        "UpdatesStreamPart",
        "MessagesStreamPart",
        "CustomStreamPart",
        "CheckpointStreamPart",
        "TasksStreamPart",
        "DebugStreamPart",
        "GraphOutput",
    ):
        assert name in types.__all__ and getattr(types, name) is not None
    part: ValuesStreamPart[P] = {"type": "values", "ns": (), "data": P(), "interrupts": ()}
    assert part["data"] == P()
    assert StreamPart[dict, P] is not None  # generic in the state and the output type


def test_a_graph_streamed_inside_a_node_gives_the_node_its_parts() -> None:
    """As in LangGraph, the parts carry the subgraph's namespace (the node's task)."""
    inner = StateGraph(S)
    inner.add_node("i", lambda s: {"log": ["i"]})
    inner.add_edge(START, "i")
    sub = inner.compile()
    got: list[Any] = []

    def node(state: S) -> dict:
        modes = ["values", "updates"]
        got.extend(sub.stream({"log": ["x"]}, stream_mode=modes, version="v2"))
        return {"log": ["n"]}

    g = StateGraph(S)
    g.add_node("n", node)
    g.add_edge(START, "n")
    outer = list(g.compile().stream({"log": []}, stream_mode="updates", version="v2"))
    assert outer == [{"type": "updates", "ns": (), "data": {"n": {"log": ["n"]}}}]
    assert [(p["type"], p["data"]) for p in got] == [
        ("values", {"log": ["x"]}),
        ("updates", {"i": {"log": ["i"]}}),
        ("values", {"log": ["x", "i"]}),
    ]
    [ns] = {p["ns"] for p in got}
    assert len(ns) == 1 and ns[0].startswith("n:")
