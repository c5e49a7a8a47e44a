"""A key with a reducer starts at its type's empty value, as a LangGraph channel does
(`Annotated[list, operator.add]` is `[]` before any write): nodes read it, and the run's
values and streams carry it. Values asserted here are LangGraph 1.2's for the same graphs.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Sequence, Set
from dataclasses import dataclass, field
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel

from interlock import START, Command, StateGraph, add_messages, interrupt


def merge(a: dict, b: dict) -> dict:
    return {**a, **b}


class S(TypedDict, total=False):
    x: int
    seen: Annotated[list, operator.add]
    count: Annotated[int, operator.add]
    notes: Annotated[dict, merge]
    text: Annotated[str, operator.add]
    messages: Annotated[list, add_messages]
    maybe: Annotated[list | None, operator.add]
    steps: Annotated[Sequence[str], operator.add]
    tags: Annotated[Set[str], operator.or_]


EMPTY = {
    "seen": [],
    "count": 0,
    "notes": {},
    "text": "",
    "messages": [],
    "steps": [],
    "tags": set(),
}


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


def graph(saver: Any, node: Any) -> Any:
    g = StateGraph(S)
    g.add_node("a", node)
    g.add_edge(START, "a")
    return g.compile(checkpointer=saver)


def test_nodes_read_reducer_keys_nobody_wrote(run, saver) -> None:
    read: list[dict] = []

    def a(s: S) -> dict:
        read.append(dict(s))
        return {"seen": [len(s["seen"])], "count": s["count"] + 1}

    app = graph(saver, a)
    out = run.invoke(app, {"x": 1}, cfg())
    assert read == [{"x": 1, **EMPTY}]  # `maybe` (Optional) has no empty value: absent
    assert out == {"x": 1, **EMPTY, "seen": [0], "count": 1}
    assert run.get_state(app, cfg()).values == out


def test_the_values_stream_starts_with_them(run, saver) -> None:
    app = graph(saver, lambda s: {"x": s["x"] + 1})
    chunks = run.stream(app, {"x": 1}, cfg(), stream_mode="values")
    assert chunks == [{"x": 1, **EMPTY}, {"x": 2, **EMPTY}]


def test_an_input_value_for_a_reducer_key_is_folded_into_the_empty_start(run, saver) -> None:
    app = graph(saver, lambda s: {"seen": ["a"]})
    out = run.invoke(app, {"x": 1, "seen": ["in"], "count": 2}, cfg())
    assert out["seen"] == ["in", "a"] and out["count"] == 2


def test_a_pause_and_resume_keep_them(run, saver) -> None:
    app = graph(saver, lambda s: {"seen": [interrupt("ok?")]})
    paused = run.invoke(app, {"x": 1}, cfg())
    assert {k: v for k, v in paused.items() if k != "__interrupt__"} == {"x": 1, **EMPTY}
    assert run.invoke(app, Command(resume="yes"), cfg()) == {"x": 1, **EMPTY, "seen": ["yes"]}


@dataclass
class D:
    x: int = 0
    seen: Annotated[list, operator.add] = field(default_factory=list)


class P(BaseModel):
    x: int = 0
    seen: Annotated[list, operator.add] = []


@pytest.mark.parametrize("schema", [D, P])
def test_dataclass_and_pydantic_states_keep_their_defaults(saver, schema: Any) -> None:
    g = StateGraph(schema)
    g.add_node("a", lambda s: {"seen": [len(s.seen)]})
    g.add_edge(START, "a")
    app = g.compile(checkpointer=saver)
    assert app.invoke({"x": 1}, cfg()) == {"x": 1, "seen": [0]}


def test_a_subgraph_starts_its_reducer_keys_empty(saver) -> None:
    class Inner(TypedDict, total=False):
        x: int
        trail: Annotated[list, operator.add]

    inner = StateGraph(Inner)
    inner.add_node("step", lambda s: {"trail": [f"had {len(s['trail'])}"]})
    inner.add_edge(START, "step")
    sub = inner.compile()

    outer = StateGraph(S)
    outer.add_node("call", lambda s: {"seen": sub.invoke({"x": s["x"]})["trail"]})
    outer.add_edge(START, "call")
    app = outer.compile(checkpointer=saver)
    assert app.invoke({"x": 1}, cfg())["seen"] == ["had 0"]


class MyList(list):
    """A list subclass a reducer key may be declared with."""


class Shapes(TypedDict, total=False):
    x: int
    flag: Annotated[bool, operator.or_]
    counts: Annotated[Counter, operator.add]
    frozen: Annotated[frozenset, operator.or_]
    mine: Annotated[MyList, operator.add]
    pair: Annotated[tuple, operator.add]


def test_every_type_that_makes_a_value_from_nothing_starts_empty() -> None:
    seen: list[dict] = []
    g = StateGraph(Shapes)
    g.add_node("a", lambda s: seen.append(dict(s)) or {})
    g.add_edge(START, "a")
    g.compile().invoke({"x": 1})
    (got,) = seen
    assert got == {
        "x": 1,
        "flag": False,
        "counts": Counter(),
        "frozen": frozenset(),
        "mine": [],
        "pair": (),
    }
    assert type(got["counts"]) is Counter and type(got["mine"]) is MyList


class Before(TypedDict, total=False):
    x: int


class After(TypedDict, total=False):
    x: int
    log: Annotated[list, operator.add]


def test_a_thread_stored_before_its_reducer_key_existed_reads_it_empty(saver) -> None:
    """The graph's next release adds a reducer key: the thread (and a node of the new
    code) reads it empty, as LangGraph's channel starts."""

    old = StateGraph(Before)
    old.add_node("a", lambda s: {"x": s["x"] + 1})
    old.add_edge(START, "a")
    old.compile(checkpointer=saver).invoke({"x": 1}, cfg())

    new = StateGraph(After)
    new.add_node("a", lambda s: {"x": s["x"] + 10, "log": [f"had {s['log']}"]})
    new.add_edge(START, "a")
    app = new.compile(checkpointer=saver)
    assert app.get_state(cfg()).values == {"x": 2, "log": []}
    assert app.invoke({"x": 1}, cfg()) == {"x": 11, "log": ["had []"]}


