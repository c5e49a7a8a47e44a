"""LangGraph parity of the compiled graph's API: the recursion limit, `with_config`,
`batch` / `abatch`, JSON schemas, `update_state` on a new thread and the named-tuple
`StateSnapshot` / `PregelTask`.

Every value asserted here is what LangGraph 1.2.22 gives for the same program with its
imports (checked on this machine with /tmp/benchvenv; typing_extensions' TypedDict where
LangGraph needs it on Python 3.11). Where interlock accepts more (a `with_config` thread
for `get_state_history` and `update_state`; `typing.TypedDict` schemas), it says so.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from pydantic import BaseModel
from typing_extensions import TypedDict

from interlock import (
    END,
    START,
    Command,
    GraphRecursionError,
    InterlockError,
    PregelTask,
    RecursionLimit,
    StateGraph,
    StateSnapshot,
    interrupt,
)
from interlock import errors as errors_module


class Log(TypedDict, total=False):
    log: Annotated[list[str], operator.add]
    seen: str


def _chain(k: int, ask_first: bool = False) -> StateGraph:
    g = StateGraph(Log)
    names = [f"n{i}" for i in range(k)]
    for i, name in enumerate(names):
        if ask_first and i == 0:
            g.add_node(name, lambda s, n=name: {"log": [f"{n}:{interrupt('q')}"]})
        else:
            g.add_node(name, lambda s, n=name: {"log": [n]})
    g.add_edge(START, names[0])
    for a, b in itertools.pairwise(names):
        g.add_edge(a, b)
    return g


def _loop() -> StateGraph:
    g = StateGraph(Log)
    g.add_node("loop", lambda s: {"log": ["x"]})
    g.add_edge(START, "loop")
    g.add_conditional_edges("loop", lambda s: "loop" if len(s["log"]) < 100 else END)
    return g


def _cfg(thread: str = "t", **extra: Any) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}, **extra}


# ---- the recursion limit ---------------------------------------------------------------


def test_recursion_limit_is_a_recursion_error_named_as_in_langgraph(run) -> None:
    assert GraphRecursionError is RecursionLimit is errors_module.GraphRecursionError
    assert issubclass(RecursionLimit, InterlockError)
    with pytest.raises(RecursionError):
        run.invoke(_loop().compile(), {"log": []}, {"recursion_limit": 5})


@pytest.mark.parametrize(("limit", "passes"), [(2, False), (3, False), (4, True)])
def test_new_input_counts_its_start_and_the_end(run, limit: int, passes: bool) -> None:
    app = _chain(3).compile()
    if passes:
        assert run.invoke(app, {"log": []}, {"recursion_limit": limit}) == {
            "log": ["n0", "n1", "n2"]
        }
    else:  # three steps need a limit of 4, as in LangGraph
        with pytest.raises(RecursionLimit, match=f"recursion_limit={limit}"):
            run.invoke(app, {"log": []}, {"recursion_limit": limit})


def test_limit_on_a_thread_stops_where_langgraph_does(saver, run) -> None:
    app = _chain(3).compile(checkpointer=saver)
    with pytest.raises(RecursionLimit):
        run.invoke(app, {"log": []}, _cfg("a", recursion_limit=2))
    state = run.get_state(app, _cfg("a"))
    assert (state.values, state.next) == ({"log": ["n0", "n1"]}, ("n2",))
    # the end reached at the limit still raises; the finished state is saved
    with pytest.raises(RecursionLimit):
        run.invoke(app, {"log": []}, _cfg("b", recursion_limit=3))
    state = run.get_state(app, _cfg("b"))
    assert (state.values, state.next) == ({"log": ["n0", "n1", "n2"]}, ())
    # a second turn counts as the first
    with pytest.raises(RecursionLimit):
        run.invoke(app, {"log": []}, _cfg("b", recursion_limit=3))
    assert len(run.invoke(app, {"log": []}, _cfg("b", recursion_limit=4))["log"]) == 9


def test_a_resume_goes_on_from_its_checkpoint_with_two_more_steps(saver, run) -> None:
    app = _chain(3, ask_first=True).compile(checkpointer=saver)
    run.invoke(app, {"log": []}, _cfg("r1"))
    with pytest.raises(RecursionLimit):  # all three ran, then the end check raised
        run.invoke(app, Command(resume="y"), _cfg("r1", recursion_limit=1))
    assert run.get_state(app, _cfg("r1")).values == {"log": ["n0:y", "n1", "n2"]}
    run.invoke(app, {"log": []}, _cfg("r2"))
    done = run.invoke(app, Command(resume="y"), _cfg("r2", recursion_limit=2))
    assert done == {"log": ["n0:y", "n1", "n2"]}

    bp = _chain(3).compile(checkpointer=saver, interrupt_before=["n0"])
    run.invoke(bp, {"log": []}, _cfg("bp"))
    assert run.invoke(bp, None, _cfg("bp", recursion_limit=2)) == {"log": ["n0", "n1", "n2"]}

    loop = _loop().compile(checkpointer=saver)
    with pytest.raises(RecursionLimit):
        run.invoke(loop, {"log": []}, _cfg("l", recursion_limit=5))
    assert len(run.get_state(loop, _cfg("l")).values["log"]) == 5
    with pytest.raises(RecursionLimit):
        run.invoke(loop, None, _cfg("l", recursion_limit=5))
    assert len(run.get_state(loop, _cfg("l")).values["log"]) == 12


def test_goto_on_a_thread_and_a_replay_count_as_in_langgraph(saver, run) -> None:
    app = _chain(4).compile(checkpointer=saver)
    run.invoke(app, {"log": []}, _cfg("g"))
    with pytest.raises(RecursionLimit):
        run.invoke(app, Command(goto="n1"), _cfg("g", recursion_limit=1))
    run.invoke(app, {"log": []}, _cfg("g2"))
    assert run.invoke(app, Command(goto="n1"), _cfg("g2", recursion_limit=2))["log"] == [
        "n0",
        "n1",
        "n2",
        "n3",
        "n1",
        "n2",
        "n3",
    ]
    for thread, limit in (("g3", 2), ("g4", 3)):  # a replay's fork counts one step
        run.invoke(app, {"log": []}, _cfg(thread))
        older = next(s for s in run.history(app, _cfg(thread)) if s.next == ("n1",))
        if limit == 2:
            with pytest.raises(RecursionLimit):
                run.invoke(app, None, {**older.config, "recursion_limit": limit})
        else:
            replayed = run.invoke(app, None, {**older.config, "recursion_limit": limit})
            assert replayed == {"log": ["n0", "n1", "n2", "n3"]}


# ---- with_config, batch, abatch ----------------------------------------------------------


def test_with_config_merges_under_each_call(saver, run) -> None:
    with pytest.raises(RecursionLimit):
        run.invoke(_chain(3).compile().with_config(recursion_limit=2), {"log": []})
    with pytest.raises(RecursionLimit):
        run.invoke(_chain(3).compile().with_config({"recursion_limit": 2}), {"log": []})

    app = _chain(2).compile(checkpointer=saver)
    bound = app.with_config(configurable={"thread_id": "w"})
    assert app.config is None
    assert run.invoke(bound, {"log": []}) == {"log": ["n0", "n1"]}
    assert run.get_state(bound, {"configurable": {}}).values == {"log": ["n0", "n1"]}
    # interlock also reads the bound thread here (LangGraph needs it in the call's config)
    assert len(run.history(bound, {})) == 3
    run.update_state(bound, {}, {"log": ["u"]})
    assert run.get_state(app, _cfg("w")).values == {"log": ["n0", "n1", "u"]}

    def seen(state: Log, config: dict[str, Any]) -> dict[str, Any]:
        meta, tags = config["metadata"], sorted(config.get("tags", []))
        return {"seen": f"{meta.get('m')}|{meta.get('k')}|{tags}|{config['configurable']['user']}"}

    g = StateGraph(Log)
    g.add_node("m", seen)
    g.add_edge(START, "m")
    b2 = g.compile().with_config({"metadata": {"m": 1}, "tags": ["x"]}, configurable={"user": "a"})
    assert b2.config == {"metadata": {"m": 1}, "tags": ["x"], "configurable": {"user": "a"}}
    out = run.invoke(b2, {}, {"metadata": {"k": 2}, "tags": ["y"]})
    assert out == {"log": [], "seen": "1|2|['x', 'y']|a"}
    assert run.invoke(b2.with_config(configurable={"user": "bo"}), {})["seen"] == "1|None|['x']|bo"


def _boom(state: Log) -> dict[str, Any]:
    if state["log"] == ["bad"]:
        raise ValueError("bad input")
    return {"log": ["ok"]}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_batch_runs_each_input_in_order(mode: str) -> None:
    g = StateGraph(Log)
    g.add_node("n", _boom)
    g.add_edge(START, "n")
    app = g.compile()

    def batch(inputs: list[Any], **kw: Any) -> list[Any]:
        if mode == "sync":
            return app.batch(inputs, **kw)
        return asyncio.run(app.abatch(inputs, **kw))

    assert batch([{"log": ["x"]}, {"log": ["y"]}]) == [{"log": ["x", "ok"]}, {"log": ["y", "ok"]}]
    first, second = batch([{"log": ["bad"]}, {"log": ["x"]}], return_exceptions=True)
    assert isinstance(first, ValueError) and str(first) == "bad input"
    assert second == {"log": ["x", "ok"]}
    with pytest.raises(ValueError, match="bad input"):
        batch([{"log": ["x"]}, {"log": ["bad"]}])
    assert batch([]) == []


def test_batch_with_a_config_per_thread(saver) -> None:
    app = _chain(2).compile(checkpointer=saver)
    configs = [_cfg("t1"), _cfg("t2")]
    assert app.batch([{"log": ["1"]}, {"log": ["2"]}], configs) == [
        {"log": ["1", "n0", "n1"]},
        {"log": ["2", "n0", "n1"]},
    ]
    again = asyncio.run(app.abatch([{"log": ["3"]}, {"log": ["4"]}], configs))
    assert again == [
        {"log": ["1", "n0", "n1", "3", "n0", "n1"]},
        {"log": ["2", "n0", "n1", "4", "n0", "n1"]},
    ]
    with pytest.raises(ValueError, match="one per input"):
        app.batch([{"log": []}], configs)


# ---- JSON schemas -------------------------------------------------------------------------


class In(TypedDict):
    q: str


class Out(TypedDict):
    a: str


class Full(In, Out):
    log: list[str]


@dataclass
class DataState:
    x: int = 0
    items: Annotated[list[str], operator.add] = field(default_factory=list)


class ModelState(BaseModel):
    name: str
    n: int = 1


def _schemas(state: Any, **kw: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    g = StateGraph(state, **kw)
    g.add_node("a", lambda s: {})
    g.add_edge(START, "a")
    app = g.compile()
    return app.get_input_jsonschema(), app.get_output_jsonschema()


def test_json_schemas_are_langgraphs() -> None:
    state = {
        "properties": {
            "log": {"items": {"type": "string"}, "title": "Log", "type": "array"},
            "seen": {"title": "Seen", "type": "string"},
        },
        "title": "Log",
        "type": "object",
    }
    assert _schemas(Log) == (state, state)
    assert _schemas(Full, input_schema=In, output_schema=Out) == (
        {
            "properties": {"q": {"title": "Q", "type": "string"}},
            "required": ["q"],
            "title": "In",
            "type": "object",
        },
        {
            "properties": {"a": {"title": "A", "type": "string"}},
            "required": ["a"],
            "title": "Out",
            "type": "object",
        },
    )
    fields = {
        "x": {"default": 0, "title": "X", "type": "integer"},
        "items": {"default": [], "items": {"type": "string"}, "title": "Items", "type": "array"},
    }
    assert _schemas(DataState) == (
        {"properties": fields, "title": "LangGraphInput", "type": "object"},
        {"properties": fields, "title": "LangGraphOutput", "type": "object"},
    )
    assert _schemas(ModelState)[0] == ModelState.model_json_schema()


def test_json_schema_of_a_typing_typeddict() -> None:
    import typing

    class Plain(typing.TypedDict):  # LangGraph's pydantic refuses this before Python 3.12
        n: int

    assert _schemas(Plain)[0] == {
        "properties": {"n": {"title": "N", "type": "integer"}},
        "required": ["n"],
        "title": "Plain",
        "type": "object",
    }


# ---- update_state on a new thread ---------------------------------------------------------


def test_update_state_on_a_new_thread_is_input(saver, run) -> None:
    app = _chain(2).compile(checkpointer=saver)
    run.update_state(app, _cfg("f1"), {"log": ["x"]})
    state = run.get_state(app, _cfg("f1"))
    assert (state.values, state.next) == ({"log": ["x"]}, ("n0",))
    assert (state.metadata["source"], state.metadata["step"]) == ("update", 0)
    assert [t.name for t in state.tasks] == ["n0"]
    assert run.invoke(app, None, _cfg("f1")) == {"log": ["x", "n0", "n1"]}

    run.update_state(app, _cfg("f2"), {"log": ["x"]}, as_node=START)
    state = run.get_state(app, _cfg("f2"))
    assert (state.values, state.next, state.metadata["step"]) == ({"log": ["x"]}, ("n0",), 0)
    assert run.invoke(app, None, _cfg("f2")) == {"log": ["x", "n0", "n1"]}
    run.update_state(app, _cfg("f2"), {"log": ["y"]}, as_node=START)  # on a finished thread
    state = run.get_state(app, _cfg("f2"))
    assert (state.next, state.metadata["step"]) == (("n0",), 3)
    assert run.invoke(app, None, _cfg("f2")) == {"log": ["x", "n0", "n1", "y", "n0", "n1"]}

    run.update_state(app, _cfg("f3"), {"log": ["x"]}, as_node="n0")
    state = run.get_state(app, _cfg("f3"))
    assert (state.values, state.next, state.metadata["step"]) == ({"log": ["x"]}, ("n1",), 0)


# ---- StateSnapshot and PregelTask are named tuples ----------------------------------------


def test_snapshot_and_task_are_named_tuples(saver, run) -> None:
    app = _chain(2).compile(checkpointer=saver)
    run.update_state(app, _cfg("s"), {"log": ["x"]}, as_node="n0")
    state = run.get_state(app, _cfg("s"))
    assert StateSnapshot._fields == (
        "values",
        "next",
        "config",
        "metadata",
        "created_at",
        "parent_config",
        "tasks",
        "interrupts",
    )
    assert PregelTask._fields == ("id", "name", "path", "error", "interrupts", "state", "result")
    values, next_, *_ = state
    assert (values, next_) == ({"log": ["x"]}, ("n1",))
    assert isinstance(state, tuple) and state == run.get_state(app, _cfg("s"))
    assert state._replace(values={}).values == {}
    assert sorted(state._asdict()) == sorted(StateSnapshot._fields)
    task = state.tasks[0]
    assert (task._replace(name="z").name, task._asdict()["name"], len(task)) == ("z", "n1", 7)
    assert repr(task).startswith("PregelTask(id=")
