"""LangGraph parity: pydantic and dataclass state schemas.

Every expected value here is what LangGraph 1.2.22 (pydantic 2.14) gives for the same
program, run with its imports (`langgraph.graph`, `langgraph.types`,
`langgraph.checkpoint.memory`, `langchain_core.messages`) on /tmp/benchvenv, except where a
comment says `DIFFERENCE:` (docs/parity.md, "Where interlock differs on purpose").

- A node receives an instance of its schema built as LangGraph builds it, `Schema(**values)`:
  validators run, values are coerced, nested dicts become models, fields without a value get
  their defaults; a state that does not fit fails that node's task with pydantic's
  `ValidationError` (the input checkpoint is kept).
- What is stored and returned is what was written (never the validated copy); defaults are not
  values of the state, and a reducer key starts empty whatever its field's default.
- A node may return a dict or a model; a returned model leaves out a field that is None, was
  not set and defaults to None.
- invoke/stream return dicts; input writes only the input schema's keys, invoke returns only
  the output schema's (the state's by default); a node annotated with another schema reads
  that schema's keys (private state).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from interlock import (
    START,
    AIMessage,
    Command,
    HumanMessage,
    StateGraph,
    add_messages,
)
from tests._pydantic_state_models import order_graph

# ---- what a node receives -----------------------------------------------------------------


class Named(BaseModel):
    name: str
    count: int = 0
    tags: Annotated[list[str], operator.add] = Field(default_factory=list)
    note: str | None = None

    @field_validator("name")
    @classmethod
    def up(cls, v: str) -> str:
        return v.upper()


def named_graph(seen: list[Any], checkpointer: Any = None) -> Any:
    def a(state: Named) -> dict[str, Any]:
        seen.append(("a", type(state).__name__, state.model_dump()))
        return {"count": state.count + 1, "tags": ["a"]}

    def b(state: Named) -> dict[str, Any]:
        seen.append(("b", type(state).__name__, state.model_dump()))
        return {"tags": ["b"]}

    g = StateGraph(Named)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    return g.compile(checkpointer=checkpointer)


def test_a_node_receives_the_validated_model_and_the_state_keeps_what_was_written(
    run: Any,
) -> None:
    seen: list[Any] = []
    out = run.invoke(named_graph(seen), {"name": "x", "count": "3"})
    assert out == {"name": "x", "count": 4, "tags": ["a", "b"]}
    assert list(out) == ["name", "count", "tags"]  # the schema's order
    assert seen == [
        ("a", "Named", {"name": "X", "count": 3, "tags": [], "note": None}),
        ("b", "Named", {"name": "X", "count": 4, "tags": ["a"], "note": None}),
    ]


def test_values_and_updates_are_dicts_without_unwritten_defaults(run: Any) -> None:
    app = named_graph([])
    assert run.stream(app, {"name": "ada"}, stream_mode="values") == [
        {"name": "ada", "tags": []},
        {"name": "ada", "count": 1, "tags": ["a"]},
        {"name": "ada", "count": 1, "tags": ["a", "b"]},
    ]
    assert run.stream(app, {"name": "ada"}, stream_mode="updates") == [
        {"a": {"count": 1, "tags": ["a"]}},
        {"b": {"tags": ["b"]}},
    ]
    seen: list[Any] = []
    assert run.invoke(named_graph(seen), Named(name="bob", count=5)) == {
        "name": "BOB",  # a model given as input is written as it is (validated already)
        "count": 6,
        "tags": ["a", "b"],
    }


@pytest.mark.parametrize(
    "bad", [{"name": "x", "count": "zz"}, {"count": 1}], ids=["not-an-int", "missing"]
)
def test_input_that_does_not_fit_fails_the_first_node(run: Any, bad: dict[str, Any]) -> None:
    seen: list[Any] = []
    with pytest.raises(ValidationError) as caught:
        run.invoke(named_graph(seen), bad)
    assert caught.value.title == "Named"
    assert seen == []


def test_a_thread_whose_state_does_not_fit_stays_usable(saver: Any, run: Any) -> None:
    app = named_graph([], saver)
    cfg = {"configurable": {"thread_id": "bad"}}
    with pytest.raises(ValidationError):
        run.invoke(app, {"name": "x", "count": "zz"}, cfg)
    # as in LangGraph, the input is stored as given and the first node has not run
    snap = run.get_state(app, cfg)
    # DIFFERENCE: LangGraph's get_state, update_state, resume and new input all raise the
    # ValidationError again on such a thread; interlock shows it and lets it be repaired
    assert (snap.values, snap.next) == ({"name": "x", "count": "zz", "tags": []}, ("a",))
    assert "ValidationError" in snap.tasks[0].error
    run.update_state(app, cfg, {"count": 5})
    assert run.invoke(app, None, cfg) == {"name": "x", "count": 6, "tags": ["a", "b"]}


def test_update_state_stores_values_unvalidated(saver: Any, run: Any) -> None:
    app = named_graph([], saver)
    cfg = {"configurable": {"thread_id": "t"}}
    run.invoke(app, {"name": "ada"}, cfg)
    run.update_state(app, cfg, {"count": "zz"})
    assert run.get_state(app, cfg).values == {"name": "ada", "count": "zz", "tags": ["a", "b"]}
    run.update_state(app, cfg, Named(name="zed"))
    assert run.get_state(app, cfg).values == {"name": "ZED", "count": 0, "tags": ["a", "b"]}


# ---- what a node returns --------------------------------------------------------------------


class Inner(BaseModel):
    x: int
    y: str = "d"


class Rich(BaseModel):
    name: str = "anon"
    count: int = 0
    tags: Annotated[list[str], operator.add] = Field(default_factory=lambda: ["seed"])
    note: str | None = None
    inner: Inner | None = None
    label: str = Field(default="L", alias="lbl")


def rich_graph(seen: list[Any], checkpointer: Any = None) -> Any:
    def a(state: Rich) -> Rich:
        seen.append(("a", state.model_dump()))
        return Rich(count=state.count + 1, tags=["a"])  # a model: a partial update

    def b(state: Rich) -> dict[str, Any]:
        seen.append(("b", state.model_dump(), type(state.inner).__name__))
        return {"inner": {"x": "5"}, "note": "n"}

    def c(state: Rich) -> dict[str, Any]:
        seen.append(("c", state.model_dump(), type(state.inner).__name__))
        return {"note": None}

    g = StateGraph(Rich)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_node("c", c)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g.compile(checkpointer=checkpointer)


def test_a_returned_model_writes_its_fields_but_unset_none_ones(run: Any) -> None:
    seen: list[Any] = []
    app = rich_graph(seen)
    assert run.stream(app, {"name": "z"}, stream_mode="updates") == [
        {"a": {"name": "anon", "count": 1, "tags": ["a"], "label": "L"}},
        {"b": {"inner": {"x": "5"}, "note": "n"}},
        {"c": {"note": None}},
    ]
    # the reducer key starts empty (its default_factory is not used); the nested dict is
    # stored as written and read as a model
    assert seen[0] == (
        "a",
        {"name": "z", "count": 0, "tags": [], "note": None, "inner": None, "label": "L"},
    )
    assert seen[2] == (
        "c",
        {
            "name": "anon",
            "count": 1,
            "tags": ["a"],
            "note": "n",
            "inner": {"x": 5, "y": "d"},
            "label": "L",
        },
        "Inner",
    )
    assert run.stream(app, {"name": "z"}, stream_mode="values") == [
        {"name": "z", "tags": []},
        {"name": "anon", "count": 1, "tags": ["a"], "label": "L"},
        {"name": "anon", "count": 1, "tags": ["a"], "note": "n", "inner": {"x": "5"}, "label": "L"},
        {
            "name": "anon",
            "count": 1,
            "tags": ["a"],
            "note": None,
            "inner": {"x": "5"},
            "label": "L",
        },
    ]


def test_an_unset_none_field_of_a_returned_model_keeps_the_stored_value(
    saver: Any, run: Any
) -> None:
    seen: list[Any] = []
    app = rich_graph(seen, saver)
    cfg = {"configurable": {"thread_id": "t"}}
    out = run.invoke(app, {"inner": Inner(x=1)}, cfg)
    assert out == {
        "name": "anon",
        "count": 1,
        "tags": ["a"],
        "note": None,
        "inner": {"x": "5"},
        "label": "L",
    }
    assert seen[1] == (
        "b",
        {
            "name": "anon",
            "count": 1,
            "tags": ["a"],
            "note": None,
            "inner": {"x": 1, "y": "d"},  # node a's Rich(...) did not overwrite it
            "label": "L",
        },
        "Inner",
    )
    assert run.get_state(app, cfg).values == out


def test_an_aliased_field_reads_its_default_as_in_langgraph(run: Any) -> None:
    """LangGraph builds the model with field names as keywords: an aliased field (no
    `populate_by_name`) is not filled from the state, the node sees its default."""
    seen: list[Any] = []
    out = run.invoke(rich_graph(seen), {"label": "Q", "lbl": "R"})
    assert seen[0][1]["label"] == "L"
    assert out["label"] == "L"  # node a's model wrote its default over the input's "Q"


class Forbid(BaseModel):
    model_config = ConfigDict(extra="forbid")
    v: int = 0


def test_an_update_that_does_not_fit_fails_the_next_reader(saver: Any, run: Any) -> None:
    seen: list[Any] = []

    def f2(state: Forbid) -> dict[str, Any]:
        seen.append(state.v)
        return {}

    g = StateGraph(Forbid)
    g.add_node("f1", lambda state: {"v": "bad"})
    g.add_node("f2", f2)
    g.add_edge(START, "f1")
    g.add_edge("f1", "f2")
    app = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "t"}}
    with pytest.raises(ValidationError):
        run.invoke(app, {"v": 1}, cfg)
    assert run.get_state(app, cfg).values == {"v": "bad"}
    # DIFFERENCE: LangGraph raises the ValidationError again here (the thread is stuck)
    run.update_state(app, cfg, {"v": 5})
    assert run.invoke(app, None, cfg) == {"v": 5}
    assert seen == [5]


# ---- dataclass state --------------------------------------------------------------------------


@dataclass
class Counter:
    name: str = "anon"
    count: int = 0
    tags: Annotated[list[str], operator.add] = field(default_factory=lambda: ["seed"])
    note: str | None = None


def counter_graph(seen: list[Any]) -> Any:
    def a(state: Counter) -> Counter:
        seen.append(("a", type(state).__name__, dict(vars(state))))
        return Counter(count=state.count + 1, tags=["a"])

    def b(state: Counter) -> dict[str, Any]:
        return {"note": "n", "count": "7"}  # a dataclass does not validate

    def c(state: Counter) -> None:
        seen.append(("c", dict(vars(state))))

    g = StateGraph(Counter)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_node("c", c)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g.compile()


def test_dataclass_state(run: Any) -> None:
    seen: list[Any] = []
    app = counter_graph(seen)
    assert run.invoke(app, {}) == {"name": "anon", "count": "7", "tags": ["a"], "note": "n"}
    assert seen == [
        ("a", "Counter", {"name": "anon", "count": 0, "tags": [], "note": None}),
        ("c", {"name": "anon", "count": "7", "tags": ["a"], "note": "n"}),
    ]
    # a returned dataclass writes every field; node c wrote nothing: no values chunk for it
    assert run.stream(app, {"name": "z"}, stream_mode="values") == [
        {"name": "z", "tags": []},
        {"name": "anon", "count": 1, "tags": ["a"], "note": None},
        {"name": "anon", "count": "7", "tags": ["a"], "note": "n"},
    ]
    assert run.stream(app, {"name": "z"}, stream_mode="updates") == [
        {"a": {"name": "anon", "count": 1, "tags": ["a"], "note": None}},
        {"b": {"note": "n", "count": "7"}},
        {"c": None},
    ]
    assert run.invoke(app, Counter(name="q", note="x")) == {
        "name": "anon",
        "count": "7",
        "tags": ["seed", "a"],  # the instance given as input wrote its own default
        "note": "n",
    }


# ---- messages, separate schemas, private state ---------------------------------------------


class Chat(BaseModel):
    messages: Annotated[list[Any], add_messages] = Field(default_factory=list)
    summary: str = ""


def test_a_pydantic_state_with_messages(saver: Any, run: Any) -> None:
    seen: list[Any] = []

    def m(state: Chat) -> dict[str, Any]:
        seen.append([type(x).__name__ for x in state.messages])
        return {"messages": [AIMessage(content="hi", id="ai1")]}

    g = StateGraph(Chat)
    g.add_node("m", m)
    g.add_edge(START, "m")
    app = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "m"}}
    out = run.invoke(app, {"messages": [("user", "yo")]}, cfg)
    assert list(out) == ["messages"]  # `summary` was never written
    assert [(type(x).__name__, x.content) for x in out["messages"]] == [
        ("HumanMessage", "yo"),
        ("AIMessage", "hi"),
    ]
    out = run.invoke(app, {"messages": [HumanMessage(content="again", id="h2")]}, cfg)
    assert [x.id for x in out["messages"]][1:] == ["ai1", "h2"]
    assert seen == [["HumanMessage"], ["HumanMessage", "AIMessage", "HumanMessage"]]


class Question(BaseModel):
    question: str

    @field_validator("question")
    @classmethod
    def strip(cls, v: str) -> str:
        return v.strip()


class Answer(BaseModel):
    answer: str


class Work(BaseModel):
    question: str
    answer: str = ""
    scratch: int = 0


def test_input_and_output_schemas(run: Any) -> None:
    seen: list[Any] = []

    def a(state: Question) -> dict[str, Any]:  # reads through its annotation's schema
        seen.append(("a", type(state).__name__, state.model_dump()))
        return {"scratch": 1, "answer": state.question + "!"}

    def b(state: Work) -> dict[str, Any]:
        seen.append(("b", type(state).__name__, state.model_dump()))
        return {"answer": state.answer + "?"}

    g = StateGraph(Work, input_schema=Question, output_schema=Answer)
    g.add_node("a", a)
    g.add_node("b", b)
    g.add_edge(START, "a")
    g.add_edge("a", "b")
    app = g.compile()
    assert run.invoke(app, {"question": "  hi  ", "scratch": 9}) == {"answer": "hi!?"}
    assert seen == [
        ("a", "Question", {"question": "hi"}),
        ("b", "Work", {"question": "  hi  ", "answer": "hi!", "scratch": 1}),
    ]
    with pytest.raises(ValidationError) as caught:
        run.invoke(app, {"question": 3})
    assert caught.value.title == "Question"
    assert run.stream(app, {"question": "q"}, stream_mode="values") == [
        {"question": "q"},
        {"question": "q", "answer": "q!", "scratch": 1},
        {"question": "q", "answer": "q!?", "scratch": 1},
    ]


class Public(TypedDict, total=False):
    q: str


class Private(TypedDict):
    q: str
    scratch: str


class Asked(TypedDict):
    q: str
    extra: int


def test_private_keys_and_the_input_schema_filter(saver: Any, run: Any) -> None:
    seen: list[Any] = []

    def p1(state: Public) -> Private:
        seen.append(("p1", dict(state)))
        return {"scratch": "s1"}  # type: ignore[typeddict-item]

    def p2(state: Private) -> dict[str, Any]:
        seen.append(("p2", dict(state)))
        return {"q": state["scratch"] + "+"}

    g = StateGraph(Public, input_schema=Asked)
    g.add_node("p1", p1)
    g.add_node("p2", p2)
    g.add_edge(START, "p1")
    g.add_edge("p1", "p2")
    app = g.compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "p"}}
    given = {"q": "a", "extra": 1, "scratch": "in"}  # `scratch` is not an input key
    assert run.stream(app, given, cfg, stream_mode="values") == [
        {"q": "a", "extra": 1},
        {"q": "a", "extra": 1, "scratch": "s1"},
        {"q": "s1+", "extra": 1, "scratch": "s1"},
    ]
    assert seen == [("p1", {"q": "a"}), ("p2", {"q": "a", "scratch": "s1"})]
    assert run.get_state(app, cfg).values == {"q": "s1+", "extra": 1, "scratch": "s1"}
    assert run.invoke(app, {"q": "b", "extra": 2}, cfg) == {"q": "s1+"}


# ---- pause, resume, read back ------------------------------------------------------------------


def reopened(saver: Any, tmp_path: Path) -> Any:
    """A new saver on the same store (memory: the same one)."""
    kind = type(saver).__name__
    if kind == "SqliteSaver":
        from interlock import SqliteSaver

        return SqliteSaver(tmp_path / "store.db")
    if kind == "PostgresSaver":
        from interlock.checkpoint.postgres import PostgresSaver
        from tests.pg import DSN

        return PostgresSaver(DSN, schema=saver.schema)
    return saver


def test_pause_and_resume_with_models_in_the_state(saver: Any, run: Any, tmp_path: Path) -> None:
    cfg = {"configurable": {"thread_id": "t"}}
    out = run.invoke(order_graph(saver), {}, cfg)
    asked = out.pop("__interrupt__")
    assert asked[0].value == {"items": 2}
    stored = {"items": [{"sku": "a", "qty": 2}, {"sku": "b"}], "when": datetime(2024, 1, 2, 3, 4)}
    assert _plain(out) == stored
    again = reopened(saver, tmp_path)
    try:
        app = order_graph(again)
        values = run.get_state(app, cfg).values
        assert _plain(values) == stored
        assert [type(i).__name__ for i in values["items"]] == ["Item", "dict"]  # as written
        done = run.invoke(app, Command(resume=True), cfg)
        assert _plain(done) == {
            "items": [{"sku": "a", "qty": 2}, {"sku": "b"}, {"sku": "datetime"}],
            "approved": True,
            "when": datetime(2024, 1, 2, 3, 4),
            "total": 3,
        }
    finally:
        if again is not saver:
            again.close()


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """`values` with models as dicts of the fields they were given."""

    def one(v: Any) -> Any:
        if isinstance(v, BaseModel):
            return v.model_dump(exclude_unset=True)
        if isinstance(v, list):
            return [one(x) for x in v]
        return v

    return {k: one(v) for k, v in values.items()}


# ---- threads the previous release stored -------------------------------------------------------

RELEASE = Path(__file__).parent / "fixtures" / "pydantic-state-2026-12-07.json"


def _check_released(store: Any, run: Any) -> None:
    app = order_graph(store)
    cfg = {"configurable": {"thread_id": "paused"}}
    snap = run.get_state(app, cfg)
    assert snap.next == ("review",)
    # that release wrote the fields' defaults into the state; they read back as stored
    assert _plain(snap.values) == {
        "items": [{"sku": "a", "qty": 2}, {"sku": "b"}],
        "approved": None,
        "when": datetime(2024, 1, 2, 3, 4),
        "total": 0,
    }
    done = run.invoke(app, Command(resume=True), cfg)
    assert done["total"] == 3 and done["approved"] is True
    assert [type(i).__name__ for i in done["items"]] == ["Item", "dict", "Item"]


def test_a_released_sqlite_thread_resumes(
    run: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from interlock import SqliteSaver
    from tests._release_store import build_release_store, release_dump

    path = tmp_path / "old.db"
    build_release_store(lambda: SqliteSaver(path), monkeypatch, release_dump(RELEASE))
    with SqliteSaver(path) as store:
        _check_released(store, run)


@pytest.mark.skipif(
    "postgres" not in __import__("tests.conftest").conftest.SAVERS, reason="no PostgreSQL"
)
def test_a_released_postgres_thread_resumes(run: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from interlock.checkpoint.postgres import PostgresSaver
    from tests._release_store import build_release_store, release_dump
    from tests.pg import DSN, new_schema

    schema = new_schema()
    build_release_store(
        lambda: PostgresSaver(DSN, schema=schema), monkeypatch, release_dump(RELEASE)
    )
    store = PostgresSaver(DSN, schema=schema)
    try:
        _check_released(store, run)
    finally:
        store.close()


def test_a_node_whose_input_does_not_fit_sends_no_task_start() -> None:
    chunks = []
    with pytest.raises(ValidationError):
        for chunk in named_graph([]).stream({"name": "x", "count": "zz"}, stream_mode="tasks"):
            chunks.append(chunk)
    assert chunks == []  # LangGraph raises before any chunk


class Reply(TypedDict):
    r: str


@pytest.mark.parametrize("output", [None, Reply], ids=["state-output", "output-schema"])
def test_checkpoint_chunks_show_every_key(saver: Any, run: Any, output: Any) -> None:
    def p1(state: Public) -> Private:
        return {"scratch": "s1"}  # type: ignore[typeddict-item]

    def p2(state: Private) -> dict[str, Any]:
        return {"q": state["scratch"] + "+", "r": "R"}

    class Both(TypedDict, total=False):
        q: str
        r: str

    g = StateGraph(Both, output_schema=output)
    g.add_node("p1", p1)
    g.add_node("p2", p2)
    g.add_edge(START, "p1")
    g.add_edge("p1", "p2")
    app = g.compile(checkpointer=saver)
    chunks = run.stream(
        app, {"q": "a"}, {"configurable": {"thread_id": "c"}}, stream_mode="checkpoints"
    )
    # DIFFERENCE: LangGraph's first chunk is its extra `__start__` checkpoint's, `{}`
    assert [c["values"] for c in chunks] == [
        {"q": "a"},
        {"q": "a", "scratch": "s1"},
        {"q": "s1+", "r": "R", "scratch": "s1"},
    ]
    assert run.invoke(app, {"q": "b"}, {"configurable": {"thread_id": "d"}}) == (
        {"r": "R"} if output else {"q": "s1+", "r": "R"}
    )


def test_input_that_writes_nothing_sends_no_values_chunk() -> None:
    """LangGraph 1.2: input whose keys are none of the input schema's writes nothing, and
    its step sends no `values` chunk (values here are LangGraph's for the same graph)."""

    class Full(TypedDict, total=False):
        a: int
        p: int

    class Only(TypedDict, total=False):
        a: int

    g = StateGraph(Full, input_schema=Only).add_node("n", lambda s: {"a": 1})
    app = g.add_edge(START, "n").compile()
    modes = ["values", "updates"]
    assert list(app.stream({}, stream_mode=modes)) == [
        ("updates", {"n": {"a": 1}}),
        ("values", {"a": 1}),
    ]
    assert next(iter(app.stream({"p": 5}, stream_mode=modes))) == ("updates", {"n": {"a": 1}})
    assert next(iter(app.stream({"a": 0, "p": 5}, stream_mode=modes))) == ("values", {"a": 0})