# ---- keys a schema does not have --------------------------------------------------------------


class Outer(TypedDict, total=False):
    x: int


class Inner(TypedDict, total=False):
    x: int
    notes: Annotated[list, operator.add]
    scratch: str


def test_a_subgraph_s_own_keys_stay_in_the_subgraph(run, saver) -> None:
    """LangGraph's "shared keys" subgraph: the parent gets the keys it has, the others
    stay in the subgraph's state."""
    inner = StateGraph(Inner)
    inner.add_node("work", lambda s: {"x": s["x"] + 1, "scratch": "kept", "notes": ["n"]})
    inner.add_edge(START, "work")
    g = StateGraph(Outer)
    g.add_node("sub", inner.compile())
    g.add_edge(START, "sub")
    app = g.compile(checkpointer=saver)
    assert run.invoke(app, {"x": 1}, cfg()) == {"x": 2}
    sub_state = app.get_state(cfg(), subgraphs=True)
    assert sub_state.values == {"x": 2}


def test_extra_input_keys_and_writes_are_left_out(run, saver) -> None:
    g = StateGraph(Outer)
    g.add_node("a", lambda s: {"x": s["x"] + 1, "typo": 1})
    g.add_edge(START, "a")
    app = g.compile(checkpointer=saver)
    assert run.invoke(app, {"x": 1, "extra": True}, cfg()) == {"x": 2}
    app.update_state(cfg(), {"x": 5, "other": 1})
    assert run.get_state(app, cfg()).values == {"x": 5}
