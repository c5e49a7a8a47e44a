"""Runtime context (LangGraph 1.x): `context_schema=`, `invoke(..., context=...)`, nodes taking
`runtime: Runtime`, `get_runtime()`, `runtime.store` and `runtime.stream_writer`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import pytest
from pydantic import BaseModel

from interlock import (
    START,
    Command,
    ExecutionInfo,
    GraphError,
    Runtime,
    StateGraph,
    get_runtime,
    interrupt,
)


@dataclass
class Ctx:
    user: str
    tenant: str = "acme"


class Model(BaseModel):
    user: str


class S(TypedDict, total=False):
    out: str
    seen: list[Any]


def cfg(thread: str = "t1") -> dict:
    return {"configurable": {"thread_id": thread}}


def greeter(schema: Any = Ctx, **compile_kw: Any):
    def greet(state: S, runtime: Runtime[Ctx]) -> dict:
        return {"out": f"hello {runtime.context.user}"}

    g = StateGraph(S, context_schema=schema)
    g.add_node("greet", greet)
    g.add_edge(START, "greet")
    return g.compile(**compile_kw)


def test_a_dict_context_becomes_the_dataclass_schema(run) -> None:
    graph = greeter()
    assert run.invoke(graph, {}, context={"user": "ada"}) == {"out": "hello ada"}
    assert run.invoke(graph, {}, context=Ctx("bob")) == {"out": "hello bob"}


def test_a_dict_context_becomes_the_pydantic_schema(run) -> None:
    graph = greeter(Model)
    assert run.invoke(graph, {}, context={"user": "cy"}) == {"out": "hello cy"}


def test_a_context_that_does_not_fit_its_schema_is_refused(run) -> None:
    with pytest.raises(GraphError, match="does not fit context_schema Ctx"):
        run.invoke(greeter(), {}, context={"name": "ada"})


def test_without_a_schema_the_context_is_passed_as_given(run) -> None:
    seen: list[Any] = []

    def node(state: S, runtime: Runtime) -> dict:
        seen.append(runtime.context)
        return {}

    g = StateGraph(S).add_node("n", node).add_edge(START, "n").compile()
    run.invoke(g, {}, context={"k": 1})
    run.invoke(g, {})
    assert seen == [{"k": 1}, None]


def test_get_runtime_inside_a_helper_a_node_calls(run) -> None:
    def lookup_tool(query: str) -> str:  # e.g. a tool: no runtime parameter of its own
        runtime = get_runtime(Ctx)
        return f"{query} for {runtime.context.user}@{runtime.context.tenant}"

    g = StateGraph(S, context_schema=Ctx)
    g.add_node("n", lambda s: {"out": lookup_tool("docs")})
    g.add_edge(START, "n")
    assert run.invoke(g.compile(), {}, context={"user": "ada"}) == {"out": "docs for ada@acme"}


def test_get_runtime_outside_a_node_is_a_clear_error() -> None:
    with pytest.raises(GraphError, match="inside a graph node"):
        get_runtime()


def test_runtime_store_is_the_compiled_store_or_none(run) -> None:
    class Store:
        def get(self, key: str) -> str:
            return f"memory of {key}"

    def node(state: S, runtime: Runtime) -> dict:
        found = runtime.store.get("ada") if runtime.store is not None else "no store"
        return {"out": found}

    g = StateGraph(S).add_node("n", node).add_edge(START, "n")
    assert run.invoke(g.compile(store=Store()), {}) == {"out": "memory of ada"}
    assert run.invoke(g.compile(), {}) == {"out": "no store"}


def test_runtime_stream_writer_feeds_the_custom_stream(run) -> None:
    def node(state: S, runtime: Runtime[Ctx]) -> dict:
        runtime.stream_writer({"progress": runtime.context.user})
        return {"out": "done"}

    g = StateGraph(S, context_schema=Ctx).add_node("n", node).add_edge(START, "n").compile()
    chunks = run.stream(g, {}, stream_mode=["custom", "updates"], context={"user": "ada"})
    assert chunks == [("custom", {"progress": "ada"}), ("updates", {"n": {"out": "done"}})]
    # not streaming custom: the writer is a no-op, the run is unchanged
    assert run.invoke(g, {}, context={"user": "ada"}) == {"out": "done"}


def test_execution_info_names_the_task(run, saver) -> None:
    infos: list[ExecutionInfo] = []

    def node(state: S, runtime: Runtime) -> dict:
        assert runtime.execution_info is not None
        infos.append(runtime.execution_info)
        return {}

    g = StateGraph(S).add_node("n", node).add_edge(START, "n").compile(checkpointer=saver)
    config = {"configurable": {"thread_id": "t1", "run_id": "r-1"}}
    run.invoke(g, {}, config)
    state = run.get_state(g, cfg())
    [info] = infos
    assert info.thread_id == "t1" and info.run_id == "r-1" and info.node_attempt == 1
    assert info.checkpoint_ns == ""
    assert info.checkpoint_id == state.parent_config["configurable"]["checkpoint_id"]
    assert len(info.task_id) == 32


def test_context_is_not_saved_resume_takes_it_again(run, saver) -> None:
    seen: list[str] = []

    def ask(state: S, runtime: Runtime[Ctx]) -> dict:
        seen.append(runtime.context.user)
        answer = interrupt("ok?")
        return {"out": f"{answer} by {runtime.context.user}"}

    g = StateGraph(S, context_schema=Ctx).add_node("ask", ask).add_edge(START, "ask")
    graph = g.compile(checkpointer=saver)
    run.invoke(graph, {}, cfg(), context={"user": "ada"})
    out = run.invoke(graph, Command(resume="yes"), cfg(), context={"user": "bob"})
    assert out == {"out": "yes by bob"}
    assert seen == ["ada", "bob"]


def test_runtime_reaches_async_nodes() -> None:
    import asyncio

    async def node(state: S, runtime: Runtime[Ctx]) -> dict:
        return {"out": runtime.context.user + get_runtime().context.tenant}

    g = StateGraph(S, context_schema=Ctx).add_node("n", node).add_edge(START, "n").compile()
    assert asyncio.run(g.ainvoke({}, context={"user": "ada"})) == {"out": "adaacme"}


def test_a_tool_taking_runtime_gets_the_runs_runtime_and_hides_it_from_the_model() -> None:
    from interlock import (
        AIMessage,
        HumanMessage,
        ScriptedChatModel,
        ToolMessage,
        create_agent,
        tool,
    )

    @tool
    def whoami(greeting: str, runtime: Runtime[Ctx]) -> str:
        """Greet the user the run is for.

        Args:
            greeting: How to greet
        """
        runtime.stream_writer({"tool": "whoami"})
        return f"{greeting}, {runtime.context.user} of {runtime.context.tenant}"

    assert set(whoami.args_schema["properties"]) == {"greeting"}
    assert whoami.args_schema.get("required") == ["greeting"]
    model = ScriptedChatModel(
        [
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "whoami", "args": {"greeting": "hi"}, "id": "c1", "type": "tool_call"}
                ],
            ),
            AIMessage(content="done"),
        ]
    )
    agent = create_agent(model=model, tools=[whoami])
    chunks = list(
        agent.stream(
            {"messages": [HumanMessage(content="who am I?")]},
            context=Ctx(user="ada"),
            stream_mode=["custom", "values"],
        )
    )
    assert ("custom", {"tool": "whoami"}) in chunks
    final = [c for mode, c in chunks if mode == "values"][-1]
    [result] = [m for m in final["messages"] if isinstance(m, ToolMessage)]
    assert result.content == "hi, ada of acme"
    with pytest.raises(GraphError, match="only works inside a graph node"):
        whoami.invoke({"greeting": "hi"})  # outside a run there is no runtime to give
